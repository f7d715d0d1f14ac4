"""Issue 32, item 4: a non-finite observation or reward never enters replay, and it is said.

Before: one NaN observation per env copy was stored in prioritized replay, kept high priorities
and was drawn into most batches for the rest of the run (rolled back update after update); NaN
and infinite rewards raised no alert and no metric. Now, with the guard on (every preset but the
prototype's ``baseline``, which keeps the original behaviour for the gap-1 red team), such
transitions are left out where they enter replay, counted in ``health/nonfinite_transitions``
and reported as an ``alert/nonfinite_data`` event in the interval they happened.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from hrrl.engine.task import StepOutcome
from hrrl.engine.trainer import Trainer
from hrrl.monitoring.logger import Logger
from hrrl.run import make_task


class Poisoned:
    """The task, with env 0's next observation NaN at every 5th vector step and env 1's reward
    infinite at every 7th."""

    def __init__(self, task: Any) -> None:
        self.task, self.steps = task, 0
        for name in ("obs_dim", "obs_shape", "n_actions", "num_envs"):
            setattr(self, name, getattr(task, name))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.task, name)

    @property
    def stage(self) -> int:
        return int(self.task.stage)

    def step(self, actions: np.ndarray) -> StepOutcome:
        out = self.task.step(actions)
        self.steps += 1
        next_obs, rewards = out.next_obs.copy(), out.rewards.copy()
        if self.steps % 5 == 0:
            next_obs[0] = np.nan
        if self.steps % 7 == 0:
            rewards[1] = np.inf
        return dataclasses.replace(out, next_obs=next_obs, rewards=rewards)


class Events:
    def __init__(self) -> None:
        self.rows: list[dict[str, float]] = []
        self.events: list[str] = []

    def write(self, values: Mapping[str, float], step: int, elapsed: float) -> None:
        self.rows.append(dict(values))

    def write_config(self, config: Mapping[str, Any]) -> None: ...

    def write_event(self, kind: str, message: str, step: int, elapsed: float) -> None:
        self.events.append(kind)

    def close(self) -> None: ...


def test_nonfinite_transitions_are_left_out_counted_and_alerted(tiny) -> None:  # type: ignore[no-untyped-def]
    config = tiny("train.total_env_steps=800")
    sink = Events()
    trainer = Trainer(config, task=Poisoned(make_task(config)), logger=Logger([sink]))
    trainer.run()
    stored, n = trainer.replay.storage, len(trainer.replay)
    for rows in (stored.obs[:n], stored.next_obs[:n], stored.rewards[:n]):
        assert np.isfinite(rows).all()
    counted = sum(row.get("health/nonfinite_transitions", 0) for row in sink.rows)
    assert counted == 100 // 5 + 100 // 7  # 100 vector steps: every poisoned one left out
    assert "alert/nonfinite_data" in sink.events


class Huge(Poisoned):
    """The task, with env 1's reward 1e30 at vector steps 80 and 90 (a finite poison)."""

    def step(self, actions: np.ndarray) -> StepOutcome:
        out = self.task.step(actions)
        self.steps += 1
        rewards = out.rewards.copy()
        if self.steps in (80, 90):
            rewards[1] = 1e30
        return dataclasses.replace(out, rewards=rewards)


def test_a_huge_reward_screened_by_the_guard_is_counted_and_alerted(tiny) -> None:  # type: ignore[no-untyped-def]
    """A finite reward of 1e30 enters replay and the guard screens it out of every batch it is
    drawn into; before, that was said nowhere (no metric, no event)."""
    config = tiny("train.total_env_steps=1200")
    sink = Events()
    trainer = Trainer(config, task=Huge(make_task(config)), logger=Logger([sink]))
    trainer.run()
    screened = sum(row.get("health/screened", 0) for row in sink.rows)
    assert screened == trainer.guard.n_screened > 0
    assert "alert/guard" in sink.events
