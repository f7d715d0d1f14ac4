"""The puzzle value type: every refusal names the field, the value and the fix; the step rule."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hrrl.errors import PuzzleError
from hrrl.puzzle.core import MAX_GAP, Puzzle, Status, default_max_steps, step_status


@pytest.mark.parametrize(
    ("fields", "field", "fix"),
    [
        ({"target": 0}, "target", "greater than start"),
        ({"target": 5, "start": 5}, "target", "greater than start"),
        ({"target": 10, "forbidden": [10]}, "forbidden", "target cannot be forbidden"),
        ({"target": 10, "forbidden": [0]}, "forbidden", "start cannot be forbidden"),
        ({"target": 10, "actions": []}, "actions", "at least one"),
        ({"target": 10, "actions": [1, 1]}, "actions", "repeated"),
        ({"target": 10, "actions": [0, 1]}, "actions", "positive"),
        ({"target": 10, "actions": [-3]}, "actions", "positive"),
        ({"target": 10, "actions": [1.5]}, "actions", "integer"),
        ({"target": 10, "max_steps": 0}, "max_steps", "at least 1"),
        ({"target": 10.0}, "target", "no decimal point"),
        ({"target": "10"}, "target", "integer"),
        ({"target": True}, "target", "integer"),
        ({"target": 10, "forbidden": [2.5]}, "forbidden", "integer"),
        ({"target": 10, "forbidden": "1,2"}, "forbidden", "list"),
        ({"target": 10**12}, "target", "within"),
        ({"target": MAX_GAP + 1}, "target", f"{MAX_GAP:,}"),
    ],
)
def test_bad_puzzles_are_refused_with_field_value_and_fix(
    fields: dict[str, object], field: str, fix: str
) -> None:
    with pytest.raises(PuzzleError) as info:
        Puzzle.create(**fields)  # type: ignore[arg-type]
    message = str(info.value)
    assert message.startswith(f"{field}=") and fix in message


def test_from_dict_requires_target_and_forbidden_and_keeps_extras() -> None:
    with pytest.raises(PuzzleError, match="forbidden is missing"):
        Puzzle.from_dict({"id": "a", "target": 10})
    p = Puzzle.from_dict({"id": "a", "target": 10, "forbidden": [3], "family": "scale"})
    assert p.extra == {"family": "scale"} and p.actions == (1, 3, 5) and p.start == 0
    # the default budget is max(2 * optimal, optimal + 20): 0 -> 5 -> 10 is 2 steps
    assert p.max_steps == default_max_steps(2) == 22
    assert Puzzle.from_dict(p.to_dict()) == p


def test_status_order_is_the_contract() -> None:
    # SUCCESS before everything; FORBIDDEN before OVERSHOOT; MAX_STEPS only when nothing else.
    kw = {"target": 10, "forbidden": frozenset({12, 7}), "max_steps": 3}
    assert step_status(10, 3, **kw) is Status.SUCCESS
    assert step_status(12, 1, **kw) is Status.FORBIDDEN
    assert step_status(7, 3, **kw) is Status.FORBIDDEN
    assert step_status(11, 3, **kw) is Status.OVERSHOOT
    assert step_status(9, 3, **kw) is Status.MAX_STEPS
    assert step_status(9, 2, **kw) is Status.IN_PROGRESS
    assert Status.MAX_STEPS.failed and Status.SUCCESS.terminal and not Status.IN_PROGRESS.terminal


@given(
    target=st.integers(1, 10_000),
    forbidden=st.sets(st.integers(1, 10_000), max_size=20),
    actions=st.lists(st.integers(1, 9), min_size=1, max_size=4, unique=True),
)
def test_valid_puzzles_round_trip(target: int, forbidden: set[int], actions: list[int]) -> None:
    forbidden.discard(target)
    p = Puzzle.create(target=target, forbidden=forbidden, actions=actions, max_steps=50)
    assert Puzzle.from_dict(p.to_dict()) == p
