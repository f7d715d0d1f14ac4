"""The puzzle families, one per kind of difficulty, each defined for any action set.

Every family draws candidates from a ``np.random.Generator`` and keeps one only when its defining
property holds, checked with the exact solver or a simulated greedy player (rejection sampling,
:mod:`hrrl.puzzle.sampling`). Each kept puzzle carries ``extra["optimal_steps"]`` (the exact
optimum), plus a few family fields (``trap_at``, ``walls``, ``window``, ``kind``) that say where
the difficulty sits. Solvable families get ``max_steps = default_max_steps(optimal)``.

| family       | targets      | forbidden numbers                                                  |
| ------------ | ------------ | ------------------------------------------------------------------ |
| `in_range`   | 5..100       | 2-5, like the paper's training stage 4                              |
| `scale`      | 100..10,000  | the paper's density, 3.5% of the numbers in (start, target)        |
| `dense`      | 50..2,000    | 8-20% of the numbers                                               |
| `trap`       | 20..300      | the greedy path runs into ``y`` with ``y + a`` forbidden for all a |
| `endgame`    | 30..500      | most of the last 6-15 numbers below the target                     |
| `wall`       | 60..1,000    | 1-4 blocks of A-1, crossed only by +A from just below the block    |
| `lookahead`  | 30..300      | 10-25%, and the one-step-lookahead greedy player fails             |
| `unsolvable` | 20..500      | a block of A, a sealed target, a budget below the optimum, or (a   |
|              |              | common divisor g) a target off the residue class                   |
| `deep_trap`  | 150..900     | a lane region (:mod:`hrrl.puzzle.lanes`): 2-3 lanes that look alike |
|              |              | in the low-level window, all but one dying 85..300 numbers in       |
| `maze`       | 400..1,800   | 2-3 lane regions in sequence, a short free junction between them   |
| `abyss`      | 10^3..10^5   | one lane region of 2-4 lanes, the dying ones dying 10^3..10^5      |
|              |              | numbers in (:data:`SCALE_FAMILIES`: named, not part of ``all``)    |
| `wide`       | as its kind  | its own set of 9-32 actions (a quarter sharing a divisor 2 or 3),  |
|              |              | a puzzle of in_range, scale, dense, trap or unsolvable for it       |
|              |              | (a scale family too)                                               |

Every family is defined for any action set: the numbers in the table are for the default
actions (1, 3, 5; largest ``A = 5``); for another set, targets and window sizes are multiplied by
``max(1, A / 5)``, walls are ``A - 1`` long, traps forbid ``y + a`` for each of the set's actions.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from hrrl.errors import PuzzleError
from hrrl.puzzle.core import DEFAULT_ACTIONS, MAX_STEPS_LIMIT, Puzzle, Status, default_max_steps
from hrrl.puzzle.encoders.slots import WINDOW_FACTOR
from hrrl.puzzle.lanes import LanePlan, pick_lanes, region_forbidden
from hrrl.puzzle.sampling import (
    MAX_TRIES,
    PAPER_DENSITY,
    IntRange,
    draw_forbidden,
    greedy_rollout,
    sample_puzzle,
    solvable_puzzle,
)
from hrrl.puzzle.solver import optimal_steps

# --- the families -----------------------------------------------------------------------------
#: A family draws one puzzle for an action set (every family is defined for any set).
Family = Callable[[np.random.Generator, tuple[int, ...]], Puzzle]


def scaled(value: int, actions: Sequence[int]) -> int:
    """A size written for the default actions (largest 5) in units of ``actions``: times
    ``max(1, A / 5)``, so the default set keeps its numbers and a larger stride gets room."""
    return math.ceil(value * max(1.0, max(actions) / max(DEFAULT_ACTIONS)))


def _targets(lo: int, hi: int, actions: Sequence[int]) -> IntRange:
    return scaled(lo, actions), scaled(hi, actions)


def _in_range(rng: np.random.Generator, actions: tuple[int, ...]) -> Puzzle:
    return sample_puzzle(
        rng, target_range=_targets(5, 100, actions), forbidden_count=(2, 5), actions=actions
    )


def _scale(rng: np.random.Generator, actions: tuple[int, ...]) -> Puzzle:
    return sample_puzzle(
        rng, target_range=_targets(100, 10_000, actions), density=PAPER_DENSITY, actions=actions
    )


def _dense(rng: np.random.Generator, actions: tuple[int, ...]) -> Puzzle:
    return sample_puzzle(
        rng, target_range=_targets(50, 2_000, actions), density=(0.08, 0.20), actions=actions
    )


def _background(rng: np.random.Generator, target: int, exclude: Iterable[int] = ()) -> set[int]:
    """Forbidden numbers at the paper's density (at least 2) over (0, target)."""
    k = max(2, round(PAPER_DENSITY * (target - 1)))
    return draw_forbidden(rng, 0, target, k, exclude)


