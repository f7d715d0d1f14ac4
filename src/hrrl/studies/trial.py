"""What every ablation trial does around its domain: train (a divergence is recorded, not raised),
then summarise the run in the fields the report reads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from hrrl.engine.trainer import Trainer

#: Evaluation success that counts as "solved" for the steps-to-threshold metric.
SUCCESS_THRESHOLD = 0.95


def train_recording_crash(trainer: Trainer) -> tuple[str, str | None]:
    """Run ``trainer`` to its stop; returns the stop reason and, for a divergence, what raised."""
    try:
        return trainer.run().stop_reason, None
    except (ValueError, RuntimeError, FloatingPointError) as exc:  # a divergence, recorded
        return "crashed", f"{type(exc).__name__}: {exc}"


def training_summary(
    trainer: Trainer, *, stop_reason: str, crashed: str | None, history_keys: Sequence[str]
) -> dict[str, Any]:
    """The run's counters, health and learning curve (``history_keys`` of each evaluation)."""
    history = trainer.history
    reached = next(
        (h for h in history if h.get("eval/success_rate", 0.0) >= SUCCESS_THRESHOLD), None
    )
    return {
        "stop_reason": stop_reason,
        "crashed": crashed,
        "params_finite": all(
            bool(torch.isfinite(p).all()) for p in trainer.agent.online.parameters()
        ),
        "env_steps": trainer.counters.env_steps,
        "episodes": trainer.counters.episodes,
        "updates": trainer.counters.updates,
        "train_wall_s": trainer.logger.elapsed,
        "steps_to_95": None if reached is None else float(reached["env_steps"]),
        "wall_to_95": None if reached is None else float(reached["wall"]),
        "train_best_success": max((h.get("eval/success_rate", 0.0) for h in history), default=0.0),
        "guard_counts": dict(trainer.guard.counts),
        "history": [
            {k: h[k] for k in ("env_steps", "wall", *history_keys) if k in h} for h in history
        ],
    }
