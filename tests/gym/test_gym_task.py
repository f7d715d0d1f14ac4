"""GymTask: collection through gymnasium.vector (sync and async alike, each sub-env seeded, the
true final observation on an autoreset), termination vs truncation, success by the spec's
threshold, seeded evaluation, exact mid-episode resume, clear refusals; and a short CartPole run
through the trainer (resumed exactly, sync or async), checkpoints, metrics, report and the CLI."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import time
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
import pytest
import torch
from gymnasium import spaces
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv

from hrrl import cli
from hrrl.config import apply_overrides
from hrrl.errors import ConfigError, EnvironmentMismatchError
from hrrl.experiment import ExperimentConfig, gym_preset
from hrrl.gym.config import GymConfig
from hrrl.gym.presets import GYM_PRESETS
from hrrl.gym.task import GymTask, ReturnRule, episode_metrics, evaluate_env
from hrrl.monitoring.report import write_report
from hrrl.persistence import state_tree
from hrrl.run import build_trainer

DICT_ID = "hrrl-test/DictObs-v0"


class DictObsEnv(gymnasium.Env[dict[str, Any], int]):
    """Smallest env with a Dict observation space (the engine must refuse it)."""

    observation_space = spaces.Dict({"x": spaces.Box(-1.0, 1.0, (2,), dtype=np.float32)})
    action_space = spaces.Discrete(2)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        super().reset(seed=seed)
        return {"x": np.zeros(2, dtype=np.float32)}, {}

    def step(self, action: int) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        return {"x": np.zeros(2, dtype=np.float32)}, 0.0, True, False, {}


if DICT_ID not in gymnasium.registry:
    gymnasium.register(id=DICT_ID, entry_point=DictObsEnv)


def tiny(env_id: str = "CartPole-v1", *extra: str) -> ExperimentConfig:
    """The tuned preset cut down to a few thousand steps, without checkpoints."""
    return apply_overrides(
        gym_preset(env_id),
        [
            "train.total_env_steps=640",
            "train.learning_starts=160",
            "train.train_every=4",
            "train.updates_per_train=2",
            "train.eval_every=320",
            "gym.eval_episodes=1",
            "train.log_every=160",
            "exploration.linear.decay_steps=320",
            "agent.hidden=32",
            "replay.capacity=2000",
            "checkpoint.enabled=false",
            *extra,
        ],
    )


# --- the task --------------------------------------------------------------------------------
def test_spaces_and_shapes() -> None:
    task = GymTask("CartPole-v1", num_envs=3, seed=0, eval_episodes=2)
    assert (task.obs_dim, task.n_actions, task.num_envs, task.stage) == (4, 2, 3, 0)
    assert task.reward_threshold == 475.0
    obs = task.reset()
    assert obs.shape == (3, 4) and obs.dtype == np.float32
    out = task.step(np.array([0, 1, 0]))
    assert out.obs.shape == out.next_obs.shape == (3, 4)
    assert out.rewards.tolist() == [1.0, 1.0, 1.0]
    assert not out.terminated.any() and not out.truncated.any() and out.ended == []


def test_same_seed_same_episodes_and_envs_differ() -> None:
    a, b = (GymTask("CartPole-v1", num_envs=2, seed=7) for _ in range(2))
    oa, ob = a.reset(), b.reset()
    np.testing.assert_array_equal(oa, ob)
    assert not np.array_equal(oa[0], oa[1])  # each env has its own seed


def test_termination_gives_final_obs_and_a_new_episode() -> None:
    task = GymTask("CartPole-v1", num_envs=2, seed=1)
    task.reset()
    ends = []
    for t in range(1, 200):  # always push right: the pole falls within a few dozen steps
        out = task.step(np.array([1, 1]))
        if out.ended:
            ends.append((t, out))
            break
    assert ends, "CartPole with a constant action must terminate"
    t, out = ends[0]
    for end in out.ended:
        i = end.env_index
        assert out.terminated[i] and not out.truncated[i]
        assert end.status == "terminated" and end.length == t
        assert end.episode_return == float(t) and not end.success  # far below 475
        # the final observation is out of bounds (why it ended); obs is a fresh start near 0
        assert abs(out.next_obs[i, 2]) > 0.2 or abs(out.next_obs[i, 0]) > 2.4
        assert np.all(np.abs(out.obs[i]) <= 0.05)


def test_truncation_is_not_termination() -> None:
    task = GymTask("MountainCar-v0", num_envs=1, seed=0)  # 200-step limit, never reached by 0
    task.reset()
    for t in range(1, 201):
        out = task.step(np.array([1]))  # "no push": the car never reaches the flag
        if t < 200:
            assert not out.ended
    assert out.truncated[0] and not out.terminated[0]
    assert out.ended[0].status == "truncated" and out.ended[0].episode_return == -200.0


def test_success_follows_the_spec_threshold() -> None:
    task = GymTask("Acrobot-v1", num_envs=1, seed=0)
    assert task.reward_threshold == -100.0
    assert task.success(-100.0) and task.success(-63.0) and not task.success(-100.5)


def test_episode_metrics_by_hand() -> None:
    m = episode_metrics("CartPole-v1", np.array([500.0, 450.0]), np.array([500, 450]), 475.0)
    assert m["eval/mean_return"] == 475.0 and m["eval/success_rate"] == 0.5
    assert m["eval/efficiency"] == pytest.approx(0.95)  # 475 / 500
    m = episode_metrics("MountainCar-v0", np.array([-100.0, -200.0]), np.array([100, 200]), -110)
    assert m["eval/efficiency"] == pytest.approx(0.25)  # (-150 + 200) / 200
    m = episode_metrics("Unknown-v0", np.array([3.0]), np.array([3]), None)
    assert math.isnan(m["eval/success_rate"]) and m["eval/efficiency"] == 3.0


def test_evaluation_is_seeded_and_leaves_training_alone() -> None:
    task = GymTask("CartPole-v1", num_envs=1, seed=0, eval_episodes=3, eval_seed=5)
    task.reset()
    before = task.state_dict()

    def left(obs: np.ndarray) -> np.ndarray:
        return np.zeros(len(obs), dtype=np.int64)

    first, second = task.evaluate_policy(left), task.evaluate_policy(left)
    assert first == second and first["eval/success_rate"] == 0.0
    assert 5 <= first["eval/mean_length"] <= 20  # always pushing left falls fast
    after = task.state_dict()
    np.testing.assert_array_equal(
        before["envs"][0]["layers"][-1]["attrs"]["state"],
        after["envs"][0]["layers"][-1]["attrs"]["state"],
    )


@pytest.mark.parametrize(
    ("env_id", "vector"),
    [
        ("CartPole-v1", "sync"),
        ("Acrobot-v1", "sync"),
        ("MountainCar-v0", "sync"),
        ("CartPole-v1", "async"),
    ],
)
def test_exact_resume_mid_episode(env_id: str, vector: str) -> None:
    rng = np.random.default_rng(0)
    actions = rng.integers(0, 3 if env_id != "CartPole-v1" else 2, size=(120, 2))
    a = GymTask(env_id, num_envs=2, seed=3, vector=vector)
    a.reset()
    for act in actions[:37]:
        a.step(act)
    state = a.state_dict()
    assert all(env["exact"] for env in state["envs"])
    # other seed: everything must come from the state
    b = GymTask(env_id, num_envs=2, seed=99, vector=vector)
    b.reset()
    tree, tensors, arrays = state_tree.split(state)  # as a checkpoint stores it
    b.load_state_dict(state_tree.join(json.loads(json.dumps(tree)), tensors, arrays))
    try:
        for act in actions[37:]:
            oa, ob = a.step(act), b.step(act)
            np.testing.assert_array_equal(oa.obs, ob.obs)
            np.testing.assert_array_equal(oa.next_obs, ob.next_obs)
            np.testing.assert_array_equal(oa.rewards, ob.rewards)
            assert [e.episode_return for e in oa.ended] == [e.episode_return for e in ob.ended]
    finally:
        a.close()
        b.close()


# --- gymnasium.vector collection ---------------------------------------------------------------
@pytest.mark.parametrize(("vector", "kind"), [("sync", SyncVectorEnv), ("async", AsyncVectorEnv)])
def test_collects_through_gymnasium_vector(vector: str, kind: type) -> None:
    task = GymTask("CartPole-v1", num_envs=2, seed=0, vector=vector)
    try:
        assert isinstance(task.vec, kind)
        assert task.vec.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    finally:
        task.close()
    assert isinstance(GymTask("CartPole-v1", num_envs=1, seed=0).vec, SyncVectorEnv)  # default


def test_each_sub_env_is_seeded_with_its_own_seed() -> None:
    task = GymTask("CartPole-v1", num_envs=3, seed=11)
    obs = task.reset()
    assert len(set(task.env_seeds)) == 3
    for i, seed in enumerate(task.env_seeds):
        alone, _ = gymnasium.make("CartPole-v1").reset(seed=seed)
        np.testing.assert_array_equal(obs[i], alone)


def test_truncation_bootstraps_from_the_true_last_obs_then_the_rng_goes_on() -> None:
    """MountainCar truncated at 200 steps: next_obs is the 200th observation (the one a plain
    env reaches with the same seed and actions), obs the next episode's first, drawn from the
    same env's np_random without a new seed, as a loop over separate envs would draw it."""
    task = GymTask("MountainCar-v0", num_envs=1, seed=4)
    first = task.reset()
    alone = gymnasium.make("MountainCar-v0")
    start, _ = alone.reset(seed=task.env_seeds[0])
    np.testing.assert_array_equal(first[0], start)
    for _ in range(200):
        out = task.step(np.array([1]))
        last, _, terminated, truncated, _ = alone.step(1)
    assert out.truncated[0] and truncated and not terminated
    np.testing.assert_array_equal(out.next_obs[0], last)
    again, _ = alone.reset()  # no seed: the env's own generator continues
    np.testing.assert_array_equal(out.obs[0], again)
    assert not np.array_equal(out.next_obs[0], out.obs[0])