def _trap(rng: np.random.Generator, actions: tuple[int, ...]) -> Puzzle:
    """Pick ``y`` on the plain greedy path and forbid ``y + a`` for every action a.

    Forbidding numbers above ``y`` leaves the greedy path up to ``y`` unchanged (every landing
    it skipped was already forbidden or past the target), so the greedy player still walks to
    ``y`` and is stuck there; the puzzle is kept when a path around ``y`` exists.

    A *complete* set (every multiple of its divisor up to the largest action, such as {2, 4, 6})
    has no such trap: forbidding every ``y + a`` forbids every reachable number of a stretch no
    action clears. There the trap is a funnel: every landing from ``y`` but the smallest is
    forbidden, so the greedy player has to squeeze through ``y + min(actions)``.
    """
    amax = max(actions)
    funnel = is_complete(actions)
    planted_actions = [a for a in actions if a != min(actions)] if funnel else list(actions)
    lo, hi = _targets(20, 300, actions)
    for _ in range(MAX_TRIES):
        target = int(rng.integers(lo, hi + 1))
        forbidden = _background(rng, target)
        base = Puzzle(
            target=target,
            forbidden=frozenset(forbidden),
            actions=actions,
            max_steps=MAX_STEPS_LIMIT,
        )
        walk = greedy_rollout(base).path
        spots = [y for y in walk[1:] if y + amax < target and y not in forbidden]
        if not spots:
            continue
        y = int(spots[int(rng.integers(len(spots)))])
        forbidden |= {y + a for a in planted_actions}
        extra = {"trap_at": y, **({"funnel": True} if funnel else {})}
        puzzle = solvable_puzzle(target, forbidden, actions, 0, extra)
        if puzzle is not None and (funnel or _greedy_trapped(puzzle, y)):
            return puzzle
    raise PuzzleError(f"trap: no puzzle in {MAX_TRIES} draws for actions {list(actions)}")


def is_complete(actions: Sequence[int]) -> bool:
    """Whether ``actions`` are every multiple of their divisor up to the largest ({2, 4, 6})."""
    g = math.gcd(*actions)
    return set(actions) == set(range(g, max(actions) + 1, g))


def _greedy_trapped(puzzle: Puzzle, y: int) -> bool:
    rollout = greedy_rollout(puzzle)
    return (
        rollout.status is Status.FORBIDDEN
        and rollout.path[-2] == y
        and all(y + a in puzzle.forbidden for a in puzzle.actions)
    )


def _endgame(rng: np.random.Generator, actions: tuple[int, ...]) -> Puzzle:
    """Most of the last ``w`` (6-15, in units of the actions) numbers below the target forbidden;
    still solvable."""
    lo, hi = _targets(30, 500, actions)
    w_lo, w_hi = _targets(6, 15, actions)
    for _ in range(MAX_TRIES):
        target = int(rng.integers(lo, hi + 1))
        window = int(rng.integers(w_lo, w_hi + 1))
        k = math.ceil(float(rng.uniform(0.6, 0.85)) * window)
        packed = draw_forbidden(rng, target - window - 1, target, k)
        background = draw_forbidden(
            rng, 0, target - window, max(2, round(PAPER_DENSITY * (target - window - 1)))
        )
        puzzle = solvable_puzzle(target, packed | background, actions, 0, {"window": window})
        if puzzle is not None:
            return puzzle
    raise PuzzleError(f"endgame: no puzzle in {MAX_TRIES} draws for actions {list(actions)}")


