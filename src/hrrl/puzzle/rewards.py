"""Reward schemes: what one step of the number puzzle is worth.

Three schemes, chosen by name with :func:`make_reward`:

``legacy``  the original prototype, kept for the baseline preset and the ablation::

                SUCCESS 100 - step | FORBIDDEN -50 | OVERSHOOT -20 | MAX_STEPS -10
                otherwise +10 if |goal - x| < |goal - prev| ("progress") else -1

            Its flaws are the point of the red-team test ``tests/red_team/test_gap3_reward.py``:
            every non-terminal step forward earns +10, so the longest episode pays best (the
            return-maximising policy dawdles), and a long failure outscores a short success
            (``hrrl check-reward --reward legacy`` prints concrete cases).

``ordered`` the fix (default). With ``M = max action``, ``N = max_steps``, ``T = target``::

                r = (min(x, T) - prev) / M          progress, in action units
                    - c / N                          step cost, c = 1 over a full budget
                    + b c / N  if the step reaches its subgoal as asked   b = 0.5
                    + S  if SUCCESS                  S = +2
                    + F  if FORBIDDEN, OVERSHOOT or MAX_STEPS     F = -2

            A subgoal is reached *as asked* when an exact one (a number the hierarchy's high
            level asks to land on) is landed on, or another one is passed, by a step that does
            not fail. The target is not a subgoal here: the success pays for it.

Why ordered is ordered (undiscounted returns, as ``hrrl check-reward`` checks them)
------------------------------------------------------------------------------------
The progress term is potential-based shaping (Ng, Harada & Russell 1999) with
``Phi(x) = min(x, T) / M`` and gamma = 1: ``prev < T`` on every step (a step starts from a
non-terminal number), so ``(min(x, T) - prev) / M = Phi(x) - Phi(prev)`` and the terms telescope
over an episode to ``Phi(x_end) - Phi(start)``. Write ``P = gap / M`` and let ``k`` be the
episode length (``1 <= k <= N``):

* a success ends on ``T``: its return is exactly ``P + S - c k / N >= P + S - c``;
* a failure ends on some ``x_end`` with ``min(x_end, T) <= T``: its return is
  ``<= P + F - c / N`` (progress at most ``P``, at least one step paid).

So ``success - failure >= S - F - c (1 - 1/N) > 0`` whenever ``S - F >= c > 0``. With the
defaults (S, F, c) = (2, -2, 1) every success beats every failure by at least ``3 + 1/N``, at
every step count, for every puzzle. And since every success has the same progress ``P``, the
success return ``P + S - c k / N`` falls strictly with ``k``: the return-maximising policy
reaches the target in the exact optimal number of steps (no dawdling).

The subgoal term pays ``b c / N`` at most once a step and never on a failing one, so it adds at
most ``b c (k - 1) / N < b c`` to a failure and the bound becomes ``S - F >= c (1 + b)``; every
step still costs at least ``(1 - b) c / N`` net, so no step pays for itself (``0 <= b < 1``).
Without a hierarchy the only subgoal is the target, which earns no term: the rewards are
exactly the ones above. ``__post_init__`` refuses
constants that break ``S - F >= c (1 + b)``, ``c > 0`` or ``0 <= b < 1``.

Dense yet harmless: the progress term gives feedback on every step (a sparse ``±2`` alone says
nothing until the episode ends), but because it telescopes it cannot change which episodes rank
above which: it adds the same ``P`` to every success and at most ``P`` to any failure. (Ng et al.'s
exact policy invariance needs ``Phi = 0`` on absorbing states; here ``Phi(x_end)`` differs between
terminals, and the bound above is what replaces the invariance.)

Scale-free: each term is measured in action units or budget fractions, never in raw numbers:
progress per step is in ``(0, 1]``, the step costs sum to at most ``c`` over any budget, the
terminal is ``±2``. A puzzle at target 10,000 pays the same per-step numbers as its shape at
target 100. (Undiscounted totals grow with ``P``; with a learning ``gamma < 1`` they are bounded.)

With ``gamma < 1`` (learning) the progress term is no longer exactly potential-based
(that would be ``gamma Phi(x) - Phi(prev)``); ``hrrl check-reward`` reports the discounted
no-dawdling check for information. ``ordered``'s progress is towards the target, so a
hierarchy's subgoals enter only through the bounded subgoal term above.

``steps``   ``ordered`` with its progress in exact steps to the target::

                r = D(prev) - D(x)                  D: fewest steps on to the target
                    (0 when x has no way on)
                    + n (min(x, T) - prev) / M       n = 0.3 of ordered's progress
                    then the step cost, subgoal and terminal as above

            A step on a shortest route earns 1, any other 0 or less; the share ``n`` of
            ``ordered``'s progress breaks the ties between strides that keep a shortest route
            toward the longer one (without it, seeds that learnt the 2-5 action sets well chose
            short strides on sets of 9-32 actions: 0.86-0.98 efficiency; 0.987 at n = 0.1).
            The terms telescope to ``D(start) + n P`` over every success and to at most that
            over a failure, so the proof above holds with ``P`` replaced by it. And the
            discounted optimum is the shortest route too: the step terms are ``D(start)`` ones
            at most 1 each, a shortest route takes them first, and a step off it delays every
            later one by a step, which the numbers (at most ``n`` a step) do not pay for.
            ``ordered``'s numbers alone are not: at gamma 0.9 a stride of 5 now outweighs the
            two steps its landing costs 300 steps later, and a policy that learnt that sat
            under 0.995 efficiency on traps and lookaheads of unseen sets (docs/tuning.md).
            ``D`` is the exact solver's distance, a training-time oracle like the exact DP that
            scores runs: the policy never sees it, only its encoder's bounded window.

Each scheme computes rewards for a :class:`TransitionBatch` of numpy arrays (what the exact
dynamic programs in :mod:`hrrl.puzzle.exact` use); the scalar ``__call__`` the environment uses
wraps its :class:`Transition` into a batch of one, except ``ordered`` and ``steps``, which price
one step on plain numbers with the batch's float64 operations in the same order (a test holds
the two to the bit).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from functools import cached_property
from typing import ClassVar, NoReturn, Protocol, runtime_checkable

import numpy as np

from hrrl.errors import ConfigError, field_error
from hrrl.puzzle.core import PerPuzzle, Puzzle, Status
from hrrl.puzzle.solver import UNREACHABLE, distances_to_target

#: Integer code of each status (its index here); :class:`TransitionBatch` carries codes.
STATUS_CODES: tuple[Status, ...] = tuple(Status)
_CODE: dict[Status, int] = {s: i for i, s in enumerate(STATUS_CODES)}
#: Statuses a step can produce (UNSOLVABLE and INVALID are reports, never step outcomes).
STEP_OUTCOMES: tuple[Status, ...] = (
    Status.IN_PROGRESS,
    Status.SUCCESS,
    Status.FORBIDDEN,
    Status.OVERSHOOT,
    Status.MAX_STEPS,
)
_IS_OUTCOME = np.array([s in STEP_OUTCOMES for s in STATUS_CODES])
#: Outcomes of a step that may have reached its subgoal (it did not fail).
_ON_THE_WAY: frozenset[Status] = frozenset({Status.IN_PROGRESS, Status.SUCCESS})


def status_code(status: Status) -> int:
    """The integer code of ``status`` in :data:`STATUS_CODES`."""
    return _CODE[Status(status)]


@dataclass(frozen=True)
class Transition:
    """One step: from ``prev`` to ``x`` as the ``step``-th step (1-based), with its ``status``.

    ``goal`` is the active subgoal (the target itself without a hierarchy); ``exact``: it had
    to be landed on, not merely passed.
    """

    puzzle: Puzzle
    prev: int
    x: int
    step: int
    status: Status
    goal: int
    exact: bool = False


@dataclass(frozen=True)
class TransitionBatch:
    """Many transitions of one puzzle as numpy arrays that broadcast against each other.

    ``status`` holds codes from :func:`status_code`. The exact dynamic program builds one batch
    of shape ``(max_steps, gap, n_actions)`` by broadcasting ``step`` ``(N, 1, 1)`` against
    ``prev`` ``(1, gap, 1)`` and ``x`` ``(1, gap, n_actions)``.
    """

    puzzle: Puzzle
    prev: np.ndarray
    x: np.ndarray
    step: np.ndarray
    status: np.ndarray
    goal: np.ndarray
    exact: np.ndarray | bool = False
    """Whether each ``goal`` had to be landed on exactly (broadcasts; False: passed is enough)."""

    def reached(self, codes: np.ndarray) -> np.ndarray:
        """Whether each step reached its goal, a waypoint below the target, as asked (landed on
        an exact one, passed another) without failing."""
        asked = np.where(self.exact, self.x == self.goal, self.x >= self.goal)
        ok = (codes == status_code(Status.IN_PROGRESS)) | (codes == status_code(Status.SUCCESS))
        return np.asarray(asked & ok & (self.goal < self.puzzle.target))

    @classmethod
    def of(cls, t: Transition) -> TransitionBatch:
        """A batch holding the single transition ``t`` (0-d arrays)."""
        return cls(
            puzzle=t.puzzle,
            prev=np.asarray(t.prev, dtype=np.int64),
            x=np.asarray(t.x, dtype=np.int64),
            step=np.asarray(t.step, dtype=np.int64),
            status=np.asarray(status_code(t.status), dtype=np.int8),
            goal=np.asarray(t.goal, dtype=np.int64),
            exact=np.asarray(t.exact),
        )

    def checked_status(self) -> np.ndarray:
        """The status codes, after refusing codes that are not step outcomes."""
        codes = np.asarray(self.status)
        if not _IS_OUTCOME[codes].all():
            _refuse({STATUS_CODES[int(c)] for c in np.unique(codes) if not _IS_OUTCOME[c]})
        return codes


def _refuse(statuses: set[Status]) -> NoReturn:
    raise ValueError(
        f"status {sorted(s.value for s in statuses)} is not the outcome of a step; rewards "
        f"need one of {[s.value for s in STEP_OUTCOMES]}"
    )


@runtime_checkable
class RewardScheme(Protocol):
    """What a step is worth: ``scheme(transition) -> float``."""

    def __call__(self, t: Transition) -> float: ...


@runtime_checkable
class BatchRewardScheme(RewardScheme, Protocol):
    """A scheme that also prices a whole :class:`TransitionBatch` at once (float64 array)."""

    def batch(self, b: TransitionBatch) -> np.ndarray: ...


def _by_status(values: dict[Status, float]) -> np.ndarray:
    """Lookup table indexed by status code; NaN for statuses without a value."""
    table = np.full(len(STATUS_CODES), np.nan)
    for status, value in values.items():
        table[status_code(status)] = value
    return table


def _check_finite(obj: object) -> None:
    for f in fields(obj):  # type: ignore[arg-type]
        value = getattr(obj, f.name)
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            raise field_error(ConfigError, f.name, value, "give a finite number")


@dataclass(frozen=True, kw_only=True)
class LegacyReward:
    """The original prototype's shaped reward (baseline preset); see the module docstring."""

    name: ClassVar[str] = "legacy"

    success: float = 100.0
    """Reward on SUCCESS before the per-step deduction."""
    success_step_penalty: float = 1.0
    """Deducted from ``success`` once per step taken (SUCCESS pays ``success - this * step``)."""
    forbidden: float = -50.0
    """Reward for landing on a forbidden number."""
    overshoot: float = -20.0
    """Reward for passing the target."""
    max_steps: float = -10.0
    """Reward for running out of steps."""
    progress: float = 10.0
    """Non-terminal step that brings ``x`` closer to the goal than ``prev`` was."""
    no_progress: float = -1.0
    """Non-terminal step that does not."""

    def __post_init__(self) -> None:
        _check_finite(self)

    @cached_property
    def _terminal(self) -> np.ndarray:
        return _by_status(
            {
                Status.SUCCESS: self.success,
                Status.FORBIDDEN: self.forbidden,
                Status.OVERSHOOT: self.overshoot,
                Status.MAX_STEPS: self.max_steps,
            }
        )

    def batch(self, b: TransitionBatch) -> np.ndarray:
        code = b.checked_status()
        terminal = self._terminal[code]
        success = code == status_code(Status.SUCCESS)
        terminal = terminal - np.where(success, self.success_step_penalty * b.step, 0.0)
        closer = np.abs(b.goal - b.x) < np.abs(b.goal - b.prev)
        shaped = np.where(closer, self.progress, self.no_progress)
        in_progress = code == status_code(Status.IN_PROGRESS)
        return np.asarray(np.where(in_progress, shaped, terminal), dtype=np.float64)

    def __call__(self, t: Transition) -> float:
        return float(self.batch(TransitionBatch.of(t)))


