"""A reward scheme's two promises, checked on many puzzles by exact dynamic programming.

For each of a seeded set of solvable puzzles (:func:`sample_puzzles`) the checks run on the exact
dynamic programs of :mod:`hrrl.puzzle.exact`, so every episode is accounted for and nothing is
sampled:

(a) ordering     for every episode length ``k``, the worst return of any success of length ``k``
                 beats the best return of any failure of any length (strictly);
(b) no dawdling  the return-maximising episode is a success in exactly the optimal number of
                 steps (undiscounted; the same check at a learner's gamma is information only).

Each violation comes with a concrete counterexample: the puzzle and both episodes, replayed
step by step with the scalar scheme. ``hrrl check-reward`` prints them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from hrrl.errors import ConfigError, field_error
from hrrl.puzzle.core import Puzzle, Status
from hrrl.puzzle.exact import (
    TIE_TOL,
    Episode,
    best_return_path,
    path_return,
    return_extremes,
)
from hrrl.puzzle.rewards import RewardScheme
from hrrl.puzzle.sampling import sample_puzzle
from hrrl.puzzle.solver import optimal_path, optimal_steps

#: Action sets drawn for the checked puzzles, with their probabilities.
ACTION_SETS: tuple[tuple[int, ...], ...] = ((1, 3, 5), (2, 3), (1, 4, 7))
ACTION_SET_WEIGHTS: tuple[float, ...] = (0.5, 0.25, 0.25)
#: Smallest target drawn; ``--max-target`` is the largest.
MIN_TARGET = 5
#: Largest ``--max-target`` accepted (the exact tables grow as target * max_steps).
MAX_TARGET_LIMIT = 1000
#: Forbidden numbers per puzzle, both ends included.
FORBIDDEN_COUNT = (0, 6)
#: Path prefix/suffix lengths shown when a path is abbreviated.
_SHOWN_HEAD, _SHOWN_TAIL = 8, 3


def sample_puzzles(n: int, *, seed: int, max_target: int = 60) -> list[Puzzle]:
    """``n`` solvable puzzles: targets ``MIN_TARGET..max_target``, 0-6 forbidden, mixed actions."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise field_error(ConfigError, "puzzles", n, "give a positive integer")
    if not MIN_TARGET <= max_target <= MAX_TARGET_LIMIT:
        raise field_error(
            ConfigError, "max_target", max_target, f"give {MIN_TARGET}..{MAX_TARGET_LIMIT}"
        )
    rng = np.random.default_rng(seed)
    puzzles = []
    for i in range(n):
        actions = ACTION_SETS[int(rng.choice(len(ACTION_SETS), p=ACTION_SET_WEIGHTS))]
        p = sample_puzzle(
            rng,
            target_range=(MIN_TARGET, max_target),
            forbidden_count=FORBIDDEN_COUNT,
            actions=actions,
        )
        puzzles.append(dataclasses.replace(p, id=f"check-{i:04d}"))
    return puzzles


def _show_path(path: list[int]) -> str:
    if len(path) <= _SHOWN_HEAD + _SHOWN_TAIL + 1:
        return " ".join(map(str, path))
    head = " ".join(map(str, path[:_SHOWN_HEAD]))
    return f"{head} ... {' '.join(map(str, path[-_SHOWN_TAIL:]))}"


def _show_episode(e: Episode) -> str:
    return f"{e.status.value} at step {e.steps} returns {e.ret:.4g} (path {_show_path(e.path)})"


@dataclass(frozen=True)
class Counterexample:
    """Two replayed episodes of one puzzle where ``winner`` should not score ``>=`` ``loser``."""

    check: str
    puzzle: Puzzle
    winner: Episode
    """The episode the scheme prefers: a failure (ordering) or the dawdler (no dawdling)."""
    loser: Episode
    """The episode it should prefer: a success (ordering) or a shortest success."""
    note: str

    def describe(self) -> str:
        p = self.puzzle
        head = (
            f"[{self.check}] {p.id}: target {p.target}, forbidden {sorted(p.forbidden)}, "
            f"actions {list(p.actions)}, max_steps {p.max_steps}"
        )
        return (
            f"{head}\n    {_show_episode(self.winner)}\n >= {_show_episode(self.loser)}"
            f"\n    {self.note}"
        )


def check_ordering(puzzle: Puzzle, scheme: RewardScheme) -> Counterexample | None:
    """(a): the worst success against the best failure, over every episode (undiscounted)."""
    ext = return_extremes(puzzle, scheme)
    if np.isnan(ext.worst_success).all() or np.isnan(ext.best_failure).all():
        return None
    k_fail = int(np.nanargmax(ext.best_failure))
    best_failure = float(ext.best_failure[k_fail])
    k_success = int(np.nanargmin(ext.worst_success))
    if ext.worst_success[k_success] > best_failure + TIE_TOL * (1.0 + abs(best_failure)):
        return None
    beaten = int(np.sum(ext.worst_success <= best_failure + TIE_TOL * (1.0 + abs(best_failure))))
    lengths = int(np.sum(~np.isnan(ext.worst_success)))
    winner = path_return(puzzle, scheme, ext.path("best_failure", k_fail))
    loser = path_return(puzzle, scheme, ext.path("worst_success", k_success))
    note = f"this failure ties or beats the worst success at {beaten} of {lengths} success lengths"
    return Counterexample("ordering", puzzle, winner, loser, note)


def check_no_dawdling(
    puzzle: Puzzle, scheme: RewardScheme, gamma: float = 1.0
) -> Counterexample | None:
    """(b): the return-maximising episode succeeds in exactly ``optimal_steps`` steps."""
    opt = optimal_steps(puzzle)
    shortest = optimal_path(puzzle)
    if opt is None or shortest is None:
        return None
    best = best_return_path(puzzle, scheme, gamma)
    if best.episode.status is Status.SUCCESS and best.episode.steps == opt:
        return None
    loser = path_return(puzzle, scheme, shortest, gamma)
    ties = f", {best.n_optimal_paths:.3g} episodes tie for it" if best.ties else ""
    note = (
        f"gamma={gamma}: the return-maximising episode takes {best.episode.steps} steps "
        f"({best.episode.status.value}){ties}; the optimum is {opt} steps"
    )
    return Counterexample(f"no-dawdling gamma={gamma:g}", puzzle, best.episode, loser, note)


@dataclass(frozen=True)
class CheckResult:
    name: str
    contract: bool
    """Whether a violation fails the command (the discounted check is information only)."""
    puzzles: int
    violations: list[Counterexample]


def run_checks(
    puzzles: list[Puzzle], scheme: RewardScheme, *, gamma: float = 0.99
) -> list[CheckResult]:
    """The three checks over ``puzzles``: ordering, no dawdling at gamma 1 and at ``gamma``."""
    checks: list[tuple[str, bool, Callable[[Puzzle], Counterexample | None]]] = [
        ("(a) ordering", True, lambda p: check_ordering(p, scheme)),
        ("(b) no dawdling, gamma=1", True, lambda p: check_no_dawdling(p, scheme, 1.0)),
        (
            f"(b) no dawdling, gamma={gamma:g} [info]",
            False,
            lambda p: check_no_dawdling(p, scheme, gamma),
        ),
    ]
    results = []
    for name, contract, check in checks:
        found = [c for c in map(check, puzzles) if c is not None]
        results.append(CheckResult(name, contract, len(puzzles), found))
    return results