#: Length of a `wall` block for the default actions: only the largest action (5) clears it.
WALL_LENGTH = 4


def wall_length(actions: Sequence[int]) -> int:
    """A wall is one shorter than the largest action: only that action clears it."""
    return max(actions) - 1


def _wall(rng: np.random.Generator, actions: tuple[int, ...]) -> Puzzle:
    """1-4 blocks ``b..b+L-1`` (``L = A - 1``) forbidden with ``b - 1`` and ``b + L`` free: from
    ``b - 1`` only the largest action ``A`` crosses; from anywhere lower every action lands
    short or inside."""
    length = wall_length(actions)
    lo, hi = _targets(60, 1_000, actions)
    if length < 1:
        raise PuzzleError(f"wall: actions {list(actions)} have no wall (largest action 1)")
    for _ in range(MAX_TRIES):
        target = int(rng.integers(lo, hi + 1))
        n_walls = int(rng.integers(1, 5))
        # Block starts in [2, target - L - 2]; consecutive blocks at least L + 1 apart so the
        # number after one block (b + L) stays free.
        starts = sorted(
            rng.choice(np.arange(2, target - length - 1), size=n_walls, replace=False).tolist()
        )
        if any(b2 - b1 < length + 1 for b1, b2 in itertools.pairwise(starts)):
            continue
        blocks = {b + i for b in starts for i in range(length)}
        keep = {b - 1 for b in starts} | {b + length for b in starts}
        forbidden = blocks | _background(rng, target, exclude=blocks | keep)
        puzzle = solvable_puzzle(target, forbidden, actions, 0, {"walls": starts})
        if puzzle is not None:
            return puzzle
    raise PuzzleError(f"wall: no puzzle in {MAX_TRIES} draws for actions {list(actions)}")


def _lookahead(rng: np.random.Generator, actions: tuple[int, ...]) -> Puzzle:
    """Dense puzzles (10-25%) that the one-step-lookahead greedy player fails.

    Random dense puzzles rarely fool that player (about 1 in 200), so a trap is planted at a
    number ``y`` on its path: every landing ``y + a`` is either forbidden or a dead end (all of
    ``y + a + b`` forbidden), and at least one is a dead end so that ``y`` itself passes the
    player's one-step check. The player walks to ``y``, sees only dead ends and forbidden
    numbers, steps onto a dead end and loses. Kept when the player is verified to fail and a path around ``y`` exists.

    A complete set (see :func:`_trap`) has no dead ends, so no player falls into one; there the
    planted trap is the funnel of :func:`_trap` on the lookahead player's path, kept when
    solvable.
    """
    reach = 2 * max(actions)
    funnel = is_complete(actions)
    targets = _targets(30, 300, actions)
    for _ in range(MAX_TRIES):
        base = sample_puzzle(rng, target_range=targets, density=(0.10, 0.25), actions=actions)
        walk = greedy_rollout(base, lookahead=1).path
        spots = [y for y in walk[1:-1] if y + reach < base.target]
        if not spots:
            continue
        y = int(spots[int(rng.integers(len(spots)))])
        if funnel:
            planted = {y + a for a in actions if a != min(actions)}
            extra = {"trap_at": y, "funnel": True}
            puzzle = solvable_puzzle(base.target, base.forbidden | planted, actions, 0, extra)
            if puzzle is not None:
                return puzzle
            continue
        dead = [a for a in actions if rng.random() < 0.5] or [
            actions[int(rng.integers(len(actions)))]
        ]
        planted = {y + a for a in actions if a not in dead}
        planted |= {y + a + b for a in dead for b in actions}
        planted -= {y + a for a in dead}
        puzzle = solvable_puzzle(base.target, base.forbidden | planted, actions, 0, {"trap_at": y})
        if puzzle is not None and _lookahead_trapped(puzzle, y):
            return puzzle
    raise PuzzleError(f"lookahead: no puzzle in {MAX_TRIES} draws for actions {list(actions)}")


