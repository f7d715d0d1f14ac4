"""Planner: the paper's spacing by hand, the windowed dead-end view, the constraint-aware rule."""

from __future__ import annotations

import itertools
from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hrrl.errors import ConfigError
from hrrl.puzzle.core import Puzzle
from hrrl.puzzle.planner import (
    DEFAULT_WINDOW,
    decompose,
    is_local_dead_end,
    paper_waypoints,
    reachable_in_window,
)
from hrrl.puzzle.solver import optimal_path


def P(
    target: int,
    forbidden: tuple[int, ...] = (),
    actions: tuple[int, ...] = (1, 3, 5),
    start: int = 0,
) -> Puzzle:
    return Puzzle.create(
        target=target, forbidden=forbidden, actions=actions, start=start, max_steps=10**6
    )


# --- paper rule, by hand ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("current", "target", "expected"),
    [
        (0, 50, [50]),  # gap 50: no waypoints
        (10, 60, [60]),
        (0, 51, [17, 34, 51]),  # n = max(2, 0) = 2, spacing 17
        (0, 300, [60, 120, 180, 240, 300]),  # n = 4, spacing 60
        (20, 120, [53, 87, 120]),  # gap 100, n = 2: 33.33 -> 33, 66.67 -> 67
        # gap 226, n = 3, spacing 56.5: round half UP (56.5 -> 57, 169.5 -> 170), not banker's.
        (0, 226, [57, 113, 170, 226]),
        (-100, 200, [-40, 20, 80, 140, 200]),
    ],
)
def test_paper_waypoints_by_hand(current: int, target: int, expected: list[int]) -> None:
    assert paper_waypoints(current, target) == expected
    assert decompose(P(target, start=min(current, 0)), current, rule="paper") == expected


def test_decompose_defaults_and_refusals() -> None:
    p = P(300)
    assert decompose(p, rule="paper") == [60, 120, 180, 240, 300]  # current defaults to start
    assert decompose(p, 100, rule="none") == [300]
    with pytest.raises(ConfigError, match="rule='magic'"):
        decompose(p, rule="magic")
    with pytest.raises(ConfigError, match="current=300"):
        decompose(p, 300, rule="paper")
    with pytest.raises(ConfigError, match="window=0"):
        reachable_in_window(p, 0, 0)


# --- the windowed view, by hand -------------------------------------------------------------------
def test_reachable_in_window_wall() -> None:
    # Five forbidden numbers in a row with max action 5: nothing below the wall gets past it.
    ok = reachable_in_window(P(100, forbidden=(11, 12, 13, 14, 15)), 0, 40)
    assert ok.shape == (41,) and ok.dtype == bool
    assert not ok[:16].any() and ok[16:].all()


def test_reachable_in_window_target_inside() -> None:
    ok = reachable_in_window(P(8), 0, 40)
    assert ok[:9].all() and not ok[9:].any()  # past the target nothing counts


def test_reachable_in_window_single_action_and_edge_glance() -> None:
    # Only +5, 5 forbidden, window [0, 12]: 0 -> 5 dies; 1 -> 6 -> 11 -> 16 (beyond edge, allowed).
    ok = reachable_in_window(P(100, forbidden=(5,), actions=(5,)), 0, 12)
    assert ok.tolist() == [False, True, True, True, True, False] + [True] * 7
    # Jumping beyond the edge onto a forbidden number does not count.
    ok = reachable_in_window(P(100, forbidden=(5, 16), actions=(5,)), 0, 12)
    assert ok[1] is np.False_ and ok[6] is np.False_ and ok[11] is np.False_ and ok[12]


def _brute_reachable(p: Puzzle, origin: int, window: int) -> list[bool]:
    """Forward search straight from the definition (exponential, fine on small windows)."""
    edge = origin + window

    def allowed(n: int) -> bool:
        return n <= p.target and n not in p.forbidden

    @cache
    def escapes(n: int) -> bool:
        if not allowed(n):
            return False
        if n == p.target or n >= edge:
            return True
        return any(escapes(n + a) for a in p.actions)

    return [escapes(origin + i) for i in range(window + 1)]


def _puzzle(
    target: int, scattered: list[int], runs: list[tuple[int, int]], actions: tuple
) -> Puzzle:
    # Runs of consecutive forbidden numbers make traps and walls, not just scattered holes.
    forbidden = set(scattered) | {s + i for s, length in runs for i in range(length)}
    return P(target, tuple(f for f in forbidden if 0 < f < target), actions)


