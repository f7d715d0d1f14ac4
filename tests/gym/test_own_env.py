"""Issue 31, items 3 and 4: your own environment, first-class; settings that do not apply refused.

Before: a missing ``module:Id`` module was a ``ModuleNotFoundError`` traceback (exit 1); a
``Discrete`` observation space (Taxi-v4) was refused; a puzzle network (``--set
agent.network=slots``, or ``--preset baseline --env ID``) trained a Gymnasium task without a word;
the README had no example of an environment of your own.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
import pytest

import hrrl
from hrrl.cli import main
from hrrl.errors import ConfigError
from hrrl.gym.task import GymTask

README = Path(__file__).resolve().parents[2] / "README.md"


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_the_readme_own_environment_example_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    section = README.read_text(encoding="utf-8").split("### Your own environment", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None, "README.md has no python block under '### Your own environment'"
    out = io.StringIO()
    namespace: dict[str, Any] = {}
    with contextlib.redirect_stdout(out):
        exec(compile(match.group(1), "README.md", "exec"), namespace)
    evaluation, action = out.getvalue().splitlines()
    assert evaluation.startswith("Corridor-v0: mean return 0.40 +/- 0.00 over 5 episodes")
    assert "success" not in evaluation  # Corridor-v0 defines no threshold
    assert action.split()[0] == "1"  # from the entrance: right
    assert namespace["policy"].obs_shape == (8,)  # the one-hot encoding of Discrete(8)


def test_a_module_that_cannot_be_imported_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    assert main(["train", "--env", "no_such_module_xyz:Maze-v0", "--run-dir", str(run)]) == 2
    line = _one_error_line(capsys)
    assert "module 'no_such_module_xyz' cannot be imported" in line and "PYTHONPATH" in line
    assert not run.exists()


def test_a_discrete_observation_is_one_hot() -> None:
    task = GymTask("Taxi-v4", num_envs=2, seed=0)
    try:
        obs = task.reset()
        assert task.obs_dim == 500 and obs.shape == (2, 500)
        assert np.array_equal(obs.sum(axis=1), [1.0, 1.0]) and set(np.unique(obs)) == {0.0, 1.0}
        out = task.step(np.array([0, 1]))
        assert out.obs.shape == (2, 500) and np.array_equal(out.obs.sum(axis=1), [1.0, 1.0])
    finally:
        task.close()


@pytest.mark.parametrize(
    "argv",
    [
        ["--env", "CartPole-v1", "--set", "agent.network=slots"],
        ["--preset", "baseline", "--env", "CartPole-v1"],
    ],
    ids=["slots-network", "baseline-preset"],
)
def test_a_puzzle_network_on_a_gymnasium_task_is_refused(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    assert main(["train", *argv, "--run-dir", str(run)]) == 2
    line = _one_error_line(capsys)
    assert "reads the number puzzle's encoding" in line and "agent.network=mlp" in line
    assert not run.exists()


class Walk(gymnasium.Env[int, int]):
    """Two cells: step right (action 1) to finish."""

    observation_space = gymnasium.spaces.Discrete(2)
    action_space = gymnasium.spaces.Discrete(2)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Any:
        super().reset(seed=seed)
        return 0, {}

    def step(self, action: int) -> Any:
        return int(action), float(action), bool(action), False, {}


@pytest.mark.parametrize("source", ["class", "factory"])
def test_train_takes_an_env_class_or_factory(source: str, tmp_path: Path) -> None:
    def make_walk(**kwargs: Any) -> gymnasium.Env[Any, Any]:  # your wrappers go here
        return gymnasium.wrappers.TimeLimit(Walk(), max_episode_steps=10)

    env = Walk if source == "class" else make_walk
    sets = {"train": {"total_env_steps": 400, "learning_starts": 100}, "gym": {"eval_episodes": 2}}
    run = hrrl.train(sets, env=env, run_dir=tmp_path / "run")
    name = "Walk" if source == "class" else "make_walk"
    # Walk defines no success (no reward_threshold): no success rate is recorded.
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert rows and not any("success" in key for row in rows for key in row)
    assert run.config.gym is not None and run.config.gym.id == f"hrrl-user/{name}-v0"
    assert run.config.puzzle is None and run.env_steps >= 400
    assert run.gym_policy()(0) in (0, 1)


def _make_walk(**kwargs: Any) -> gymnasium.Env[Any, Any]:
    return gymnasium.wrappers.TimeLimit(Walk(), max_episode_steps=10)


@pytest.mark.parametrize(
    ("make", "env_id", "mode", "wrapper"),
    [
        (lambda: gymnasium.make_vec("CartPole-v1", num_envs=3), "CartPole-v1", "sync", None),
        (
            lambda: gymnasium.make_vec("CartPole-v1", num_envs=2, vectorization_mode="async"),
            "CartPole-v1",
            "async",
            None,
        ),
        (
            lambda: gymnasium.make_vec(
                "CartPole-v1", 2, "sync", wrappers=[gymnasium.wrappers.RecordEpisodeStatistics]
            ),
            "hrrl-user/CartPole-v0",  # its wrappers travel in the registered sub-env maker
            "sync",
            gymnasium.wrappers.RecordEpisodeStatistics,
        ),
        (
            lambda: gymnasium.vector.SyncVectorEnv([_make_walk] * 3),
            "hrrl-user/_make_walk-v0",
            "sync",
            gymnasium.wrappers.TimeLimit,
        ),
    ],
    ids=["make_vec", "make_vec-async", "make_vec-wrappers", "SyncVectorEnv"],
)
def test_train_takes_a_vector_env(make: Any, env_id: str, mode: str, wrapper: Any) -> None:
    """hrrl takes the instance's recipe, copies and mode, and builds its own vector env (to seed
    and checkpoint each copy); the instance stays its owner's, open."""
    vec = make()
    try:
        sets = {"train": {"total_env_steps": 240, "learning_starts": 60}}
        run = hrrl.train({**sets, "gym": {"eval_episodes": 1}}, env=vec)
        assert run.config.gym is not None and run.config.gym.id == env_id
        assert (run.config.train.num_envs, run.config.gym.vector) == (vec.num_envs, mode)
        assert run.env_steps >= 240
        assert vec.reset(seed=0)[0].shape[0] == vec.num_envs  # still open, still the owner's
        if wrapper is not None:  # the wrappers made it into the copies hrrl built
            env = gymnasium.make(env_id)
            layers = [env]
            while isinstance(layers[-1], gymnasium.Wrapper):
                layers.append(layers[-1].env)
            assert any(isinstance(layer, wrapper) for layer in layers)
    finally:
        vec.close()


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (
            lambda: gymnasium.wrappers.vector.RecordEpisodeStatistics(
                gymnasium.make_vec("CartPole-v1", 2, "sync")
            ),
            r"env=RecordEpisodeStatistics\(\.\.\.\) is invalid: .* vector-level wrappers",
        ),
        (
            lambda: gymnasium.make_vec("CartPole-v1", 2, sutton_barto_reward=True),
            r"env=CartPoleVectorEnv is invalid: it steps its copies together",
        ),
        (lambda: gymnasium.make("CartPole-v1").unwrapped, r"env=CartPoleEnv is invalid: give"),
    ],
    ids=["vector-wrapper", "array-vector-env-with-kwargs", "env-instance"],
)
def test_what_cannot_be_rebuilt_is_refused_in_one_line(make: Any, match: str) -> None:
    env = make()
    try:
        with pytest.raises(ConfigError, match=match):
            hrrl.train({}, env=env)
    finally:
        env.close()
