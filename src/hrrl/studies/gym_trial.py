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
from hrrl.studies.trial import train_recording_crash, training_summary

GYM_ARMS: dict[str, tuple[str, ...]] = {
    "all": (),
    "no-double": ("agent.double=false",),
    "+double": ("agent.double=true",),  # for presets with a plain target (MinAtar)
    "no-per": ("replay.kind=uniform",),
    "no-clip": ("agent.max_grad_norm=null", "guard.enabled=false"),
    "+adaptive-eps": ("exploration.kind=adaptive",),
    "+n-step": ("agent.n_step=3",),
    "no-n-step": ("agent.n_step=1",),
    "+dueling": ("agent.dueling=true",),
}
#: Seed of the first held-out episode (apart from training seeds and the preset's EVAL_SEED).
HELDOUT_SEED = 1_000_000


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
    stop_reason, crashed = train_recording_crash(trainer)
    held = evaluate_env(
        spec.env,
        greedy_policy(trainer.agent.q_values),
        episodes=spec.heldout_count,
        seed=HELDOUT_SEED,
    )
    nan = math.nan
    return {
        "arm": spec.arm,
        "seed": spec.seed,
        "env": spec.env,
        "config_hash": config_hash,
        **training_summary(
            trainer,
            stop_reason=stop_reason,
            crashed=crashed,
            history_keys=("eval/success_rate", "eval/mean_return"),
        ),
        "fault": None,
        "heldout": {
            "success_rate": held["eval/success_rate"],
            "efficiency": held["eval/efficiency"],
            "return": held["eval/mean_return"],
            "mean_steps": held["eval/mean_length"],
            "by_family": {},
        },
        "paper": {"success_rate": nan, "efficiency": nan, "return": nan, "by_family": {}},
        "trial_wall_s": time.perf_counter() - start,
    }
