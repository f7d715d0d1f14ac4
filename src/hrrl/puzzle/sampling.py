"""Rejection sampling of solvable puzzles, and the simulated greedy players families test against.

The greedy players (:func:`greedy_rollout`) take the largest action whose landing survives a
``lookahead``-step check (neither forbidden nor past the target, and for ``lookahead >= 1`` not a
number from which every action fails within the remaining depth).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from hrrl.errors import ConfigError, field_error
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
        puzzle = solvable_puzzle(target, forbidden, action_tuple, start)
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


def solvable_puzzle(
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
