"""The slot encoder (the default): one block of features per action *slot*, any action set.

A policy that plays every action set cannot have one output per action of one set. Instead the
vector holds ``SLOTS`` (8) equal blocks, one per slot, and the network scores each block with the
same weights (``engine/networks.py``'s ``"slots"`` network: ``Q_k = f(block_k)``). Slot ``k``
plays ``actions[k % n]`` for a puzzle of ``n <= SLOTS`` actions; repeated slots hold identical
blocks, hence identical Q-values, so ``argmax`` and ``max`` are those over the real actions and
no action mask is needed anywhere. A puzzle of more than ``SLOTS`` actions is encoded in its own
``n`` blocks, each action once: the environment (``Discrete(SLOTS)``) refuses it, and the batched
player of a width-free network (slot or set, whose weights do not depend on ``n``) plays it.

Everything is in *units of the puzzle's own action set*: the window is ``W = WINDOW_FACTOR * A``
numbers ahead (``A`` the largest action), costs are in window crossings at full speed, an
action's size is relative to ``A``. Each block (``BLOCK`` = 13 features) is::

    per action a (what adding a does)            shared summary (the same in every block)
    forbidden   x + a is forbidden               target_gap         clip((target - x) / W, 0, 1)
    overshoot   x + a > target                   target_in_window   0 < target - x <= W
    hit         x + a == target                  subgoal_gap        clip((subgoal - x) / W, 0, 1)
    dead_end    x + a is not live (window DP)    subgoal_in_window  0 < subgoal - x <= W
    cost        cost(a) / WINDOW_FACTOR, clip 2
    excess      (cost(a) - min_b cost(b)) / EXCESS_STEPS (2 steps), clip 2
    size        a / A
    subgoal     x + a reaches the subgoal as asked:
                == for an exact one or the target, >= for one to pass
    share       1 / n (how many actions the set has)

``cost`` is the window DP of :mod:`hrrl.puzzle.encoders.window` (steps from the landing to the
target, or to beyond the window when the target is further, with a *graded* edge: landing ``j``
past the window's end costs ``(A - j) / A``, so two strides that cross the edge in as many steps
no longer tie). No occupancy cells: their number would depend on the action set.

An *exact* subgoal (``view.exact``: a number the high level asks to land on, :mod:`hrrl.puzzle.
horizon`) is read as the window's target: the picture is the one of a puzzle ending there, so
``hit``, ``overshoot``, ``dead_end`` and ``cost`` speak of landing on it, and the policy lands on
it the way it lands on any target it can see (the real target lies beyond the window then).

The window is 16 strides (the relational encoder's 8 made even the cost-greedy reading of these
features lose 0.9% of efficiency on {1,5,11}; docs/tuning.md). The encoder looks no further and
never calls the solver. Encoding is two steps: :meth:`SlotEncoder.glance` reduces what is in view
(the forbidden offsets, the clipped target and subgoal offsets) to a :data:`Glance` (per action:
forbidden landing? window value), and :meth:`SlotEncoder.vector` builds the vector of a glance,
cached: a long puzzle's glances repeat, so most steps cost the window's slide (a few cached moves,
:class:`~hrrl.puzzle.encoders.window.SlidingWindow`) and two cache look-ups.

Exact invariances (``tests/puzzle/test_slots_encoder.py`` checks them): translation of every
number; the step count and budget; forbidden numbers beyond the window; the order of the actions
(a permutation permutes the slots); and **scaling**: multiplying the actions, ``x``, the target,
the subgoal and every forbidden number by the same ``k`` leaves the vector unchanged (the window
grows to ``k W`` and only multiples of ``k`` are ever reachable from ``x``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, Final

import numpy as np

from hrrl.errors import ConfigError, field_error
from hrrl.puzzle.core import PerPuzzle, Puzzle, PuzzleView
from hrrl.puzzle.encoders.base import FORBIDDEN_CACHE_SIZE, encode_all, sorted_forbidden
from hrrl.puzzle.encoders.window import DEAD, SlidingWindow, cost_of

#: Action slots of the environment (its ``Discrete(SLOTS)`` action space, the replay's width):
#: a puzzle of more actions is UNSUPPORTED there, and played in its own ``n`` blocks by the
#: batched player of a width-free network (any puzzle: at most ``core.MAX_ACTIONS``).
SLOTS: Final = 8
#: The window holds this many largest-action strides: ``W = WINDOW_FACTOR * max(actions)``.
WINDOW_FACTOR: Final = 16
#: Costs (in window crossings) are clipped here; a dead landing reads this value.
COST_CLIP: Final = 2.0
#: Steps per unit of the ``excess`` feature (an action's cost over the best one's): in window
#: crossings (16 steps a unit, as ``cost``) a step more than the best read 0.06, and the set
#: network chose the largest stride over a shorter route on unseen sets; at 2 steps a unit
#: every held-out set's worst family cell rose ({1,5,11} 0.970 -> 0.980, docs/tuning.md).
EXCESS_STEPS: Final = 2.0
#: Distinct window pictures (actions, landings' values, target offset) kept.
WINDOW_CACHE_SIZE: Final = 16384
#: Distinct whole vectors (a picture with its subgoal offset) kept.
VECTOR_CACHE_SIZE: Final = 65536

_PER_ACTION: Final = (
    ("forbidden", "lands on a forbidden number"),
    ("overshoot", "lands past the target"),
    ("hit", "lands exactly on the target"),
    ("dead_end", "landing cannot reach the target or the window edge (within the window)"),
    ("cost", "steps from the landing to the target or window edge / WINDOW_FACTOR, clip 2"),
    ("excess", "(cost - the best action's cost) / EXCESS_STEPS, clip 2"),
    ("size", "the action / the largest action"),
    ("subgoal", "reaches the active subgoal as asked (lands on an exact one, passes another)"),
    ("share", "1 / number of actions in the set"),
)
_SUMMARY: Final = (
    ("target_gap", "clip((target - x) / W, 0, 1)"),
    ("target_in_window", "1 if the target is within the window"),
    ("subgoal_gap", "clip((subgoal - x) / W, 0, 1)"),
    ("subgoal_in_window", "1 if the active subgoal is within the window"),
)
#: What a slot vector is a function of: ``(actions, blocked, values, t, sub)``: the action set,
#: per action whether its landing is forbidden and its window value (``A * cost``, see
#: :mod:`~hrrl.puzzle.encoders.window`), and the target and subgoal offsets clipped to
#: ``[0, W + 1]``. Far fewer distinct glances than forbidden patterns: they repeat along a long
#: puzzle, and the greedy action is memoised by them.
Glance = tuple[tuple[int, ...], tuple[bool, ...], tuple[int, ...], int, int]
#: Features per slot.
BLOCK: Final = len(_PER_ACTION) + len(_SUMMARY)
_SUBGOAL: Final = 7  # column of the per-action subgoal flag
_SUMMARY_AT: Final = len(_PER_ACTION)


def unsupported_reason(puzzle: Puzzle, slots: int = SLOTS) -> str | None:
    """Why a stack of ``slots`` action slots cannot play ``puzzle`` (None when it can)."""
    if len(puzzle.actions) > slots:
        return (
            f"the puzzle has {len(puzzle.actions)} actions; this policy scores at most {slots} "
            "action slots"
        )
    return None


class SlotEncoder:
    """Per-slot, action-relative, bounded-window encoding for any action set (module docstring)."""

    name = "slots"
    #: Any action set: the encoder is not built for one (``check_view_actions`` does not apply).
    actions: tuple[int, ...] = ()

    def __init__(
        self,
        *,
        actions: Sequence[int] = (),
        slots: int = SLOTS,
        window_factor: int = WINDOW_FACTOR,
        graded_edge: bool = True,
    ) -> None:
        # ``actions`` is accepted (make_encoder passes the config's) and ignored: any set plays.
        del actions
        for name, value in (("slots", slots), ("window_factor", window_factor)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise field_error(ConfigError, name, value, "give an integer >= 1")
        self.slots = slots
        self.window_factor = window_factor
        self.graded_edge = graded_edge
        self.dim = slots * BLOCK
        self._windows = PerPuzzle(self._sliding_window, FORBIDDEN_CACHE_SIZE)
        self._picture = functools.lru_cache(maxsize=WINDOW_CACHE_SIZE)(self._window_picture)
        self.vector: Callable[[Glance], np.ndarray] = functools.lru_cache(
            maxsize=VECTOR_CACHE_SIZE
        )(self._slot_vector)
        """The (read-only, cached) vector of a :meth:`glance`."""
        self._slot_of = [np.arange(slots) % n for n in range(1, slots + 1)]
        self.feature_names: tuple[str, ...] = tuple(
            f"slot{k}.{name}" for k in range(slots) for name, _ in (*_PER_ACTION, *_SUMMARY)
        )
        self.low = np.zeros(self.dim, dtype=np.float32)
        self.high = np.ones(self.dim, dtype=np.float32)
        for k in range(slots):
            self.high[k * BLOCK + 4 : k * BLOCK + 6] = COST_CLIP

    def glance(self, puzzle: Puzzle, x: int, subgoal: int, exact: bool = False) -> Glance:
        """What the vector at ``x`` is a function of, as a small hashable tuple (see
        :data:`Glance`): batched play memoises the greedy action by it. ``exact``: the subgoal
        is to be landed on (an exact waypoint), read as the window's target when in view."""
        return self.glancer(puzzle)(x, subgoal, 0, exact)

    def glancer(self, puzzle: Puzzle) -> Callable[[int, int, int, bool], Glance]:
        """``glance(puzzle, x, subgoal, exact)`` as a function of ``(x, subgoal, step, exact)``,
        with what depends on the puzzle alone (its window, its sorted forbidden numbers) worked
        out once. ``step`` is accepted and unused: the vector does not depend on the step count."""
        actions, target, forbidden = puzzle.actions, puzzle.target, puzzle.forbidden
        w = self.window_factor * max(actions)
        edge = w + 1
        # The window slides along the puzzle's numbers: its runs between forbidden numbers are
        # worked out once per puzzle, never rebuilt from the whole forbidden list.
        values = self._windows(puzzle).values

        def at(x: int, subgoal: int, step: int = 0, exact: bool = False) -> Glance:
            sub = subgoal - x
            if exact and 0 < sub <= w:
                # The exact subgoal is the window's target; what lies past it does not matter.
                t = sub
                blocked = tuple([x + a in forbidden and a < sub for a in actions])
            else:
                t = min(max(target - x, 0), edge)
                blocked = tuple([x + a in forbidden for a in actions])
            return actions, blocked, values(x, t), t, min(max(sub, 0), edge)

        return at

    def _sliding_window(self, puzzle: Puzzle) -> SlidingWindow:
        w = self.window_factor * puzzle.max_action
        return SlidingWindow(puzzle.actions, sorted_forbidden(puzzle), w, graded=self.graded_edge)

    def encode(self, view: PuzzleView) -> np.ndarray:
        glance = self.glance(view.puzzle, view.current, view.subgoal, view.exact)
        return self.vector(glance).copy()  # callers may write into what they get

    def _window_picture(
        self,
        actions: tuple[int, ...],
        blocked: tuple[bool, ...],
        values: tuple[int, ...],
        target_offset: int,
    ) -> np.ndarray:
        """``(n, BLOCK)`` blocks of the real actions, subgoal columns left 0 (cached)."""
        amax = max(actions)
        w = self.window_factor * amax
        t = target_offset
        cost = [cost_of(amax, v) for v in values]
        live = [c for c in cost if c < DEAD]
        best = min(live) if live else DEAD
        rows = np.zeros((len(actions), BLOCK), dtype=np.float32)
        share = 1.0 / len(actions)
        for i, a in enumerate(actions):
            c = cost[i]
            rows[i, :_SUBGOAL] = (
                blocked[i],
                t <= w and a > t,
                a == t,
                c >= DEAD,
                min(c / self.window_factor, COST_CLIP),
                min((c - best) / EXCESS_STEPS, COST_CLIP) if c < DEAD else COST_CLIP,
                a / amax,
            )
            rows[i, _SUBGOAL + 1] = share
        rows[:, _SUMMARY_AT] = min(t, w) / w
        rows[:, _SUMMARY_AT + 1] = 1.0 if 0 < t <= w else 0.0
        rows.setflags(write=False)
        return rows

    def _slot_vector(self, glance: Glance) -> np.ndarray:
        """The whole vector for one glance (read-only; cached): ``slots`` blocks for a set of at
        most ``slots`` actions, else one block per action (what the player of a width-free
        network reads). A subgoal at the target's offset (the target itself, or an exact one
        read as the window's target) is reached by landing on it; any other by passing it."""
        actions, blocked, values, gap, sub = glance
        exact = sub == gap
        n, w = len(actions), self.window_factor * max(actions)
        rows = self._picture(actions, blocked, values, gap)
        # Slot k shows action k mod n; a wider set shows each action once.
        slot_of = self._slot_of[n - 1] if n <= self.slots else np.arange(n)
        blocks = rows[slot_of]
        blocks[:, _SUBGOAL] = [
            actions[i] == sub if exact else actions[i] >= sub for i in slot_of.tolist()
        ]
        blocks[:, _SUMMARY_AT + 2] = min(sub, w) / w
        blocks[:, _SUMMARY_AT + 3] = 1.0 if 0 < sub <= w else 0.0
        out = blocks.reshape(-1)
        out.setflags(write=False)
        return out

    def encode_batch(self, views: Sequence[PuzzleView]) -> np.ndarray:
        return encode_all(self, views)

    def describe(self) -> list[tuple[str, str]]:
        return [
            (f"slot{k}.{name}", f"slot {k} (action k mod n): {text}")
            for k in range(self.slots)
            for name, text in (*_PER_ACTION, *_SUMMARY)
        ]

    def spec(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "slots": self.slots,
            "window_factor": self.window_factor,
            "graded_edge": self.graded_edge,
            "dim": self.dim,
        }