@pytest.mark.parametrize("env_id", ["CartPole-v1", "MountainCar-v0"])
def test_async_collects_what_sync_collects(env_id: str) -> None:
    rng = np.random.default_rng(1)
    actions = rng.integers(0, 2, size=(260, 3))
    sync = GymTask(env_id, num_envs=3, seed=8, vector="sync")
    parallel = GymTask(env_id, num_envs=3, seed=8, vector="async")
    try:
        np.testing.assert_array_equal(sync.reset(), parallel.reset())
        for act in actions:
            a, b = sync.step(act), parallel.step(act)
            for field in ("obs", "next_obs", "rewards", "terminated", "truncated"):
                np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
            assert a.ended == b.ended
        assert json.dumps(sync.state_dict(), default=str) == json.dumps(
            parallel.state_dict(), default=str
        )
    finally:
        parallel.close()


def test_async_workers_leave_ctrl_c_to_the_trainer() -> None:
    """Ctrl-C reaches every process of the group: the workers must outlive it, since the
    trainer's stop reads their envs for its checkpoint."""
    task = GymTask("CartPole-v1", num_envs=2, seed=0, vector="async")
    try:
        task.reset()
        workers = task.vec.processes
        for worker in workers:
            os.kill(worker.pid, signal.SIGINT)
        time.sleep(0.2)
        task.step(np.array([0, 1]))
        assert all(worker.is_alive() for worker in workers)
        assert task.state_dict()["envs"][0]["exact"]
    finally:
        task.close()