@dataclass(frozen=True, kw_only=True)
class OrderedReward:
    """Progress in action units, a step cost over the budget, ±2 at the end (the fix).

    Every success outscores every failure and the best policy takes the optimal number of steps,
    provided ``success - failure >= step_cost > 0`` (proof in the module docstring).
    """

    name: ClassVar[str] = "ordered"

    success: float = 2.0
    """Terminal reward S on SUCCESS."""
    failure: float = -2.0
    """Terminal reward F on FORBIDDEN, OVERSHOOT and MAX_STEPS."""
    step_cost: float = 1.0
    """Total step cost c of a full budget: each step pays ``c / max_steps``."""
    subgoal: float = 0.5
    """Share b of its step cost a step earns back when it reaches its subgoal as asked."""

    def __post_init__(self) -> None:
        _check_finite(self)
        if self.step_cost <= 0:
            raise field_error(
                ConfigError, "step_cost", self.step_cost, "it must be > 0 or dawdling costs nothing"
            )
        if not 0 <= self.subgoal < 1:
            raise field_error(
                ConfigError, "subgoal", self.subgoal, "give 0 <= subgoal < 1 so no step pays"
            )
        bound = self.step_cost * (1 + self.subgoal)
        if self.success - self.failure < bound:
            raise field_error(
                ConfigError,
                "success",
                self.success,
                f"success - failure must be >= step_cost * (1 + subgoal) ({bound:g}) so every "
                f"success beats every failure (failure={self.failure})",
            )

    @cached_property
    def _terminal(self) -> np.ndarray:
        return _by_status(
            {
                Status.IN_PROGRESS: 0.0,
                Status.SUCCESS: self.success,
                Status.FORBIDDEN: self.failure,
                Status.OVERSHOOT: self.failure,
                Status.MAX_STEPS: self.failure,
            }
        )

    def _progress(self, b: TransitionBatch) -> np.ndarray:
        """The progress term of each step: numbers gained towards the target, in action units."""
        return (np.minimum(b.x, b.puzzle.target) - b.prev) / b.puzzle.max_action

    def _progress_of(self, t: Transition) -> float:
        """:meth:`_progress` of one step, on plain numbers."""
        return (min(t.x, t.puzzle.target) - t.prev) / t.puzzle.max_action

    def batch(self, b: TransitionBatch) -> np.ndarray:
        p = b.puzzle
        code = b.checked_status()
        terminal = self._terminal[code]
        progress = self._progress(b)
        cost = self.step_cost / p.max_steps * (1 - self.subgoal * b.reached(code))
        return np.asarray(progress - cost + terminal, dtype=np.float64)

    def __call__(self, t: Transition) -> float:
        """:meth:`batch`'s sum on plain numbers, the same float64 operations in the same order (a
        training step is priced twice under a hierarchy; through 0-d arrays that was a tenth of
        collection)."""
        if t.status not in STEP_OUTCOMES:
            _refuse({t.status})
        p = t.puzzle
        asked = t.x == t.goal if t.exact else t.x >= t.goal
        reached = asked and t.status in _ON_THE_WAY and t.goal < p.target
        cost = self.step_cost / p.max_steps * (1 - self.subgoal * reached)
        return self._progress_of(t) - cost + float(self._terminal[status_code(t.status)])


