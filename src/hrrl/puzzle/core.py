"""The number puzzle: its value type, its validation and its one step rule (design §1).

Every other piece that moves a number forward (the scalar environment, batched collection, the
evaluator, the exact dynamic programs) calls :func:`step_status`, so the order of the statuses is
written down exactly once.
"""

from __future__ import annotations

import difflib
import enum
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from hrrl.errors import PuzzleError, field_error
from hrrl.puzzle.solver import optimal_steps

DEFAULT_ACTIONS: tuple[int, ...] = (1, 3, 5)
#: Largest number a puzzle may mention. Bigger puzzles would need arrays the size of the gap.
MAX_NUMBER = 10**8
#: Largest gap (target - start) a puzzle may span: the exact solver holds one int per number.
MAX_GAP = 10**7
#: Largest step budget accepted.
MAX_STEPS_LIMIT = 10**7
#: Most forbidden numbers accepted in one puzzle.
MAX_FORBIDDEN = 10**6
#: Most actions accepted in one puzzle.
MAX_ACTIONS = 64


class Status(enum.StrEnum):
    """Outcome of a step (or of a whole puzzle, for the two reporting-only statuses)."""

    IN_PROGRESS = "IN_PROGRESS"
    SUCCESS = "SUCCESS"
    FORBIDDEN = "FORBIDDEN"
    OVERSHOOT = "OVERSHOOT"
    MAX_STEPS = "MAX_STEPS"
    #: Reported before any step for a puzzle no path solves within ``max_steps``.
    UNSOLVABLE = "UNSOLVABLE"
    #: Reported by the evaluator for a suite line it rejects.
    INVALID = "INVALID"
    #: Reported by the evaluator for a valid puzzle this policy cannot play (say, more actions
    #: than its network has slots, or another action set for a fixed-width network).
    UNSUPPORTED = "UNSUPPORTED"

    @property
    def terminal(self) -> bool:
        return self is not Status.IN_PROGRESS

    @property
    def failed(self) -> bool:
        return self in (Status.FORBIDDEN, Status.OVERSHOOT, Status.MAX_STEPS)


def step_status(
    x: int, step: int, *, target: int, forbidden: frozenset[int] | set[int], max_steps: int
) -> Status:
    """Status after a step landed on ``x`` as the ``step``-th step (1-based).

    The order is the contract: SUCCESS, FORBIDDEN, OVERSHOOT, MAX_STEPS, IN_PROGRESS.
    MAX_STEPS is a truncation (Gymnasium's ``truncated``); the others are terminations.
    """
    if x == target:
        return Status.SUCCESS
    if x in forbidden:
        return Status.FORBIDDEN
    if x > target:
        return Status.OVERSHOOT
    if step >= max_steps:
        return Status.MAX_STEPS
    return Status.IN_PROGRESS


def _require_int(name: str, value: object) -> int:
    # bool is an int subclass; a puzzle with target=True is a bug, not a target of 1.
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            raise field_error(PuzzleError, name, value, "write it as an integer (no decimal point)")
        raise field_error(PuzzleError, name, value, "it must be an integer")
    return value


def default_max_steps(optimal: int) -> int:
    """design §1's default step budget: ``max(2 * optimal, optimal + 20)``."""
    return max(2 * optimal, optimal + 20)


