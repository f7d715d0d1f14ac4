"""The trainer's part of a checkpoint: its ``state_dict`` and ``load_state_dict``.

Each component saves itself (agent, replay, exploration, task, health, logger, checkpoint
schedule); this is the union, with the loop's own counters and the interval bookkeeping, so a
run resumed from it logs, evaluates and learns exactly as the uninterrupted one would.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import TYPE_CHECKING, Any

import numpy as np

from hrrl.config import to_dict
from hrrl.engine.run_state import Counters

if TYPE_CHECKING:
    from hrrl.engine.trainer import Trainer

#: Version of the trainer's part of a checkpoint's ``state.json``.
TRAINER_STATE_VERSION = 1


def trainer_state(t: Trainer) -> dict[str, Any]:
    """Everything the run needs to continue bit-identically (tensors and arrays included)."""
    return {
        "version": TRAINER_STATE_VERSION,
        "config": to_dict(t.config),
        "counters": dataclasses.asdict(t.counters),
        "agent": t.agent.state_dict(),
        "replay": t.replay.state_dict(),
        "exploration": t.exploration.state_dict(),
        "task": t.task.state_dict(),
        "obs": None if t._new_episodes else t.obs,  # None: start new episodes
        "best_metrics": t.best_metrics,
        "last_metrics": t.last_metrics,
        "history": t.history,
        "status_counts": dict(t._status_counts),
        "rollbacks_logged": t._rollbacks_logged,
        "screened_logged": t._screened_logged,
        "health": t.health.state_dict(),
        "logger": t.logger.state_dict(),
        "checkpoints": None if t.checkpoints is None else t.checkpoints.state_dict(),
    } | ({"n_step": t.returns.state_dict()} if t.returns.stores_discounts else {})


def load_trainer_state(t: Trainer, state: dict[str, Any]) -> None:
    """Put ``t`` in the state :func:`trainer_state` saved."""
    if int(state["version"]) != TRAINER_STATE_VERSION:
        raise ValueError(
            f"trainer state version {state['version']!r}: this hrrl reads {TRAINER_STATE_VERSION}"
        )
    t.counters = Counters.restore(state, t.task)
    t.agent.load_state_dict(state["agent"])
    t.replay.load_state_dict(state["replay"])
    t.returns.load_state_dict(state.get("n_step", {"n": 1}))  # absent for one-step runs
    t.exploration.load_state_dict(state["exploration"])
    t.task.load_state_dict(state["task"])
    if state["obs"] is None:  # saved after an environment failed: new episodes
        t.obs = t.task.reset()
    else:
        t.obs = np.asarray(state["obs"], dtype=t.obs.dtype)
    t.best_metrics = dict(state["best_metrics"])
    t.last_metrics = dict(state["last_metrics"])
    t.history = list(state["history"])
    t._status_counts = Counter(state["status_counts"])
    t._rollbacks_logged = int(state["rollbacks_logged"])
    # Absent from checkpoints before screening was logged: count from the restored guard.
    t._screened_logged = int(state.get("screened_logged", t.guard.n_screened))
    t.health.load_state_dict(state["health"])
    t.logger.load_state_dict(state["logger"])
    if t.checkpoints is not None and state["checkpoints"] is not None:
        t.checkpoints.load_state_dict(state["checkpoints"])
    t._rate_window = (t.logger.elapsed, t.counters.env_steps, t.counters.updates)
    t._stage = t.task.stage
