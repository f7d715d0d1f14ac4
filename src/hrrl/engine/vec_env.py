"""The one batched-environment loop: N independent environments stepped together.

Both tasks (puzzle and Gymnasium) collect through :class:`EnvBatch` and both evaluators play
through :func:`play_episodes`. The environments are anything with Gymnasium's ``reset`` / ``step``
signatures (the engine does not import Gymnasium); actions are discrete indices, shifted by
``action_offset`` for a ``Discrete(n, start=s)`` space::

    start(i, seed, options) ──> obs[i]            step(actions, active) ──> BatchStep
         env i running  ◀─────────────────────────  finished env i stays finished
                                                     until start(i, ...) again

There is no auto-reset: when env ``i`` ends, ``step`` reports its *final* observation (what the
replay stores and bootstraps from) and env ``i`` waits for the caller, who decides what comes next
(a curriculum puzzle, the env's own next episode, the next evaluation puzzle, or nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, SupportsFloat

import numpy as np

from hrrl.engine.task import PolicyFn


class Env(Protocol):
    """Gymnasium's environment signatures, as far as the loop uses them."""

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]: ...

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class BatchStep:
    """What one batched step returned; rows of envs left out of the step are zeros/False/{}."""

    obs: np.ndarray
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    infos: list[dict[str, Any]]

    @property
    def done(self) -> np.ndarray:
        return self.terminated | self.truncated


class EnvBatch:
    """``envs`` stepped in one call, observations flattened to float32 rows of ``obs_dim``."""

    def __init__(self, envs: Sequence[Env], *, obs_dim: int, action_offset: int = 0) -> None:
        if not envs:
            raise ValueError("envs=[] is invalid: give at least one environment")
        self.envs = list(envs)
        self.num_envs = len(self.envs)
        self.obs_dim = obs_dim
        self.action_offset = action_offset
        self.running = np.zeros(self.num_envs, dtype=bool)
        self.obs = np.zeros((self.num_envs, obs_dim), dtype=np.float32)
        """The latest observation of every env (final for a finished one)."""

    def start(
        self, i: int, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Begin a new episode of env ``i``; returns its first observation row and info."""
        first, info = self.envs[i].reset(seed=seed, options=options)
        self.obs[i] = self._row(first)
        self.running[i] = True
        return self.obs[i], info

    def step(self, actions: np.ndarray, *, active: np.ndarray | None = None) -> BatchStep:
        """Advance the ``active`` envs (default: all, each must be running) by one action."""
        actions = np.asarray(actions)
        if actions.shape[:1] != (self.num_envs,):
            raise ValueError(
                f"actions has shape {actions.shape}: give one action per env ({self.num_envs},)"
            )
        mask = np.ones(self.num_envs, dtype=bool) if active is None else np.asarray(active, bool)
        idle = np.flatnonzero(mask & ~self.running)
        if idle.size:
            raise RuntimeError(
                f"env {int(idle[0])} has finished: start({int(idle[0])}, ...) it again or leave "
                "it out with active=mask"
            )
        n = self.num_envs
        rewards = np.zeros(n, dtype=np.float64)
        terminated = np.zeros(n, dtype=bool)
        truncated = np.zeros(n, dtype=bool)
        infos: list[dict[str, Any]] = [{} for _ in range(n)]
        for i in map(int, np.flatnonzero(mask)):
            obs, reward, term, trunc, info = self.envs[i].step(int(actions[i]) + self.action_offset)
            self.obs[i] = self._row(obs)
            rewards[i], terminated[i], truncated[i], infos[i] = float(reward), term, trunc, info
            if term or trunc:
                self.running[i] = False
        return BatchStep(self.obs.copy(), rewards, terminated, truncated, infos)

    def close(self) -> None:
        for env in self.envs:
            env.close()

    def _row(self, obs: Any) -> np.ndarray:
        return np.asarray(obs, dtype=np.float32).reshape(self.obs_dim)


@dataclass(frozen=True)
class EpisodeStart:
    """How one episode of :func:`play_episodes` begins (``reset(seed=, options=)``)."""

    seed: int | None = None
    options: dict[str, Any] | None = None


@dataclass
class PlayedEpisode:
    """One finished episode of :func:`play_episodes`."""

    index: int
    """Its position in the ``episodes`` given."""
    episode_return: float
    length: int
    terminated: bool
    last_info: dict[str, Any]
    trace: list[Any] = field(default_factory=list)
    """``trace(info)`` of every step, when a trace function was given."""


def play_episodes(
    policy: PolicyFn,
    batch: EnvBatch,
    episodes: Sequence[EpisodeStart],
    *,
    trace: Callable[[dict[str, Any]], Any] | None = None,
    on_start: Callable[[int], object] | None = None,
    on_step: Callable[[int], object] | None = None,
) -> Iterator[PlayedEpisode]:
    """Play every episode once with ``policy``, ``batch.num_envs`` at a time (one batched policy
    call per step over the running envs); yields each episode as it finishes and starts the next
    one in its env. Envs left without an episode stay out of the batch.

    ``on_start(index)`` hears each episode begin, ``on_step(n)`` each batched step of ``n`` envs
    (for progress reports)."""
    n = batch.num_envs
    queue = iter(enumerate(episodes))
    slot: list[int | None] = [None] * n
    returns = np.zeros(n)
    lengths = np.zeros(n, dtype=np.int64)
    traces: list[list[Any]] = [[] for _ in range(n)]

    def begin(k: int) -> None:
        item = next(queue, None)
        slot[k] = None if item is None else item[0]
        if item is not None:
            batch.start(k, seed=item[1].seed, options=item[1].options)
            if on_start is not None:
                on_start(item[0])
            returns[k], lengths[k], traces[k] = 0.0, 0, []

    for k in range(n):
        begin(k)
    while batch.running.any():
        active = batch.running.copy()
        idx = np.flatnonzero(active)
        actions = np.zeros(n, dtype=np.int64)
        actions[idx] = np.asarray(policy(batch.obs[idx])).reshape(-1)
        step = batch.step(actions, active=active)
        if on_step is not None:
            on_step(len(idx))
        for k in map(int, idx):
            returns[k] += step.rewards[k]
            lengths[k] += 1
            if trace is not None:
                traces[k].append(trace(step.infos[k]))
            if step.done[k]:
                index = slot[k]
                assert index is not None
                yield PlayedEpisode(
                    index=index,
                    episode_return=float(returns[k]),
                    length=int(lengths[k]),
                    terminated=bool(step.terminated[k]),
                    last_info=step.infos[k],
                    trace=traces[k],
                )
                begin(k)
