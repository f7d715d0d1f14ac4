"""A played puzzle as a video: its path replayed in a :class:`~hrrl.puzzle.env.PuzzleEnv` that
renders ``rgb_array`` frames (:mod:`hrrl.puzzle.render`), filmed by Gymnasium's ``RecordVideo``
(which needs ``moviepy``: the ``video`` extra)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from pathlib import Path

import gymnasium
import numpy as np
from gymnasium.wrappers import RecordVideo

from hrrl.errors import PuzzleError
from hrrl.puzzle.core import Puzzle
from hrrl.puzzle.env import PuzzleEnv


def record_path(puzzle: Puzzle, path: Sequence[int], folder: Path | str) -> Path:
    """Replay ``path`` (every number visited, from ``start``) and write it as one mp4 into
    ``folder``, named after the puzzle's id; returns the file."""
    if not path or path[0] != puzzle.start:
        raise PuzzleError(f"path {list(path)[:3]}... does not start at start={puzzle.start}")
    index = {a: i for i, a in enumerate(puzzle.actions)}
    steps = [b - a for a, b in itertools.pairwise(path)]
    if any(step not in index for step in steps):
        raise PuzzleError(f"path {list(path)} takes a step that is not one of {puzzle.actions}")
    moves = [np.int64(index[step]) for step in steps]
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # frames are drawn off-screen
    prefix = puzzle.id or "puzzle"
    try:
        env = RecordVideo(
            PuzzleEnv(actions=puzzle.actions, render_mode="rgb_array"),
            str(folder),
            episode_trigger=lambda _: True,
            name_prefix=prefix,
            disable_logger=True,
        )
    except gymnasium.error.DependencyNotInstalled as exc:
        raise PuzzleError(
            f"recording video needs moviepy: pip install 'hrrl[video]' ({exc})"
        ) from exc
    try:
        env.reset(options={"puzzle": puzzle})
        for move in moves:
            env.step(move)
    finally:
        env.close()
    return Path(folder) / f"{prefix}-episode-0.mp4"
