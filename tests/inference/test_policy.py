"""Policy: load a run or a checkpoint, greedy actions, solve with a valid path."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from hrrl.errors import CheckpointError
from hrrl.experiment import STACK_KEYS
from hrrl.inference.policy import Policy
from hrrl.persistence.store import load_checkpoint
from hrrl.puzzle.core import Puzzle, Status
from hrrl.puzzle.generate import generate_suite
from hrrl.puzzle.solver import optimal_steps
from hrrl.puzzle.stack import play_through_stack, stack_adapter


def _obs(policy: Policy, n: int = 64) -> np.ndarray:
    """Real encoded observations (starts of generated puzzles) and random vectors."""
    env = policy.env_factory()
    real = [
        env.reset(options={"puzzle": p})[0]
        for p in generate_suite(["in_range", "dense"], 8, seed=3)
    ]
    dim = len(real[0])
    noise = np.random.default_rng(0).normal(size=(n, dim)).astype(np.float32)
    return np.concatenate([np.stack(real), noise])


def assert_valid_path(puzzle: Puzzle, result_path: tuple[int, ...], status: Status) -> None:
    """Starts at start, each step one of the actions, ends where the step rule says."""
    path = list(result_path)
    assert path[0] == puzzle.start
    assert all(b - a in puzzle.actions for a, b in itertools.pairwise(path))
    for step, x in enumerate(path[1:-1], start=1):
        assert puzzle.status_after(x, step) is Status.IN_PROGRESS
    assert puzzle.status_after(path[-1], len(path) - 1) is status


def test_run_dir_and_checkpoint_dir_give_the_same_policy(trained_run: Any) -> None:
    by_run = Policy.load(trained_run.run_dir)
    best = (trained_run.checkpoints / "best").resolve()
    by_dir = Policy.load(best)
    by_str = Policy.load(str(best))
    assert by_run.source == by_dir.source == best
    obs = _obs(by_run)
    assert np.array_equal(by_run.greedy(obs), by_dir.greedy(obs))
    assert np.array_equal(by_run.greedy(obs), by_str.greedy(obs))
    puzzles = generate_suite(["in_range", "trap"], 4, seed=11)
    assert by_run.play(puzzles) == by_dir.play(puzzles)


def test_latest_checkpoint_plays_like_the_trainer(trained_run: Any) -> None:
    latest = (trained_run.checkpoints / "latest").resolve()
    assert load_checkpoint(latest).step == trained_run.trainer.counters.env_steps
    policy = Policy.load(latest)
    obs = _obs(policy)
    assert np.array_equal(policy.greedy(obs), trained_run.trainer.greedy(obs))
    online = trained_run.trainer.agent.online.state_dict()
    for name, tensor in policy.network.state_dict().items():
        assert torch.equal(tensor, online[name]), name


def test_policy_carries_the_training_stack(trained_run: Any) -> None:
    policy = Policy.load(trained_run.run_dir)
    trained = trained_run.trainer.config.puzzle
    stack = policy.env_config
    for key in STACK_KEYS:
        assert getattr(stack, key) == getattr(trained, key), key
    # The encoder it plays with is the one it learnt on, its window included.
    assert policy.encoder.spec() == trained_run.trainer.task.encoder.spec()
    assert not policy.network.training
    actions = policy.greedy(_obs(policy, 8))
    assert actions.dtype == np.int64 and actions.min() >= 0 and actions.max() < 8  # 8 slots


@pytest.mark.parametrize(
    "puzzle",
    [
        Puzzle.create(target=123, forbidden=[23, 45, 67], id="paper-123"),
        Puzzle.create(target=278, forbidden=[12, 99, 150, 151, 152], id="paper-278"),
        Puzzle.create(target=431, forbidden=list(range(100, 431, 37)), id="paper-431"),
        Puzzle.create(target=18, forbidden=[4, 9], start=2, id="start-2"),
    ],
    ids=lambda p: p.id,
)
def test_solve_path_is_valid(trained_run: Any, puzzle: Puzzle) -> None:
    result = Policy.load(trained_run.run_dir).solve(puzzle)
    assert result.id == puzzle.id
    assert result.status is not Status.UNSOLVABLE
    assert result.steps == len(result.path) - 1 >= 1
    assert result.optimal_steps == optimal_steps(puzzle)
    assert_valid_path(puzzle, result.path, result.status)


@pytest.mark.parametrize("num_envs", [1, 64])
def test_policy_plays_what_its_gymnasium_stack_plays(trained_run: Any, num_envs: int) -> None:
    """Policy.play runs on plain integers; the results are the Gymnasium stack's, bit for bit."""
    policy = Policy.load(trained_run.run_dir)
    suite = [
        *generate_suite(["all"], 2, 9, [(1, 3, 5), (1, 2, 7), (2, 4, 6)]),
        Puzzle.create(target=3_000, forbidden=range(11, 3_000, 29), id="long"),
    ]
    reference = play_through_stack(
        policy.greedy,
        suite,
        policy.env_factory,
        num_envs=num_envs,
        adapt=stack_adapter(policy.encoder),
    )
    assert policy.play(suite, num_envs=num_envs) == reference
    assert {r.status for r in reference} >= {Status.SUCCESS, Status.UNSOLVABLE}


def test_solve_unsolvable(trained_run: Any) -> None:
    puzzle = Puzzle.create(target=40, forbidden=[1, 3, 5], id="walled")
    result = Policy.load(trained_run.run_dir).solve(puzzle)
    assert (result.status, result.steps, result.path) == (Status.UNSOLVABLE, 0, (0,))


def test_load_refuses_what_is_not_a_run(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        Policy.load(tmp_path / "missing")
    with pytest.raises(CheckpointError, match="no checkpoint"):
        Policy.load(tmp_path)


def test_a_puzzle_policy_takes_one_observation_or_a_batch() -> None:
    """Issue 31, item 1 (the puzzle side): ``Policy`` reads observations as ``GymPolicy`` does."""
    import gymnasium

    import hrrl  # noqa: F401  (registers hrrl/NumberPuzzle-v0)

    policy = Policy.load(Path(__file__).resolve().parents[1] / "fixtures" / "puzzle-run")
    env = gymnasium.make("hrrl/NumberPuzzle-v0")
    obs, _ = env.reset(seed=0)
    action = policy(obs)
    assert isinstance(action, int) and env.action_space.contains(action)
    batch = np.stack([obs, obs])
    assert list(policy(batch)) == [action, action]
    q = policy.q_values(obs)
    assert q.shape == (env.action_space.n,) and int(np.argmax(q)) == action
    assert policy.q_values(batch).shape == (2, env.action_space.n)
    with pytest.raises(ValueError, match="observations of shape"):
        policy(np.zeros(3))
