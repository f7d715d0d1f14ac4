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
| `wall`       | 60..1,000    | 1-4 blocks of four, crossed only by +5 from just below the block   |
| `lookahead`  | 30..300      | 10-25%, and the one-step-lookahead greedy player fails             |
| `unsolvable` | 20..500      | a block of five, a sealed target, or a budget below the optimum    |

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
Family = Callable[[np.random.Generator], Puzzle]


def _in_range(rng: np.random.Generator) -> Puzzle:
    return sample_puzzle(rng, target_range=(5, 100), forbidden_count=(2, 5))


def _scale(rng: np.random.Generator) -> Puzzle:
    return sample_puzzle(rng, target_range=(100, 10_000), density=PAPER_DENSITY)


def _dense(rng: np.random.Generator) -> Puzzle:
    return sample_puzzle(rng, target_range=(50, 2_000), density=(0.08, 0.20))


def _background(rng: np.random.Generator, target: int, exclude: Iterable[int] = ()) -> set[int]:
    """Forbidden numbers at the paper's density (at least 2) over (0, target)."""
    k = max(2, round(PAPER_DENSITY * (target - 1)))
    return draw_forbidden(rng, 0, target, k, exclude)


def _trap(rng: np.random.Generator) -> Puzzle:
    """Pick ``y`` on the plain greedy path and forbid ``y + a`` for every action a.

    Forbidding numbers above ``y`` leaves the greedy path up to ``y`` unchanged (every landing
    it skipped was already forbidden or past the target), so the greedy player still walks to
    ``y`` and is stuck there; the puzzle is kept when a path around ``y`` exists.
    """
    amax = max(DEFAULT_ACTIONS)
    for _ in range(MAX_TRIES):
        target = int(rng.integers(20, 301))
        forbidden = _background(rng, target)
        base = Puzzle(
            target=target,
            forbidden=frozenset(forbidden),
            actions=DEFAULT_ACTIONS,
            max_steps=MAX_STEPS_LIMIT,
        )
        walk = greedy_rollout(base).path
        spots = [y for y in walk[1:] if y + amax < target and y not in forbidden]
        if not spots:
            continue
        y = int(spots[int(rng.integers(len(spots)))])
        forbidden |= {y + a for a in DEFAULT_ACTIONS}
        puzzle = _solvable(target, forbidden, DEFAULT_ACTIONS, 0, {"trap_at": y})
        if puzzle is not None and _greedy_trapped(puzzle, y):
            return puzzle
    raise PuzzleError(f"trap: no puzzle in {MAX_TRIES} draws")


def _greedy_trapped(puzzle: Puzzle, y: int) -> bool:
    rollout = greedy_rollout(puzzle)
    return (
        rollout.status is Status.FORBIDDEN
        and rollout.path[-2] == y
        and all(y + a in puzzle.forbidden for a in puzzle.actions)
    )


def _endgame(rng: np.random.Generator) -> Puzzle:
    """Most of the last ``w`` (6-15) numbers below the target forbidden; still solvable."""
    for _ in range(MAX_TRIES):
        target = int(rng.integers(30, 501))
        window = int(rng.integers(6, 16))
        k = math.ceil(float(rng.uniform(0.6, 0.85)) * window)
        packed = draw_forbidden(rng, target - window - 1, target, k)
        background = draw_forbidden(
            rng, 0, target - window, max(2, round(PAPER_DENSITY * (target - window - 1)))
        )
        puzzle = _solvable(target, packed | background, DEFAULT_ACTIONS, 0, {"window": window})
        if puzzle is not None:
            return puzzle
    raise PuzzleError(f"endgame: no puzzle in {MAX_TRIES} draws")


#: Length of a `wall` block: the largest default action (5) is the only one that clears it.
WALL_LENGTH = 4


def _wall(rng: np.random.Generator) -> Puzzle:
    """1-4 blocks ``b..b+3`` forbidden with ``b - 1`` and ``b + 4`` free: from ``b - 1`` only +5
    crosses (+1, +3 land inside); from anywhere lower every action lands short or inside."""
    for _ in range(MAX_TRIES):
        target = int(rng.integers(60, 1_001))
        n_walls = int(rng.integers(1, 5))
        # Block starts in [2, target - 6]; consecutive blocks at least WALL_LENGTH + 1 apart so
        # the number after one block (b + 4) stays free.
        starts = sorted(rng.choice(np.arange(2, target - 5), size=n_walls, replace=False).tolist())
        if any(b2 - b1 < WALL_LENGTH + 1 for b1, b2 in itertools.pairwise(starts)):
            continue
        blocks = {b + i for b in starts for i in range(WALL_LENGTH)}
        keep = {b - 1 for b in starts} | {b + WALL_LENGTH for b in starts}
        forbidden = blocks | _background(rng, target, exclude=blocks | keep)
        puzzle = _solvable(target, forbidden, DEFAULT_ACTIONS, 0, {"walls": starts})
        if puzzle is not None:
            return puzzle
    raise PuzzleError(f"wall: no puzzle in {MAX_TRIES} draws")