#: The solver's fewest steps from ``start + i`` to the target (``-1``: no way on), per puzzle.
_distances = PerPuzzle(distances_to_target, capacity=256)


@dataclass(frozen=True, kw_only=True)
class StepsReward(OrderedReward):
    """``ordered`` with its progress in exact steps to the target: a step earns
    ``D(prev) - D(x)`` (1 on a shortest route, 0 or less off it, 0 into a number with no way
    on) and a share of ``ordered``'s progress in numbers; the module docstring has why it keeps
    the order and why its discounted optimum is the shortest route."""

    name: ClassVar[str] = "steps"

    numbers: float = 0.3
    """Share of ``ordered``'s progress in numbers paid beside the steps: among the strides that
    keep a shortest route, the longer is worth a little more (it telescopes too)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 <= self.numbers < 1:
            raise field_error(
                ConfigError,
                "numbers",
                self.numbers,
                "give 0 <= numbers < 1: a tie-break, not a step",
            )

    def _progress(self, b: TransitionBatch) -> np.ndarray:
        p = b.puzzle
        d = _distances(p)
        before = d[b.prev - p.start]  # a step starts below the target
        after = np.where(b.x <= p.target, d[np.minimum(b.x, p.target) - p.start], UNREACHABLE)
        steps = np.where((before >= 0) & (after >= 0), before - after, 0)
        return steps + self.numbers * (np.minimum(b.x, p.target) - b.prev) / p.max_action

    def _progress_of(self, t: Transition) -> float:
        p = t.puzzle
        d = _distances(p)
        before = int(d[t.prev - p.start])
        after = int(d[t.x - p.start]) if t.x <= p.target else UNREACHABLE
        steps = before - after if before >= 0 and after >= 0 else 0
        return steps + self.numbers * (min(t.x, p.target) - t.prev) / p.max_action


class Unscored:
    """Every step is worth 0: for playing a trained policy, where only statuses and paths count
    (pricing each step, twice under a hierarchy, was a third of greedy play's time)."""

    name: ClassVar[str] = "unscored"

    def __call__(self, t: Transition) -> float:
        return 0.0


#: Scheme classes by name, in the order error messages list them.
REWARDS: dict[str, type[LegacyReward] | type[OrderedReward]] = {
    LegacyReward.name: LegacyReward,
    OrderedReward.name: OrderedReward,
    StepsReward.name: StepsReward,
}


def make_reward(name: str) -> RewardScheme:
    """The scheme called ``name`` (:data:`REWARDS`: "legacy", "ordered", "steps") with its default
    constants."""
    try:
        cls = REWARDS[name]
    except (KeyError, TypeError):
        raise field_error(
            ConfigError, "reward", name, f"choose one of {', '.join(REWARDS)}"
        ) from None
    return cls()
