"""The relational encoder (the default): what each action would do, seen through a short window.

Everything is measured in *action units and ratios*, never in raw numbers, and everything about
the number line comes from a bounded window of ``W = WINDOW_FACTOR * max(actions)`` numbers ahead
of the current number ``x`` (40 for actions 1, 3, 5). Inside the window the encoder computes what
a person sees at a glance; it never calls the exact solver nor looks beyond the window::

    x   x+1  x+2  ...                               x+W | x+W+1 ... x+W+A
    |<------------------- window: offsets 1..W ------->|<- edge cells ->|

Liveness and cost-to-go (one backward pass over the window, ``O(W * len(actions))``)::

    edge cell (offset > W):  live = (target is beyond the window), cost = 0 if live
    offset o <= W:           dead if x+o is forbidden or past the target
                             live, cost 0 if x+o is the target
                             cost(o) = 1 + min_a cost(o + a), live iff that is finite

An edge cell is "somewhere further on": when the target lies beyond the window we assume the path
can go on from there (we do not look), and when the target is inside the window every edge cell is
past it, hence dead. So inside a window that holds the target, *live* is exact: "can still land on
the target without touching a forbidden number".

Layout (``n = len(actions)``, ``dim = 4 W + 6 n + 4``; 182 for actions 1, 3, 5):

| block (size)          | name pattern          | value                                                   |
|-----------------------|-----------------------|---------------------------------------------------------|
| occupancy (W)         | ``forbidden@+o``      | 1 if ``x + o`` is forbidden                              |
| occupancy (W)         | ``past_target@+o``    | 1 if ``x + o > target``                                  |
| occupancy (W)         | ``target@+o``         | 1 if ``x + o == target``                                 |
| occupancy (W)         | ``live@+o``           | 1 if ``x + o`` is live (see above)                       |
| per action (n)        | ``a<k>.forbidden``    | 1 if ``x + a`` is forbidden                              |
| per action (n)        | ``a<k>.overshoot``    | 1 if ``x + a > target``                                  |
| per action (n)        | ``a<k>.hit``          | 1 if ``x + a == target``                                 |
| per action (n)        | ``a<k>.dead_end``     | 1 if ``x + a`` is not live (forbidden and overshoot too) |
| per action (n)        | ``a<k>.cost``         | ``min(cost(a) / WINDOW_FACTOR, COST_CLIP)``; dead = clip |
| per action (n)        | ``a<k>.subgoal``      | 1 if ``x + a >= subgoal`` (lands on or past it)          |
| scalar                | ``target_gap``        | ``clip((target - x) / W, 0, 1)``                         |
| scalar                | ``target_in_window``  | 1 if ``0 < target - x <= W``                             |
| scalar                | ``subgoal_gap``       | ``clip((subgoal - x) / W, 0, 1)``                        |
| scalar                | ``subgoal_in_window`` | 1 if ``0 < subgoal - x <= W``                            |

``cost / WINDOW_FACTOR`` is the cost in "window crossings at full speed" (crossing the window with
the largest action takes about ``WINDOW_FACTOR`` steps, so a straight run reads about 1 and a
detour more); ``target_gap = (gap / A) / (W / A)`` is the gap in action units over the window in
action units.

No feature reads the step count or the budget. Time limits are handled the other way Pardo et al.
(2018, "Time Limits in Reinforcement Learning") allow: a MAX_STEPS truncation bootstraps, so the
value is time-agnostic, and under the default budget ``max(2 opt, opt + 20)`` time never binds a
near-optimal policy (puzzles whose budget is below the optimum are reported UNSOLVABLE up front).
A budget-ratio feature was tried and removed: puzzles of 10,000 show ratios that training puzzles
of at most 100 never do, and the policy learnt to dawdle at them (mean efficiency on scale puzzles
fell to about 0.5 after 40k training steps; without the feature it stays at 0.98-1.00).

Exact invariances (the vector is bit-for-bit equal; ``tests/test_encoders.py`` checks them):

* **translation**: adding the same integer to ``start``, ``x``, ``target``, ``subgoal`` and every
  forbidden number changes nothing (only differences are used);
* **far away**: forbidden numbers beyond ``x + W`` never matter; with the target (and subgoal)
  beyond the window, moving them further changes nothing;
* **time**: the step count and ``max_steps`` change nothing.

Not invariant: multiplying the actions by ``k`` (the window grows to ``k W`` cells, so the
dimension changes; an encoder is built for one action tuple).
"""

from __future__ import annotations

import functools
from bisect import bisect_right
from collections.abc import Sequence
from typing import Any, Final

import numpy as np

from hrrl.errors import ConfigError, field_error
from hrrl.puzzle.core import DEFAULT_ACTIONS, PuzzleView
from hrrl.puzzle.encoders.base import check_view_actions, encode_all, sorted_forbidden
from hrrl.puzzle.encoders.window import DEAD, window_costs

#: The window holds this many largest-action strides: ``W = WINDOW_FACTOR * max(actions)``.
WINDOW_FACTOR: Final = 8
#: Cost-to-go (in window crossings) is clipped here; a dead landing reads this value.
COST_CLIP: Final = 2.0
#: Distinct window pictures (forbidden offsets, target offset) whose DP result is cached.
WINDOW_CACHE_SIZE: Final = 8192