def _lookahead(rng: np.random.Generator) -> Puzzle:
    """Dense puzzles (10-25%) that the one-step-lookahead greedy player fails.

    Random dense puzzles rarely fool that player (about 1 in 200), so a trap is planted at a
    number ``y`` on its path: every landing ``y + a`` is either forbidden or a dead end (all of
    ``y + a + b`` forbidden), and at least one is a dead end so that ``y`` itself passes the
    player's one-step check. The player walks to ``y``, sees only dead ends and forbidden
    numbers, steps onto a dead end and loses. Kept when the player is verified to fail and a path around ``y`` exists.
    """
    actions = DEFAULT_ACTIONS
    reach = 2 * max(actions)
    for _ in range(MAX_TRIES):
        base = sample_puzzle(rng, target_range=(30, 300), density=(0.10, 0.25))
        walk = greedy_rollout(base, lookahead=1).path
        spots = [y for y in walk[1:-1] if y + reach < base.target]
        if not spots:
            continue
        y = int(spots[int(rng.integers(len(spots)))])
        dead = [a for a in actions if rng.random() < 0.5] or [
            actions[int(rng.integers(len(actions)))]
        ]
        planted = {y + a for a in actions if a not in dead}
        planted |= {y + a + b for a in dead for b in actions}
        planted -= {y + a for a in dead}
        puzzle = _solvable(base.target, base.forbidden | planted, actions, 0, {"trap_at": y})
        if puzzle is not None and _lookahead_trapped(puzzle, y):
            return puzzle
    raise PuzzleError(f"lookahead: no puzzle in {MAX_TRIES} draws")


def _lookahead_trapped(puzzle: Puzzle, y: int) -> bool:
    """The lookahead player reaches ``y``, steps onto a dead end and then onto a forbidden number."""
    rollout = greedy_rollout(puzzle, lookahead=1)
    return rollout.status is Status.FORBIDDEN and rollout.path[-3] == y


#: How an `unsolvable` puzzle is made unsolvable.
UNSOLVABLE_KINDS = ("block", "sealed", "budget")


def _unsolvable(rng: np.random.Generator) -> Puzzle:
    """No path within ``max_steps``: a block of five forbidden numbers (no action clears it),
    a sealed target (``target - a`` forbidden for every action), or a solvable layout whose
    ``max_steps`` is one below its optimum."""
    amax = max(DEFAULT_ACTIONS)
    for _ in range(MAX_TRIES):
        kind = UNSOLVABLE_KINDS[int(rng.integers(len(UNSOLVABLE_KINDS)))]
        target = int(rng.integers(20, 501))
        forbidden = _background(rng, target)
        max_steps = default_max_steps(math.ceil(target / amax))
        if kind == "block":
            b = int(rng.integers(1, target - amax + 1))
            forbidden |= set(range(b, b + amax))
        elif kind == "sealed":
            forbidden |= {target - a for a in DEFAULT_ACTIONS}
        else:
            solvable = _solvable(target, forbidden, DEFAULT_ACTIONS, 0)
            if solvable is None or solvable.extra["optimal_steps"] < 2:
                continue
            max_steps = solvable.extra["optimal_steps"] - 1
        puzzle = Puzzle(
            target=target,
            forbidden=frozenset(forbidden),
            actions=DEFAULT_ACTIONS,
            max_steps=max_steps,
            extra={"kind": kind, "optimal_steps": None},
        )
        if optimal_steps(puzzle) is None:
            return puzzle
    raise PuzzleError(f"unsolvable: no puzzle in {MAX_TRIES} draws")


FAMILIES: dict[str, Family] = {
    "in_range": _in_range,
    "scale": _scale,
    "dense": _dense,
    "trap": _trap,
    "endgame": _endgame,
    "wall": _wall,
    "lookahead": _lookahead,
    "unsolvable": _unsolvable,
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


def family_rng(family: str, seed: int) -> np.random.Generator:
    """The generator of one family: seeded by ``(seed, crc32(family))``, so a family's puzzles
    do not depend on which other families share the suite."""
    return np.random.default_rng([seed, zlib.crc32(family.encode())])


def iter_family(family: str, count: int, seed: int) -> Iterator[Puzzle]:
    """``count`` puzzles of one family, ids ``<family>-0000`` on, deterministic for ``seed``.

    The arguments are checked here, before the first puzzle is asked for.
    """
    (name,) = check_families([family])
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise field_error(ConfigError, "count", count, "give a whole number >= 0")
    return _puzzles(name, count, family_rng(name, seed))


def _puzzles(name: str, count: int, rng: np.random.Generator) -> Iterator[Puzzle]:
    make = FAMILIES[name]
    for i in range(count):
        puzzle = make(rng)
        yield dataclasses.replace(
            puzzle, id=f"{name}-{i:04d}", extra={"family": name, **puzzle.extra}
        )


def generate_suite(families: Sequence[str], count: int, seed: int) -> list[Puzzle]:
    """``count`` puzzles of each family, family by family in the order given."""
    return [p for name in check_families(families) for p in iter_family(name, count, seed)]