def test_vector_mode_is_checked_where_it_enters() -> None:
    with pytest.raises(ConfigError, match=r"gym\.vector='threads'"):
        GymConfig(id="CartPole-v1", vector="threads")
    with pytest.raises(ValueError, match="sync"):
        GymTask("CartPole-v1", num_envs=1, seed=0, vector="threads")


@pytest.mark.parametrize(
    ("env_id", "what"), [("Pendulum-v1", "action space"), (DICT_ID, "observation space")]
)
def test_refuses_what_it_cannot_handle(env_id: str, what: str) -> None:
    with pytest.raises(EnvironmentMismatchError, match=what) as info:
        GymTask(env_id, num_envs=1, seed=0)
    assert "Discrete action space and a Box observation space" in str(info.value)


def test_unknown_id_is_a_clear_error() -> None:
    with pytest.raises(EnvironmentMismatchError, match="NoSuchEnv-v0"):
        GymTask("NoSuchEnv-v0", num_envs=1, seed=0)


def test_cli_refusal_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code = cli.main(["train", "--env", "Pendulum-v1", "--run-dir", str(tmp_path / "r"), "--quiet"])
    assert code == 2
    assert "Discrete action space" in capsys.readouterr().err


# --- presets ------------------------------------------------------------------------
def test_presets_are_the_tuned_ones_and_keep_every_fix() -> None:
    # The MinAtar games turn Double DQN off (no gain measured on Breakout, for a third more
    # forward passes); Asterix also prioritized replay (measured to cost it).
    for env_id, values in GYM_PRESETS.items():
        config = gym_preset(env_id)
        assert config.gym is not None and config.gym.id == env_id and config.puzzle is None
        assert (
            config.agent.lr == values.agent["lr"]
            and config.train.total_env_steps == values.train["total_env_steps"]
        )
        fixes = (config.agent.double, config.replay.kind == "prioritized")
        minatar = env_id.startswith("MinAtar/")
        assert fixes == (not minatar, env_id != "MinAtar/Asterix-v1"), env_id
        assert config.agent.max_grad_norm is not None and config.guard.enabled
    other = gym_preset("LunarLander-v3")
    assert (
        other.gym is not None and other.gym.id == "LunarLander-v3" and other.agent.network == "mlp"
    )
    assert gym_preset("CartPole-v1", base="baseline").agent.double is False