_OCCUPANCY: Final = ("forbidden", "past_target", "target", "live")
_PER_ACTION: Final = (
    ("forbidden", "lands on a forbidden number"),
    ("overshoot", "lands past the target"),
    ("hit", "lands exactly on the target"),
    ("dead_end", "landing cannot reach the target or the window edge (within the window)"),
    ("cost", "steps from the landing to the target or window edge / WINDOW_FACTOR, clipped at 2"),
    ("subgoal", "lands on or past the active subgoal"),
)
_SCALARS: Final = (
    ("target_gap", "clip((target - x) / W, 0, 1): gap in action units over window in action units"),
    ("target_in_window", "1 if the target is within the window"),
    ("subgoal_gap", "clip((subgoal - x) / W, 0, 1)"),
    ("subgoal_in_window", "1 if the active subgoal is within the window"),
)


class RelationalEncoder:
    """Scale-free, action-relative, bounded-window encoding (module docstring has the table)."""

    name = "relational"

    def __init__(
        self, *, actions: Sequence[int] = DEFAULT_ACTIONS, window_factor: int = WINDOW_FACTOR
    ) -> None:
        if isinstance(window_factor, bool) or not isinstance(window_factor, int):
            raise field_error(ConfigError, "window_factor", window_factor, "give an integer >= 1")
        if window_factor < 1:
            raise field_error(ConfigError, "window_factor", window_factor, "give an integer >= 1")
        self.actions: tuple[int, ...] = tuple(actions)
        self.window_factor = window_factor
        self.max_action = max(self.actions)
        self.window = window_factor * self.max_action
        n, w = len(self.actions), self.window
        self._n_block = 4 * w + 5 * n  # the cached, subgoal-free part
        self.dim = self._n_block + n + len(_SCALARS)
        self._actions_np = np.asarray(self.actions, dtype=np.int64)
        self._block = functools.lru_cache(maxsize=WINDOW_CACHE_SIZE)(self._window_block)

        names = [f"{kind}@+{o}" for kind in _OCCUPANCY for o in range(1, w + 1)]
        names += [f"a{a}.{kind}" for kind, _ in _PER_ACTION for a in self.actions]
        names += [s for s, _ in _SCALARS]
        self.feature_names: tuple[str, ...] = tuple(names)
        self.low = np.zeros(self.dim, dtype=np.float32)
        self.high = np.ones(self.dim, dtype=np.float32)
        cost_at = 4 * w + 4 * n
        self.high[cost_at : cost_at + n] = COST_CLIP

    # --- the window picture (cached: it depends only on what is in view) ---------------------
    def _window_block(self, forbidden_offsets: tuple[int, ...], target_offset: int) -> np.ndarray:
        """Occupancy and per-action features (except ``subgoal``) for one window picture.

        ``target_offset`` is ``target - x`` clipped to ``[0, W + 1]``: 0 means x is at or past
        the target (every cell ahead is past it), ``W + 1`` means beyond the window.
        """
        w, acts = self.window, self.actions
        t = target_offset
        forbidden = [False] * (w + self.max_action + 1)
        for o in forbidden_offsets:
            forbidden[o] = True
        cost = window_costs(acts, forbidden_offsets, t, w)

        n = len(acts)
        block = np.zeros(self._n_block, dtype=np.float32)
        if forbidden_offsets:  # every offset lies in 1..W (the encoder looks no further)
            block[np.asarray(forbidden_offsets) - 1] = 1.0
        if t <= w:
            block[w + t : 2 * w] = 1.0  # cells t+1..W are past the target
            if t >= 1:
                block[2 * w + t - 1] = 1.0  # the target itself
        block[3 * w : 4 * w] = np.asarray(cost[1 : w + 1]) < DEAD
        base = 4 * w
        for i, a in enumerate(acts):
            block[base + i] = forbidden[a]
            block[base + n + i] = t <= w and a > t
            block[base + 2 * n + i] = a == t
            block[base + 3 * n + i] = cost[a] >= DEAD
            block[base + 4 * n + i] = min(cost[a] / self.window_factor, COST_CLIP)
        block.setflags(write=False)
        return block

    # --- encoding ----------------------------------------------------------------------------
    def encode(self, view: PuzzleView) -> np.ndarray:
        puzzle = view.puzzle
        check_view_actions(self, puzzle)
        x, w = view.current, self.window
        ordered = sorted_forbidden(puzzle)
        lo = bisect_right(ordered, x)
        hi = bisect_right(ordered, x + w, lo)
        offsets = tuple([f - x for f in ordered[lo:hi]]) if hi > lo else ()
        gap = puzzle.target - x
        block = self._block(offsets, min(max(gap, 0), w + 1))

        out = np.empty(self.dim, dtype=np.float32)
        nb = self._n_block
        out[:nb] = block
        sub = view.subgoal - x
        # One list -> array conversion for the per-action subgoal flags and the scalars.
        out[nb:] = [a >= sub for a in self.actions] + [
            min(max(gap, 0), w) / w,
            1.0 if 0 < gap <= w else 0.0,
            min(max(sub, 0), w) / w,
            1.0 if 0 < sub <= w else 0.0,
        ]
        return out

    def encode_batch(self, views: Sequence[PuzzleView]) -> np.ndarray:
        return encode_all(self, views)

    def describe(self) -> list[tuple[str, str]]:
        w, rows = self.window, []
        meaning = {
            "forbidden": "is forbidden",
            "past_target": "is past the target",
            "target": "is the target",
            "live": "can still reach the target or the window edge (within the window)",
        }
        for kind in _OCCUPANCY:
            rows += [(f"{kind}@+{o}", f"x + {o} {meaning[kind]}") for o in range(1, w + 1)]
        for kind, text in _PER_ACTION:
            rows += [(f"a{a}.{kind}", f"adding {a}: {text}") for a in self.actions]
        rows += list(_SCALARS)
        return rows

    def spec(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "actions": list(self.actions),
            "window_factor": self.window_factor,
            "dim": self.dim,
        }
