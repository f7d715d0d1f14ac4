"""Exact dynamic programming over a puzzle's finite-horizon state space, under a reward scheme.

The state of an episode is ``(x, t)``: the current number and the steps already taken. ``x`` runs
over ``[start, target)`` (every other number ends the episode) and ``t`` over ``[0, max_steps)``;
time is part of the state because the horizon is finite. Arrays are indexed ``[t, i, a]`` with
``i = x - start`` and ``a`` the action index::

        i = 0 (start)  ...  gap - 1 (target - 1)
   t=0   [ Q*(x,0,a) for each a ]            one numpy operation per t, backwards:
   t=1   [ ... ]                             Q*(x,t,a) = r(x, x+a, t+1)
   ...                                                  + gamma * V*(x+a, t+1)  if x+a is not terminal
   t=N-1 [ every step here ends MAX_STEPS ]  V*(x,t)   = max_a Q*(x,t,a)

What a step does comes from :meth:`Puzzle.status_after`, the single step rule. That rule depends
on the step count only through ``step >= max_steps`` (design §1's table), so two status tables,
"a step before the last" and "the last step", cover every ``t``; the tests check the tables against
the rule step by step on small puzzles. Rewards come from the scheme's ``batch`` (one call for the
whole table) or, for a scheme with only ``__call__``, one call per transition.

Q* here is the exact finite-horizon value of the *time-indexed* problem. A learner with
``gamma < 1`` keeps one time-agnostic Q (its encoder sees the time ratio ``t / max_steps``), so
``Q_learned(x, a) - Q*(x, t, a)`` over visited ``(x, t)`` measures its bias (the Q-bias metric and
the red-team GAP 0 test) rather than an identity that should hold exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from itertools import pairwise

import numpy as np

from hrrl.errors import ConfigError, PuzzleError, field_error
from hrrl.puzzle.core import Puzzle, Status
from hrrl.puzzle.rewards import (
    STATUS_CODES,
    BatchRewardScheme,
    RewardScheme,
    Transition,
    TransitionBatch,
    status_code,
)

#: Most ``max_steps * gap * n_actions`` entries a table may hold (float64: 160 MB per table).
MAX_TABLE_ENTRIES = 20_000_000
#: Two returns within ``TIE_TOL * (1 + |value|)`` count as equal (float sums in different orders).
TIE_TOL = 1e-9

_IN_PROGRESS = status_code(Status.IN_PROGRESS)
_SUCCESS = status_code(Status.SUCCESS)
_FAILED = np.array([s.failed for s in STATUS_CODES])


@dataclass(frozen=True)
class Dynamics:
    """A puzzle's one-step model as arrays, with rewards from one scheme (``goal = target``)."""

    puzzle: Puzzle
    next_index: np.ndarray
    """``(gap, n_actions)`` int64: ``i + actions[a]`` (may pass ``gap`` = the target)."""
    status_mid: np.ndarray
    """``(gap, n_actions)`` status codes of a step that is not the last allowed one."""
    status_last: np.ndarray
    """``(gap, n_actions)`` status codes of step number ``max_steps``."""
    reward: np.ndarray
    """``(max_steps, gap, n_actions)`` float64: reward of action ``a`` from ``(x, t)``."""

    def status(self, t: int) -> np.ndarray:
        """Status codes of the step taken from time ``t`` (the ``t + 1``-th step)."""
        return self.status_last if t + 1 >= self.puzzle.max_steps else self.status_mid