def _lookahead_trapped(puzzle: Puzzle, y: int) -> bool:
    """The lookahead player reaches ``y``, steps onto a dead end and then onto a forbidden number."""
    rollout = greedy_rollout(puzzle, lookahead=1)
    return rollout.status is Status.FORBIDDEN and rollout.path[-3] == y


#: How an `unsolvable` puzzle is made unsolvable (any action set).
UNSOLVABLE_KINDS = ("block", "sealed", "budget")
#: The extra kind for action sets with a common divisor ``g > 1``: ``target - start`` not a
#: multiple of ``g``, so no sum of actions lands on it.
RESIDUE = "residue"


def unsolvable_kinds(actions: Sequence[int]) -> tuple[str, ...]:
    """The kinds of `unsolvable` puzzle an action set allows (``residue`` needs a divisor)."""
    return (*UNSOLVABLE_KINDS, RESIDUE) if math.gcd(*actions) > 1 else UNSOLVABLE_KINDS


def _unsolvable(rng: np.random.Generator, actions: tuple[int, ...]) -> Puzzle:
    """No path within ``max_steps``: a block of ``A`` forbidden numbers (no action clears it), a
    sealed target (``target - a`` forbidden for every action), a solvable layout whose
    ``max_steps`` is one below its optimum, or (actions sharing a divisor ``g``) a target off
    the residue class ``start mod g``."""
    amax = max(actions)
    kinds = unsolvable_kinds(actions)
    g = math.gcd(*actions)
    lo, hi = _targets(20, 500, actions)
    for _ in range(MAX_TRIES):
        kind = kinds[int(rng.integers(len(kinds)))]
        target = int(rng.integers(lo, hi + 1))
        if kind == RESIDUE and target % g == 0:
            target += 1 + int(rng.integers(g - 1))
        forbidden = _background(rng, target)
        max_steps = default_max_steps(math.ceil(target / amax))
        if kind == "block":
            b = int(rng.integers(1, target - amax + 1))
            forbidden |= set(range(b, b + amax))
        elif kind == "sealed":
            forbidden |= {target - a for a in actions if target - a > 0}
        elif kind == "budget":
            solvable = solvable_puzzle(target, forbidden, actions, 0)
            if solvable is None or solvable.extra["optimal_steps"] < 2:
                continue
            max_steps = solvable.extra["optimal_steps"] - 1
        puzzle = Puzzle(
            target=target,
            forbidden=frozenset(forbidden),
            actions=actions,
            max_steps=max_steps,
            extra={"kind": kind, "optimal_steps": None},
        )
        if optimal_steps(puzzle) is None:
            return puzzle
    raise PuzzleError(f"unsolvable: no puzzle in {MAX_TRIES} draws for actions {list(actions)}")


# --- lane regions (deep traps) ----------------------------------------------------------------
def low_level_window(actions: Sequence[int]) -> int:
    """How far the default (slot) encoder sees: ``WINDOW_FACTOR`` largest-action strides."""
    return WINDOW_FACTOR * max(actions)


def trap_depths(actions: Sequence[int]) -> IntRange:
    """Where a dying lane dies, counted from its region's first number: beyond the low-level
    window (by at least one stride) and at most 300 numbers in (scaled to the set)."""
    lo = low_level_window(actions) + max(actions)
    return lo, max(scaled(300, actions), lo + 2 * max(actions))


