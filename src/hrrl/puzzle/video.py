"""A played puzzle as a video: its path replayed in a :class:`~hrrl.puzzle.env.PuzzleEnv` that
renders ``rgb_array`` frames (:mod:`hrrl.puzzle.render`), filmed (:mod:`hrrl.monitoring.video`)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hrrl.errors import PuzzleError
from hrrl.monitoring.video import film
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
    prefix = puzzle.id or "puzzle"
    env = film(PuzzleEnv(actions=puzzle.actions, render_mode="rgb_array"), folder, prefix)
    try:
        env.reset(options={"puzzle": puzzle})
        for move in moves:
            env.step(move)
    finally:
        env.close()
    return Path(folder) / f"{prefix}-episode-0.mp4"
