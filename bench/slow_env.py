"""A CartPole whose every step takes a fixed few milliseconds: a slow simulator, for
``bench/apex_scaling.py``. ``import bench.slow_env`` registers ``SlowCartPole-v1``, whose step
sleeps ``HRRL_SLOW_STEP_MS`` milliseconds (default 2) before CartPole's own step: time
spent waiting, not computing, as with a simulator in another process or on another machine.
"""

from __future__ import annotations

import os
import time
from typing import Any

import gymnasium as gym

SLOW_ID = "SlowCartPole-v1"


class Sleep(gym.Wrapper[Any, Any, Any, Any]):
    """Sleeps ``seconds`` before each step."""

    def __init__(self, env: gym.Env[Any, Any], seconds: float) -> None:
        super().__init__(env)
        self.seconds = seconds

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        time.sleep(self.seconds)
        return self.env.step(action)


def make_slow(**kwargs: Any) -> gym.Env[Any, Any]:
    milliseconds = float(os.environ.get("HRRL_SLOW_STEP_MS", "2"))
    return Sleep(gym.make("CartPole-v1", **kwargs), milliseconds / 1000.0)


if SLOW_ID not in gym.registry:
    gym.register(SLOW_ID, entry_point=make_slow, max_episode_steps=500, reward_threshold=475.0)