def _lane_region(
    rng: np.random.Generator,
    actions: tuple[int, ...],
    begin: int,
    arrival: int,
    depths: IntRange,
    max_dying: int,
) -> tuple[LanePlan, int]:
    """A lane plan for a region starting at ``begin`` and the region's end: up to ``max_dying``
    lanes dying at ``depths``; the residue of ``arrival`` (where a largest-stride walker enters)
    is made a dying lane when it can be."""
    amax = max(actions)
    passing, dying = pick_lanes(rng, actions, avoid=arrival, max_dying=max_dying)
    lo, hi = depths
    deaths = tuple(sorted(int(d) for d in rng.integers(lo, hi + 1, size=len(dying))))
    plan = LanePlan(stride=amax, passing=passing, dying=dying, deaths=deaths)
    tail = amax * int(rng.integers(2, 5))
    return plan, begin + (max(deaths) if deaths else lo) + tail


def _lane_puzzle(
    rng: np.random.Generator,
    actions: tuple[int, ...],
    regions: int,
    *,
    name: str,
    depths: IntRange | None = None,
    max_dying: int = 2,
    extra: dict[str, object] | None = None,
) -> Puzzle:
    """``regions`` lane regions in sequence (their dying lanes dying at ``depths``, by default
    :func:`trap_depths`), free (background) numbers before, between (a short junction of 1..A
    numbers) and after them; kept when solvable and when the one-step lookahead greedy player
    (a window-bounded player) fails."""
    amax = max(actions)
    depths = trap_depths(actions) if depths is None else depths
    for _ in range(MAX_TRIES):
        begin = int(rng.integers(*_targets(20, 200, actions)))
        plans, spans, forbidden = [], [], set()
        x = 0
        for _ in range(regions):
            arrival = begin - (begin - x) % amax  # a largest-stride walker's residue
            plan, end = _lane_region(rng, actions, begin, arrival, depths, max_dying)
            plans.append(plan)
            spans.append((begin, end))
            forbidden |= region_forbidden(begin, end, plan)
            x, begin = end, end + int(rng.integers(1, amax + 1))
        target = spans[-1][1] + int(rng.integers(*_targets(20, 200, actions)))
        # Background noise only where no region is.
        free = [(0, spans[0][0])] + [(e, b) for (_, e), (b, _) in itertools.pairwise(spans)]
        free.append((spans[-1][1] - 1, target))
        for lo, hi in free:
            if hi - lo > 2:
                forbidden |= draw_forbidden(rng, lo, hi, round(PAPER_DENSITY * (hi - lo - 1)))
        fields = {
            **(extra or {}),
            "regions": [[b, e] for b, e in spans],
            "lanes": [[p.passing, *p.dying] for p in plans],
            "deaths": [list(p.deaths) for p in plans],
            **({"corridor": True} if is_complete(actions) else {}),
        }
        puzzle = solvable_puzzle(target, forbidden, actions, 0, fields)
        if puzzle is None:
            continue
        if is_complete(actions) or greedy_rollout(puzzle, lookahead=1).status is not Status.SUCCESS:
            return puzzle
    raise PuzzleError(f"{name}: no puzzle in {MAX_TRIES} draws for actions {list(actions)}")


def _deep_trap(rng: np.random.Generator, actions: tuple[int, ...]) -> Puzzle:
    """One lane region (:mod:`hrrl.puzzle.lanes`): every lane but one dies deeper than the
    low-level window, and the passing one is not the lane a largest-stride walker arrives in."""
    return _lane_puzzle(rng, actions, regions=1, name="deep_trap")


def _maze(rng: np.random.Generator, actions: tuple[int, ...]) -> Puzzle:
    """2-3 lane regions in sequence: the junction between two is at most one stride long, so the
    lane a walker leaves one region in decides which lanes of the next it can still enter."""
    return _lane_puzzle(rng, actions, regions=int(rng.integers(2, 4)), name="maze")


#: Where an `abyss` puzzle's dying lanes die, for the default actions: 10^3..10^5 numbers in.
ABYSS_DEPTHS: IntRange = (1_000, 100_000)