# --- through the trainer ---------------------------------------------------------------------------
@pytest.mark.parametrize("vector", ["sync", "async"])
def test_trainer_resume_is_exact(vector: str) -> None:
    """Stopped at 320 steps and resumed (both halves collecting with ``vector``), a run ends
    with the weights of an uninterrupted sync run: async collects what sync collects."""
    torch.set_num_threads(1)
    # The first half stops by a smaller budget, which would also shorten an annealed rate.
    config = tiny("CartPole-v1", "agent.lr_end=null")
    whole = build_trainer(config)
    whole.run()
    config = apply_overrides(config, [f"gym.vector={vector}"])
    half = dataclasses.replace(config, train=dataclasses.replace(config.train, total_env_steps=320))
    first = build_trainer(half)
    first.run()
    state = first.state_dict()
    second = build_trainer(config)
    second.load_state_dict(state)
    second.run()
    for trainer in (first, second):
        assert isinstance(trainer.task, GymTask) and trainer.task.vector == vector
        trainer.task.close()
    for key, value in whole.agent.online.state_dict().items():
        torch.testing.assert_close(second.agent.online.state_dict()[key], value, rtol=0, atol=0)


def test_short_cartpole_run_writes_checkpoints_metrics_and_report(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    run_dir = tmp_path / "cartpole"
    code = cli.main(
        [
            "train",
            "--env",
            "CartPole-v1",
            "--run-dir",
            str(run_dir),
            "--quiet",
            "--no-tensorboard",
            *(
                f"--set={o}"
                for o in (
                    "train.total_env_steps=800",
                    "train.learning_starts=200",
                    "train.train_every=8",
                    "train.updates_per_train=4",
                    "train.eval_every=400",
                    "gym.eval_episodes=2",
                    "train.log_every=200",
                    "agent.hidden=48",
                    "checkpoint.every_steps=400",
                )
            ),
        ]
    )
    assert code == 0
    assert (run_dir / "config.yaml").exists()
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert any("eval/mean_return" in row for row in rows)
    steps = sorted(p.name for p in (run_dir / "checkpoints").glob("step-*"))
    assert steps and (run_dir / "checkpoints" / "best").exists()
    report = write_report(run_dir)
    assert report.html.exists() and report.html.parent == run_dir / "report"
    code = cli.main(
        ["eval", "--env", "CartPole-v1", "--checkpoint", str(run_dir), "--episodes", "2"]
    )
    assert code == 0
    code = cli.main(["eval", "--env", "Acrobot-v1", "--checkpoint", str(run_dir)])
    assert code == 2  # trained on CartPole


# --- LunarLander (Box2D) and MinAtar: presets train, checkpoint and resume --------------------
@pytest.mark.parametrize(
    ("env_id", "network"), [("LunarLander-v3", "mlp"), ("MinAtar/Breakout-v1", "cnn")]
)
def test_new_task_presets_train_checkpoint_and_resume(
    env_id: str, network: str, tmp_path: Path
) -> None:
    pytest.importorskip("Box2D" if env_id.startswith("Lunar") else "minatar")
    config = gym_preset(env_id)
    assert config.agent.network == network
    run = tmp_path / "run"
    steps = ("train.total_env_steps=800", "train.learning_starts=200", "train.eval_every=400")
    args = ["--run-dir", str(run), "--quiet", "--no-tensorboard"]
    sets = [f"--set={o}" for o in (*steps, "gym.eval_episodes=1", "replay.capacity=2000")]
    assert cli.main(["train", "--env", env_id, *args, *sets]) == 0
    assert (run / "checkpoints" / "best").exists()
    more = ["--set=train.total_env_steps=1200", "--allow-config-change", "--quiet"]
    assert cli.main(["resume", str(run), *more, "--no-tensorboard"]) == 0
    assert (run / "checkpoints" / "step-000001200").is_dir()


def test_a_gymnasium_evaluation_ranks_by_its_mean_return_and_stops_only_when_asked() -> None:
    low, high = {"eval/mean_return": -120.0, "eval/success_rate": 1.0}, {"eval/mean_return": 80.0}
    rule = ReturnRule()
    assert rule.score(high) > rule.score(low)  # the return, whatever the success rate says
    assert rule.score({}) < rule.score({"eval/mean_return": -1e9})  # missing: below any return
    assert not rule.solved(high)  # no stop_return: the whole budget
    asked = ReturnRule(stop_return=80.0)
    assert asked.solved(high) and not asked.solved(low) and not asked.solved({})
    config = apply_overrides(gym_preset("CartPole-v1"), ["gym.stop_return=9.0"])
    result = build_trainer(
        apply_overrides(config, ["train.total_env_steps=3000", "train.eval_every=500"])
    ).run()
    assert result.stop_reason == "solved" and result.last_metrics["eval/mean_return"] >= 9.0


def test_an_evaluation_epsilon_plays_random_actions_the_same_way_from_a_seed() -> None:
    """``gym.eval_epsilon``: each evaluation step plays a random action with that chance, drawn
    from the evaluation's seed (Atari's protocols: a greedy Breakout policy that never presses
    FIRE waits for the time limit); 0 is the greedy evaluation, untouched."""

    def left(obs: np.ndarray) -> np.ndarray:
        return np.zeros(len(obs), dtype=np.int64)  # CartPole falls in about 9 steps

    def lengths(epsilon: float) -> float:
        metrics = evaluate_env("CartPole-v1", left, episodes=8, seed=3, epsilon=epsilon)
        return metrics["eval/mean_length"]

    greedy = lengths(0.0)
    assert greedy < 11
    assert lengths(1.0) > 2 * greedy  # a random policy balances longer than always-left
    assert lengths(0.3) == lengths(0.3) != greedy
    assert GymConfig(id="CartPole-v1").eval_epsilon == 0.0
    with pytest.raises(ConfigError, match=r"gym\.eval_epsilon"):
        GymConfig(id="CartPole-v1", eval_epsilon=1.5)