puzzle_strategy = st.builds(
    _puzzle,
    st.integers(51, 1500),
    st.lists(st.integers(1, 1500), max_size=300),
    st.lists(st.tuples(st.integers(1, 1500), st.integers(1, 6)), max_size=40),
    st.sampled_from([(1, 3, 5), (1, 3, 5), (2, 3), (3, 4, 7), (5,), (1, 2), (2, 5, 9)]),
)


@settings(max_examples=60, deadline=None)
@given(puzzle_strategy, st.integers(0, 1400), st.integers(1, 30))
def test_reachable_in_window_matches_brute_force(p: Puzzle, origin: int, window: int) -> None:
    assert reachable_in_window(p, origin, window).tolist() == _brute_reachable(p, origin, window)


@settings(max_examples=40, deadline=None)
@given(puzzle_strategy)
def test_numbers_on_a_solution_path_are_never_dead_ends(p: Puzzle) -> None:
    path = optimal_path(p)
    if path is None:
        return
    assert not any(is_local_dead_end(p, n) for n in path)


# --- constraint-aware rule -------------------------------------------------------------------------
def test_constraint_moves_a_forbidden_waypoint_below_first() -> None:
    assert decompose(P(300, forbidden=(60,)), rule="constraint") == [59, 120, 180, 240, 300]
    assert decompose(P(300, forbidden=(59, 60)), rule="constraint") == [61, 120, 180, 240, 300]


def test_constraint_moves_off_a_dead_end() -> None:
    # From 60 every action lands on 61, 63 or 65: a trap. 59 can go 59 -> 62 -> 67.
    p = P(300, forbidden=(61, 63, 65))
    assert is_local_dead_end(p, 60) and not is_local_dead_end(p, 59)
    assert decompose(p, rule="paper")[0] == 60
    assert decompose(p, rule="constraint") == [59, 120, 180, 240, 300]


def test_constraint_moves_past_a_wall_or_drops_the_waypoint() -> None:
    # A wall at 61..65 makes every number below it a dead end; radius = 300 // 10 = 30, and the
    # search 60, 59, 61, 58, 62, ... first finds an acceptable number at 66 (distance 6).
    p = P(300, forbidden=(61, 62, 63, 64, 65))
    assert decompose(p, rule="constraint") == [66, 120, 180, 240, 300]
    # Paper [33, 67, 100] with radius 100 // 6 = 16: 17..49 all forbidden, so 33 is dropped.
    p = P(100, forbidden=tuple(range(17, 50)))
    assert decompose(p, rule="paper") == [33, 67, 100]
    assert decompose(p, rule="constraint") == [67, 100]


@settings(max_examples=80, deadline=None)
@given(puzzle_strategy, st.data())
def test_constraint_waypoints_are_never_forbidden_nor_dead_ends(
    p: Puzzle, data: st.DataObject
) -> None:
    current = data.draw(st.integers(p.start, p.target - 1))
    window = data.draw(st.sampled_from([DEFAULT_WINDOW, 10, 80]))
    waypoints = decompose(p, current, rule="constraint", window=window)
    assert waypoints[-1] == p.target
    inner = waypoints[:-1]
    assert all(current < w < p.target for w in inner)
    assert all(a < b for a, b in itertools.pairwise(waypoints))
    assert not any(w in p.forbidden for w in inner)
    assert not any(is_local_dead_end(p, w, window) for w in inner)
    # It keeps the paper's count at most, and the paper's exactly where nothing needed moving.
    paper = decompose(p, current, rule="paper")
    assert len(waypoints) <= len(paper)
    if not any(is_local_dead_end(p, w, window) for w in paper[:-1]):
        assert waypoints == paper


@settings(max_examples=40, deadline=None)
@given(puzzle_strategy, st.data())
def test_paper_waypoints_structure(p: Puzzle, data: st.DataObject) -> None:
    current = data.draw(st.integers(p.start, p.target - 1))
    waypoints = decompose(p, current, rule="paper")
    assert waypoints[-1] == p.target
    assert all(a < b for a, b in zip([current, *waypoints], waypoints, strict=False))
    gap = p.target - current
    assert len(waypoints) == (1 if gap <= 50 else max(2, gap // 75) + 1)
