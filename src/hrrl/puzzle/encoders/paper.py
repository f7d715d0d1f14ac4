"""The original prototype's 12 hand-made features, reproduced for the baseline and the ablation.

The prototype encoded the state *relative to its current subgoal*: in the hierarchical setting the
number it called "the target" was the active waypoint. This encoder does the same: the target role
``T`` is ``view.subgoal`` (equal to the puzzle's target without a hierarchy, or once the last
waypoint is passed). With ``x`` the current number, ``s`` the steps taken, ``M`` the step budget,
``F`` the forbidden numbers and ``gap = T - x``, in this order:

| # | name                  | formula                                                        |
|---|-----------------------|----------------------------------------------------------------|
| 0 | progress_ratio        | ``(x - start) / (T - start)``                                  |
| 1 | remaining_ratio       | ``gap / (T - start)``                                          |
| 2 | time_ratio            | ``s / M``                                                      |
| 3 | log_gap               | ``ln(gap + 1)`` (natural logarithm)                            |
| 4 | gap_magnitude         | ``gap / 100``                                                  |
| 5 | is_close              | ``1 if gap <= 10 else 0``                                      |
| 6 | is_far                | ``1 if gap >= (T - start) / 2 else 0``                         |
| 7 | danger_proximity      | ``1 / (min_{f in F} abs(x - f) + 1)``, 0 when ``F`` is empty   |
| 8 | constraint_pressure   | ``len({f in F : x < f < T}) / (gap + 1)``                      |
| 9 | phase                 | 0 (far) if ``gap > (T - start) / 2``, 1 (medium) if ``gap > 10``, else 2 (close) |
|10 | min_steps             | ``ceil(gap / max(actions))``                                   |
|11 | efficiency_ratio      | ``min_steps / (M - s + 1)``                                    |

Choices we had to make (the prototype's code is not available to us):

* ``gap_magnitude``: the prototype's normalisation is unknown; we take the natural reading
  ``gap / 100`` (its targets went up to 100).
* ``start``: the prototype always started at 0; for another start the two ratios are measured
  from the start (``x - start`` over ``T - start``), and so are the far/medium thresholds.
  ``T - start`` is floored at 1 so a subgoal at the start cannot divide by zero.
* Past the target (the terminal observation after an overshoot) ``gap`` is negative; ``log_gap``,
  ``constraint_pressure`` and ``min_steps`` then use ``max(gap, 0)`` so the vector stays finite.
  The ratios keep the signed gap. Such an observation is never bootstrapped from.
* The features are deliberately *not* scale-free (``min_steps`` and ``gap_magnitude`` grow with
  the puzzle): that is the baseline's weakness the relational encoder fixes.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from typing import Any, Final

import numpy as np

from hrrl.puzzle.core import DEFAULT_ACTIONS, PuzzleView
from hrrl.puzzle.encoders.base import check_view_actions, encode_all, sorted_forbidden

#: ``gap_magnitude = gap / GAP_SCALE`` (our reading of the prototype's normalisation).
GAP_SCALE: Final = 100.0
#: A gap of at most this many numbers is "close" (``is_close``, ``phase`` 2).
CLOSE_GAP: Final = 10

_FEATURES: Final[tuple[tuple[str, str], ...]] = (
    ("progress_ratio", "(x - start) / (T - start), T = active subgoal"),
    ("remaining_ratio", "(T - x) / (T - start)"),
    ("time_ratio", "steps taken / max_steps"),
    ("log_gap", "ln(T - x + 1)"),
    ("gap_magnitude", "(T - x) / 100"),
    ("is_close", "1 if T - x <= 10"),
    ("is_far", "1 if T - x >= (T - start) / 2"),
    ("danger_proximity", "1 / (distance to the nearest forbidden number + 1); 0 if none"),
    ("constraint_pressure", "forbidden numbers strictly between x and T / (T - x + 1)"),
    ("phase", "0 far (gap > half), 1 medium (gap > 10), 2 close"),
    ("min_steps", "ceil((T - x) / max action)"),
    ("efficiency_ratio", "min_steps / (max_steps - steps + 1)"),
)


class PaperEncoder:
    """The prototype's 12 features (see the module docstring for the formulas)."""

    name = "paper"

    def __init__(self, *, actions: Sequence[int] = DEFAULT_ACTIONS) -> None:
        self.actions: tuple[int, ...] = tuple(actions)
        self.max_action = max(self.actions)
        self.feature_names: tuple[str, ...] = tuple(n for n, _ in _FEATURES)
        self.dim = len(self.feature_names)
        self.low = np.full(self.dim, -np.inf, dtype=np.float32)
        self.high = np.full(self.dim, np.inf, dtype=np.float32)

    def encode(self, view: PuzzleView) -> np.ndarray:
        puzzle = view.puzzle
        check_view_actions(self, puzzle)
        x, target, s, m = view.current, view.subgoal, view.step, puzzle.max_steps
        span = max(target - puzzle.start, 1)
        gap = target - x
        pos_gap = max(gap, 0)

        forbidden = sorted_forbidden(puzzle)
        danger = 0.0
        if forbidden:
            i = bisect_left(forbidden, x)
            nearest = min(abs(x - forbidden[j]) for j in (i - 1, i) if 0 <= j < len(forbidden))
            danger = 1.0 / (nearest + 1)
        between = 0
        if target > x:  # f in the open interval (x, T)
            between = bisect_left(forbidden, target) - bisect_right(forbidden, x)

        if gap > span / 2:
            phase = 0.0
        elif gap > CLOSE_GAP:
            phase = 1.0
        else:
            phase = 2.0
        min_steps = math.ceil(pos_gap / self.max_action)
        values = (
            (x - puzzle.start) / span,
            gap / span,
            s / m,
            math.log(pos_gap + 1),
            gap / GAP_SCALE,
            1.0 if gap <= CLOSE_GAP else 0.0,
            1.0 if gap >= span / 2 else 0.0,
            danger,
            between / (pos_gap + 1),
            phase,
            float(min_steps),
            min_steps / (m - s + 1),
        )
        return np.array(values, dtype=np.float32)

    def encode_batch(self, views: Sequence[PuzzleView]) -> np.ndarray:
        return encode_all(self, views)

    def describe(self) -> list[tuple[str, str]]:
        return list(_FEATURES)

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "actions": list(self.actions), "dim": self.dim}
