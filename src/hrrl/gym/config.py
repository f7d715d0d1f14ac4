"""The Gymnasium section of an experiment: which environment, and how it is evaluated."""

from __future__ import annotations

import math
from dataclasses import dataclass

from hrrl.config import check_int, check_range
from hrrl.errors import ConfigError

#: Seed of the first evaluation episode (held apart from training seeds by construction:
#: training envs are seeded from SeedSequence children of train.seed).
EVAL_SEED = 10_000
#: The id prefix of the Atari games (ale-py's ``ALE/<Game>-v5``).
ATARI_PREFIX = "ALE/"


def is_atari(env_id: str) -> bool:
    return env_id.startswith(ATARI_PREFIX)


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
    eval_epsilon: float = 0.0
    """Chance that an evaluation step plays a uniformly random action instead of the greedy one
    (0: greedy). Atari protocols evaluate at 0.05 (Nature DQN) or 0.001 (Dopamine): a greedy
    Breakout policy that never presses FIRE after a lost life waits until the time limit."""
    stop_return: float | None = None
    """Stop training once an evaluation's mean return reaches this (null: train the whole
    budget). The best checkpoint is the evaluation with the highest mean return either way."""
    vector: str = "sync"
    """How training collects from train.num_envs copies: sync (gymnasium.vector.SyncVectorEnv,
    one process) or async (AsyncVectorEnv, a process per copy: for slow environments); both
    collect the same transitions from the same seed."""

    clip_rewards: bool = False
    """Learn from the sign of each reward (-1, 0 or 1), as DQN does on Atari; episode returns,
    evaluation included, stay raw."""
    terminal_on_life_loss: bool = False
    """Atari (ALE/ ids) only: a lost life ends a training episode (evaluation plays whole
    games). Off by default, as Machado et al. (2018) recommend."""

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ConfigError(f"gym.id={self.id!r}: give a Gymnasium id, e.g. CartPole-v1")
        check_int("gym.eval_episodes", self.eval_episodes, low=0)
        check_int("gym.eval_seed", self.eval_seed, low=0)
        check_range("gym.eval_epsilon", self.eval_epsilon, low=0.0, high=1.0)
        if self.stop_return is not None and (
            isinstance(self.stop_return, bool)
            or not isinstance(self.stop_return, int | float)
            or not math.isfinite(self.stop_return)
        ):
            raise ConfigError(
                f"gym.stop_return={self.stop_return!r} is invalid: give a finite mean return "
                "(e.g. 475 for CartPole-v1), or null"
            )
        if self.vector not in VECTOR_MODES:
            raise ConfigError(
                f"gym.vector={self.vector!r} is invalid: give one of {list(VECTOR_MODES)}"
            )
