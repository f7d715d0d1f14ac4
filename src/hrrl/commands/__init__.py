"""Sub-commands of the ``hrrl`` CLI, one module each, and the argument checks they share.

Each module's top level imports only what building its parser needs (argparse, paths, names);
torch, matplotlib and TensorBoard are imported inside ``run``, so ``hrrl --help`` and a usage
error answer at once.
"""

from __future__ import annotations

from pathlib import Path

#: The preset names (``hrrl.experiment.PRESETS``, which imports torch), for ``--preset`` choices.
PRESET_NAMES: tuple[str, ...] = ("default", "baseline")
#: The presets for a Gymnasium id of one's choice (``hrrl.gym.presets.GYM_VARIANTS``), only
#: with ``--env``.
GYM_PRESET_NAMES: tuple[str, ...] = ("atari-100k",)


def check_seed(value: int | None, flag: str = "--seed") -> None:
    """Refuse a negative seed (numpy seeds cannot be negative) with the flag and the fix."""
    if value is not None and value < 0:
        raise ValueError(f"{flag} {value} is negative: give a seed >= 0, e.g. {flag} 0")


def check_output_file(path: Path | None, flag: str) -> None:
    """Refuse an output path that names a directory, before any work is done."""
    if path is not None and path.is_dir():
        raise IsADirectoryError(
            f"{flag} {path} is a directory: name the file to write, e.g. {path / 'results.jsonl'}"
        )
