"""Generated families hold their defining property, are solvable (but one) and seed-deterministic."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hrrl.errors import ConfigError, PuzzleError
from hrrl.puzzle.core import Puzzle, Status, default_max_steps
from hrrl.puzzle.families import FAMILIES, UNSOLVABLE_KINDS, WALL_LENGTH
from hrrl.puzzle.generate import generate_suite, iter_family
from hrrl.puzzle.sampling import PAPER_DENSITY, greedy_rollout, is_dead_end, sample_puzzle
from hrrl.puzzle.solver import optimal_path, optimal_steps

N = 40  # puzzles per family in these tests


@pytest.fixture(scope="module")
def suites() -> dict[str, list[Puzzle]]:
    return {name: list(iter_family(name, N, seed=11)) for name in FAMILIES}


@pytest.mark.parametrize("family", list(FAMILIES))
def test_common_contract(suites: dict[str, list[Puzzle]], family: str) -> None:
    for i, p in enumerate(suites[family]):
        assert p.id == f"{family}-{i:04d}"
        assert p.extra["family"] == family
        assert p.actions == (1, 3, 5) and p.start == 0
        assert all(p.start < f < p.target for f in p.forbidden)
        if family == "unsolvable":
            assert p.extra["optimal_steps"] is None
            continue
        opt = optimal_steps(p)
        assert opt is not None and opt == p.extra["optimal_steps"]
        assert p.max_steps == default_max_steps(opt)


def test_in_range(suites: dict[str, list[Puzzle]]) -> None:
    for p in suites["in_range"]:
        assert 5 <= p.target <= 100
        assert min(2, p.target - 1) <= len(p.forbidden) <= 5


def test_scale_uses_paper_density(suites: dict[str, list[Puzzle]]) -> None:
    for p in suites["scale"]:
        assert 100 <= p.target <= 10_000
        assert len(p.forbidden) == round(PAPER_DENSITY * (p.target - 1))
    assert max(p.target for p in suites["scale"]) > 5_000


def test_dense(suites: dict[str, list[Puzzle]]) -> None:
    for p in suites["dense"]:
        assert 50 <= p.target <= 2_000
        assert 0.08 - 0.01 <= len(p.forbidden) / (p.target - 1) <= 0.20 + 0.01


def test_trap_walks_the_greedy_player_into_a_dead_end(suites: dict[str, list[Puzzle]]) -> None:
    for p in suites["trap"]:
        y = p.extra["trap_at"]
        rollout = greedy_rollout(p)
        assert rollout.status is Status.FORBIDDEN
        assert rollout.path[-2] == y and is_dead_end(p, y)
        assert all(y + a in p.forbidden for a in p.actions)


def test_endgame_packs_the_last_numbers(suites: dict[str, list[Puzzle]]) -> None:
    for p in suites["endgame"]:
        w = p.extra["window"]
        assert 6 <= w <= 15
        packed = sum(p.target - w <= f < p.target for f in p.forbidden)
        assert packed > w / 2


def _longest_forbidden_run(p: Puzzle) -> int:
    xs = sorted(p.forbidden)
    runs = [len(list(g)) for _, g in itertools.groupby(enumerate(xs), lambda t: t[1] - t[0])]
    return max(runs, default=0)


def test_wall_blocks_are_crossed_only_by_the_largest_action(
    suites: dict[str, list[Puzzle]],
) -> None:
    for p in suites["wall"]:
        path = optimal_path(p)
        assert path is not None
        for b in p.extra["walls"]:
            assert all(b + i in p.forbidden for i in range(WALL_LENGTH))
            assert b - 1 not in p.forbidden and b + WALL_LENGTH not in p.forbidden
            # Every path, the optimal one included, crosses with +5 from b - 1.
            assert b - 1 in path and b + WALL_LENGTH in path
        assert _longest_forbidden_run(p) == WALL_LENGTH


def test_lookahead_player_fails_on_dense_puzzles(suites: dict[str, list[Puzzle]]) -> None:
    for p in suites["lookahead"]:
        assert len(p.forbidden) / (p.target - 1) >= 0.10
        rollout = greedy_rollout(p, lookahead=1)
        assert rollout.status is not Status.SUCCESS
        assert rollout.path[-3] == p.extra["trap_at"]


def test_unsolvable_has_no_path(suites: dict[str, list[Puzzle]]) -> None:
    kinds = set()
    for p in suites["unsolvable"]:
        assert optimal_steps(p) is None and optimal_path(p) is None
        kinds.add(p.extra["kind"])
        if p.extra["kind"] == "budget":
            assert optimal_steps(p, ignore_max_steps=True) == p.max_steps + 1
    assert kinds == set(UNSOLVABLE_KINDS)


def test_only_unsolvable_family_is_unsolvable(suites: dict[str, list[Puzzle]]) -> None:
    for name, puzzles in suites.items():
        assert all((optimal_steps(p) is None) == (name == "unsolvable") for p in puzzles)


def test_deterministic_by_seed_and_independent_of_other_families() -> None:
    a = [p.to_dict() for p in generate_suite(["trap", "scale"], 5, seed=3)]
    b = [p.to_dict() for p in generate_suite(["trap", "scale"], 5, seed=3)]
    c = [p.to_dict() for p in generate_suite(["trap", "scale"], 5, seed=4)]
    alone = [p.to_dict() for p in generate_suite(["scale"], 5, seed=3)]
    assert a == b and a != c
    assert a[5:] == alone
    assert len(generate_suite(["all"], 2, seed=0)) == 2 * len(FAMILIES)


def test_family_names_are_checked() -> None:
    with pytest.raises(PuzzleError, match="in_range, scale"):
        generate_suite(["in_range", "hard"], 1, seed=0)
    with pytest.raises(PuzzleError, match="once"):
        generate_suite(["scale", "scale"], 1, seed=0)
    with pytest.raises(PuzzleError, match="at least one"):
        generate_suite([], 1, seed=0)


def test_greedy_players_hand_worked() -> None:
    # Plain greedy: 0 -> 3 (5 is forbidden) -> 8 -> 9 (13, 11 overshoot) -> 10.
    p = Puzzle.create(target=10, forbidden=[5])
    assert greedy_rollout(p).path == (0, 3, 8, 9, 10)
    # 5 is a dead end (6, 8, 10 forbidden): plain greedy lands on it and dies; the lookahead
    # player sees it and goes 0 -> 3 -> 4 (8, 6 forbidden) -> 9 -> 14 -> 19 -> 20.
    q = Puzzle.create(target=20, forbidden=[6, 8, 10])
    assert greedy_rollout(q).path == (0, 5, 10)
    assert greedy_rollout(q).status is Status.FORBIDDEN
    assert greedy_rollout(q, lookahead=1).path == (0, 3, 4, 9, 14, 19, 20)
    assert is_dead_end(q, 5) and not is_dead_end(q, 4) and not is_dead_end(q, 20)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    start=st.integers(-50, 50),
    span=st.tuples(st.integers(6, 200), st.integers(0, 200)),
    count=st.integers(0, 4),
)
def test_sample_puzzle_draws_from_the_open_interval(
    seed: int, start: int, span: tuple[int, int], count: int
) -> None:
    lo = start + span[0]
    hi = lo + span[1]
    p = sample_puzzle(
        np.random.default_rng(seed), target_range=(lo, hi), forbidden_count=count, start=start
    )
    assert lo <= p.target <= hi and p.start == start
    assert len(p.forbidden) == min(count, p.target - start - 1)
    assert all(start < f < p.target for f in p.forbidden)
    assert optimal_steps(p) == p.extra["optimal_steps"]


def test_sample_puzzle_density_and_determinism() -> None:
    def draw(seed: int) -> Puzzle:
        return sample_puzzle(np.random.default_rng(seed), target_range=(500, 600), density=0.1)

    p = draw(1)
    assert len(p.forbidden) == round(0.1 * (p.target - 1))
    assert draw(1) == p and draw(1).extra == p.extra


@pytest.mark.parametrize(
    "kwargs",
    [
        {"target_range": (5, 10)},  # neither count nor density
        {"target_range": (5, 10), "forbidden_count": 2, "density": 0.1},
        {"target_range": (0, 10), "forbidden_count": 2},  # target not above start
        {"target_range": (10, 5), "forbidden_count": 2},
        {"target_range": (5, 10), "density": 1.0},
        {"target_range": (5, 10), "forbidden_count": -1},
    ],
)
def test_sample_puzzle_refuses_bad_arguments(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        sample_puzzle(np.random.default_rng(0), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "actions", [(1, 2, 7), (2, 5), (2, 4, 6), (3, 4), (1, 4, 6, 9), (1, 5, 11)]
)
def test_every_family_is_defined_for_any_action_set(actions: tuple[int, ...]) -> None:
    from hrrl.puzzle.families import unsolvable_kinds, wall_length
    from hrrl.puzzle.solver import optimal_steps

    suite = generate_suite(list(FAMILIES), 3, seed=5, actions=actions)
    assert len({p.id for p in suite}) == len(suite)
    for p in suite:
        assert p.actions == actions
        solvable = optimal_steps(p) is not None
        assert solvable == (p.extra["family"] != "unsolvable"), p.id
        if p.extra["family"] == "wall":
            length = wall_length(actions)
            for b in p.extra["walls"]:
                assert all(b + i in p.forbidden for i in range(length))
                assert b - 1 not in p.forbidden and b + length not in p.forbidden
    kinds = {p.extra["kind"] for p in generate_suite(["unsolvable"], 40, 1, actions=actions)}
    assert kinds == set(unsolvable_kinds(actions))
    # The default set keeps its puzzles: another set draws from its own stream.
    assert generate_suite(["in_range"], 2, 5) == generate_suite(["in_range"], 2, 5, (1, 3, 5))


def test_the_family_names_the_cli_lists_are_the_generators() -> None:
    from hrrl.puzzle import FAMILY_NAMES
    from hrrl.puzzle.families import FAMILIES

    assert tuple(FAMILIES) == FAMILY_NAMES
