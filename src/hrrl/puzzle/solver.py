"""The exact solver: shortest paths over the integers from start to target (design §1).

Every step costs one and every action is positive, so the graph is a DAG ordered by the numbers
themselves and breadth-first search reduces to one forward pass of dynamic programming::

    d[0] = 0,   d[i] = 1 + min_a d[i - a]   (i not forbidden),   d[i] = inf (forbidden)

(``i`` counts from ``start``.) A pure-Python pass over 10^6 numbers costs about a second, so the
pass skips ahead: in a stretch with no forbidden number the recurrence is a (min, +) linear
recurrence over the last ``A = max action`` values, and once it turns periodic,

    d[i] = d[i - A] + 1   for the A most recent i,

it stays periodic (by induction on i: every term of the min shifts by exactly one) until the
next forbidden number. The stretch is then filled in one NumPy operation. Transients last a few
``A`` numbers, so the cost is about ``O(#forbidden * A^2)`` plus the array fill.

Distances to the target are the same pass over the mirrored puzzle.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Final

import numpy as np

if TYPE_CHECKING:  # the value type builds on the solver (its default max_steps), not back
    from hrrl.puzzle.core import Puzzle

#: Marks a number no path reaches.
UNREACHABLE = -1
_INF = np.iinfo(np.int64).max // 4
#: Stretches up to this long are filled by a plain loop: cheaper than NumPy's per-call cost (the
#: 10^6 target at the paper's density: 0.27 s CPU all in NumPy, 0.16 s; stretches average 28).
_SHORT_FILL = 128


def _shortest(n: int, blocked: list[int], actions: tuple[int, ...]) -> np.ndarray:
    """Min steps from offset 0 to each offset 0..n; ``blocked`` offsets are never landed on."""
    amax = max(actions)
    # A Python list for the scalar recurrence (numpy scalar indexing is ~5x slower); numpy for fills.
    d: list[int] = [_INF] * (n + 1)
    d[0] = 0
    blocked_sorted = sorted(b for b in set(blocked) if 0 < b <= n)
    stops = [*blocked_sorted, n + 1]
    i = 1
    for stop in stops:
        # Fill the free stretch [i, stop) then mark `stop` blocked.
        periodic_run = 0
        while i < stop:
            best = _INF
            for a in actions:
                j = i - a
                if j >= 0:
                    v = d[j]
                    if v < best:
                        best = v
            di = best + 1 if best < _INF else _INF
            d[i] = di
            prev = d[i - amax] if i >= amax else -2
            # Periodic when d[i] = d[i - A] + 1 (or both unreachable) for A numbers in a row.
            same = (di == _INF and prev == _INF) or (di < _INF and prev >= 0 and di == prev + 1)
            periodic_run = periodic_run + 1 if same else 0
            i += 1
            if periodic_run >= amax and i < stop:
                _fill_periodic(d, i, stop, amax)
                i = stop
        if stop <= n:
            d[stop] = _INF
            i = stop + 1
    out = np.asarray(d, dtype=np.int64)
    out[out >= _INF] = UNREACHABLE
    return out


def _fill_periodic(d: list[int], lo: int, hi: int, amax: int) -> None:
    """Fill d[lo:hi] from the periodic law d[i] = d[i - A] + 1, seeded by d[lo - A : lo]."""
    if hi - lo <= _SHORT_FILL:
        for i in range(lo, hi):
            prev = d[i - amax]
            d[i] = _INF if prev >= _INF else prev + 1
        return
    idx = np.arange(lo, hi)
    k = (idx - lo) // amax + 1  # how many periods back to the seed window
    seed = np.asarray(d[lo - amax : lo], dtype=np.int64)[(idx - lo) % amax]
    d[lo:hi] = np.where(seed >= _INF, _INF, seed + k).tolist()


def distances_from_start(puzzle: Puzzle) -> np.ndarray:
    """``d[i]`` = min steps from ``start`` to ``start + i`` (``UNREACHABLE`` = -1), max_steps ignored."""
    blocked = [f - puzzle.start for f in puzzle.forbidden]
    return _shortest(puzzle.gap, blocked, puzzle.actions)


def distances_to_target(puzzle: Puzzle) -> np.ndarray:
    """``d[i]`` = min steps from ``start + i`` to ``target`` (``UNREACHABLE`` = -1).

    Walking backwards from the target with the same actions is the same DP on the mirror image.
    A forbidden number cannot be stood on, so it is unreachable in both directions.
    """
    blocked = [puzzle.target - f for f in puzzle.forbidden]
    mirrored = _shortest(puzzle.gap, blocked, puzzle.actions)
    return mirrored[::-1].copy()


#: Puzzles whose fewest steps :func:`optimal_steps` remembers (an evaluation suite is scored
#: again at every training-time evaluation).
OPTIMUM_CACHE_SIZE: Final = 1 << 12


@functools.lru_cache(maxsize=OPTIMUM_CACHE_SIZE)
def _fewest_steps(
    start: int, target: int, forbidden: frozenset[int], actions: tuple[int, ...]
) -> int:
    """Min steps from ``start`` to ``target`` (``UNREACHABLE``), keyed by what it depends on."""
    return int(_shortest(target - start, [f - start for f in forbidden], actions)[target - start])


def optimal_steps(puzzle: Puzzle, *, ignore_max_steps: bool = False) -> int | None:
    """Exact optimum, or ``None`` when no path reaches the target (within ``max_steps``)."""
    d = _fewest_steps(puzzle.start, puzzle.target, puzzle.forbidden, puzzle.actions)
    if d == UNREACHABLE:
        return None
    if not ignore_max_steps and d > puzzle.max_steps:
        return None
    return d


def is_solvable(puzzle: Puzzle) -> bool:
    """Whether some path lands exactly on the target within ``max_steps``."""
    return optimal_steps(puzzle) is not None


def optimal_path(puzzle: Puzzle) -> list[int] | None:
    """One shortest path (every number visited, starting with ``start``), or ``None``.

    Walks back from the target, each time to a predecessor one step closer to the start; among
    ties it prefers the largest action, so the path is deterministic.
    """
    d = distances_from_start(puzzle).tolist()
    steps = d[puzzle.gap]
    if steps == UNREACHABLE or steps > puzzle.max_steps:
        return None
    by_size = sorted(puzzle.actions, reverse=True)
    path = [puzzle.gap]
    i = puzzle.gap
    while i > 0:
        for a in by_size:
            j = i - a
            if j >= 0 and d[j] == d[i] - 1:
                i = j
                break
        else:  # pragma: no cover - the DP guarantees a predecessor
            raise AssertionError("no predecessor on a shortest path")
        path.append(i)
    return [puzzle.start + k for k in reversed(path)]