def dynamics(puzzle: Puzzle, scheme: RewardScheme) -> Dynamics:
    """Build the arrays of :class:`Dynamics` from the step rule and the reward scheme."""
    n, n_steps, actions = puzzle.gap, puzzle.max_steps, np.asarray(puzzle.actions, dtype=np.int64)
    entries = n_steps * n * len(actions)
    if entries > MAX_TABLE_ENTRIES:
        raise field_error(
            PuzzleError,
            "max_steps",
            puzzle.max_steps,
            f"exact DP needs max_steps * gap * n_actions = {entries:,} entries; keep it under "
            f"{MAX_TABLE_ENTRIES:,}",
        )
    next_index = np.arange(n, dtype=np.int64)[:, None] + actions[None, :]
    landings = np.unique(next_index)
    # Any step before the last behaves like step 1 (or step N-1); see the module docstring.
    mid_step = max(n_steps - 1, 1)
    lookup_mid = {
        int(j): status_code(puzzle.status_after(puzzle.start + int(j), mid_step)) for j in landings
    }
    lookup_last = {
        int(j): status_code(puzzle.status_after(puzzle.start + int(j), n_steps)) for j in landings
    }
    status_mid = np.vectorize(lookup_mid.__getitem__, otypes=[np.int8])(next_index)
    status_last = np.vectorize(lookup_last.__getitem__, otypes=[np.int8])(next_index)

    step = np.arange(1, n_steps + 1, dtype=np.int64)[:, None, None]
    status = np.where(step >= n_steps, status_last[None], status_mid[None]).astype(np.int8)
    prev = puzzle.start + np.arange(n, dtype=np.int64)[None, :, None]
    x = puzzle.start + next_index[None]
    if isinstance(scheme, BatchRewardScheme):
        batch = TransitionBatch(
            puzzle=puzzle,
            prev=prev,
            x=x,
            step=step,
            status=status,
            goal=np.asarray(puzzle.target, dtype=np.int64),
        )
        reward = np.broadcast_to(scheme.batch(batch), status.shape).astype(np.float64)
    else:
        reward = np.empty(status.shape, dtype=np.float64)
        for t, i, a in np.ndindex(*status.shape):
            tr = Transition(
                puzzle,
                int(prev[0, i, 0]),
                int(x[0, i, a]),
                t + 1,
                STATUS_CODES[status[t, i, a]],
                puzzle.target,
            )
            reward[t, i, a] = scheme(tr)
    return Dynamics(puzzle, next_index, status_mid, status_last, reward)


def _reachable(dyn: Dynamics) -> np.ndarray:
    """``(max_steps, gap)`` bool: ``(x, t)`` is reached by some episode still in progress."""
    p = dyn.puzzle
    reach = np.zeros((p.max_steps, p.gap), dtype=bool)
    reach[0, 0] = True
    for t in range(p.max_steps - 1):
        cont = dyn.status(t) == _IN_PROGRESS
        for a in range(len(p.actions)):
            src = reach[t] & cont[:, a]
            reach[t + 1, dyn.next_index[src, a]] = True
    return reach


def _gather_next(dyn: Dynamics, t: int, values_next: np.ndarray, terminal: float) -> np.ndarray:
    """``(gap, n_actions)``: ``values_next`` at the landing of each action, ``terminal`` where it ends."""
    cont = dyn.status(t) == _IN_PROGRESS
    safe = np.minimum(dyn.next_index, dyn.puzzle.gap - 1)
    return np.where(cont, values_next[safe], terminal)


@dataclass(frozen=True)
class QTable:
    """Q*(x, t, a) and V*(x, t) of one puzzle under one scheme and discount ``gamma``."""

    puzzle: Puzzle
    gamma: float
    q: np.ndarray
    """``(max_steps, gap, n_actions)`` float64, indexed ``[t, x - start, a]``."""
    v: np.ndarray
    """``(max_steps, gap)`` float64: ``max_a q``."""
    reachable: np.ndarray
    """``(max_steps, gap)`` bool: some episode stands on ``x`` after ``t`` steps."""
    dynamics: Dynamics = field(repr=False)

    def _index(self, x: int, t: int) -> tuple[int, int]:
        p = self.puzzle
        if not p.start <= x < p.target:
            raise field_error(ConfigError, "x", x, f"give a number in [{p.start}, {p.target})")
        if not 0 <= t < p.max_steps:
            raise field_error(ConfigError, "t", t, f"give a step count in [0, {p.max_steps})")
        return t, x - p.start

    def q_at(self, x: int, t: int) -> np.ndarray:
        """Q*(x, t, ·) as an ``(n_actions,)`` array (a copy)."""
        t_, i = self._index(x, t)
        return self.q[t_, i].copy()

    def v_at(self, x: int, t: int) -> float:
        t_, i = self._index(x, t)
        return float(self.v[t_, i])


def _check_gamma(gamma: float) -> float:
    if not 0.0 < gamma <= 1.0:
        raise field_error(ConfigError, "gamma", gamma, "give a discount in (0, 1]")
    return float(gamma)


