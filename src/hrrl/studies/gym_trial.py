"""One ablation trial on a Gymnasium task: where the review's claims about each fix can show.

On the puzzle every arm solves the task within about 1,000 env steps, so Double DQN, PER and
the rest measure +0 there. A Gymnasium trial trains the task's tuned preset (:mod:`hrrl.gym.presets`)
with one switch changed, then plays the final greedy policy on ``heldout_count`` episodes seeded
apart from training and from the in-training evaluation::

    arm             overrides on the task's preset
    all             (none: every fix on)
    no-double       agent.double=false
    no-per          replay.kind=uniform
    no-clip         agent.max_grad_norm=null guard.enabled=false
    +adaptive-eps   exploration.kind=adaptive    (the presets explore linearly)
    +n-step         agent.n_step=3
    no-n-step       agent.n_step=1               (CartPole-v1's preset uses 3-step returns)
    +dueling        agent.dueling=true

The result has the puzzle trial's shape (``heldout.success_rate`` = episodes reaching the spec's
reward threshold, ``heldout.efficiency`` = the normalised return, ``heldout.return``), so the
same report, confidence intervals and claims table apply.
"""

from __future__ import annotations

import math
import time
from typing import Any, Protocol

import torch

from hrrl.config import apply_overrides
from hrrl.engine.task import greedy_policy
from hrrl.experiment import ExperimentConfig, gym_preset
from hrrl.gym.task import evaluate_env
from hrrl.run import build_trainer

GYM_ARMS: dict[str, tuple[str, ...]] = {
    "all": (),
    "no-double": ("agent.double=false",),
    "no-per": ("replay.kind=uniform",),
    "no-clip": ("agent.max_grad_norm=null", "guard.enabled=false"),
    "+adaptive-eps": ("exploration.kind=adaptive",),
    "+n-step": ("agent.n_step=3",),
    "no-n-step": ("agent.n_step=1",),
    "+dueling": ("agent.dueling=true",),
}
#: Seed of the first held-out episode (apart from training seeds and the preset's EVAL_SEED).
HELDOUT_SEED = 1_000_000
#: Evaluation success that counts as "solved" for the steps-to-threshold metric.
SUCCESS_THRESHOLD = 0.95


class GymTrialSpec(Protocol):
    """What a Gymnasium trial reads of :class:`hrrl.studies.ablation.TrialSpec`."""

    @property
    def arm(self) -> str: ...
    @property
    def seed(self) -> int: ...
    @property
    def env(self) -> str | None: ...
    @property
    def budget_steps(self) -> int: ...
    @property
    def eval_every(self) -> int: ...
    @property
    def eval_count(self) -> int: ...
    @property
    def heldout_count(self) -> int: ...


def gym_trial_config(spec: GymTrialSpec) -> ExperimentConfig:
    """The task's preset, the arm's overrides, then the settings every arm shares."""
    assert spec.env is not None
    return apply_overrides(
        gym_preset(spec.env),
        [
            *GYM_ARMS[spec.arm],
            f"train.seed={spec.seed}",
            f"train.total_env_steps={spec.budget_steps}",
            f"train.eval_every={spec.eval_every}",
            f"gym.eval_episodes={spec.eval_count}",
            "train.threads=1",
            "checkpoint.enabled=false",
        ],
    )


def run_gym_trial(spec: GymTrialSpec, config_hash: str) -> dict[str, Any]:
    """Train one arm on one seed of a Gymnasium task and score its final greedy policy."""
    torch.set_num_threads(1)
    start = time.perf_counter()
    assert spec.env is not None
    config = gym_trial_config(spec)
    trainer = build_trainer(config)
    crashed: str | None = None
    try:
        stop_reason = trainer.run().stop_reason
    except (ValueError, RuntimeError, FloatingPointError) as exc:  # a divergence, recorded
        crashed, stop_reason = f"{type(exc).__name__}: {exc}", "crashed"
    held = evaluate_env(
        spec.env,
        greedy_policy(trainer.agent.q_values),
        episodes=spec.heldout_count,
        seed=HELDOUT_SEED,
    )
    reached = next(
        (h for h in trainer.history if h.get("eval/success_rate", 0.0) >= SUCCESS_THRESHOLD),
        None,
    )
    nan = math.nan
    return {
        "arm": spec.arm,
        "seed": spec.seed,
        "env": spec.env,
        "config_hash": config_hash,
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
        "train_best_success": max(
            (h.get("eval/success_rate", 0.0) for h in trainer.history), default=0.0
        ),
        "guard_counts": dict(trainer.guard.counts),
        "fault": None,
        "heldout": {
            "success_rate": held["eval/success_rate"],
            "efficiency": held["eval/efficiency"],
            "return": held["eval/mean_return"],
            "mean_steps": held["eval/mean_length"],
            "by_family": {},
        },
        "paper": {"success_rate": nan, "efficiency": nan, "return": nan, "by_family": {}},
        "history": [
            {
                k: h[k]
                for k in ("env_steps", "wall", "eval/success_rate", "eval/mean_return")
                if k in h
            }
            for h in trainer.history
        ],
        "trial_wall_s": time.perf_counter() - start,
    }
