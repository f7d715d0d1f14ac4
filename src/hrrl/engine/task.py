"""What the trainer trains on: a batch of environments, how episodes end, how to evaluate.

The trainer (collect, learn, sync, evaluate, checkpoint, log) is the same for the number puzzle
and for any Gymnasium task; a :class:`Task` holds everything that differs: where episodes come
from (a curriculum of puzzles, or ``gymnasium.make``), what counts as a success, the held-out
evaluation, and what a better evaluation is. The agent, replay, exploration and guard never see
a task, and the engine names none of its metrics: the trainer's best, the early stop and the
checkpoint store's ``best`` all rank evaluations by :meth:`Task.score` and stop on
:meth:`Task.solved`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

#: Maps a batch of observations to a batch of action indices (greedy, for evaluation).
PolicyFn = Callable[[np.ndarray], np.ndarray]
#: Maps a batch of observations ``(B, obs_dim)`` to their Q-values ``(B, n_actions)``.
QFunction = Callable[[np.ndarray], np.ndarray]
#: How good an evaluation is, as the task ranks it: compared as tuples (lexicographically),
#: higher is better; finite floats, so that a checkpoint can record it in JSON.
Score = tuple[float, ...]


def check_score(score: Sequence[float]) -> Score:
    """``score`` as a :data:`Score`; a ``ValueError`` for one that cannot rank (a task's bug)."""
    out = tuple(float(v) for v in score)
    if not out or not all(np.isfinite(out)):
        raise ValueError(f"score={list(score)!r} is invalid: a task scores with finite floats")
    return out


def greedy_actions(q: np.ndarray) -> np.ndarray:
    """``argmax_a Q(s, a)`` per row, as int64 action indices (ties to the lowest index)."""
    return np.asarray(q.argmax(axis=1), dtype=np.int64)


def greedy_policy(q_values: QFunction) -> PolicyFn:
    """The greedy policy of a Q-function."""
    return lambda obs: greedy_actions(q_values(obs))


@dataclass(frozen=True)
class EpisodeEnd:
    """One finished episode of the training batch."""

    env_index: int
    success: bool | None
    """Whether the episode succeeded; None where the task defines no success (a Gymnasium env
    without a ``reward_threshold``): no success rate is recorded then."""
    episode_return: float
    length: int
    status: str
    stage: int
    """The curriculum stage the episode was played in (0 where there is no curriculum)."""
    metrics: Mapping[str, float] = field(default_factory=dict)
    """Task-specific figures of the episode, averaged over the logging interval under their own
    names (a puzzle's ``rollout/subgoal_success_rate``)."""


@dataclass(frozen=True)
class StepOutcome:
    """One vector step.

    ``next_obs`` holds, for an env whose episode just ended, its *final* observation (what the
    replay stores and bootstraps from); ``obs`` holds the first observation of the episode that
    replaced it (what the agent acts on next). Elsewhere the two are the same array rows.
    """

    obs: np.ndarray
    next_obs: np.ndarray
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    ended: list[EpisodeEnd]


class TaskRule(Protocol):
    """What a better evaluation is, and when a run is done: the task's call, never the engine's
    (it names no metric)."""

    def score(self, metrics: Mapping[str, float]) -> Score:
        """The rank of an evaluation (:meth:`Task.evaluate`'s metrics): higher is better."""
        ...

    def solved(self, metrics: Mapping[str, float]) -> bool:
        """Whether an evaluation meets the task's stop rule (False when it has none)."""
        ...

    def evaluation_due(self, last: Mapping[str, float], stage: int) -> bool:
        """Whether to evaluate now, off the ``train.eval_every`` cadence: the run has changed
        in a way the stop rule reads and the last evaluation (``last``, empty before the first)
        did not see (the curriculum ``stage`` it is in now). False for most tasks."""
        ...


class Task(TaskRule, Protocol):
    """A batch of ``num_envs`` environments with float32 vector observations."""

    obs_dim: int
    obs_shape: tuple[int, ...]
    """The observation's shape before flattening into ``obs_dim`` floats (``(obs_dim,)`` for a
    vector; ``(H, W, C)`` for a grid a convolutional network reads)."""
    n_actions: int
    num_envs: int

    @property
    def stage(self) -> int:
        """Current curriculum stage (0 without a curriculum)."""
        ...

    def reset(self) -> np.ndarray:
        """Start every env; returns the first observations, shape (num_envs, obs_dim)."""
        ...

    def step(self, actions: np.ndarray) -> StepOutcome:
        """Advance every env by one action; finished episodes are replaced at once.

        When an environment raises, the exception goes through as it is, and
        :meth:`state_dict` must still work: a run saves its last whole step, and a run resumed
        from that state starts new episodes (:meth:`reset`) rather than the ones that failed."""
        ...

    def evaluate(self, q_values: QFunction) -> dict[str, float]:
        """Held-out evaluation of a Q-function: the metrics of its greedy play and any domain
        measure (the puzzle's exact Q-bias), under the task's own names."""
        ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class TaskStepError(Exception):
    """The task's environment raised, ``during`` a vector step of ``"training"`` or an
    ``"evaluation"``.

    The trainer's state is that of the last whole step (a failed step drew no random number and
    stored nothing; a failed evaluation is done again after a resume); ``checkpoint`` is where
    that state was saved (None: checkpoints off, or the save failed too). ``cause`` is the
    environment's exception."""

    def __init__(self, env_step: int, cause: BaseException, *, during: str) -> None:
        where = "" if during == "training" else f" (in {during})"
        super().__init__(f"{type(cause).__name__}: {cause}{where}")
        self.env_step = env_step
        self.cause = cause
        self.during = during
        self.checkpoint: Path | None = None
