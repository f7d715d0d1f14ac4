"""Batched play: UNSOLVABLE before any step, results in input order, paths, metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hrrl.engine.task import PolicyFn
from hrrl.puzzle.core import Puzzle, Status
from hrrl.puzzle.encoders import make_encoder
from hrrl.puzzle.evaluate import eval_metrics
from hrrl.puzzle.solver import is_solvable, optimal_steps
from hrrl.puzzle.stack import make_env, make_stack, play_through_stack
from hrrl.puzzle.suite import Result

_, FACTORY = make_stack(
    encoder_name="relational", reward="ordered", planner="constraint", actions=(1, 3, 5)
)


def constant(action: int, calls: list[int] | None = None) -> PolicyFn:
    """A policy that always plays ``action``; records each batch size in ``calls``."""

    def policy(obs: np.ndarray) -> np.ndarray:
        if calls is not None:
            calls.append(len(obs))
        return np.full(len(obs), action, dtype=np.int64)

    return policy


def simulate(puzzle: Puzzle, action: int) -> Result:
    """The step rule played by hand: add ``actions[action]`` until a terminal status."""
    best = optimal_steps(puzzle)
    if best is None:
        return Result.unsolvable(puzzle)
    x, path = puzzle.start, [puzzle.start]
    while True:
        x += puzzle.actions[action]
        path.append(x)
        status = puzzle.status_after(x, len(path) - 1)
        if status is not Status.IN_PROGRESS:
            return Result.from_path(puzzle, path, status, best)


PUZZLES = [
    Puzzle.create(target=100, id="long"),  # +5: SUCCESS in 20; +1: MAX_STEPS at 40
    Puzzle.create(target=5, id="short"),
    Puzzle.create(target=7, id="overshoot"),
    Puzzle.create(target=10, forbidden=[1, 3, 5], id="walled-in"),  # unsolvable
    Puzzle.create(target=52, forbidden=[25, 4], id="forbidden"),
    Puzzle.create(target=33, max_steps=3, id="too-few-steps"),  # no path within max_steps
    Puzzle.create(target=20, forbidden=[8, 10, 12], start=7, id="start-7-unsolvable"),
    Puzzle.create(target=24, start=3, id="start-3"),
]


def test_fixture_puzzles_cover_every_ending() -> None:
    assert [is_solvable(p) for p in PUZZLES] == [True, True, True, False, True, False, False, True]
    seen = {simulate(p, a).status for p in PUZZLES for a in (0, 2)}
    assert seen == {
        Status.SUCCESS,
        Status.OVERSHOOT,
        Status.FORBIDDEN,
        Status.MAX_STEPS,
        Status.UNSOLVABLE,
    }


@pytest.mark.parametrize("action", [0, 2])
@pytest.mark.parametrize("num_envs", [1, 2, 3, 128])
def test_results_follow_the_step_rule_in_input_order(action: int, num_envs: int) -> None:
    # With fewer envs than puzzles, short puzzles finish before long ones started earlier.
    results = play_through_stack(constant(action), PUZZLES, FACTORY, num_envs=num_envs)
    assert [r.id for r in results] == [p.id for p in PUZZLES]
    assert results == [simulate(p, action) for p in PUZZLES]


def test_unsolvable_is_reported_before_any_step() -> None:
    unsolvable = [p for p in PUZZLES if not is_solvable(p)]
    calls: list[int] = []
    results = play_through_stack(constant(2, calls), unsolvable, FACTORY)
    assert calls == []  # the policy was never asked
    for puzzle, result in zip(unsolvable, results, strict=True):
        assert result.status is Status.UNSOLVABLE
        assert result.path == (puzzle.start,) and result.steps == 0
        assert result.optimal_steps is None


def test_policy_sees_only_running_envs() -> None:
    # +5 on targets 5 (1 step) and 15 (3 steps) with 4 envs: batches of 2, then 1, 1.
    calls: list[int] = []
    puzzles = [Puzzle.create(target=5, id="a"), Puzzle.create(target=15, id="b")]
    results = play_through_stack(constant(2, calls), puzzles, FACTORY, num_envs=4)
    assert calls == [2, 1, 1]
    assert [r.steps for r in results] == [1, 3]


def test_progress_counts_every_puzzle() -> None:
    counts: list[int] = []
    play_through_stack(constant(2), PUZZLES, FACTORY, num_envs=2, progress=counts.append)
    assert sum(counts) == len(PUZZLES) and all(c > 0 for c in counts)


def test_empty_input_plays_nothing() -> None:
    assert play_through_stack(constant(0), [], FACTORY) == []


def test_make_env_observation_matches_encoder() -> None:
    encoder = make_encoder("paper", actions=(1, 3, 5))
    env = make_env(encoder=encoder, reward="legacy", planner="paper")
    obs, _ = env.reset(seed=0, options={"puzzle": Puzzle.create(target=30, forbidden=[7])})
    assert obs.shape == (encoder.dim,) and obs.dtype == np.float32
    assert env.observation_space.contains(obs)


def test_eval_metrics_by_hand() -> None:
    a = {"family": "a"}
    puzzles = [
        Puzzle.create(target=10, id="a1", extra=a),
        Puzzle.create(target=3, id="a2", extra=a),
        Puzzle.create(target=7, id="a3", extra=a),
        Puzzle.create(target=10, forbidden=[1, 3, 5], id="b1", extra={"family": "b"}),
    ]
    results = [
        Result.from_path(puzzles[0], [0, 5, 10], Status.SUCCESS, 2),  # efficiency 1
        Result.from_path(puzzles[1], [0, 1, 2, 3], Status.SUCCESS, 1),  # efficiency 1/3
        Result.from_path(puzzles[2], [0, 5, 10], Status.OVERSHOOT, 3),
        Result.unsolvable(puzzles[3]),
    ]
    metrics, rows = eval_metrics(results, puzzles)
    assert metrics["eval/success_rate"] == pytest.approx(2 / 3)
    assert metrics["eval/efficiency"] == pytest.approx(2 / 3)
    assert metrics["eval/a/success_rate"] == pytest.approx(2 / 3)
    assert math.isnan(metrics["eval/b/success_rate"])  # nothing solvable in family b
    assert [r.family for r in rows] == ["a", "b", "all"]
    assert rows[-1].unsolvable == 1 and rows[-1].solved == 2
    custom, _ = eval_metrics(results, puzzles, prefix="test")
    assert set(custom) == {k.replace("eval", "test", 1) for k in metrics}
