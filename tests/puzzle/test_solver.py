"""The exact solver against hand-worked cases and a brute-force breadth-first search."""

from __future__ import annotations

import itertools
from collections import deque

from hypothesis import given, settings
from hypothesis import strategies as st

from hrrl.puzzle.core import Puzzle
from hrrl.puzzle.solver import (
    UNREACHABLE,
    distances_from_start,
    distances_to_target,
    is_solvable,
    optimal_path,
    optimal_steps,
)


def bfs(start: int, target: int, forbidden: set[int], actions: tuple[int, ...]) -> int | None:
    """Textbook BFS over the integers, the definition the fast solver must agree with."""
    seen = {start}
    queue = deque([(start, 0)])
    while queue:
        x, d = queue.popleft()
        if x == target:
            return d
        for a in actions:
            y = x + a
            if y <= target and y not in forbidden and y not in seen:
                seen.add(y)
                queue.append((y, d + 1))
    return None


def test_hand_worked_default_actions() -> None:
    # 0 -> 5 -> 10 -> 13: three steps; 11 and 12 are not needed.
    p = Puzzle.create(target=13, forbidden=[], max_steps=10)
    assert optimal_steps(p) == 3
    # Forbid 3 and 5: every 3-step sum to 13 is {5, 5, 3} and starts on 3 or 5; four odd actions
    # sum to an even number; so five steps, e.g. 0 -> 1 -> 6 -> 11 -> 12 -> 13.
    p = Puzzle.create(target=13, forbidden=[3, 5], max_steps=10)
    assert optimal_steps(p) == bfs(0, 13, {3, 5}, (1, 3, 5)) == 5


def test_wall_of_five_is_unsolvable() -> None:
    p = Puzzle.create(target=30, forbidden=[10, 11, 12, 13, 14], max_steps=50)
    assert optimal_steps(p) is None
    assert not is_solvable(p)
    assert optimal_path(p) is None


def test_max_steps_bounds_solvability() -> None:
    p = Puzzle.create(target=20, forbidden=[], max_steps=3)
    assert optimal_steps(p, ignore_max_steps=True) == 4
    assert optimal_steps(p) is None


def test_default_max_steps_from_optimum() -> None:
    p = Puzzle.create(target=100, forbidden=[])
    assert p.max_steps == max(2 * 20, 20 + 20)


def test_distances_to_target_hand_worked() -> None:
    p = Puzzle.create(target=6, forbidden=[5], start=0, max_steps=10)
    d = distances_to_target(p).tolist()
    # from 6: 0; 5 forbidden; 4: none (4+1=5 forbidden, 4+3=7 past); 3: 3+3=6 -> 1; 2: none?
    # 2: 2+1=3 -> 2 steps. 1: 1+5=6 -> 1. 0: 0+1=1 -> 2.
    assert d == [2, 1, 2, 1, UNREACHABLE, UNREACHABLE, 0]


@settings(max_examples=300, deadline=None)
@given(
    target=st.integers(1, 300),
    actions=st.sampled_from(
        [(1, 3, 5), (2, 3), (1, 4, 7), (3, 5), (2, 4), (5, 3, 1), (7,), (2, 9)]
    ),
    data=st.data(),
)
def test_agrees_with_bfs(target: int, actions: tuple[int, ...], data: st.DataObject) -> None:
    forbidden = data.draw(st.sets(st.integers(1, target - 1), max_size=40)) if target > 1 else set()
    p = Puzzle.create(target=target, forbidden=forbidden, actions=actions, max_steps=10**6)
    expected = bfs(0, target, forbidden, actions)
    assert optimal_steps(p) == expected
    path = optimal_path(p)
    if expected is None:
        assert path is None
        return
    assert path is not None
    assert path[0] == 0 and path[-1] == target and len(path) == expected + 1
    assert all(b - a in actions for a, b in itertools.pairwise(path))
    assert not set(path) & forbidden
    fwd = distances_from_start(p)
    back = distances_to_target(p)
    assert back[0] == expected and fwd[target] == expected


def test_large_target_with_offset_start() -> None:
    forbidden = set(range(40, 200_000, 37)) | {19, 21}
    p = Puzzle.create(target=200_017, start=17, forbidden=forbidden, max_steps=10**6)
    assert optimal_steps(p) == bfs(17, 200_017, forbidden, (1, 3, 5))
