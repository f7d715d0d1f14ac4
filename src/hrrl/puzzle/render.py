"""What a person sees of a puzzle being played: a text line (``ansi``) or a picture
(``rgb_array``) of the numbers around the current one, for :class:`~hrrl.puzzle.env.PuzzleEnv`'s
``render_mode`` (and so Gymnasium's ``RecordVideo``).

The window is :data:`WINDOW` numbers wide, from :data:`BEHIND` before the current number, so
every frame of a video has the same size::

    step 3/20  x=9  target 31  (IN_PROGRESS)
    . . x . . [9] . X . . . X . . . . . . . . . . . . . . . . . T

``[9]`` is the current number, ``X`` a forbidden one, ``T`` the target, ``x`` one visited; in
the picture they are blue, red, green and grey cells, with a bar below showing how far along
the whole gap the current number is.
"""

from __future__ import annotations

import numpy as np

from hrrl.puzzle.core import Puzzle

#: Numbers shown, and how many of them lie before the current one.
WINDOW, BEHIND = 32, 4
#: Pixels of one number's cell, and of the progress bar below the cells.
CELL, BAR = 16, 6
COLOURS = {
    "empty": (235, 235, 235),
    "visited": (160, 160, 160),
    "forbidden": (200, 40, 40),
    "target": (40, 160, 60),
    "current": (40, 90, 200),
    "outside": (255, 255, 255),
    "bar": (40, 90, 200),
}


def _cells(puzzle: Puzzle, current: int, visited: set[int]) -> list[tuple[int, str]]:
    """(number, kind) of each cell of the window around ``current``."""
    first = current - BEHIND
    cells = []
    for n in range(first, first + WINDOW):
        if n == current:
            kind = "current"
        elif n < puzzle.start or n > puzzle.target:
            kind = "outside"
        elif n == puzzle.target:
            kind = "target"
        elif n in puzzle.forbidden:
            kind = "forbidden"
        elif n in visited:
            kind = "visited"
        else:
            kind = "empty"
        cells.append((n, kind))
    return cells


def ansi(puzzle: Puzzle, current: int, steps: int, status: str, visited: set[int]) -> str:
    """Two lines: where the play is, and the window (see the module doc)."""
    marks = {"empty": ".", "visited": "x", "forbidden": "X", "target": "T", "outside": " "}
    row = " ".join(
        f"[{n}]" if kind == "current" else marks[kind]
        for n, kind in _cells(puzzle, current, visited)
    )
    head = f"step {steps}/{puzzle.max_steps}  x={current}  target {puzzle.target}  ({status})"
    return f"{head}\n{row.rstrip()}\n"


def rgb_array(puzzle: Puzzle, current: int, visited: set[int]) -> np.ndarray:
    """A ``(CELL + BAR, WINDOW * CELL, 3)`` uint8 picture of the window and the progress bar."""
    frame = np.full((CELL + BAR, WINDOW * CELL, 3), 255, dtype=np.uint8)
    for i, (_, kind) in enumerate(_cells(puzzle, current, visited)):
        frame[1 : CELL - 1, i * CELL + 1 : (i + 1) * CELL - 1] = COLOURS[kind]
    gap = max(puzzle.target - puzzle.start, 1)
    done = min(max((current - puzzle.start) / gap, 0.0), 1.0)
    frame[CELL + 1 : CELL + BAR - 1, : round(done * WINDOW * CELL)] = COLOURS["bar"]
    return frame
