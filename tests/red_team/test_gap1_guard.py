"""GAP 1, collapse: extreme rewards (+-5000) and NaN rewards injected into training.

Same seed, same puzzles, same fault (a :class:`~hrrl.studies.fault.FaultInjectingTask` around the
puzzle task, after the agent has learnt), two settings:

* the original behaviour (``agent.max_grad_norm=null guard.enabled=false``): the first NaN reward
  reaches the parameters, or the run dies on it;
* the fix (gradient clipping and the guard): every poisoned update is refused, the parameters
  stay finite and the run finishes.

After +-5000 rewards alone (no NaN), the fix also keeps the success rate it had, and the
original does not. That took an engine change: at first the guard refused every batch holding a
poisoned transition and rolled back, prioritized replay kept drawing those transitions at top
priority (a refused update never lowered it), and success fell from 1.0 to 0.12. The guard now
*screens* transitions (``Guard.screen``): one whose TD error is far above the recent scale, or not
finite, is left out of the update and reported with TD error 0, so the replay stops drawing it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import torch

from hrrl.config import apply_overrides
from hrrl.engine.trainer import RunSeeds, Trainer
from hrrl.experiment import preset
from hrrl.run import puzzle_task
from hrrl.studies.fault import FaultConfig, FaultInjectingTask

SEED = 0
#: The stack this gap was shown on: the relational encoder and 3-head network on actions 1, 3, 5
#: (the default preset before issue 14). The slot network of today's default, trained the same
#: 5,000 steps, kept success 1.0 through the +-5000 rewards even without the guard (measured:
#: five evaluations at 1.0), so it cannot show this failure; the guard still screens the poison.
PRE_SLOTS = (
    "puzzle.encoder=relational",
    "agent.network=phase_adaptive",
    "agent.hidden=256",
    "puzzle.curriculum.action_sets=fixed",
    "puzzle.eval_actions=[]",
)
ORIGINAL = ("agent.max_grad_norm=null", "guard.enabled=false")
FAULT = FaultConfig(start_step=2_500, stop_step=3_500, rate=0.02, nan_share=0.5, seed=SEED)
EXTREME_ONLY = dataclasses.replace(FAULT, nan_share=0.0)


def train(overrides: tuple[str, ...], fault: FaultConfig) -> dict[str, Any]:
    torch.set_num_threads(1)
    config = apply_overrides(
        preset("default"),
        [
            f"train.seed={SEED}",
            "train.total_env_steps=5000",
            "train.eval_every=1000",
            "puzzle.eval_count=4",
            "puzzle.stop_success=null",
            "checkpoint.enabled=false",
            *PRE_SLOTS,
            *overrides,
        ],
    )
    task = FaultInjectingTask(puzzle_task(config, seed=RunSeeds.of(SEED).task), fault)
    trainer = Trainer(config, task=task)
    error = None
    try:
        trainer.run()
    except ValueError as exc:  # e.g. PER refusing NaN priorities: the run dies
        error = str(exc)
    success = [h["eval/success_rate"] for h in trainer.history]
    return {
        "error": error,
        "finite": all(bool(torch.isfinite(p).all()) for p in trainer.agent.online.parameters()),
        "success": success,
        "guard": dict(trainer.guard.counts),  # empty for the original (a NullGuard)
        "injected": (task.n_extreme, task.n_nan),
    }


@pytest.fixture(scope="module")
def runs() -> dict[str, dict[str, Any]]:
    return {"original": train(ORIGINAL, FAULT), "fixed": train((), FAULT)}


def test_fault_was_injected(runs: dict[str, dict[str, Any]]) -> None:
    for run in runs.values():
        extreme, nan = run["injected"]
        assert extreme > 0 and nan > 0


def test_original_goes_nonfinite_or_dies(runs: dict[str, dict[str, Any]]) -> None:
    run = runs["original"]
    assert run["error"] is not None or not run["finite"], run


def test_fix_stays_finite_and_refuses_the_poison(runs: dict[str, dict[str, Any]]) -> None:
    run = runs["fixed"]
    assert run["error"] is None and run["finite"], run
    assert run["guard"]["screened"] > 0  # the poisoned transitions were seen and left out
    assert len(run["success"]) == 5  # it trained (and evaluated) to the end


def test_fix_keeps_success_through_extreme_rewards_and_original_does_not() -> None:
    fixed = train((), EXTREME_ONLY)
    before = fixed["success"][1]  # at 2,000 steps, before the fault
    assert before >= 0.9, fixed  # the agent had learnt
    assert fixed["success"][-1] >= before - 0.05, fixed
    original = train(ORIGINAL, EXTREME_ONLY)
    assert original["success"][1] >= 0.9, original  # same seed, same data: it had learnt too
    assert original["success"][-1] < before - 0.05, original
