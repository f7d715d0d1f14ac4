"""Every player on one suite: the baselines, the prototype, hrrl and the exact optimum.

Each learner is trained per seed with the same environment-step budget, then played greedily on
the suite; the table averages over seeds (95% t-interval where there are several)::

    method     trains on                         budget
    random     -                                 -
    greedy     -                                 -
    tabular-q  paper stage 4 (targets 5-100)     budget env steps
    flat-dqn   paper stage 4, raw numbers        budget env steps
    prototype  the baseline preset               budget env steps (and its 5,000 episodes)
    hrrl       the default preset                budget env steps (stops early at 100% eval)
    exact      -                                 -

Success is over the suite's solvable puzzles that the method can play, mean steps and efficiency
(exact optimum / steps) over the successes; training time is wall time of training alone. A
method of one action set (every learner but hrrl, whose slot network plays any set) reports the
suite's lines of other sets UNSUPPORTED and the ``unsupported`` column counts them; the rest of
the suite still runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from hrrl.config import apply_overrides
from hrrl.engine.trainer import Trainer
from hrrl.errors import ConfigError
from hrrl.experiment import preset
from hrrl.puzzle.core import Puzzle, Status
from hrrl.puzzle.suite import Result, summarize
from hrrl.run import puzzle_task
from hrrl.studies.ablation_report import Estimate, mean_ci
from hrrl.studies.baselines import (
    TabularQ,
    TabularQConfig,
    exact_results,
    flat_dqn_config,
    flat_policy,
    greedy_results,
    random_results,
    raw_puzzle_task,
)

METHODS: tuple[str, ...] = (
    "random",
    "greedy",
    "tabular-q",
    "flat-dqn",
    "prototype",
    "hrrl",
    "exact",
)
#: Methods whose result does not depend on the seed (played once).
DETERMINISTIC = frozenset({"greedy", "exact"})


@dataclass(frozen=True)
class Outcome:
    """One method, one seed."""

    success: float
    mean_steps: float
    efficiency: float
    train_seconds: float
    unsupported: int = 0
    """Suite lines this method cannot play (reported UNSUPPORTED, left out of success)."""


@dataclass(frozen=True)
class Row:
    """One method over seeds."""

    method: str
    success: Estimate
    mean_steps: Estimate
    efficiency: Estimate
    train_seconds: Estimate
    unsupported: int = 0
    """Suite lines this method cannot play (the same on every seed)."""


def _outcome(results: Sequence[Result], seconds: float) -> Outcome:
    row = summarize(results)[-1]  # the "all" row
    steps = [r.steps for r in results if r.status is Status.SUCCESS]
    return Outcome(
        success=row.success_rate,
        mean_steps=sum(steps) / len(steps) if steps else float("nan"),
        efficiency=row.mean_efficiency,
        train_seconds=seconds,
        unsupported=row.unsupported,
    )


def _trainer_overrides(seed: int, budget: int) -> list[str]:
    return [
        f"train.seed={seed}",
        f"train.total_env_steps={budget}",
        "checkpoint.enabled=false",
        "train.threads=1",
    ]


def play_method(
    method: str, puzzles: Sequence[Puzzle], *, seed: int, budget: int
) -> tuple[list[Result], float]:
    """Train ``method`` (if it learns) and play ``puzzles``; returns results and training time."""
    torch.set_num_threads(1)
    start = time.perf_counter()
    if method == "random":
        return random_results(puzzles, seed=seed), 0.0
    if method == "greedy":
        return greedy_results(puzzles), 0.0
    if method == "exact":
        return exact_results(puzzles), 0.0
    if method == "tabular-q":
        agent = TabularQ(config=TabularQConfig(), seed=seed)
        agent.train(budget)
        return agent.play(puzzles), time.perf_counter() - start
    if method == "flat-dqn":
        config = flat_dqn_config(seed=seed, env_steps=budget)
        trainer = Trainer(config, task=raw_puzzle_task(config, seed=seed + 1))
        trainer.run()
        seconds = time.perf_counter() - start
        return flat_policy(trainer.greedy, puzzles), seconds
    if method in ("prototype", "hrrl"):
        name = "baseline" if method == "prototype" else "default"
        config = apply_overrides(preset(name), _trainer_overrides(seed, budget))
        task = puzzle_task(config)
        trainer = Trainer(config, task=task)
        trainer.run()
        seconds = time.perf_counter() - start
        return task.play(trainer.greedy, puzzles), seconds
    raise ConfigError(f"method={method!r} is unknown: use one of {', '.join(METHODS)}")


def compare(
    puzzles: Sequence[Puzzle],
    *,
    methods: Sequence[str] = METHODS,
    seeds: int = 1,
    budget: int = 30_000,
    on_done: Callable[[str, int, Outcome], object] | None = None,
) -> list[Row]:
    """Rows of the comparison table, one per method, in ``methods`` order."""
    for m in methods:
        if m not in METHODS:
            raise ConfigError(f"method={m!r} is unknown: use one of {', '.join(METHODS)}")
    if seeds < 1 or budget < 1:
        raise ConfigError(f"seeds={seeds}, budget={budget}: give positive integers")
    rows = []
    for method in methods:
        outcomes = []
        for seed in range(1 if method in DETERMINISTIC else seeds):
            results, seconds = play_method(method, puzzles, seed=seed, budget=budget)
            outcome = _outcome(results, seconds)
            outcomes.append(outcome)
            if on_done:
                on_done(method, seed, outcome)
        rows.append(
            Row(
                method=method,
                success=mean_ci([o.success for o in outcomes]),
                mean_steps=mean_ci([o.mean_steps for o in outcomes]),
                efficiency=mean_ci([o.efficiency for o in outcomes]),
                train_seconds=mean_ci([o.train_seconds for o in outcomes]),
                unsupported=max(o.unsupported for o in outcomes),
            )
        )
    return rows


def format_rows(rows: Sequence[Row]) -> str:
    """A markdown table."""
    head = ["method", "success", "mean steps", "efficiency", "train s", "unsupported"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [
            r.method,
            r.success.cell(".3f"),
            r.mean_steps.cell(".1f"),
            r.efficiency.cell(".3f"),
            r.train_seconds.cell(".1f"),
            str(r.unsupported),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def rows_json(rows: Sequence[Row], *, suite: str, seeds: int, budget: int) -> dict[str, object]:
    """Plain data of the table (what ``hrrl ablate --compare`` reads)."""
    return {
        "suite": suite,
        "seeds": seeds,
        "budget": budget,
        "rows": [
            {
                "method": r.method,
                "success": r.success.mean,
                "success_ci95": r.success.half,
                "mean_steps": r.mean_steps.mean,
                "efficiency": r.efficiency.mean,
                "train_seconds": r.train_seconds.mean,
                "unsupported": r.unsupported,
                "n": r.success.n,
            }
            for r in rows
        ],
    }
