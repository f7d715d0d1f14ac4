"""When a run stops: its own stop conditions, or a request from outside the loop.

:func:`stop_reason` is the run's end (total steps or episodes, wall time, early stopping) as a
function of its state alone, so the state a checkpoint holds tells whether that run is finished.
Whether the last evaluation met the task's stop rule is the task's call
(:meth:`hrrl.engine.task.Task.solved`); the engine only acts on it.

A :class:`StopRequest` asks a run to stop at the next vector-step boundary.

The engine only polls it: :meth:`hrrl.engine.trainer.Trainer.run` looks once per vector step,
between two steps, and ends the run there with a checkpoint. Who sets it is the application's
business (``hrrl train`` and ``hrrl resume`` set it on SIGTERM and SIGINT, see
:mod:`hrrl.commands.signals`); setting it is one attribute write, safe in a signal handler.

Stopping between two vector steps is what makes the stop exact: that is the state every
checkpoint holds, so a run resumed from the stop replays the same sequence an uninterrupted run
would have (collect, learn, evaluate, log and checkpoint counters included).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: the CLI's signal handlers import this module
    from hrrl.engine.config import TrainConfig
    from hrrl.engine.run_state import Counters


class StopRequest:
    """Set once by whoever wants the run to end; polled by the trainer."""

    def __init__(self) -> None:
        self._reason: str | None = None

    @property
    def requested(self) -> bool:
        return self._reason is not None

    @property
    def reason(self) -> str | None:
        """What asked for the stop (``"SIGTERM"``), or None while none did."""
        return self._reason

    def request(self, reason: str) -> None:
        """Ask the run to stop; the first reason given is the one kept."""
        if self._reason is None:
            self._reason = reason


#: ``stop_reason`` of a run whose last evaluation met its task's stop rule.
SOLVED = "solved"


def stop_reason(train: TrainConfig, counters: Counters, *, elapsed: float) -> str | None:
    """Why a run in this state should stop (it is finished under ``train``), or None: solved
    once the task called the last ``train.stop_solved_evaluations`` evaluations solved."""
    tc, c = train, counters
    if c.env_steps >= tc.total_env_steps:
        return "total_env_steps"
    if tc.total_episodes is not None and c.episodes >= tc.total_episodes:
        return "total_episodes"
    if tc.max_wall_seconds is not None and elapsed >= tc.max_wall_seconds:
        return "max_wall_seconds"
    if c.solved_in_row >= tc.stop_solved_evaluations:
        return SOLVED
    patience = tc.early_stop_patience
    if patience is not None and c.evals_without_improvement >= patience:
        return "early_stop_patience"
    return None
