"""Films of rollouts: Gymnasium's ``RecordVideo`` around an env that renders ``rgb_array``,
one mp4 an episode (``moviepy`` writes them: the ``video`` extra)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import gymnasium
from gymnasium.wrappers import RecordVideo

from hrrl.errors import HrrlError


def film(env: gymnasium.Env[Any, Any], folder: Path | str, prefix: str) -> RecordVideo:
    """``env`` filmed into ``folder``, every episode, as ``<prefix>-episode-<k>.mp4``."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # frames are drawn off-screen
    try:
        return RecordVideo(
            env,
            str(folder),
            episode_trigger=lambda _: True,
            name_prefix=prefix,
            disable_logger=True,
        )
    except gymnasium.error.DependencyNotInstalled as exc:
        env.close()
        raise HrrlError(
            f"recording video needs moviepy: pip install 'hrrl[video]' ({exc})"
        ) from exc
