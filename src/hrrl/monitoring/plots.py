"""The report's plots: one :class:`Plot` per PNG, the puzzle run's set and the Gymnasium run's.

A Gymnasium run (:data:`GYM_PLOTS`) gets the evaluation return curve (``eval_return``) and the Q
values (``q_values``) in place of the puzzle-only plots (success by curriculum stage, evaluation
by suite family, the Q-bias against the exact V*). A plot whose metrics were never recorded draws
nothing (``None``) and the report says so.

Plotting uses matplotlib's object API with the Agg canvas: no pyplot, no global backend switch.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from hrrl.monitoring.run_log import STAGE_KEY, RunData, plural, to_float

#: What a Gymnasium task's evaluation records (:mod:`hrrl.gym.task`).
RETURN_KEY, RETURN_STD_KEY = "eval/mean_return", "eval/return_std"
_STATUS = "rollout/status/"
_ACTOR_RATE = re.compile(r"^perf/actor_(\d+)/env_steps_per_s$")
_STAGE_SUCCESS = re.compile(r"^rollout/stage_(\d+)/success_rate$")
_EVAL_FAMILY = re.compile(r"^eval/(.+)/(success_rate|efficiency)$")
_GUARD_EVENT = re.compile(r"^alert/(guard|nonfinite)$")
#: Markers that tell series apart where their lines overlap (each series gets its own).
_MARKERS = ("o", "s", "^", "v", "D", "P", "X", "*", "<", ">", "h", "p")
#: A log axis spanning less than this factor labels every minor tick, and below the second
#: its 2s and 5s (0.2, 0.5, 2, ...).
_ALL_MINOR_BELOW, _SOME_MINOR_BELOW = 2.5, 100.0
#: Markers drawn per series: at staggered points, so coinciding series stay visible.
_MARKS_PER_SERIES = 8

# -- plots --------------------------------------------------------------------------------------

Panel = tuple[str, Sequence[str]]  # (y label, metric keys drawn on it)


@dataclass(frozen=True)
class Plot:
    """One PNG: its file stem, title, what it shows, and how to draw it from a run."""

    name: str
    title: str
    caption: str
    draw: Callable[[RunData], Figure | None]
    needs: str


def _panels(
    run: RunData, title: str, panels: Sequence[Panel], *, log_y: bool = False
) -> Figure | None:
    """Stacked line panels sharing the env-step axis, with stage boundaries; None if all empty."""
    present = [(label, [k for k in keys if k in run.names]) for label, keys in panels]
    present = [(label, keys) for label, keys in present if keys]
    if not present:
        return None
    fig = Figure(figsize=(9, 2.6 * len(present) + 0.6), layout="constrained")
    axes = fig.subplots(len(present), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (label, keys) in zip(axes, present, strict=True):
        positive = True
        for i, key in enumerate(keys):
            steps, values = run.series(key)
            ax.plot(steps, values, label=key, **_series_style(i, len(keys), len(steps)))
            positive = positive and bool((values[np.isfinite(values)] > 0).all())
        if log_y and positive:
            ax.set_yscale("log")
            _plain_log_ticks(ax)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8)
        _mark_stages(ax, run)
    axes[-1].set_xlabel("env step")
    fig.suptitle(title)
    return fig


def _series_style(index: int, count: int, points: int) -> dict[str, Any]:
    """Line style of series ``index`` of ``count`` on one panel: its own colour (tab10, then
    tab20) and marker, markers at points staggered per series, earlier series drawn wider."""
    colour = f"C{index}" if count <= 10 else matplotlib.colormaps["tab20"](index % 20)
    every = max(1, points // _MARKS_PER_SERIES)
    return {
        "color": colour,
        "marker": _MARKERS[index % len(_MARKERS)],
        "markersize": 4,
        "markevery": (index % every, every),
        "linewidth": 1.2 + 1.2 * (count - 1 - index) / max(count - 1, 1),
        "alpha": 0.9,
    }


def _plain_log_ticks(ax: Axes) -> None:
    """Log-axis tick labels as plain numbers (0.2, 0.015), not 2x10^-1. An axis spanning up to
    two decades labels minor ticks too: all of them below a factor 2.5, else the 2s and 5s."""
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:.3g}"))
    low, high = ax.get_ylim()
    ratio = high / low if low > 0 else math.inf

    def minor(value: float, _pos: int | None) -> str:
        if ratio < _ALL_MINOR_BELOW:
            return f"{value:.3g}"
        mantissa = round(value / 10 ** math.floor(math.log10(value)), 6)
        return f"{value:.3g}" if ratio < _SOME_MINOR_BELOW and mantissa in (2, 5) else ""

    ax.yaxis.set_minor_formatter(FuncFormatter(minor))


def _mark_stages(ax: Axes, run: RunData) -> None:
    """A dashed line at each stage change, labelled inside the axes (left of the line in the
    right tenth, so no label runs off the plot)."""
    boundaries = run.stage_boundaries()
    if not boundaries:
        return
    ax.margins(x=0.02)
    low, high = ax.get_xlim()
    for step, stage in boundaries:
        ax.axvline(step, color="grey", linestyle="--", linewidth=0.8)
        right = step > low + 0.9 * (high - low)
        ax.annotate(
            f"stage {stage:g}", (step, 0.98), xycoords=("data", "axes fraction"),
            xytext=(-2 if right else 2, 0), textcoords="offset points",
            fontsize=7, color="grey", va="top", ha="right" if right else "left", rotation=90,
        )  # fmt: skip


def _success_by_stage(run: RunData) -> Figure | None:
    per_stage = sorted(
        (k for k in run.names if _STAGE_SUCCESS.match(k)),
        key=lambda k: int(_STAGE_SUCCESS.match(k).group(1)),  # type: ignore[union-attr]
    )
    if per_stage:
        return _panels(run, "Success rate per curriculum stage", [("success rate", per_stage)])
    if not {"rollout/success_rate", STAGE_KEY} <= run.names:
        return None
    by_stage: dict[float, list[float]] = {}
    for row in run.metrics:
        if "rollout/success_rate" in row and STAGE_KEY in row:
            value = to_float(row["rollout/success_rate"])
            by_stage.setdefault(to_float(row[STAGE_KEY]), []).append(value)
    stages = sorted(by_stage)
    fig = Figure(figsize=(7, 3.6), layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(stages))
    ax.bar(x - 0.2, [max(by_stage[s]) for s in stages], width=0.4, label="best interval")
    ax.bar(x + 0.2, [by_stage[s][-1] for s in stages], width=0.4, label="last interval")
    ax.set_xticks(x, [f"stage {s:g}\n({plural(len(by_stage[s]), 'interval')})" for s in stages])
    ax.set_ylabel("rollout success rate")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8)
    fig.suptitle("Success rate per curriculum stage")
    return fig


def _eval_by_family(run: RunData) -> Figure | None:
    success = sorted(k for k in run.names if _EVAL_FAMILY.match(k) and k.endswith("success_rate"))
    efficiency = sorted(k for k in run.names if _EVAL_FAMILY.match(k) and k.endswith("efficiency"))
    overall = [k for k in ("eval/success_rate", "eval/efficiency") if k in run.names]
    if not success and not efficiency and not overall:
        return None
    return _panels(
        run,
        "Evaluation by family",
        [
            ("success rate", success + [k for k in overall if k.endswith("success_rate")]),
            ("efficiency", efficiency + [k for k in overall if k.endswith("efficiency")]),
        ],
    )


def _loss(run: RunData) -> Figure | None:
    fig = _panels(
        run,
        "Loss and gradient norm (red: guard events)",
        [
            ("loss", ["train/loss"]),
            ("TD error", ["train/td_error"]),
            ("grad norm (pre-clip)", ["train/grad_norm"]),
        ],
        log_y=True,
    )
    if fig is not None:
        guard_steps = [e["step"] for e in run.events if _GUARD_EVENT.match(str(e.get("kind")))]
        for ax in fig.axes:
            for step in guard_steps:
                ax.axvline(step, color="red", alpha=0.5, linewidth=0.8)
    return fig


def _eval_return(run: RunData) -> Figure | None:
    """The greedy evaluation's mean return, a band of one standard deviation around it."""
    if RETURN_KEY not in run.names:
        return None
    fig = Figure(figsize=(9, 3.8), layout="constrained")
    ax = fig.subplots()
    steps, mean = run.series(RETURN_KEY)
    ax.plot(steps, mean, label=RETURN_KEY, **_series_style(0, 1, len(steps)))
    if RETURN_STD_KEY in run.names:
        rows = [row for row in run.metrics if RETURN_KEY in row and RETURN_STD_KEY in row]
        at = np.array([row["step"] for row in rows], dtype=np.int64)
        centre = np.array([to_float(row[RETURN_KEY]) for row in rows])
        spread = np.array([to_float(row[RETURN_STD_KEY]) for row in rows])
        ax.fill_between(at, centre - spread, centre + spread, alpha=0.2, label="+/- 1 std")
    ax.set_xlabel("env step")
    ax.set_ylabel("evaluation return")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.suptitle("Evaluation return (greedy episodes)")
    return fig


