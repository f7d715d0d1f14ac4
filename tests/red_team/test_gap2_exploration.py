"""GAP 2, exploration: the prototype's fixed decay ignores how training goes; the adaptive
schedule raises epsilon in a stalled curriculum stage and lowers it as success rises.

Both schedules are driven by the same inputs: first a scripted success sequence (a stage
mastered, then a new stage stuck at 0% for a while, then success rising), then a short real
training run whose second curriculum stage the agent cannot solve (every puzzle there has the
five numbers below its target forbidden, so no path exists and success stays at 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from hrrl.config import apply_overrides
from hrrl.engine.exploration import ExplorationConfig, make_exploration
from hrrl.engine.trainer import RunSeeds, Trainer
from hrrl.experiment import preset
from hrrl.puzzle.core import Puzzle
from hrrl.puzzle.curriculum import Curriculum
from hrrl.run import puzzle_task

MASTERED, STALL, RISE = 300, 600, 600


def script(stall_success: float) -> list[tuple[bool, int]]:
    """(success, stage): stage 0 mastered, then stage 1 at ``stall_success``, then rising."""
    rng = np.random.default_rng(0)
    out = [(True, 0)] * MASTERED
    out += [(bool(rng.random() < stall_success), 1) for _ in range(STALL)]
    out += [(bool(rng.random() < (i + 1) / RISE), 1) for i in range(RISE)]
    return out


def trace(kind: str, events: list[tuple[bool, int]]) -> np.ndarray:
    schedule = make_exploration(ExplorationConfig(kind=kind))
    stage = None
    eps = []
    for success, st in events:
        if st != stage:
            schedule.on_stage_change(st)
            stage = st
        schedule.on_episode_end(success=success, stage=st)
        eps.append(schedule.epsilon)
    return np.asarray(eps)


def test_adaptive_raises_in_a_stall_and_lowers_as_success_rises() -> None:
    eps = trace("adaptive", script(stall_success=0.0))
    stall = eps[MASTERED : MASTERED + STALL]
    rise = eps[MASTERED + STALL :]
    assert np.sum(np.diff(stall) > 0) >= 3, "epsilon should go up at the stalled checks"
    # Held up near its stage start, where the stage's own decay alone would reach 5% of it.
    assert stall[-1] > 0.5 * stall[0] > 10 * 0.5 * 0.995**STALL, (stall[0], stall[-1])
    assert rise[-1] < 0.5 * rise[0], (rise[0], rise[-1])  # brought down as success rose


def test_fixed_decay_does_neither() -> None:
    stalled = trace("decay", script(stall_success=0.0))
    solved = trace("decay", script(stall_success=1.0))
    assert np.all(np.diff(stalled) <= 0)  # never raised
    np.testing.assert_array_equal(stalled, solved)  # and blind to success either way


def test_adaptive_reacts_to_success_on_the_same_episodes() -> None:
    stalled = trace("adaptive", script(stall_success=0.0))
    solved = trace("adaptive", script(stall_success=1.0))
    end_of_stall = MASTERED + STALL - 1
    assert stalled[end_of_stall] > 2 * solved[end_of_stall]


# --- a real run with a stage the agent cannot solve ------------------------------------------------
@dataclass
class BlockedSecondStage(Curriculum):
    """Stage 1 serves puzzles whose target is sealed off by the five numbers below it."""

    def sample(self, rng: np.random.Generator) -> Puzzle:
        if self.stage == 0:
            return super().sample(rng)
        target = int(rng.integers(20, 40))
        return Puzzle.create(target=target, forbidden=range(target - 5, target))


def run(kind: str) -> tuple[list[float], int, int]:
    torch.set_num_threads(1)
    config = apply_overrides(
        preset("default"),
        [
            "train.seed=0",
            "train.total_env_steps=4000",
            "train.updates_per_train=2",
            "puzzle.eval_count=0",
            "train.num_envs=16",
            "checkpoint.enabled=false",
            f"exploration.kind={kind}",
            "exploration.adaptive.stage_restart=0.3",
            "puzzle.curriculum.stages=[{targets: [5, 10]}, {targets: [20, 40]}]",
            "puzzle.curriculum.gate_window=50",
            "puzzle.curriculum.mix_previous=0.0",
        ],
    )
    task = puzzle_task(config, seed=RunSeeds.of(0).task)
    task.curriculum = BlockedSecondStage(config.puzzle.curriculum)
    trainer = Trainer(config, task=task)
    eps: list[float] = []
    entered = -1

    def watch(_: int) -> None:
        nonlocal entered
        if task.stage == 1 and entered < 0:
            entered = len(eps)
        eps.append(trainer.exploration.epsilon)

    trainer.run(progress=watch)
    return eps, entered, task.curriculum.episodes_in_stage


@pytest.mark.parametrize("kind", ["decay", "adaptive"])
def test_real_run_with_an_unsolvable_stage(kind: str) -> None:
    eps, entered, stage_episodes = run(kind)
    assert entered > 0 and stage_episodes > 200, "the agent must reach the blocked stage"
    in_stage = np.asarray(eps[entered:])
    if kind == "decay":
        assert np.all(np.diff(eps) <= 0) and in_stage[-1] <= in_stage[0]
    else:
        assert np.any(np.diff(in_stage) > 0) and in_stage.max() > in_stage[0]
