"""A trained Gymnasium policy for inference: load a run, checkpoint or bundle, play its task.

::

    policy = hrrl.GymPolicy.load("runs/cartpole")      # or a step-* dir, or an exported bundle
    policy.env_id                                       # 'CartPole-v1', as it was trained
    policy(obs_batch)                                   # greedy actions, one per row
    policy.evaluate(episodes=10, seed=0)                # -> GymEvaluation (mean +- std return)

The puzzle's :class:`hrrl.Policy` and this class are two types on purpose: a puzzle policy plays
puzzles with its encoder and planner, a Gymnasium one plays raw observations of one id. Each
``load`` refuses the other kind with one line naming the loader (and the command) to use.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hrrl.config import check_int
from hrrl.errors import CheckpointError, EnvironmentMismatchError
from hrrl.experiment import migrate_config
from hrrl.gym.task import GymTask, episode_metrics
from hrrl.inference.export import is_bundle, read_bundle
from hrrl.inference.network import build_network, greedy_actions, load_online_network, run_config
from hrrl.persistence.store import resolve_checkpoint

__all__ = ["GymEvaluation", "GymPolicy"]


@dataclass(frozen=True)
class GymEvaluation:
    """Greedy episodes of :meth:`GymPolicy.evaluate`: episode ``k`` was seeded ``seed + k``."""

    env_id: str
    seed: int
    returns: tuple[float, ...]
    mean_return: float
    return_std: float
    mean_length: float
    success_rate: float
    """Fraction of episodes at or above the spec's ``reward_threshold`` (NaN without one)."""

    def __str__(self) -> str:
        last = self.seed + len(self.returns) - 1
        return (
            f"{self.env_id}: mean return {self.mean_return:.2f} +/- {self.return_std:.2f} over "
            f"{len(self.returns)} episodes (seeds {self.seed}..{last}), mean length "
            f"{self.mean_length:.1f}, success rate {self.success_rate:.2f}"
        )


@dataclass
class GymPolicy:
    """Greedy policy of a trained online network over a Gymnasium id's observations."""

    network: torch.nn.Module
    env_id: str
    source: Path

    def __post_init__(self) -> None:
        self.network.eval()

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """``argmax_a Q(obs, a)`` for a batch of flattened observations (action indices from 0;
        :func:`~hrrl.gym.task.evaluate_env` adds a ``Discrete`` space's ``start``)."""
        return greedy_actions(self.network, np.asarray(obs, dtype=np.float32))

    @classmethod
    def load(cls, path: Path | str, *, env_id: str | None = None) -> GymPolicy:
        """The policy of a run directory (its best checkpoint), a checkpoint directory or an
        exported bundle trained on a Gymnasium task; with ``env_id``, refuse one trained on
        another id."""
        path = Path(path)
        if not path.exists():
            raise CheckpointError(
                f"{path} does not exist: give a run or checkpoint directory, or a bundle"
            )
        if is_bundle(path):
            b = read_bundle(path)
            network = build_network(
                b.agent,
                b.weights,
                obs_dim=b.obs_dim,
                n_actions=b.n_actions,
                source=b.path,
                obs_shape=b.obs_shape,
            )
            return cls(network=network, env_id=_trained_on(b.path, b.env_id, env_id), source=b.path)
        ck = resolve_checkpoint(path)
        saved = (migrate_config(run_config(ck)).get("gym") or {}).get("id")
        trained_on = _trained_on(ck.path, saved, env_id)
        return cls(network=load_online_network(ck), env_id=trained_on, source=ck.path)

    def evaluate(self, *, episodes: int = 10, seed: int = 0) -> GymEvaluation:
        """Play ``episodes`` greedy episodes of :attr:`env_id`, episode ``k`` seeded ``seed + k``."""
        check_int("episodes", episodes, low=1)
        check_int("seed", seed, low=0)
        task = GymTask(self.env_id, num_envs=1, seed=seed, eval_episodes=episodes, eval_seed=seed)
        try:
            returns, lengths = task.evaluation_episodes(self)
        finally:
            task.close()
        metrics = episode_metrics(self.env_id, returns, lengths, task.reward_threshold)
        return GymEvaluation(
            env_id=self.env_id,
            seed=seed,
            returns=tuple(float(r) for r in returns),
            mean_return=metrics["eval/mean_return"],
            return_std=metrics["eval/return_std"],
            mean_length=metrics["eval/mean_length"],
            success_rate=metrics["eval/success_rate"],
        )


def _trained_on(source: Path, saved: str | None, wanted: str | None) -> str:
    """The Gymnasium id ``source`` was trained on; one line naming what to do instead when it is
    a puzzle policy, one of another id than ``wanted``, or names a ``module:Id`` the caller did
    not name (loading it would import that module)."""
    if saved is None:
        raise EnvironmentMismatchError(
            f"{source} was trained on the number puzzle, not a Gymnasium task"
            + (f" ({wanted!r})" if wanted else "")
            + ": play it with `hrrl eval --suite FILE` or `hrrl solve` (hrrl.Policy.load)"
        )
    if wanted is not None and saved != wanted:
        raise EnvironmentMismatchError(
            f"{source} was trained on {saved!r}, not {wanted!r}: pass --env {saved}"
        )
    if wanted is None and ":" in saved:
        # ``module:Id`` makes gymnasium.make import ``module``: a file never chooses an import.
        module = saved.partition(":")[0]
        raise EnvironmentMismatchError(
            f"{source} names the Gymnasium id {saved!r}, which would import the module "
            f"{module!r}: a bundle or checkpoint never chooses what is imported; name the id "
            f"yourself (--env {saved}, or env_id={saved!r}) if you trust that module"
        )
    return saved


def load_greedy_policy(path: Path | str, *, env_id: str) -> tuple[GymPolicy, Path]:
    """The greedy policy of a run, checkpoint or bundle trained on ``env_id``, and where it came
    from (:meth:`GymPolicy.load`; kept for callers of hrrl 0.x)."""
    policy = GymPolicy.load(path, env_id=env_id)
    return policy, policy.source