_LEARNING_CURVES = Plot("learning_curves", "Learning curves",
         "Rollout success rate (and the share of subgoals reached as asked, under a hierarchy), "
         "return, episode length and episode end statuses against env steps; dashed lines mark "
         "curriculum stage changes.",
         lambda run: _panels(run, "Learning curves", [
             ("success rate", ["rollout/success_rate", "rollout/subgoal_success_rate"]),
             ("episode return", ["rollout/episode_return", "rollout/return"]),
             ("episode length", ["rollout/episode_length"]),
             ("episodes by status", sorted(k for k in run.names if k.startswith(_STATUS)))]),
         "rollout/success_rate, rollout/episode_return or rollout/episode_length")  # fmt: skip
_EPSILON = Plot("epsilon", "Exploration", "Effective epsilon of the behaviour policy.",
         lambda run: _panels(run, "Exploration", [("epsilon", ["rollout/epsilon"])]),
         "rollout/epsilon")  # fmt: skip
_LOSS = Plot("loss", "Loss and gradient norm",
         "Training loss, TD error and the gradient norm before clipping (log scale); red lines "
         "mark guard events.", _loss, "train/loss, train/td_error or train/grad_norm")  # fmt: skip
_THROUGHPUT = Plot("throughput", "Throughput",
         "Env steps and gradient updates per second; in a distributed run, each actor's env "
         "steps per second too.",
         lambda run: _panels(run, "Throughput", [
             ("env steps/s", ["perf/env_steps_per_s"]), ("updates/s", ["perf/updates_per_s"]),
             ("env steps/s per actor", sorted(
                 (k for k in run.names if _ACTOR_RATE.match(k)),
                 key=lambda k: int(_ACTOR_RATE.match(k).group(1)))),  # type: ignore[union-attr]
         ]),
         "perf/env_steps_per_s or perf/updates_per_s")  # fmt: skip

