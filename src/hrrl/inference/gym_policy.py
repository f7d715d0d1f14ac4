"""A trained Gymnasium policy for inference: load a run, checkpoint or bundle, play its task.

::

    policy = hrrl.GymPolicy.load("runs/cartpole")      # or a step-* dir, or an exported bundle
    policy.env_id                                       # 'CartPole-v1', as it was trained
    policy(obs)                                         # one observation -> one action (int)
    policy(obs_batch)                                   # a batch -> an array of actions
    policy.q_values(obs)                                # the Q-values behind them
    policy.evaluate(episodes=10, seed=0)                # -> GymEvaluation (mean +- std return)

The puzzle's :class:`hrrl.Policy` and this class are two types on purpose: a puzzle policy plays
puzzles with its encoder and planner, a Gymnasium one plays raw observations of one id. Each
``load`` refuses the other kind with one line naming the loader (and the command) to use.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
import torch
from numpy.typing import ArrayLike

from hrrl.config import check_int, check_range
from hrrl.errors import CheckpointError, EnvironmentMismatchError
from hrrl.experiment import migrate_config
from hrrl.gym.task import GymTask, episode_metrics, make_env, one_hot
from hrrl.inference.export import is_bundle, read_bundle
from hrrl.inference.network import (
    build_network,
    greedy_actions,
    load_online_network,
    observation_rows,
    q_table,
    run_config,
)
from hrrl.monitoring.video import film
from hrrl.persistence.store import resolve_checkpoint

__all__ = ["GymEvaluation", "GymPolicy"]


@dataclass(frozen=True)
class GymEvaluation:
    """Episodes of :meth:`GymPolicy.evaluate`: episode ``k`` was seeded ``seed + k``, played
    greedily or, with ``epsilon``, epsilon-greedily."""

    env_id: str
    seed: int
    returns: tuple[float, ...]
    lengths: tuple[int, ...]
    mean_return: float
    return_std: float
    mean_length: float
    success_rate: float
    """Fraction of episodes at or above the spec's ``reward_threshold`` (NaN without one)."""
    threshold: float | None = None
    """The spec's ``reward_threshold``: what "success" is measured against (None: no success)."""
    epsilon: float = 0.0
    """The chance of a uniformly random action at each step (0: greedy)."""

    def episodes(self) -> list[dict[str, float | int | str]]:
        """One row per episode: ``{"env", "seed", "return", "length"}``."""
        return [
            {"env": self.env_id, "seed": self.seed + k, "return": ret, "length": length}
            for k, (ret, length) in enumerate(zip(self.returns, self.lengths, strict=True))
        ]

    def __str__(self) -> str:
        last = self.seed + len(self.returns) - 1
        text = (
            f"{self.env_id}: mean return {self.mean_return:.2f} +/- {self.return_std:.2f} over "
            f"{len(self.returns)} episodes (seeds {self.seed}..{last}), mean length "
            f"{self.mean_length:.1f}"
        )
        if self.epsilon > 0:
            text += f", epsilon {self.epsilon:g}"
        if self.threshold is None:  # the env defines no success: say nothing of one
            return text
        return f"{text}, success rate {self.success_rate:.2f} (return >= {self.threshold:g})"