def optimal_values(puzzle: Puzzle, scheme: RewardScheme, gamma: float = 1.0) -> QTable:
    """Exact Q* and V* by backward induction over ``t`` (vectorized over ``x`` and actions).

    ``gamma = 1`` gives the undiscounted values the reward contract is stated in.
    """
    gamma = _check_gamma(gamma)
    dyn = dynamics(puzzle, scheme)
    n_steps, n = puzzle.max_steps, puzzle.gap
    q = np.empty((n_steps, n, len(puzzle.actions)), dtype=np.float64)
    v = np.empty((n_steps, n), dtype=np.float64)
    v_next = np.zeros(n)
    for t in reversed(range(n_steps)):
        q[t] = dyn.reward[t] + gamma * _gather_next(dyn, t, v_next, 0.0)
        v[t] = q[t].max(axis=1)
        v_next = v[t]
    return QTable(puzzle, gamma, q, v, _reachable(dyn), dyn)


@lru_cache(maxsize=8)
def _cached_values(puzzle: Puzzle, scheme: RewardScheme, gamma: float) -> QTable:
    return optimal_values(puzzle, scheme, gamma)


def q_star(puzzle: Puzzle, scheme: RewardScheme, gamma: float, x: int, t: int) -> np.ndarray:
    """Q*(x, t, ·): one lookup on the (cached, for hashable schemes) table of the puzzle."""
    try:
        table = _cached_values(puzzle, scheme, gamma)  # type: ignore[arg-type]
    except TypeError:  # an unhashable scheme: no cache
        table = optimal_values(puzzle, scheme, gamma)
    return table.q_at(x, t)


@dataclass(frozen=True)
class Episode:
    """A replayed path: where it ended, after how many steps, and its return."""

    path: list[int]
    status: Status
    steps: int
    ret: float
    """Return with the ``gamma`` of the replay (undiscounted by default)."""


def path_return(
    puzzle: Puzzle, scheme: RewardScheme, path: list[int], gamma: float = 1.0
) -> Episode:
    """Replay ``path`` (every number visited, from ``start``) step by step with the scalar scheme.

    Independent of the tables above: it calls :meth:`Puzzle.status_after` and ``scheme(...)`` per
    step, so tests use it to confirm what the dynamic programs claim.
    """
    if not path or path[0] != puzzle.start:
        raise field_error(ConfigError, "path", path[:3], f"a path starts at start={puzzle.start}")
    status, ret = Status.IN_PROGRESS, 0.0
    for step, (prev, x) in enumerate(pairwise(path), start=1):
        if status.terminal:
            raise field_error(ConfigError, "path", path, f"it goes on after {status.value}")
        if x - prev not in puzzle.actions:
            raise field_error(ConfigError, "path", path, f"{prev} -> {x} is not an action")
        status = puzzle.status_after(x, step)
        ret += gamma ** (step - 1) * scheme(
            Transition(puzzle, prev, x, step, status, puzzle.target)
        )
    return Episode(list(path), status, len(path) - 1, ret)


@dataclass(frozen=True)
class BestPath:
    """The return-maximising episode from ``(start, 0)``, with how many paths tie for it."""

    episode: Episode
    """The path, replayed (its ``ret`` is discounted by ``gamma``)."""
    value: float
    """V*(start, 0) from the table; equals ``episode.ret`` up to float rounding."""
    gamma: float
    n_optimal_paths: float
    """How many episodes reach ``value`` (float64: exact up to 2^53). Over 1 means ties: the
    reported one is the shortest of them, then the one taking lower action indices first."""

    @property
    def ties(self) -> bool:
        return self.n_optimal_paths > 1


def best_return_path(puzzle: Puzzle, scheme: RewardScheme, gamma: float = 1.0) -> BestPath:
    """The path that maximises the (``gamma``-discounted) return, and whether others tie with it."""
    table = optimal_values(puzzle, scheme, gamma)
    dyn, q, v = table.dynamics, table.q, table.v
    n_steps, n = puzzle.max_steps, puzzle.gap
    count = np.empty((n_steps, n))
    length = np.empty((n_steps, n))
    chosen = np.empty((n_steps, n), dtype=np.int64)
    count_next, length_next = np.zeros(n), np.zeros(n)
    for t in reversed(range(n_steps)):
        optimal = q[t] >= v[t][:, None] - TIE_TOL * (1.0 + np.abs(v[t][:, None]))
        count[t] = np.where(optimal, _gather_next(dyn, t, count_next, 1.0), 0.0).sum(axis=1)
        steps_after = np.where(optimal, 1.0 + _gather_next(dyn, t, length_next, 0.0), np.inf)
        chosen[t] = steps_after.argmin(axis=1)  # fewest steps, then lowest action index
        length[t] = steps_after.min(axis=1)
        count_next, length_next = count[t], length[t]
    path, i, t = [puzzle.start], 0, 0
    while True:
        a = int(chosen[t, i])
        path.append(path[-1] + puzzle.actions[a])
        if dyn.status(t)[i, a] != _IN_PROGRESS:
            break
        i, t = int(dyn.next_index[i, a]), t + 1
    episode = path_return(puzzle, scheme, path, gamma)
    return BestPath(episode, float(v[0, 0]), table.gamma, float(count[0, 0]))


