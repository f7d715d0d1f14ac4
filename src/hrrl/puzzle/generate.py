"""Seeded generators of puzzle suites, one family per kind of difficulty.

Every family draws candidates from a ``np.random.Generator`` and keeps one only when its defining
property holds, checked with the exact solver or a simulated greedy player (rejection sampling).
Each kept puzzle carries ``extra["family"]`` and ``extra["optimal_steps"]`` (the exact optimum),
plus a few family fields (``trap_at``, ``walls``, ``window``, ``kind``) that say where the
difficulty sits. Solvable families get ``max_steps = default_max_steps(optimal)``.

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

Every family is defined for any action set: the numbers in the table are for the default
actions (1, 3, 5; largest ``A = 5``); for another set, targets and window sizes are multiplied by
``max(1, A / 5)``, walls are ``A - 1`` long, traps forbid ``y + a`` for each of the set's actions.

The greedy players (:func:`greedy_rollout`) take the largest action whose landing survives a
``lookahead``-step check (neither forbidden nor past the target, and for ``lookahead >= 1`` not a
number from which every action fails within the remaining depth).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from hrrl.errors import ConfigError, PuzzleError, field_error
from hrrl.puzzle.core import DEFAULT_ACTIONS, MAX_STEPS_LIMIT, Puzzle, Status, default_max_steps
from hrrl.puzzle.encoders.slots import WINDOW_FACTOR
from hrrl.puzzle.lanes import LanePlan, pick_lanes, region_forbidden
from hrrl.puzzle.solver import optimal_steps

#: Share of the numbers in (start, target) forbidden in the paper's puzzles (2-5 per 100).
PAPER_DENSITY = 0.035
#: Candidates drawn before a generator gives up (a sign of impossible parameters, not bad luck).
MAX_TRIES = 1_000

IntRange = tuple[int, int]
FloatRange = tuple[float, float]


# --- the generic sampler ----------------------------------------------------------------------
def sample_puzzle(
    rng: np.random.Generator,
    *,
    target_range: IntRange,
    forbidden_count: int | IntRange | None = None,
    density: float | FloatRange | None = None,
    actions: Sequence[int] = DEFAULT_ACTIONS,
    start: int = 0,
    max_tries: int = MAX_TRIES,
) -> Puzzle:
    """A random solvable puzzle: target uniform in ``target_range`` (both ends included), forbidden
    numbers drawn uniformly without repetition from the open interval (start, target).

    Give exactly one of ``forbidden_count`` (a number, or a range drawn uniformly, both ends
    included; clipped to the ``target - start - 1`` numbers available) and ``density`` (a share
    of those numbers, or a range drawn uniformly; the count is ``round(density * (gap - 1))``).
    Unsolvable draws are rejected and drawn again. ``extra["optimal_steps"]`` holds the exact
    optimum and ``max_steps = default_max_steps(optimum)``.

    This is the curriculum's sampler: stage 4 of the paper is
    ``sample_puzzle(rng, target_range=(5, 100), forbidden_count=(2, 5))``.
    """
    lo, hi = _checked_range("target_range", target_range, low=start + 1)
    if (forbidden_count is None) == (density is None):
        raise ConfigError("give exactly one of forbidden_count and density")
    if forbidden_count is not None:
        counts = _checked_range("forbidden_count", forbidden_count, low=0)
    else:
        assert density is not None
        shares = _checked_density(density)
    action_tuple = tuple(int(a) for a in actions)
    for _ in range(max_tries):
        target = int(rng.integers(lo, hi + 1))
        if forbidden_count is not None:
            k = int(rng.integers(counts[0], counts[1] + 1))
        else:
            share = shares[0] if shares[0] == shares[1] else float(rng.uniform(*shares))
            k = round(share * (target - start - 1))
        forbidden = draw_forbidden(rng, start, target, k)
        puzzle = _solvable(target, forbidden, action_tuple, start)
        if puzzle is not None:
            return puzzle
    raise ConfigError(f"no solvable puzzle in {max_tries} draws: lower the forbidden count/density")


def draw_forbidden(
    rng: np.random.Generator, start: int, target: int, k: int, exclude: Iterable[int] = ()
) -> set[int]:
    """``k`` distinct numbers drawn uniformly from (start, target) minus ``exclude`` (fewer when
    fewer are available)."""
    excluded = {x for x in exclude if start < x < target}
    n = target - start - 1
    k = min(k, n - len(excluded))
    if k <= 0:
        return set()
    if not excluded:
        return set((rng.choice(n, size=k, replace=False) + start + 1).tolist())
    pool = np.setdiff1d(np.arange(start + 1, target), np.fromiter(excluded, dtype=np.int64))
    return set(rng.choice(pool, size=k, replace=False).tolist())


def _solvable(
    target: int,
    forbidden: Iterable[int],
    actions: tuple[int, ...],
    start: int,
    extra: dict[str, Any] | None = None,
) -> Puzzle | None:
    """The puzzle with ``max_steps = default_max_steps(optimum)``, or None when no path exists."""
    probe = Puzzle(
        target=target,
        forbidden=frozenset(forbidden),
        actions=actions,
        max_steps=MAX_STEPS_LIMIT,
        start=start,
    )
    opt = optimal_steps(probe, ignore_max_steps=True)
    if opt is None:
        return None
    return dataclasses.replace(
        probe,
        max_steps=min(default_max_steps(opt), MAX_STEPS_LIMIT),
        extra={**(extra or {}), "optimal_steps": opt},
    )


def _checked_range(name: str, value: int | IntRange, *, low: int = 1) -> IntRange:
    lo, hi = (value, value) if isinstance(value, int) else value
    if not (isinstance(lo, int) and isinstance(hi, int)) or lo < low or hi < lo:
        raise field_error(ConfigError, name, value, f"give integers {low} <= lo <= hi")
    return int(lo), int(hi)


def _checked_density(value: float | FloatRange) -> FloatRange:
    lo, hi = (value, value) if isinstance(value, (int, float)) else value
    if not (0.0 <= lo <= hi < 1.0):
        raise field_error(ConfigError, "density", value, "give shares 0 <= lo <= hi < 1")
    return float(lo), float(hi)


# --- greedy players ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Rollout:
    """One simulated episode: every number visited (from start) and how it ended."""

    path: tuple[int, ...]
    status: Status


def greedy_rollout(puzzle: Puzzle, *, lookahead: int = 0) -> Rollout:
    """Play the greedy player with ``lookahead`` steps of foresight under the real step rule.

    A landing ``y`` *survives depth d* when ``y`` is the target, or ``y`` is neither forbidden nor
    past the target and (``d == 0`` or some action from ``y`` survives depth ``d - 1``). At each
    step the player takes the largest action whose landing survives depth ``lookahead``; when
    none does, the largest surviving a shallower depth; when none survives even depth 0, the
    largest action (and loses). ``lookahead=0`` is the plain greedy player, ``1`` the one-step
    lookahead player that avoids landing on a dead end.
    """
    if lookahead < 0:
        raise field_error(ConfigError, "lookahead", lookahead, "it must be >= 0")
    target, forbidden = puzzle.target, puzzle.forbidden
    by_size = sorted(puzzle.actions, reverse=True)

    @cache
    def survives(y: int, depth: int) -> bool:
        if y == target:
            return True
        if y in forbidden or y > target:
            return False
        return depth == 0 or any(survives(y + a, depth - 1) for a in by_size)

    x, path, step = puzzle.start, [puzzle.start], 0
    while True:
        choice = next(
            (a for d in range(lookahead, -1, -1) for a in by_size if survives(x + a, d)),
            by_size[0],
        )
        x, step = x + choice, step + 1
        path.append(x)
        status = puzzle.status_after(x, step)
        if status.terminal:
            return Rollout(path=tuple(path), status=status)


def is_dead_end(puzzle: Puzzle, x: int) -> bool:
    """Whether every action from ``x`` (not the target) lands forbidden or past the target."""
    return x != puzzle.target and all(
        x + a in puzzle.forbidden or x + a > puzzle.target for a in puzzle.actions
    )


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
        puzzle = _solvable(target, forbidden, actions, 0, extra)
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
        puzzle = _solvable(target, packed | background, actions, 0, {"window": window})
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
        puzzle = _solvable(target, forbidden, actions, 0, {"walls": starts})
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
            puzzle = _solvable(base.target, base.forbidden | planted, actions, 0, extra)
            if puzzle is not None:
                return puzzle
            continue
        dead = [a for a in actions if rng.random() < 0.5] or [
            actions[int(rng.integers(len(actions)))]
        ]
        planted = {y + a for a in actions if a not in dead}
        planted |= {y + a + b for a in dead for b in actions}
        planted -= {y + a for a in dead}
        puzzle = _solvable(base.target, base.forbidden | planted, actions, 0, {"trap_at": y})
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
            solvable = _solvable(target, forbidden, actions, 0)
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
    rng: np.random.Generator, actions: tuple[int, ...], begin: int, arrival: int
) -> tuple[LanePlan, int]:
    """A lane plan for a region starting at ``begin`` and the region's end; the residue of
    ``arrival`` (where a largest-stride walker enters) is made a dying lane when it can be."""
    amax = max(actions)
    passing, dying = pick_lanes(rng, actions, avoid=arrival)
    lo, hi = trap_depths(actions)
    deaths = tuple(sorted(int(d) for d in rng.integers(lo, hi + 1, size=len(dying))))
    plan = LanePlan(stride=amax, passing=passing, dying=dying, deaths=deaths)
    tail = amax * int(rng.integers(2, 5))
    return plan, begin + (max(deaths) if deaths else lo) + tail


def _lane_puzzle(rng: np.random.Generator, actions: tuple[int, ...], regions: int) -> Puzzle:
    """``regions`` lane regions in sequence, free (background) numbers before, between (a short
    junction of 1..A numbers) and after them; kept when solvable and when the one-step
    lookahead greedy player (a window-bounded player) fails."""
    amax = max(actions)
    name = "deep_trap" if regions == 1 else "maze"
    for _ in range(MAX_TRIES):
        begin = int(rng.integers(*_targets(20, 200, actions)))
        plans, spans, forbidden = [], [], set()
        x = 0
        for _ in range(regions):
            arrival = begin - (begin - x) % amax  # a largest-stride walker's residue
            plan, end = _lane_region(rng, actions, begin, arrival)
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
        extra = {
            "regions": [[b, e] for b, e in spans],
            "lanes": [[p.passing, *p.dying] for p in plans],
            "deaths": [list(p.deaths) for p in plans],
            **({"corridor": True} if is_complete(actions) else {}),
        }
        puzzle = _solvable(target, forbidden, actions, 0, extra)
        if puzzle is None:
            continue
        if is_complete(actions) or greedy_rollout(puzzle, lookahead=1).status is not Status.SUCCESS:
            return puzzle
    raise PuzzleError(f"{name}: no puzzle in {MAX_TRIES} draws for actions {list(actions)}")


def _deep_trap(rng: np.random.Generator, actions: tuple[int, ...]) -> Puzzle:
    """One lane region (:mod:`hrrl.puzzle.lanes`): every lane but one dies deeper than the
    low-level window, and the passing one is not the lane a largest-stride walker arrives in."""
    return _lane_puzzle(rng, actions, regions=1)


def _maze(rng: np.random.Generator, actions: tuple[int, ...]) -> Puzzle:
    """2-3 lane regions in sequence: the junction between two is at most one stride long, so the
    lane a walker leaves one region in decides which lanes of the next it can still enter."""
    return _lane_puzzle(rng, actions, regions=int(rng.integers(2, 4)))


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


# --- suites -----------------------------------------------------------------------------------
def check_families(families: Sequence[str]) -> list[str]:
    """The family names, validated: known, not repeated, at least one. ``"all"`` means every one."""
    names = list(FAMILIES) if list(families) == ["all"] else list(families)
    if not names:
        raise field_error(PuzzleError, "family", [], f"give at least one of {', '.join(FAMILIES)}")
    for name in names:
        if name not in FAMILIES:
            raise field_error(PuzzleError, "family", name, f"use one of {', '.join(FAMILIES)}")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise field_error(PuzzleError, "family", repeated, "name each family once")
    return names


def family_rng(
    family: str, seed: int, actions: Sequence[int] = DEFAULT_ACTIONS
) -> np.random.Generator:
    """The generator of one family: seeded by ``(seed, crc32(family))`` (and the action set, when
    it is not the default), so a family's puzzles do not depend on which other families or
    action sets share the suite."""
    key = [seed, zlib.crc32(family.encode())]
    if tuple(actions) != DEFAULT_ACTIONS:
        key.append(zlib.crc32(actions_label(actions).encode()))
    return np.random.default_rng(key)


def actions_label(actions: Sequence[int]) -> str:
    """``"1-2-7"``: an action set as it appears in puzzle ids and table rows."""
    return "-".join(str(a) for a in actions)


def check_actions(actions: Sequence[int]) -> tuple[int, ...]:
    """An action set validated as a puzzle would (distinct positive integers)."""
    return Puzzle(target=1, forbidden=frozenset(), actions=tuple(actions), max_steps=1).actions


def iter_family(
    family: str, count: int, seed: int, actions: Sequence[int] = DEFAULT_ACTIONS
) -> Iterator[Puzzle]:
    """``count`` puzzles of one family for ``actions``, deterministic for ``seed``; ids are
    ``<family>-0000`` on (``<family>-a<1-2-7>-0000`` for another action set than the default).

    The arguments are checked here, before the first puzzle is asked for.
    """
    (name,) = check_families([family])
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise field_error(ConfigError, "count", count, "give a whole number >= 0")
    action_tuple = check_actions(actions)
    return _puzzles(name, count, family_rng(name, seed, action_tuple), action_tuple)


def _puzzles(
    name: str, count: int, rng: np.random.Generator, actions: tuple[int, ...]
) -> Iterator[Puzzle]:
    make = FAMILIES[name]
    prefix = name if actions == DEFAULT_ACTIONS else f"{name}-a{actions_label(actions)}"
    for i in range(count):
        puzzle = make(rng, actions)
        yield dataclasses.replace(
            puzzle, id=f"{prefix}-{i:04d}", extra={"family": name, **puzzle.extra}
        )


def generate_suite(
    families: Sequence[str],
    count: int,
    seed: int,
    actions: Sequence[int] | Sequence[Sequence[int]] = DEFAULT_ACTIONS,
) -> list[Puzzle]:
    """``count`` puzzles of each family, family by family in the order given; for several action
    sets (a sequence of sets), set by set."""
    sets = _action_sets(actions)
    names = check_families(families)
    return [p for acts in sets for name in names for p in iter_family(name, count, seed, acts)]


def _action_sets(actions: Sequence[int] | Sequence[Sequence[int]]) -> list[tuple[int, ...]]:
    items: list[Any] = list(actions)
    if items and all(isinstance(a, int) for a in items):
        return [tuple(int(a) for a in items)]
    return [tuple(int(a) for a in acts) for acts in items]
