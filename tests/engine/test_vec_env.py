"""The one batched-env loop, on a toy environment worked by hand (no Gymnasium, no puzzle)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from hrrl.engine.vec_env import EnvBatch, EpisodeStart, play_episodes


class Countdown:
    """Observation: steps left. Episode ``seed`` lasts ``seed`` steps; reward = action taken."""

    def __init__(self) -> None:
        self.left = 0
        self.actions: list[int] = []

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        self.left = int(seed if seed is not None else (options or {})["length"])
        return np.array([self.left]), {}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        self.actions.append(action)
        self.left -= 1
        return np.array([self.left]), float(action), self.left == 0, False, {"left": self.left}

    def close(self) -> None:
        pass


def test_a_finished_env_waits_and_reports_its_final_observation() -> None:
    envs = [Countdown(), Countdown()]
    batch = EnvBatch(envs, obs_dim=1, action_offset=10)
    batch.start(0, seed=1)
    batch.start(1, seed=2)
    step = batch.step(np.array([0, 1]))
    assert step.obs[:, 0].tolist() == [0, 1]  # env 0's final observation
    assert step.done.tolist() == [True, False] and step.rewards.tolist() == [10.0, 11.0]
    assert envs[0].actions == [10] and envs[1].actions == [11]  # the offset is applied
    with pytest.raises(RuntimeError, match="env 0 has finished"):
        batch.step(np.array([0, 0]))
    step = batch.step(np.array([0, 2]), active=np.array([False, True]))
    assert step.infos[0] == {} and step.rewards[0] == 0.0 and step.done.tolist() == [False, True]


def test_play_episodes_plays_every_episode_through_fewer_envs() -> None:
    calls: list[int] = []

    def policy(obs: np.ndarray) -> np.ndarray:
        calls.append(len(obs))
        return np.ones(len(obs), dtype=np.int64)

    batch = EnvBatch([Countdown(), Countdown()], obs_dim=1)
    lengths = [3, 1, 2]
    starts = [EpisodeStart(options={"length": n}) for n in lengths]
    played = {p.index: p for p in play_episodes(policy, batch, starts, trace=lambda i: i["left"])}
    assert sorted(played) == [0, 1, 2]
    for index, n in enumerate(lengths):
        assert played[index].length == n and played[index].episode_return == float(n)
        assert played[index].trace == list(range(n - 1, -1, -1)) and played[index].terminated
    # Env 1 plays episodes 1 and 2 (1 + 2 steps) while env 0 plays episode 0 (3 steps).
    assert calls == [2, 2, 2]