def abyss_puzzle(rng: np.random.Generator, actions: tuple[int, ...], depth: int) -> Puzzle:
    """One lane region of 2-4 lanes whose dying lanes die ``depth`` to ``1.2 * depth`` numbers
    in (issue 27: far past any fixed horizon), the passing lane open to the end; the target a
    few hundred numbers past the region. A complete set gets a corridor (no lane dies deep)."""
    if depth < 1:
        raise PuzzleError(f"abyss: depth={depth} is invalid: give a depth >= 1")
    depths = (depth, max(depth, round(1.2 * depth)))
    extra: dict[str, object] = {"depth": depth}
    return _lane_puzzle(rng, actions, 1, name="abyss", depths=depths, max_dying=3, extra=extra)


def _abyss(rng: np.random.Generator, actions: tuple[int, ...]) -> Puzzle:
    """:func:`abyss_puzzle` at a depth log-uniform in :data:`ABYSS_DEPTHS` (scaled to the set)."""
    lo, hi = (scaled(d, actions) for d in ABYSS_DEPTHS)
    depth = round(math.exp(rng.uniform(math.log(lo), math.log(hi))))
    return abyss_puzzle(rng, actions, depth)


#: How many actions a `wide` puzzle's set has (issue 27: past the environment's 8 slots).
WIDE_SIZES: IntRange = (9, 32)
#: A wide set's actions come from 1..WIDE_LARGEST (1..n when n is larger), times a divisor.
WIDE_LARGEST = 30
#: Share of wide sets whose actions share a divisor (2 or 3: residues matter).
WIDE_DIVISOR_SHARE = 0.25
#: The families a wide puzzle is drawn from, for its own set (unsolvable ones included; not
#: `lookahead`: with this many actions the one-step-lookahead player it needs to fail rarely does).
WIDE_KINDS = ("in_range", "scale", "dense", "trap", "unsolvable")


def wide_actions(rng: np.random.Generator, size: int) -> tuple[int, ...]:
    """``size`` distinct actions from ``1..max(WIDE_LARGEST, size)``, all times ``d`` in {2, 3}
    with probability :data:`WIDE_DIVISOR_SHARE`; ascending."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise PuzzleError(f"wide: size={size!r} is invalid: give a number of actions >= 1")
    d = int(rng.choice((2, 3))) if rng.random() < WIDE_DIVISOR_SHARE else 1
    pool = np.arange(1, max(WIDE_LARGEST, size) + 1)
    return tuple(sorted(d * int(a) for a in rng.choice(pool, size=size, replace=False)))


def wide_puzzle(rng: np.random.Generator, size: int) -> Puzzle:
    """A puzzle of one of :data:`WIDE_KINDS` for a set of ``size`` actions (:func:`wide_actions`)."""
    actions = wide_actions(rng, size)
    kind = WIDE_KINDS[int(rng.integers(len(WIDE_KINDS)))]
    puzzle = FAMILIES[kind](rng, actions)
    return dataclasses.replace(puzzle, extra={**puzzle.extra, "kind": kind, "width": size})


def _wide(rng: np.random.Generator, actions: tuple[int, ...]) -> Puzzle:
    """:func:`wide_puzzle` of a size uniform in :data:`WIDE_SIZES`; it draws its own set
    (``actions`` are not used)."""
    del actions
    return wide_puzzle(rng, int(rng.integers(WIDE_SIZES[0], WIDE_SIZES[1] + 1)))


FAMILIES: dict[str, Family] = {
    "in_range": _in_range,
    "scale": _scale,
    "dense": _dense,
    "trap": _trap,
    "endgame": _endgame,
    "wall": _wall,
    "lookahead": _lookahead,
    "unsolvable": _unsolvable,
    "deep_trap": _deep_trap,
    "maze": _maze,
}

#: Families past the default policy's fixed bounds (issue 27), generated by name but not part
#: of ``all`` (the held-out suites every preset is measured on).
SCALE_FAMILIES: dict[str, Family] = {"abyss": _abyss, "wide": _wide}