@dataclass(frozen=True)
class ReturnExtremes:
    """Extreme undiscounted returns over every episode of a puzzle, by episode length ``k``.

    Arrays have ``max_steps + 1`` entries indexed by ``k`` (entry 0 unused); NaN where no episode
    of that kind and length exists. Found by forward DP over ``(x, t)`` of the lowest and highest
    return of any prefix reaching it, never by listing paths.
    """

    puzzle: Puzzle
    worst_success: np.ndarray
    best_success: np.ndarray
    best_failure: np.ndarray
    best_failure_status: list[Status | None]
    _pred: dict[str, np.ndarray] = field(repr=False)
    _ends: dict[str, np.ndarray] = field(repr=False)

    def path(self, kind: str, k: int) -> list[int]:
        """The episode behind ``kind`` ("worst_success", "best_success", "best_failure") at ``k``."""
        if kind not in self._ends:
            raise field_error(ConfigError, "kind", kind, f"choose one of {', '.join(self._ends)}")
        i, a = (int(v) for v in self._ends[kind][k])
        if i < 0:
            raise field_error(ConfigError, "k", k, f"no {kind} episode has {k} steps")
        actions = self.puzzle.actions
        pred = self._pred["min" if kind == "worst_success" else "max"]
        path = [self.puzzle.start + i + actions[a]]
        t = k - 1
        while True:
            path.append(self.puzzle.start + i)
            if t == 0:
                break
            a_in = int(pred[t, i])
            i, t = i - actions[a_in], t - 1
        return path[::-1]


def return_extremes(puzzle: Puzzle, scheme: RewardScheme) -> ReturnExtremes:
    """Worst and best success return and best failure return for each episode length."""
    dyn = dynamics(puzzle, scheme)
    n_steps, n, n_act = puzzle.max_steps, puzzle.gap, len(puzzle.actions)
    lo = np.full((n_steps, n), np.inf)  # lowest return of a prefix standing on (x, t)
    hi = np.full((n_steps, n), -np.inf)
    lo[0, 0] = hi[0, 0] = 0.0
    pred = {"min": np.full((n_steps, n), -1, np.int8), "max": np.full((n_steps, n), -1, np.int8)}
    out = {
        k: np.full(n_steps + 1, np.nan) for k in ("worst_success", "best_success", "best_failure")
    }
    ends = {k: np.full((n_steps + 1, 2), -1, np.int64) for k in out}
    fail_status: list[Status | None] = [None] * (n_steps + 1)
    for t in range(n_steps):
        status = dyn.status(t)
        low, high = lo[t][:, None] + dyn.reward[t], hi[t][:, None] + dyn.reward[t]
        success, failed = status == _SUCCESS, _FAILED[status]
        for kind, values, mask, pick in (
            ("worst_success", low, success, np.argmin),
            ("best_success", high, success, np.argmax),
            ("best_failure", high, failed, np.argmax),
        ):
            fill = np.inf if pick is np.argmin else -np.inf
            masked = np.where(mask, values, fill)
            flat = int(pick(masked))
            if np.isfinite(masked.flat[flat]):
                out[kind][t + 1] = masked.flat[flat]
                ends[kind][t + 1] = divmod(flat, n_act)
                if kind == "best_failure":
                    fail_status[t + 1] = STATUS_CODES[status.flat[flat]]
        if t + 1 == n_steps:
            break
        cont = status == _IN_PROGRESS
        for a in range(n_act):
            src = np.nonzero(cont[:, a])[0]
            dst = dyn.next_index[src, a]
            better_lo = low[src, a] < lo[t + 1, dst]
            lo[t + 1, dst[better_lo]] = low[src[better_lo], a]
            pred["min"][t + 1, dst[better_lo]] = a
            better_hi = high[src, a] > hi[t + 1, dst]
            hi[t + 1, dst[better_hi]] = high[src[better_hi], a]
            pred["max"][t + 1, dst[better_hi]] = a
    return ReturnExtremes(
        puzzle,
        out["worst_success"],
        out["best_success"],
        out["best_failure"],
        fail_status,
        pred,
        ends,
    )