#: A puzzle run's report.
PLOTS: tuple[Plot, ...] = (
    _LEARNING_CURVES,
    Plot("success_by_stage", "Success per stage",
         "Success rate per curriculum stage (per-stage curves, or the best and last interval of "
         "each stage).", _success_by_stage,
         "rollout/stage_<k>/success_rate, or rollout/success_rate with rollout/stage"),
    _EPSILON,
    _LOSS,
    Plot("q_bias", "Q-bias",
         "Mean Q minus the exact optimal value V* where it can be computed (0 = unbiased), "
         "and the mean and max Q.",
         lambda run: _panels(run, "Q-bias and Q values", [
             ("Q - V*", ["train/q_bias"]), ("Q", ["train/q_mean", "train/q_max"])]),
         "train/q_bias, train/q_mean or train/q_max"),
    Plot("eval_by_family", "Evaluation by family",
         "Evaluation success rate and efficiency (optimal steps / steps taken) per suite family.",
         _eval_by_family, "eval/<family>/success_rate or eval/<family>/efficiency"),
    _THROUGHPUT,
)  # fmt: skip

#: A Gymnasium run's report: the evaluation return where the puzzle has success by stage and by
#: family, and the Q values without the puzzle's exact V* (no curriculum, no suite families).
GYM_PLOTS: tuple[Plot, ...] = (
    _LEARNING_CURVES,
    Plot("eval_return", "Evaluation return",
         "Mean return of the greedy evaluation episodes (seeded alike at every evaluation), "
         "with a band of one standard deviation.", _eval_return, "eval/mean_return"),
    _EPSILON,
    _LOSS,
    Plot("q_values", "Q values", "Mean and max Q of the learning batches.",
         lambda run: _panels(run, "Q values", [("Q", ["train/q_mean", "train/q_max"])]),
         "train/q_mean or train/q_max"),
    _THROUGHPUT,
)  # fmt: skip


def plots_for(run: RunData) -> tuple[Plot, ...]:
    """:data:`GYM_PLOTS` for a Gymnasium run (its config has a ``gym`` section, or it recorded
    ``eval/mean_return``), else :data:`PLOTS`."""
    config = run.config or {}
    legacy = config.get("env")  # hrrl 0.1 kept the Gymnasium id at env.env_id
    gym = isinstance(config.get("gym"), dict) or (
        isinstance(legacy, dict) and legacy.get("env_id") is not None
    )
    return GYM_PLOTS if gym or RETURN_KEY in run.names else PLOTS
