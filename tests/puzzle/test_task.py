"""The puzzle task evaluates with the player ``hrrl eval`` runs, and it plays what the stack plays."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hrrl.config import apply_overrides
from hrrl.engine.agent import DQNAgent
from hrrl.experiment import ExperimentConfig, preset, puzzle_section
from hrrl.puzzle.core import Status
from hrrl.puzzle.evaluate import eval_metrics
from hrrl.puzzle.stack import play_through_stack
from hrrl.puzzle.task import PuzzleRule, PuzzleTask
from hrrl.run import puzzle_task
from hrrl.studies.baselines import flat_dqn_config, raw_puzzle_task


def untrained_q(task: PuzzleTask, config: ExperimentConfig, seed: int = 0) -> DQNAgent:
    """A freshly initialised agent of ``config`` for ``task`` (its greedy play wanders)."""
    torch.manual_seed(seed)
    return DQNAgent(
        obs_dim=task.obs_dim,
        obs_shape=task.obs_shape,
        n_actions=task.n_actions,
        config=config.agent,
        seed=seed,
    )


@pytest.mark.parametrize("name", ["default", "baseline"])
def test_evaluation_is_the_players_and_matches_the_gymnasium_stack(name: str) -> None:
    config = apply_overrides(preset(name), ["puzzle.eval_count=3"])
    task = puzzle_task(config, seed=1)
    agent = untrained_q(task, config)
    metrics = task.evaluate(agent.q_values)
    greedy = lambda obs: agent.q_values(obs).argmax(axis=1)  # noqa: E731
    played = task.play(greedy, task.eval_puzzles)
    expected, _ = eval_metrics(played, task.eval_puzzles)
    assert {k: metrics[k] for k in expected} == pytest.approx(expected, nan_ok=True)
    assert metrics["eval/stage"] == task.curriculum.stage
    # The Gymnasium stack (the oracle) has the environment's slots; the default's `wide` sets
    # are wider, and the evaluation plays them in their own width, as `hrrl eval` does.
    slots = getattr(task.encoder, "slots", math.inf)
    fits = [i for i, p in enumerate(task.eval_puzzles) if len(p.actions) <= slots]
    oracle = play_through_stack(
        greedy, [task.eval_puzzles[i] for i in fits], task.env_factory, adapt=task.adapt
    )
    assert [played[i].path for i in fits] == [r.path for r in oracle]
    wide = [r for r, p in zip(played, task.eval_puzzles, strict=True) if len(p.actions) > slots]
    assert bool(wide) == (name == "default")
    assert not any(r.status is Status.UNSUPPORTED for r in wide)
    assert name != "default" or any(r.status is not Status.UNSOLVABLE for r in wide)


def test_the_raw_view_plays_what_the_raw_stack_plays() -> None:
    config = apply_overrides(flat_dqn_config(seed=0, env_steps=100), ["puzzle.eval_count=4"])
    task = raw_puzzle_task(config, seed=0)
    agent = untrained_q(task, config, seed=3)

    def greedy(obs: np.ndarray) -> np.ndarray:
        return np.asarray(agent.q_values(obs).argmax(axis=1))

    played = task.play(greedy, task.eval_puzzles)
    oracle = play_through_stack(greedy, task.eval_puzzles, task.env_factory, adapt=task.adapt)
    assert [(r.status, r.path) for r in played] == [(r.status, r.path) for r in oracle]
    assert len({r.status for r in played}) > 1  # not one trivial ending for all


def test_a_puzzle_evaluation_is_solved_only_in_the_last_stage() -> None:
    rule = PuzzleRule(puzzle_section(preset("default")))
    perfect = {"eval/success_rate": 1.0, "eval/efficiency": 1.0}
    last = float(len(puzzle_section(preset("default")).curriculum.stages) - 1)
    assert not rule.solved(perfect)  # no stage recorded: not known to be the last
    assert not rule.solved({**perfect, "eval/stage": last - 1})
    assert rule.solved({**perfect, "eval/stage": last})
    assert not rule.solved({**perfect, "eval/stage": last, "eval/efficiency": 0.99})
    assert not rule.solved({**perfect, "eval/stage": last, "eval/success_rate": 0.999})
    # Every family meets the efficiency, not only the suite's mean; a family with no success
    # (NaN) or no metric at all does not count, and a family outside the suite is not read.
    solved = {**perfect, "eval/stage": last, "eval/trap/efficiency": 1.0}
    assert rule.solved({**solved, "eval/dense/efficiency": math.nan, "eval/maze/efficiency": 0.5})
    assert not rule.solved({**solved, "eval/wide/efficiency": 0.98})
    never = PuzzleRule(
        puzzle_section(apply_overrides(preset("default"), ["puzzle.stop_success=null"]))
    )
    assert not never.solved({**perfect, "eval/stage": last})
    # Ranking: success first; a missing figure counts 0.
    assert rule.score({"eval/success_rate": 0.9, "eval/efficiency": 1.0}) < rule.score(
        {"eval/success_rate": 1.0, "eval/efficiency": 0.5}
    )
    assert rule.score({"eval/success_rate": 1.0, "eval/efficiency": math.nan}) == (1.0, 0.0)


def test_the_suite_leaves_targets_past_its_cap_out() -> None:
    capped = puzzle_task(apply_overrides(preset("default"), ["puzzle.eval_max_target=1000"]))
    full = puzzle_task(apply_overrides(preset("default"), ["puzzle.eval_max_target=null"]))
    assert max(p.target for p in full.eval_puzzles) > 1000
    assert capped.eval_puzzles == [p for p in full.eval_puzzles if p.target <= 1000]


def test_q_bias_probes_only_what_the_gymnasium_stack_plays() -> None:
    # A wide puzzle with a small target is in the suite, wider than the stack's 8 slots: the
    # evaluation plays it, the Q-bias probe (through the stack) leaves it out.
    config = apply_overrides(
        preset("default"),
        ["puzzle.eval_families=[wide]", "puzzle.eval_count=10", "puzzle.eval_seed=0"],
    )
    task = puzzle_task(config)
    small_wide = [p for p in task.eval_puzzles if p.target <= 100 and len(p.actions) > 8]
    assert small_wide and not set(small_wide) & set(task._probes)
    metrics = task.evaluate(untrained_q(task, config).q_values)
    assert math.isfinite(metrics["eval/wide/success_rate"])
