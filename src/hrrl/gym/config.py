"""The Gymnasium section of an experiment: which environment, and how it is evaluated."""

from __future__ import annotations

from dataclasses import dataclass

from hrrl.config import check_int
from hrrl.errors import ConfigError

#: Seed of the first evaluation episode (held apart from training seeds by construction:
#: training envs are seeded from SeedSequence children of train.seed).
EVAL_SEED = 10_000
#: The ``gym.vector`` values: which ``gymnasium.vector`` class collects (:mod:`hrrl.gym.vector`).
VECTOR_MODES = ("sync", "async")


@dataclass(frozen=True, kw_only=True)
class GymConfig:
    """A Gymnasium task with discrete actions and Box observations, trained instead of the puzzle."""

    id: str
    """The Gymnasium id, e.g. CartPole-v1."""
    eval_episodes: int = 10
    """Greedy episodes of each evaluation (0: no evaluation)."""
    eval_seed: int = EVAL_SEED
    """Seed of the first evaluation episode (episode k is seeded eval_seed + k)."""
    vector: str = "sync"
    """How training collects from train.num_envs copies: sync (gymnasium.vector.SyncVectorEnv,
    one process) or async (AsyncVectorEnv, a process per copy: for slow environments); both
    collect the same transitions from the same seed."""

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ConfigError(f"gym.id={self.id!r}: give a Gymnasium id, e.g. CartPole-v1")
        check_int("gym.eval_episodes", self.eval_episodes, low=0)
        check_int("gym.eval_seed", self.eval_seed, low=0)
        if self.vector not in VECTOR_MODES:
            raise ConfigError(
                f"gym.vector={self.vector!r} is invalid: give one of {list(VECTOR_MODES)}"
            )
