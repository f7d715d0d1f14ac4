"""A run's progress: its counters, the seeds of its random streams, and what it reports.

:class:`Counters` are part of every checkpoint (:meth:`hrrl.engine.trainer.Trainer.state_dict`);
:class:`RunSeeds` derives the agent's, the replay's and the task's seeds from ``train.seed``;
:class:`TrainResult` is what :meth:`~hrrl.engine.trainer.Trainer.run` returns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hrrl.engine.task import TaskRule


@dataclass
class Counters:
    """Progress of the run; part of every checkpoint."""

    env_steps: int = 0
    vector_steps: int = 0
    episodes: int = 0
    updates: int = 0
    evaluations: int = 0
    evals_without_improvement: int = 0
    best_score: list[float] | None = None
    """The task's score of the best evaluation so far (None before the first)."""
    last_eval_step: int | None = None
    """The env step of the last evaluation: a checkpoint saved at that step carries its
    metrics and score, any other carries none."""
    next_eval: int = 0
    next_log: int = 0
    best_wall_seconds: float | None = None
    solved_in_row: int = 0
    """Evaluations in a row the task called solved, up to the last one."""

    @classmethod
    def restore(cls, state: Mapping[str, Any], task: TaskRule) -> Counters:
        """The counters of a trainer state, of any version: one saved before the task ranked
        evaluations (``best_success``, ``best_efficiency``) has its best score from ``task``,
        one saved before solved evaluations were counted has its last one counted."""
        counters = dict(state["counters"])
        if "best_success" in counters:
            del counters["best_success"], counters["best_efficiency"]
            best = state["best_metrics"]
            counters["best_score"] = list(task.score(best)) if best else None
        if "solved_in_row" not in counters:
            last = state["last_metrics"]
            counters["solved_in_row"] = int(bool(last) and task.solved(last))
        return cls(**counters)


@dataclass
class TrainResult:
    """What a finished run reports."""

    counters: Counters
    best_metrics: dict[str, float]
    last_metrics: dict[str, float]
    stop_reason: str
    wall_seconds: float
    history: list[dict[str, float]] = field(default_factory=list)
    checkpoint: Path | None = None
    """The checkpoint holding the state the run ended in (None: disabled, or its save failed)."""

    @property
    def best_wall_seconds(self) -> float | None:
        return self.counters.best_wall_seconds


@dataclass(frozen=True)
class RunSeeds:
    """The seeds of a run's three random streams, children of ``train.seed``."""

    agent: int
    replay: int
    task: int

    @classmethod
    def of(cls, seed: int) -> RunSeeds:
        agent, replay, task = (
            int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(3)
        )
        return cls(agent=agent, replay=replay, task=task)
