"""Fault injection: a :class:`~hrrl.engine.task.Task` wrapper that corrupts rewards during training.

It sits between the trainer and the real task, so the trainer, agent, replay and guard run
unchanged and see exactly what a buggy reward function or a corrupted data pipe would feed them::

    Trainer ──act──> FaultInjectingTask ──> PuzzleTask (or any Task)
            <─obs, rewards'──               <─obs, rewards──
                     rewards' = rewards, except inside the window [start_step, stop_step):
                       each reward, with probability ``rate``, becomes +-magnitude
                       (sign by coin flip), or NaN with probability ``rate * nan_share``

Only the rewards the learner stores are corrupted; episode accounting (success, the curriculum
gate, the returns the task reports) and evaluation stay true, so the measured success rate says
how well the agent *plays* after the fault, not what the corrupted rewards claim.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from hrrl.config import check_range
from hrrl.engine.task import QFunction, Score, StepOutcome, Task
from hrrl.errors import ConfigError

#: The extreme reward of the review's failure scenario.
DEFAULT_MAGNITUDE = 5000.0


@dataclass(frozen=True, kw_only=True)
class FaultConfig:
    """Which rewards are corrupted, when, and into what."""

    start_step: int = 2_000
    """First environment step (counted by the wrapper) of the fault window."""
    stop_step: int = 8_000
    """End of the fault window (exclusive)."""
    rate: float = 0.02
    """Probability that a reward inside the window is corrupted."""
    magnitude: float = DEFAULT_MAGNITUDE
    """A corrupted reward becomes +magnitude or -magnitude (fair coin)."""
    nan_share: float = 0.0
    """Share of the corrupted rewards that become NaN instead."""
    seed: int = 0
    """Seed of the injector's own generator (the task's randomness is untouched)."""

    def __post_init__(self) -> None:
        check_range("fault.start_step", self.start_step, low=0)
        check_range("fault.stop_step", self.stop_step, low=self.start_step)
        check_range("fault.rate", self.rate, low=0.0, high=1.0)
        check_range("fault.magnitude", self.magnitude, low=0.0)
        check_range("fault.nan_share", self.nan_share, low=0.0, high=1.0)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"fault.seed={self.seed!r}: give an integer >= 0")


class FaultInjectingTask:
    """Wraps ``task``; same observations, episodes and evaluation, corrupted training rewards."""

    def __init__(self, task: Task, config: FaultConfig) -> None:
        self.task = task
        self.config = config
        self.obs_dim = task.obs_dim
        self.obs_shape = task.obs_shape
        self.n_actions = task.n_actions
        self.num_envs = task.num_envs
        self.rng = np.random.default_rng(config.seed)
        self.env_steps = 0
        self.n_extreme = 0
        self.n_nan = 0

    @property
    def stage(self) -> int:
        return self.task.stage

    @property
    def inner(self) -> Task:
        """The wrapped task (for its evaluation suite and environment factory)."""
        return self.task

    def reset(self) -> np.ndarray:
        return self.task.reset()

    def step(self, actions: np.ndarray) -> StepOutcome:
        out = self.task.step(actions)
        c, n = self.config, self.num_envs
        in_window = c.start_step <= self.env_steps < c.stop_step
        self.env_steps += n
        if not in_window or c.rate == 0.0:
            return out
        hit = self.rng.random(n) < c.rate
        sign = np.where(self.rng.random(n) < 0.5, -1.0, 1.0)
        nan = hit & (self.rng.random(n) < c.nan_share)
        rewards = np.array(out.rewards, dtype=np.float32, copy=True)
        rewards[hit] = (sign * c.magnitude)[hit]
        rewards[nan] = np.nan
        self.n_nan += int(nan.sum())
        self.n_extreme += int((hit & ~nan).sum())
        return dataclasses.replace(out, rewards=rewards)

    def evaluate(self, q_values: QFunction) -> dict[str, float]:
        return self.task.evaluate(q_values)

    def score(self, metrics: Mapping[str, float]) -> Score:
        return self.task.score(metrics)

    def solved(self, metrics: Mapping[str, float]) -> bool:
        return self.task.solved(metrics)

    def evaluation_due(self, last: Mapping[str, float], stage: int) -> bool:
        return self.task.evaluation_due(last, stage)

    def state_dict(self) -> dict[str, Any]:
        return {
            "task": self.task.state_dict(),
            "rng": self.rng.bit_generator.state,
            "env_steps": self.env_steps,
            "n_extreme": self.n_extreme,
            "n_nan": self.n_nan,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.task.load_state_dict(state["task"])
        self.rng.bit_generator.state = state["rng"]
        self.env_steps = int(state["env_steps"])
        self.n_extreme = int(state["n_extreme"])
        self.n_nan = int(state["n_nan"])
