"""Exact DP (hrrl.puzzle.exact) against literal enumeration of every episode of tiny puzzles."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hrrl.errors import ConfigError, PuzzleError
from hrrl.puzzle.core import Puzzle, Status, step_status
from hrrl.puzzle.exact import (
    MAX_TABLE_ENTRIES,
    best_return_path,
    dynamics,
    optimal_values,
    path_return,
    q_star,
    return_extremes,
)
from hrrl.puzzle.rewards import STATUS_CODES, Transition, make_reward

SCHEMES = ("legacy", "ordered")


def tiny(
    target: int, forbidden: tuple[int, ...], actions: tuple[int, ...], max_steps: int
) -> Puzzle:
    return Puzzle(
        target=target, forbidden=frozenset(forbidden), actions=actions, max_steps=max_steps
    )


def episodes(p: Puzzle, x: int | None = None, t: int = 0) -> Iterator[list[tuple[int, Status]]]:
    """Every episode from (x, t), literally: lists of (landing, status) per step."""
    x = p.start if x is None else x
    for a in p.actions:
        y = x + a
        s = step_status(y, t + 1, target=p.target, forbidden=p.forbidden, max_steps=p.max_steps)
        if s.terminal:
            yield [(y, s)]
        else:
            for rest in episodes(p, y, t + 1):
                yield [(y, s), *rest]


def episode_return(p: Puzzle, scheme: object, x: int, t: int, ep: list, gamma: float) -> float:
    total, prev = 0.0, x
    for j, (y, s) in enumerate(ep):
        total += gamma**j * scheme(Transition(p, prev, y, t + j + 1, s, p.target))  # type: ignore[operator]
        prev = y
    return total


PUZZLES = [
    tiny(7, (), (1, 3, 5), 4),
    tiny(9, (3, 4), (1, 3, 5), 6),
    tiny(8, (2,), (2, 3), 5),
    tiny(10, (5, 6), (1, 4), 7),
    tiny(6, (), (1, 3, 5), 1),
]


@pytest.mark.parametrize("name", SCHEMES)
@pytest.mark.parametrize("gamma", [1.0, 0.9])
@pytest.mark.parametrize("p", PUZZLES)
def test_values_match_enumeration_at_every_reachable_state(
    p: Puzzle, name: str, gamma: float
) -> None:
    scheme = make_reward(name)
    table = optimal_values(p, scheme, gamma)
    reached: set[tuple[int, int]] = {(p.start, 0)}
    for ep in episodes(p):
        reached |= {(y, t + 1) for t, (y, s) in enumerate(ep) if not s.terminal}
    assert {(p.start + i, t) for t, i in zip(*np.nonzero(table.reachable), strict=True)} == reached
    for x, t in reached:
        for a, step in enumerate(p.actions):
            y = x + step
            s = step_status(y, t + 1, target=p.target, forbidden=p.forbidden, max_steps=p.max_steps)
            first = [(y, s)]
            tails = [[]] if s.terminal else list(episodes(p, y, t + 1))
            best = max(episode_return(p, scheme, x, t, first + tail, gamma) for tail in tails)
            assert table.q_at(x, t)[a] == pytest.approx(best, abs=1e-9)
        assert table.v_at(x, t) == pytest.approx(table.q_at(x, t).max())


@pytest.mark.parametrize("p", PUZZLES)
def test_status_tables_follow_the_step_rule(p: Puzzle) -> None:
    dyn = dynamics(p, make_reward("ordered"))
    for t in range(p.max_steps):
        for i in range(p.gap):
            for a, step in enumerate(p.actions):
                want = p.status_after(p.start + i + step, t + 1)
                assert STATUS_CODES[dyn.status(t)[i, a]] is want


@pytest.mark.parametrize("name", SCHEMES)
@pytest.mark.parametrize("p", PUZZLES)
def test_return_extremes_match_enumeration(p: Puzzle, name: str) -> None:
    scheme = make_reward(name)
    ext = return_extremes(p, scheme)
    worst_s: dict[int, float] = {}
    best_s: dict[int, float] = {}
    best_f: dict[int, float] = {}
    for ep in episodes(p):
        r, k, s = episode_return(p, scheme, p.start, 0, ep, 1.0), len(ep), ep[-1][1]
        if s is Status.SUCCESS:
            worst_s[k] = min(worst_s.get(k, np.inf), r)
            best_s[k] = max(best_s.get(k, -np.inf), r)
        else:
            best_f[k] = max(best_f.get(k, -np.inf), r)
    for got, want, kind in (
        (ext.worst_success, worst_s, "worst_success"),
        (ext.best_success, best_s, "best_success"),
        (ext.best_failure, best_f, "best_failure"),
    ):
        for k in range(1, p.max_steps + 1):
            if k in want:
                assert got[k] == pytest.approx(want[k])
                replay = path_return(p, scheme, ext.path(kind, k))
                assert replay.steps == k
                assert replay.ret == pytest.approx(want[k])
                assert (replay.status is Status.SUCCESS) == (kind != "best_failure")
            else:
                assert np.isnan(got[k])


@pytest.mark.parametrize("name", SCHEMES)
@pytest.mark.parametrize("p", PUZZLES)
def test_best_return_path_and_its_ties(p: Puzzle, name: str) -> None:
    scheme = make_reward(name)
    best = best_return_path(p, scheme)
    returns = [episode_return(p, scheme, p.start, 0, ep, 1.0) for ep in episodes(p)]
    top = max(returns)
    assert best.value == pytest.approx(top)
    assert best.episode.ret == pytest.approx(top)
    assert best.n_optimal_paths == sum(abs(r - top) < 1e-9 for r in returns)
    shortest_top = min(
        len(ep) for ep, r in zip(episodes(p), returns, strict=True) if abs(r - top) < 1e-9
    )
    assert best.episode.steps == shortest_top


def test_hand_worked_ordered_values() -> None:
    # target 7, actions 1,3,5, budget 4: M = 5, each step costs 1/4. Sums of two odd actions are
    # even, so the optimum is 3 steps (e.g. 5+1+1) and V*(0, 0) = P + 2 - 3/4 with P = 7/5.
    p = tiny(7, (), (1, 3, 5), 4)
    table = optimal_values(p, make_reward("ordered"))
    assert table.v_at(0, 0) == pytest.approx(7 / 5 + 2 - 3 / 4)
    # Q* exists for unreached states too: from 6 with one step left, +1 succeeds, +3 overshoots
    # (progress capped at min(9, 7) - 6 = 1).
    assert table.q_at(6, 3)[0] == pytest.approx(1 / 5 - 1 / 4 + 2)
    assert not table.reachable[3, 6]
    assert table.q_at(6, 3)[1] == pytest.approx(1 / 5 - 1 / 4 - 2)  # overshoot, min(x, T) caps


def test_discount_applies_per_step() -> None:
    p = tiny(7, (), (1, 3, 5), 4)
    scheme = make_reward("ordered")
    g = 0.5
    # Q(5, 0, +1) = r(5->6) + g * V(6, 1), V(6, 1) = r(6->7 success).
    r1 = 1 / 5 - 1 / 4
    r2 = 1 / 5 - 1 / 4 + 2
    assert optimal_values(p, scheme, g).q_at(5, 0)[0] == pytest.approx(r1 + g * r2)


def test_q_star_lookup_and_bad_input() -> None:
    p = PUZZLES[1]
    scheme = make_reward("ordered")
    table = optimal_values(p, scheme, 0.99)
    np.testing.assert_allclose(q_star(p, scheme, 0.99, 2, 1), table.q_at(2, 1))
    with pytest.raises(ConfigError, match="x="):
        table.q_at(p.target, 0)
    with pytest.raises(ConfigError, match="t="):
        table.q_at(0, p.max_steps)
    with pytest.raises(ConfigError, match="gamma"):
        optimal_values(p, scheme, 1.5)
    big = Puzzle(target=10**6, forbidden=frozenset(), actions=(1, 3, 5), max_steps=10**5)
    assert MAX_TABLE_ENTRIES < 10**6 * 10**5 * 3
    with pytest.raises(PuzzleError, match="max_steps"):
        optimal_values(big, scheme)


def test_scalar_only_scheme_gives_the_same_table() -> None:
    batched = make_reward("legacy")

    class ScalarOnly:
        def __call__(self, t: Transition) -> float:
            return batched(t)

    p = PUZZLES[3]
    np.testing.assert_allclose(optimal_values(p, ScalarOnly()).q, optimal_values(p, batched).q)


def test_path_return_refuses_impossible_paths() -> None:
    p = PUZZLES[1]
    scheme = make_reward("ordered")
    with pytest.raises(ConfigError, match="not an action"):
        path_return(p, scheme, [0, 2])
    with pytest.raises(ConfigError, match="goes on after"):
        path_return(p, scheme, [0, 3, 4])  # 3 is forbidden
    with pytest.raises(ConfigError, match="starts at"):
        path_return(p, scheme, [1, 2])


@settings(max_examples=40, deadline=None)
@given(
    target=st.integers(3, 12),
    forbidden=st.sets(st.integers(1, 11), max_size=4),
    actions=st.sampled_from([(1, 3, 5), (2, 3), (1, 4), (1, 2)]),
    max_steps=st.integers(1, 6),
    name=st.sampled_from(SCHEMES),
)
def test_start_value_is_the_best_enumerated_return(
    target: int, forbidden: set[int], actions: tuple[int, ...], max_steps: int, name: str
) -> None:
    p = tiny(target, tuple(f for f in forbidden if f < target), actions, max_steps)
    scheme = make_reward(name)
    want = max(episode_return(p, scheme, 0, 0, ep, 1.0) for ep in episodes(p))
    assert optimal_values(p, scheme).v_at(0, 0) == pytest.approx(want)