@dataclass(frozen=True, init=False)
class Puzzle:
    """One puzzle: reach ``target`` exactly from ``start`` by adding actions, never touching a
    forbidden number, within ``max_steps`` steps.

    ``Puzzle(target=10, forbidden=[3])`` validates every field (any iterables of integers for
    ``forbidden`` and ``actions``; ``actions`` defaults to ``(1, 3, 5)``) and fills
    ``max_steps`` from the exact optimum when it is not given: ``max(2 * optimal, optimal + 20)``,
    or for an unsolvable puzzle the same from ``ceil(gap / max action)``, so the value still
    exists and the evaluator can report it ``UNSOLVABLE``. :meth:`from_dict` reads a suite line.
    """

    target: int
    forbidden: frozenset[int]
    actions: tuple[int, ...]
    max_steps: int
    start: int = 0
    id: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __init__(
        self,
        target: int,
        forbidden: Iterable[int] = (),
        actions: Iterable[int] = DEFAULT_ACTIONS,
        max_steps: int | None = None,
        start: int = 0,
        id: str = "",
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        put = object.__setattr__  # frozen: the fields are set once, here
        put(self, "start", _require_int("start", start))
        put(self, "target", _require_int("target", target))
        put(self, "id", id)
        put(self, "extra", dict(extra or {}))
        put(
            self,
            "forbidden",
            forbidden if isinstance(forbidden, frozenset) else _checked_forbidden(forbidden),
        )
        put(self, "actions", actions if isinstance(actions, tuple) else _checked_actions(actions))
        if max_steps is not None:
            put(self, "max_steps", max_steps)
            _validate(self)
            return
        # Validate everything else first so the solver never sees a malformed puzzle.
        put(self, "max_steps", MAX_STEPS_LIMIT)
        _validate(self)
        optimal = optimal_steps(self, ignore_max_steps=True)
        if optimal is None:
            optimal = math.ceil(self.gap / self.max_action)
        put(self, "max_steps", min(default_max_steps(optimal), MAX_STEPS_LIMIT))

    # --- construction -------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        *,
        target: int,
        forbidden: Iterable[int] = (),
        actions: Iterable[int] = DEFAULT_ACTIONS,
        start: int = 0,
        max_steps: int | None = None,
        id: str = "",
        extra: Mapping[str, Any] | None = None,
    ) -> Puzzle:
        """The keyword-only form of the constructor (``max_steps=None`` takes the default)."""
        return cls(
            target=target,
            forbidden=forbidden,
            actions=actions,
            max_steps=max_steps,
            start=start,
            id=id,
            extra=extra,
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Puzzle:
        """Puzzle from a suite line (design §1); unknown fields are kept in ``extra``."""
        if not isinstance(data, Mapping):
            raise PuzzleError(f"a puzzle must be a JSON object, got {type(data).__name__}")
        known = {"id", "target", "forbidden", "actions", "start", "max_steps"}
        for required in ("target", "forbidden"):
            if required not in data:
                others = [k for k in data if isinstance(k, str) and k not in known]
                close = difflib.get_close_matches(required, others, n=1, cutoff=0.6)
                hint = f" (the line has {close[0]!r}: a misspelling of it?)" if close else ""
                raise PuzzleError(
                    f"{required} is missing{hint}: every puzzle needs 'target' and 'forbidden'"
                )
        pid = data.get("id", "")
        if not isinstance(pid, str):
            raise field_error(PuzzleError, "id", pid, "it must be a string")
        return cls.create(
            target=data["target"],
            forbidden=_as_list("forbidden", data["forbidden"]),
            actions=_as_list("actions", data.get("actions", list(DEFAULT_ACTIONS))),
            start=data.get("start", 0),
            max_steps=data.get("max_steps"),
            id=pid,
            extra={k: v for k, v in data.items() if k not in known},
        )

    def to_dict(self) -> dict[str, Any]:
        """Suite line for this puzzle; extra fields come first so the contract fields win."""
        return {
            **dict(self.extra),
            "id": self.id,
            "target": self.target,
            "forbidden": sorted(self.forbidden),
            "actions": list(self.actions),
            "start": self.start,
            "max_steps": self.max_steps,
        }

    # --- the rules ----------------------------------------------------------------------------
    @property
    def gap(self) -> int:
        return self.target - self.start

    @property
    def max_action(self) -> int:
        return max(self.actions)

    def status_after(self, x: int, step: int) -> Status:
        """Status after landing on ``x`` at step ``step`` (1-based); see :func:`step_status`."""
        return step_status(
            x, step, target=self.target, forbidden=self.forbidden, max_steps=self.max_steps
        )


def _as_list(name: str, value: object) -> list[Any]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise field_error(PuzzleError, name, value, "give a list of integers, e.g. [1, 3, 5]")
    return list(value)


def _checked_forbidden(values: Iterable[int]) -> frozenset[int]:
    values = _as_list("forbidden", values)
    if len(values) > MAX_FORBIDDEN:
        raise field_error(
            PuzzleError, "forbidden", f"<{len(values)} numbers>", f"give at most {MAX_FORBIDDEN}"
        )
    return frozenset(_require_int("forbidden", v) for v in values)


def _checked_actions(values: Iterable[int]) -> tuple[int, ...]:
    values = _as_list("actions", values)
    if not values:
        raise field_error(PuzzleError, "actions", values, "give at least one positive integer")
    if len(values) > MAX_ACTIONS:
        raise field_error(PuzzleError, "actions", values, f"give at most {MAX_ACTIONS} actions")
    ints = [_require_int("actions", v) for v in values]
    for v in ints:
        if v <= 0:
            raise field_error(
                PuzzleError, "actions", values, f"every action must be positive ({v} is not)"
            )
    if len(set(ints)) != len(ints):
        raise field_error(PuzzleError, "actions", values, "remove the repeated actions")
    return tuple(ints)


def _validate(p: Puzzle) -> None:
    _require_int("start", p.start)
    _require_int("target", p.target)
    _require_int("max_steps", p.max_steps)
    if not isinstance(p.forbidden, frozenset):
        raise field_error(PuzzleError, "forbidden", p.forbidden, "pass a frozenset of integers")
    for v in p.forbidden:
        _require_int("forbidden", v)
    _checked_actions(p.actions)
    for name, value in (("start", p.start), ("target", p.target)):
        if abs(value) > MAX_NUMBER:
            raise field_error(PuzzleError, name, value, f"keep it within ±{MAX_NUMBER:,}")
    if p.target <= p.start:
        raise field_error(
            PuzzleError, "target", p.target, f"it must be greater than start ({p.start})"
        )
    if p.gap > MAX_GAP:
        raise field_error(
            PuzzleError, "target", p.target, f"target - start must be at most {MAX_GAP:,}"
        )
    if p.target in p.forbidden:
        raise field_error(PuzzleError, "forbidden", p.target, "the target cannot be forbidden")
    if p.start in p.forbidden:
        raise field_error(PuzzleError, "forbidden", p.start, "the start cannot be forbidden")
    if p.max_steps < 1:
        raise field_error(PuzzleError, "max_steps", p.max_steps, "it must be at least 1")
    if p.max_steps > MAX_STEPS_LIMIT:
        raise field_error(
            PuzzleError, "max_steps", p.max_steps, f"it must be at most {MAX_STEPS_LIMIT:,}"
        )


@dataclass(frozen=True)
class PuzzleView:
    """What an encoder sees at one moment: the puzzle, where we are, and the active subgoal.

    ``subgoal`` is the hierarchy's active waypoint (the target itself when there is no hierarchy or
    the last waypoint is passed); ``step`` counts the steps already taken. ``exact``: the subgoal
    must be landed on exactly (a position the high level asks for), not merely passed.
    """

    puzzle: Puzzle
    current: int
    subgoal: int
    step: int
    exact: bool = False


_T = TypeVar("_T")


class PerPuzzle(Generic[_T]):
    """``compute(puzzle)`` worked out once per puzzle, for the many steps played on it.

    Entries are keyed by ``id(puzzle)`` (hashing a puzzle would hash its forbidden set) and keep
    the puzzle alive, so an id is never reused while cached; the cache is cleared when it holds
    ``capacity`` puzzles."""

    def __init__(self, compute: Callable[[Puzzle], _T], capacity: int) -> None:
        self._compute, self._capacity = compute, capacity
        self._cache: dict[int, tuple[Puzzle, _T]] = {}

    def __call__(self, puzzle: Puzzle) -> _T:
        hit = self._cache.get(id(puzzle))
        if hit is not None and hit[0] is puzzle:
            return hit[1]
        value = self._compute(puzzle)
        if len(self._cache) >= self._capacity:
            self._cache.clear()
        self._cache[id(puzzle)] = (puzzle, value)
        return value