@dataclass
class GymPolicy:
    """Greedy policy of a trained online network over a Gymnasium id's observations.

    ``policy(obs)`` takes what ``env.reset()`` / ``env.step()`` return, one observation (its
    own shape, or flat) for one action (an ``int``), or a batch (a leading batch axis) for an
    array of actions, like Stable-Baselines3's ``predict``; :meth:`q_values` gives the
    Q-values behind them. Actions are indices from 0 (a ``Discrete`` space's ``start`` is
    added by :func:`~hrrl.gym.task.evaluate_env`, not here)."""

    network: torch.nn.Module
    env_id: str
    source: Path
    obs_shape: tuple[int, ...]
    """One observation's shape, as the env gives it (``(4,)`` for CartPole-v1)."""
    n_actions: int

    def __post_init__(self) -> None:
        self.network.eval()

    @property
    def obs_dim(self) -> int:
        return int(np.prod(self.obs_shape))

    @functools.cached_property
    def _discrete_start(self) -> int | None:
        """The ``start`` of the env's ``Discrete`` observation space (None for any other
        space), read once from a fresh env when an integer observation comes in."""
        if len(self.obs_shape) != 1:
            return None
        env = gymnasium.make(self.env_id)
        try:
            space = env.observation_space
            if isinstance(space, gymnasium.spaces.Discrete) and int(space.n) == self.obs_dim:
                return int(space.start)
            return None
        finally:
            env.close()

    def __call__(self, obs: ArrayLike) -> Any:
        """The greedy action of one observation (an ``int``), or of each in a batch (int64
        array ``(B,)``)."""
        rows, single = self._rows(obs)
        actions = greedy_actions(self.network, rows)
        return int(actions[0]) if single else actions

    def q_values(self, obs: ArrayLike) -> np.ndarray:
        """``Q(obs, a)`` for every action: ``(n_actions,)`` for one observation, ``(B,
        n_actions)`` for a batch."""
        rows, single = self._rows(obs)
        q = q_table(self.network, rows)
        return q[0] if single else q

    def _rows(self, obs: ArrayLike) -> tuple[np.ndarray, bool]:
        """``obs`` as a float32 batch of flat rows, and whether it was one observation (a
        ``Discrete`` observation, an integer, is one-hot encoded as in training)."""
        x = np.asarray(obs)
        if x.dtype.kind in "iu" and x.ndim <= 1 and self._discrete_start is not None:
            cells = x.reshape(-1)
            start = self._discrete_start
            if ((cells >= start) & (cells < start + self.obs_dim)).all():
                return one_hot(cells, n=self.obs_dim, start=start), x.ndim == 0
        return observation_rows(x, self.obs_shape)

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
            return cls(
                network=network,
                env_id=_trained_on(b.path, b.env_id, env_id),
                source=b.path,
                obs_shape=tuple(b.obs_shape or (b.obs_dim,)),
                n_actions=b.n_actions,
            )
        ck = resolve_checkpoint(path)
        saved = (migrate_config(run_config(ck)).get("gym") or {}).get("id")
        trained_on = _trained_on(ck.path, saved, env_id)
        meta = ck.state["agent"]["meta"]
        return cls(
            network=load_online_network(ck),
            env_id=trained_on,
            source=ck.path,
            obs_shape=tuple(meta.get("obs_shape") or (int(meta["obs_dim"]),)),
            n_actions=int(meta["n_actions"]),
        )

    def record(self, folder: Path | str, *, episodes: int = 1, seed: int = 0) -> list[Path]:
        """Film ``episodes`` greedy episodes (episode ``k`` seeded ``seed + k``) with Gymnasium's
        ``RecordVideo`` from the env's ``rgb_array`` render: one mp4 each in ``folder``."""
        check_int("episodes", episodes, low=1)
        check_int("seed", seed, low=0)
        folder = Path(folder)
        prefix = self.env_id.replace("/", "-").replace(":", "-")
        env = film(make_env(self.env_id, render_mode="rgb_array"), folder, prefix)
        start = int(getattr(env.action_space, "start", 0))
        try:
            for k in range(episodes):
                obs, _ = env.reset(seed=seed + k)
                done = False
                while not done:
                    obs, _, terminated, truncated, _ = env.step(self(obs) + start)
                    done = bool(terminated or truncated)
        finally:
            env.close()
        return sorted(folder.glob(f"{prefix}-episode-*.mp4"))

    def evaluate(self, *, episodes: int = 10, seed: int = 0, epsilon: float = 0.0) -> GymEvaluation:
        """Play ``episodes`` episodes of :attr:`env_id`, episode ``k`` seeded ``seed + k``:
        greedy, or with chance ``epsilon`` of a uniformly random action at each step (the
        Nature DQN's Atari evaluation used 0.05)."""
        check_int("episodes", episodes, low=1)
        check_int("seed", seed, low=0)
        check_range("epsilon", epsilon, low=0.0, high=1.0)
        task = GymTask(
            self.env_id,
            num_envs=1,
            seed=seed,
            eval_episodes=episodes,
            eval_seed=seed,
            eval_epsilon=epsilon,
        )
        try:
            returns, lengths = task.evaluation_episodes(self)
        finally:
            task.close()
        metrics = episode_metrics(self.env_id, returns, lengths, task.reward_threshold)
        return GymEvaluation(
            env_id=self.env_id,
            seed=seed,
            returns=tuple(float(r) for r in returns),
            lengths=tuple(int(n) for n in lengths),
            mean_return=metrics["eval/mean_return"],
            return_std=metrics["eval/return_std"],
            mean_length=metrics["eval/mean_length"],
            success_rate=metrics["eval/success_rate"],
            threshold=task.reward_threshold,
            epsilon=epsilon,
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
