"""The engine's sections of an experiment: the training schedule, and the shape of the config the
trainer reads (any domain's experiment config with these sections will do)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch

from hrrl.config import check_int
from hrrl.engine.agent import AgentConfig
from hrrl.engine.exploration import ExplorationConfig
from hrrl.engine.guard import GuardConfig
from hrrl.engine.replay.buffer import ReplayConfig
from hrrl.errors import ConfigError
from hrrl.monitoring.health import HealthConfig
from hrrl.persistence.store import CheckpointConfig

#: ``train.log_every=null``: the first metric dumps are this many env steps apart ...
AUTO_LOG_FIRST = 256
#: ... and the interval doubles after every this many dumps, so a 10-second run logs about 40
#: rows and a 10-million-step run a few hundred (``log_interval``).
AUTO_LOG_ROWS = 100


def log_interval(step: int, log_every: int | None) -> int:
    """Env steps from the dump due at ``step`` to the next: ``log_every``, or for None every
    ``AUTO_LOG_FIRST`` steps, doubling after every ``AUTO_LOG_ROWS`` dumps::

        dumps at 256, 512, ..., 25_600 | 26_112, ..., 76_800 | 77_824, ..., 179_200 | ...
                 100 x 256               100 x 512             100 x 1024

    A pure function of ``step``, so a resumed run dumps at the same steps.
    """
    if log_every is not None:
        return log_every
    interval, phase_end = AUTO_LOG_FIRST, AUTO_LOG_FIRST * AUTO_LOG_ROWS
    while step >= phase_end:
        interval *= 2
        phase_end += interval * AUTO_LOG_ROWS
    return interval


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """The training loop's schedule: collection, learning, evaluation and stopping."""

    seed: int = 0
    """Seed of every random number generator in the run."""
    num_envs: int = 32
    """Environments collected at once (batched action selection)."""
    total_env_steps: int = 300_000
    """Stop after this many environment steps."""
    total_episodes: int | None = None
    """Stop after this many episodes as well (the prototype trains 5,000 episodes)."""
    max_wall_seconds: float | None = None
    """Stop after this much wall time (checked once per vector step)."""
    learning_starts: int = 256
    """Environment steps collected before the first learning step."""
    train_every: int = 1
    """Learn after every this many vector steps."""
    updates_per_train: int = 4
    """Gradient steps each time learning runs."""
    eval_every: int = 10_000
    """Environment steps between greedy evaluations (the task's held-out evaluation); a run
    also ends with one of its final policy. It stops early once the task calls an evaluation
    solved (its own rule: puzzle.stop_success, gym.stop_return)."""
    stop_solved_evaluations: int = 1
    """Evaluations in a row the task must call solved before the run stops on its rule (1: the
    first; 2 keeps training past a first solved evaluation that a lucky suite can give)."""
    early_stop_patience: int | None = None
    """Stop after this many evaluations without improvement (None: never)."""
    log_every: int | None = None
    """Environment steps between metric dumps; null: every 256, the interval doubling after
    every 100 dumps (a few-second run still gets curves, a long one a few hundred rows)."""
    threads: int = 1
    """torch intra-op threads (1 is fastest for these small networks on a 2-core machine)."""
    device: str = "cpu"
    """Torch device for the networks ('cpu' or 'cuda')."""

    def __post_init__(self) -> None:
        check_int("train.seed", self.seed, low=0)
        check_int("train.num_envs", self.num_envs, low=1, high=4096)
        check_int("train.total_env_steps", self.total_env_steps, low=1)
        if self.total_episodes is not None:
            check_int("train.total_episodes", self.total_episodes, low=1)
        check_int("train.learning_starts", self.learning_starts, low=0)
        check_int("train.train_every", self.train_every, low=1)
        check_int("train.updates_per_train", self.updates_per_train, low=1)
        check_int("train.eval_every", self.eval_every, low=1)
        check_int("train.stop_solved_evaluations", self.stop_solved_evaluations, low=1)
        if self.early_stop_patience is not None:
            check_int("train.early_stop_patience", self.early_stop_patience, low=1)
        if self.log_every is not None:
            check_int("train.log_every", self.log_every, low=1)
        check_int("train.threads", self.threads, low=1, high=256)
        if not (self.device == "cpu" or self.device.startswith("cuda")):
            raise ConfigError(f"train.device={self.device!r}: use 'cpu' or 'cuda[:N]'")


def check_device(device: str) -> None:
    """Refuse a ``train.device`` this machine cannot run, before a run writes anything.

    Kept out of :class:`TrainConfig` validation on purpose: a config written on a GPU machine
    still loads on a CPU one (to export, evaluate or inspect it); only training there is refused.
    """
    if not device.startswith("cuda"):
        return
    if not torch.backends.cuda.is_built():
        raise ConfigError(
            f"train.device={device!r} is not available: this torch build ({torch.__version__}) "
            "has no CUDA support; use train.device=cpu or install a CUDA build of torch"
        )
    try:
        index = torch.device(device).index or 0
    except RuntimeError as exc:
        raise ConfigError(
            f"train.device={device!r} is invalid: {exc}; use 'cpu' or 'cuda[:N]'"
        ) from exc
    count = torch.cuda.device_count()
    if index >= count:
        seen = (
            f"only {count} CUDA device{'s' if count != 1 else ''} visible"
            if count
            else ("no CUDA device is visible (torch.cuda.is_available() is False)")
        )
        raise ConfigError(f"train.device={device!r} is not available: {seen}; use train.device=cpu")


class EngineConfig(Protocol):
    """The sections of an experiment config the trainer builds its components from."""

    @property
    def agent(self) -> AgentConfig: ...
    @property
    def replay(self) -> ReplayConfig: ...
    @property
    def exploration(self) -> ExplorationConfig: ...
    @property
    def guard(self) -> GuardConfig: ...
    @property
    def train(self) -> TrainConfig: ...
    @property
    def checkpoint(self) -> CheckpointConfig: ...
    @property
    def health(self) -> HealthConfig: ...
