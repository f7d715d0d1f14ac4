"""The window recurrence: integer values, their float costs, and the landings from the run memo
(a window standing still and one sliding along a puzzle)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hrrl.puzzle.encoders.window import DEAD, SlidingWindow, window_costs, window_values


def float_costs(
    actions: tuple[int, ...], forbidden: tuple[int, ...], t: int, window: int, graded: bool
) -> list[float]:
    """The recurrence as the encoders first computed it, in floats (the reference)."""
    amax = max(actions)
    cost: list[float] = [DEAD] * (window + amax + 1)
    if t > window:
        cost[window + 1 :] = [(amax - j) / amax if graded else 0 for j in range(1, amax + 1)]
    for o in range(min(t, window), 0, -1):
        if o in forbidden:
            continue
        if o == t:
            cost[o] = 0
            continue
        best = min(cost[o + a] for a in actions)
        if best < DEAD:
            cost[o] = best + 1
    return cost


def test_values_by_hand() -> None:
    # actions (1, 2) (A = 2), window 4, target beyond it, offset 2 forbidden. Values are A * cost:
    # graded edge 5 -> 1, 6 -> 0; then 4 -> 2 + 0, 3 -> 2 + 1, 2 dead, 1 -> 2 + 3.
    values = window_values((1, 2), (2,), 5, 4, graded=True)
    assert values == [DEAD, 5, DEAD, 3, 2, 1, 0]
    assert window_costs((1, 2), (2,), 5, 4, graded=True) == [DEAD, 2.5, DEAD, 1.5, 1.0, 0.5, 0.0]
    assert SlidingWindow((1, 2), (2,), 4, graded=True).values(0, 5) == (5, DEAD)
    # target at offset 3: cells past it are dead, the target costs 0, one step before it 1
    assert window_values((1, 2), (), 3, 4) == [DEAD, 2, 2, 0, DEAD, DEAD, DEAD]


@st.composite
def pictures(draw: st.DrawFn) -> tuple[tuple[int, ...], tuple[int, ...], int, int, bool]:
    actions = tuple(draw(st.lists(st.integers(1, 13), min_size=1, max_size=5, unique=True)))
    window = draw(st.sampled_from([1, 2, 16])) * max(actions)
    t = draw(st.one_of(st.just(window + 1), st.integers(0, window + 1)))
    cells = draw(st.lists(st.integers(1, window), max_size=window, unique=True))
    forbidden = tuple(sorted(o for o in cells if o != t))
    return actions, forbidden, t, window, draw(st.booleans())


@settings(max_examples=300, deadline=None)
@given(pictures())
def test_costs_are_the_float_recurrence_bit_for_bit(picture: tuple[Any, ...]) -> None:
    actions, forbidden, t, window, graded = picture
    got = window_costs(actions, forbidden, t, window, graded=graded)
    want = float_costs(actions, forbidden, t, window, graded)
    assert [repr(float(c)) for c in got] == [repr(float(c)) for c in want]


@settings(max_examples=300, deadline=None)
@given(pictures())
def test_landings_are_the_window_values_at_each_action(picture: tuple[Any, ...]) -> None:
    actions, forbidden, t, window, graded = picture
    values = window_values(actions, forbidden, t, window, graded=graded)
    landings = SlidingWindow(actions, forbidden, window, graded=graded).values(0, t)
    assert landings == tuple(values[a] for a in actions)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(1, 13), min_size=1, max_size=5, unique=True),
    st.sampled_from([1, 2, 16]),
    st.sets(st.integers(1, 400), max_size=120),
    st.integers(20, 420),
    st.booleans(),
)
def test_a_sliding_window_sees_at_every_number_what_a_fresh_one_sees(
    actions: list[int], factor: int, forbidden: set[int], target: int, graded: bool
) -> None:
    """One window slid along a puzzle (its chains between forbidden numbers remembered) gives at
    every ``x`` and every target offset the values of the recurrence filled afresh there."""
    acts, window = tuple(actions), factor * max(actions)
    slide = SlidingWindow(acts, sorted(forbidden - {target}), window, graded=graded, capacity=8)
    for x in range(target):
        in_view = [f - x for f in sorted(forbidden - {target}) if x < f <= x + window]
        for t in {min(target - x, window + 1), max(1, (target - x) // 2), 0}:
            want = window_values(acts, in_view, t, window, graded=graded)
            assert slide.values(x, t) == tuple(want[a] for a in acts), (x, t)
