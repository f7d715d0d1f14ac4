"""Atari (issue 28, item 1): ALE games with the standard preprocessing, uint8 frame stacks kept as
uint8 into a frame-deduplicated replay, the Nature CNN, rewards clipped for learning only.
A few hundred frames each; skipped without the ``atari`` extra (``make test`` installs it)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
import pytest
import torch

from hrrl.cli import main
from hrrl.config import apply_overrides
from hrrl.engine.networks import CONV_DTYPES, NatureQNetwork, make_network, resolve_conv_dtype
from hrrl.engine.replay.frames import FrameStorage
from hrrl.experiment import gym_preset
from hrrl.gym.task import GymTask
from hrrl.inference.export import export_policy, read_bundle
from hrrl.inference.gym_policy import GymPolicy
from hrrl.inference.network import load_online_network
from hrrl.persistence.store import load_checkpoint, resolve_checkpoint
from hrrl.run import build_trainer, run_trainer

pytest.importorskip("ale_py", reason="the atari extra (make test installs it)")
pytest.importorskip("cv2", reason="the atari extra (make test installs it)")

PONG = "ALE/Pong-v5"


def test_a_game_gives_uint8_stacks_of_four_84x84_frames() -> None:
    task = GymTask(PONG, num_envs=2, seed=0)
    try:
        obs = task.reset()
        assert task.obs_shape == (4, 84, 84) and obs.dtype == np.uint8
        assert obs.shape == (2, 4 * 84 * 84)
        stacks = obs.reshape(2, 4, 84, 84)
        assert all(np.array_equal(s[0], s[3]) for s in stacks)  # an episode's first stack repeats
        out = task.step(np.zeros(2, dtype=np.int64))
        shifted = out.obs.reshape(2, 4, 84, 84)
        assert np.array_equal(shifted[:, :3], stacks[:, 1:])  # one new frame a step
    finally:
        task.close()


def test_the_preset_is_rl_zoos_atari_dqn_with_the_nature_cnn() -> None:
    config = gym_preset("ALE/Breakout-v5")
    assert config.gym is not None and config.gym.clip_rewards
    assert (config.agent.network, config.agent.hidden, config.agent.lr) == ("cnn", 512, 1e-4)
    assert config.agent.conv_dtype == "auto"
    network = make_network(
        "cnn", obs_dim=4 * 84 * 84, n_actions=4, hidden=512, obs_shape=(4, 84, 84),
        generator=torch.Generator().manual_seed(0),
    )  # fmt: skip
    assert isinstance(network, NatureQNetwork)
    frames = torch.randint(0, 256, (3, 4 * 84 * 84), dtype=torch.uint8)
    q = network(frames).q  # uint8 rows (replay) and their float32 copy (acting) agree
    assert q.shape == (3, 4) and torch.equal(q, network(frames.float()).q)


def test_a_short_atari_run_replays_each_frame_once(tmp_path: Path) -> None:
    sets = [
        "train.total_env_steps=400",
        "train.learning_starts=200",
        "train.num_envs=2",
        "train.eval_every=400",
        "gym.eval_episodes=0",
        "replay.capacity=300",
        "checkpoint.enabled=false",
    ]
    trainer = build_trainer(apply_overrides(gym_preset(PONG), sets))
    try:
        result = run_trainer(trainer, bar=False)
        storage = trainer.replay.storage
        assert isinstance(storage, FrameStorage) and len(storage) == 300
        assert result.counters.updates > 0
        # 300 transitions of 2 envs: their newest frames plus a few each stack reaches back to
        # and each episode's reset frame, not the 2 x 4 frames a transition arrays would hold.
        assert storage.frame_count <= 300 + 2 * 8
        batch = trainer.replay.sample(4)
        assert batch.obs.dtype == torch.uint8 and tuple(batch.obs.shape) == (4, 4, 84, 84)
    finally:
        trainer.task.close()  # type: ignore[attr-defined]


def test_the_data_efficient_preset_learns_from_prioritized_10_step_returns() -> None:
    """``--preset atari-100k``: one env, one update per env step, 10-step returns over the
    frame-deduplicated replay with priorities."""
    sets = [
        "train.total_env_steps=200",
        "train.learning_starts=140",
        "gym.eval_episodes=0",
        "checkpoint.enabled=false",
    ]
    trainer = build_trainer(apply_overrides(gym_preset(PONG, base="atari-100k"), sets))
    try:
        result = run_trainer(trainer, bar=False)
        assert result.counters.env_steps == 200 and result.counters.updates == 61
        assert isinstance(trainer.replay.storage, FrameStorage)
        assert trainer.replay.sample(4).weights is not None  # importance-sampling weights
    finally:
        trainer.task.close()  # type: ignore[attr-defined]


class Coins(gymnasium.Env[Any, Any]):
    """Every step pays 5; an episode lasts 3 steps."""

    observation_space = gymnasium.spaces.Box(0.0, 1.0, (1,), np.float32)
    action_space = gymnasium.spaces.Discrete(2)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Any:
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1, np.float32), {}

    def step(self, action: int) -> Any:
        self.t += 1
        return np.zeros(1, np.float32), 5.0, self.t == 3, False, {}


def test_clipped_rewards_are_learnt_from_and_returns_stay_raw() -> None:
    gymnasium.register(id="hrrl-test/Coins-v0", entry_point=Coins)
    try:
        task = GymTask("hrrl-test/Coins-v0", num_envs=1, seed=0, clip_rewards=True)
        task.reset()
        outs = [task.step(np.zeros(1, dtype=np.int64)) for _ in range(3)]
        assert [float(o.rewards[0]) for o in outs] == [1.0, 1.0, 1.0]  # what the replay stores
        assert outs[-1].ended[0].episode_return == 15.0  # what the console and evaluation say
        task.close()
    finally:
        del gymnasium.registry["hrrl-test/Coins-v0"]


def test_a_killed_atari_run_resumes_mid_game_bit_identically(tmp_path: Path) -> None:
    """The emulator (sticky-action RNG included), the frame stack and the frame replay (here
    wrapped round, so frames were freed and reused) all come back: the final checkpoint of a run
    killed after its first save equals the uninterrupted run's, tensor for tensor."""
    sets = [
        "train.total_env_steps=400",
        "train.learning_starts=100",
        "train.num_envs=2",
        "train.eval_every=400",
        "gym.eval_episodes=0",
        "replay.capacity=150",
        "checkpoint.every_steps=200",
    ]
    argv = ["train", "--env", PONG, *(f"--set={s}" for s in sets), "--quiet", "--no-tensorboard"]
    runs = [tmp_path / "reference", tmp_path / "killed"]
    for run in runs:
        assert main([*argv, "--run-dir", str(run)]) == 0
    final = runs[1] / "checkpoints" / "step-000000400"
    shutil.rmtree(final)  # as if killed after the save at 200
    assert main(["resume", str(runs[1]), "--quiet", "--no-tensorboard"]) == 0
    got, want = (load_checkpoint(run / "checkpoints" / "step-000000400") for run in runs)
    assert set(got.arrays) == set(want.arrays) and set(got.tensors) == set(want.tensors)
    assert any("frames" in key for key in want.arrays)
    for key, tensor in want.tensors.items():
        assert torch.equal(got.tensors[key], tensor), key
    for key, array in want.arrays.items():
        assert np.array_equal(got.arrays[key], array), key
    # The preset's convolution arithmetic travels with an exported policy, which plays as the run.
    bundle = export_policy(runs[0], tmp_path / "bundle")
    assert read_bundle(bundle).agent["conv_dtype"] == "auto"
    policy, network = GymPolicy.load(bundle), load_online_network(resolve_checkpoint(runs[0]))
    here = CONV_DTYPES[resolve_conv_dtype("auto")]
    assert policy.network.conv_dtype == network.conv_dtype == here
    frames = np.random.default_rng(0).integers(0, 256, (8, 4, 84, 84), dtype=np.uint8)
    with torch.no_grad():
        want_q = network(torch.from_numpy(frames).reshape(8, -1).float()).q
    np.testing.assert_array_equal(policy(frames), want_q.argmax(dim=1).numpy())


def test_a_network_that_cannot_read_frames_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before, --set agent.network=mlp on an Atari game failed inside the first update with
    PyTorch's dtype error (uint8 frames into a Linear layer)."""
    argv = ["train", "--env", PONG, "--set", "agent.network=mlp", "--run-dir", str(tmp_path / "r")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "set agent.network=cnn" in err
    assert not (tmp_path / "r").exists()
