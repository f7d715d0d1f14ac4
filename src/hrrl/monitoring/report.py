"""``hrrl report``: PNG plots and one ``report.html`` from a run directory's logs.

Reads whatever the run has written so far (DESIGN §4), so it works on a finished run, a running one
and a killed one::

    runs/<name>/config.yaml      -> the config section (optional)
    runs/<name>/metrics.jsonl    -> every plot and the final metrics table (optional)
    runs/<name>/events.jsonl     -> the events table, guard marks on the loss plot (optional)
                  |
                  v
    runs/<name>/report/  learning_curves.png  success_by_stage.png  epsilon.png  loss.png
                         q_bias.png  eval_by_family.png  throughput.png  report.html

Unparsable JSONL lines (the half-written last line of a killed run) are skipped and counted. If a
resumed run logged a step again, the rows it rolled back are dropped (the log keeps the history the
final model actually has). A plot whose metrics were never recorded is skipped with a note in the
HTML. Images are referenced by file name next to ``report.html`` (``embed=True`` inlines them as
base64 instead, for a single file to mail).

Plotting uses matplotlib's object API with the Agg canvas: no pyplot, no global backend switch.
"""

from __future__ import annotations

import base64
import datetime
import html
import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import yaml
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from hrrl.errors import HrrlError

#: The files of a run directory the report reads (DESIGN §4).
RUN_FILES = ("metrics.jsonl", "events.jsonl", "config.yaml")
STAGE_KEY = "rollout/stage"
_STATUS = "rollout/status/"
_STAGE_SUCCESS = re.compile(r"^rollout/stage_(\d+)/success_rate$")
_EVAL_FAMILY = re.compile(r"^eval/(.+)/(success_rate|efficiency)$")
_GUARD_EVENT = re.compile(r"^alert/(guard|nonfinite)$")
#: The trainer's event when the curriculum moves on: "curriculum stage 0 -> 1".
STAGE_EVENT = "stage"
_STAGE_CHANGE = re.compile(r"-> *(\d+)")
#: Markers that tell series apart where their lines overlap (each series gets its own).
_MARKERS = ("o", "s", "^", "v", "D", "P", "X", "*", "<", ">", "h", "p")
#: A log axis spanning less than this factor labels every minor tick, and below the second
#: its 2s and 5s (0.2, 0.5, 2, ...).
_ALL_MINOR_BELOW, _SOME_MINOR_BELOW = 2.5, 100.0
#: Markers drawn per series: at staggered points, so coinciding series stay visible.
_MARKS_PER_SERIES = 8


@dataclass
class RunData:
    """What a run directory holds, parsed; ``notes`` say what was missing or skipped."""

    run_dir: Path
    metrics: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    config: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def names(self) -> set[str]:
        """Every metric name recorded at least once."""
        return {key for row in self.metrics for key in row} - {"step", "time"}

    def series(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) of the rows that recorded ``key``; values as float64."""
        rows = [row for row in self.metrics if key in row]
        steps = np.array([row["step"] for row in rows], dtype=np.int64)
        values = np.array([_to_float(row[key]) for row in rows], dtype=np.float64)
        return steps, values

    def stage_boundaries(self) -> list[tuple[int, float]]:
        """(step, new stage) for every curriculum stage entered.

        From the ``stage`` events (logged at the step each change happened) when the run has
        them; else wherever ``rollout/stage`` changes between rows, each stage skipped between
        two rows marked at the later row.
        """
        events = [e for e in self.events if e.get("kind") == STAGE_EVENT]
        if events:
            found = []
            for event in events:
                match = _STAGE_CHANGE.search(str(event.get("message", "")))
                if match is not None:
                    found.append((int(event["step"]), float(match.group(1))))
            return found
        steps, stages = self.series(STAGE_KEY)
        out: list[tuple[int, float]] = []
        for i in range(1, len(stages)):
            if stages[i] > stages[i - 1]:
                for stage in range(int(stages[i - 1]) + 1, int(stages[i]) + 1):
                    out.append((int(steps[i]), float(stage)))
            elif stages[i] != stages[i - 1]:
                out.append((int(steps[i]), float(stages[i])))
        return out


@dataclass(frozen=True)
class ReportResult:
    """Where the report went: the HTML, the images written, the notes shown in it."""

    html: Path
    images: list[Path]
    notes: list[str]


def _to_float(value: Any) -> float:
    """JSON value -> float; the logger writes non-finite floats as "NaN" / "Infinity" strings."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def read_jsonl(path: Path) -> tuple[list[dict[str, Any]], int]:
    """The JSON objects of ``path``, one per line, and how many lines could not be parsed."""
    rows: list[dict[str, Any]] = []
    bad = 0
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                bad += 1
                continue
            if isinstance(row, dict) and isinstance(row.get("step"), int):
                rows.append(row)
            else:
                bad += 1
    return rows, bad


def _drop_rolled_back(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keep the history a resumed run actually has.

    A row whose step goes back (to s) starts a resumed run: the earlier rows at steps >= s were
    rolled back with the model and are dropped. Consecutive rows at one step are all kept.
    """
    kept: list[dict[str, Any]] = []
    for row in rows:
        if kept and row["step"] < kept[-1]["step"]:
            while kept and kept[-1]["step"] >= row["step"]:
                kept.pop()
        kept.append(row)
    return kept


def load_run(run_dir: str | Path) -> RunData:
    """Parse ``config.yaml``, ``metrics.jsonl`` and ``events.jsonl``, whichever exist."""
    run_dir = Path(run_dir)
    if run_dir.is_file():
        in_a_run = any((run_dir.parent / name).exists() for name in RUN_FILES)
        hint = f" (its directory {str(run_dir.parent)!r}?)" if in_a_run else ""
        raise HrrlError(
            f"{str(run_dir)!r} is a file, not a run directory: pass the directory `hrrl train` "
            f"wrote{hint}"
        )
    if not run_dir.is_dir():
        raise FileNotFoundError(
            f"run directory {str(run_dir)!r} does not exist: pass the directory `hrrl train` wrote"
        )
    files = [run_dir / name for name in RUN_FILES]
    if not any(path.exists() for path in files):
        raise HrrlError(
            f"{str(run_dir)!r} is not a run directory: it has no metrics.jsonl, events.jsonl or "
            "config.yaml (pass the directory `hrrl train` wrote)"
        )
    run = RunData(run_dir=run_dir)
    for path in files[:2]:
        if not path.exists():
            if path.name == "metrics.jsonl":  # events.jsonl exists only once something happened
                run.notes.append(f"{path.name} not found")
            continue
        rows, bad = read_jsonl(path)
        if bad:
            run.notes.append(
                f"{path.name}: skipped {_count(bad, 'unreadable line')} (a run cut short)"
            )
        if path.name == "metrics.jsonl":
            run.metrics = _drop_rolled_back(rows)
            if len(run.metrics) < len(rows):
                dropped = len(rows) - len(run.metrics)
                run.notes.append(f"metrics.jsonl: {_count(dropped, 'row')} rolled back by a resume")
        else:
            run.events = rows
    if files[2].exists():
        try:
            loaded = yaml.safe_load(files[2].read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            run.notes.append(f"config.yaml could not be parsed: {exc}")
        else:
            run.config = loaded if isinstance(loaded, dict) else {"config": loaded}
    else:
        run.notes.append("config.yaml not found")
    return run


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
            value = _to_float(row["rollout/success_rate"])
            by_stage.setdefault(_to_float(row[STAGE_KEY]), []).append(value)
    stages = sorted(by_stage)
    fig = Figure(figsize=(7, 3.6), layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(stages))
    ax.bar(x - 0.2, [max(by_stage[s]) for s in stages], width=0.4, label="best interval")
    ax.bar(x + 0.2, [by_stage[s][-1] for s in stages], width=0.4, label="last interval")
    ax.set_xticks(x, [f"stage {s:g}\n({_count(len(by_stage[s]), 'interval')})" for s in stages])
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


PLOTS: tuple[Plot, ...] = (
    Plot("learning_curves", "Learning curves",
         "Rollout success rate (and the share of subgoals reached as asked, under a hierarchy), "
         "return, episode length and episode end statuses against env steps; dashed lines mark "
         "curriculum stage changes.",
         lambda run: _panels(run, "Learning curves", [
             ("success rate", ["rollout/success_rate", "rollout/subgoal_success_rate"]),
             ("episode return", ["rollout/episode_return", "rollout/return"]),
             ("episode length", ["rollout/episode_length"]),
             ("episodes by status", sorted(k for k in run.names if k.startswith(_STATUS)))]),
         "rollout/success_rate, rollout/episode_return or rollout/episode_length"),
    Plot("success_by_stage", "Success per stage",
         "Success rate per curriculum stage (per-stage curves, or the best and last interval of "
         "each stage).", _success_by_stage,
         "rollout/stage_<k>/success_rate, or rollout/success_rate with rollout/stage"),
    Plot("epsilon", "Exploration",
         "Effective epsilon of the behaviour policy.",
         lambda run: _panels(run, "Exploration", [("epsilon", ["rollout/epsilon"])]),
         "rollout/epsilon"),
    Plot("loss", "Loss and gradient norm",
         "Training loss, TD error and the gradient norm before clipping (log scale); red lines "
         "mark guard events.", _loss, "train/loss, train/td_error or train/grad_norm"),
    Plot("q_bias", "Q-bias",
         "Mean Q minus the exact optimal value V* where it can be computed (0 = unbiased), "
         "and the mean and max Q.",
         lambda run: _panels(run, "Q-bias and Q values", [
             ("Q - V*", ["train/q_bias"]), ("Q", ["train/q_mean", "train/q_max"])]),
         "train/q_bias, train/q_mean or train/q_max"),
    Plot("eval_by_family", "Evaluation by family",
         "Evaluation success rate and efficiency (optimal steps / steps taken) per suite family.",
         _eval_by_family, "eval/<family>/success_rate or eval/<family>/efficiency"),
    Plot("throughput", "Throughput",
         "Env steps and gradient updates per second.",
         lambda run: _panels(run, "Throughput", [
             ("env steps/s", ["perf/env_steps_per_s"]), ("updates/s", ["perf/updates_per_s"])]),
         "perf/env_steps_per_s or perf/updates_per_s"),
)  # fmt: skip


# -- the HTML -----------------------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1000px; color: #222; }
img { max-width: 100%; border: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.9em; }
td, th { border: 1px solid #ddd; padding: 2px 8px; text-align: left; }
td.num { text-align: right; font-family: monospace; }
pre { background: #f6f6f6; padding: 1em; overflow-x: auto; }
.note { color: #8a5300; }
"""


def _img_tag(path: Path, title: str, *, embed: bool) -> str:
    if embed:
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        src = f"data:image/png;base64,{data}"
    else:
        src = html.escape(path.name)
    return f'<img src="{src}" alt="{html.escape(title)}">'


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """An HTML table; numbers right-aligned (ints with thousands separators, floats 6 digits)."""

    def cell(value: object) -> str:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"<td>{html.escape(str(value))}</td>"
        return (
            f"<td class=num>{value:,}</td>"
            if isinstance(value, int)
            else f"<td class=num>{value:.6g}</td>"
        )

    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "\n".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>\n{body}\n</table>"


def _final_metrics(run: RunData) -> str:
    last: dict[str, tuple[int, Any]] = {}
    for row in run.metrics:
        for key, value in row.items():
            if key not in ("step", "time"):
                last[key] = (row["step"], value)
    if not last:
        return "<p>No metrics recorded yet.</p>"
    rows = [(key, last[key][1], last[key][0]) for key in sorted(last)]
    return _table(("metric", "last value", "at step"), rows)


def _events_table(run: RunData) -> str:
    if not run.events:
        return "<p>No events.</p>"
    keys = ("step", "time", "kind", "message")
    return _table(
        ("step", "time (s)", "kind", "message"), [[e.get(k, "") for k in keys] for e in run.events]
    )


def _summary(run: RunData) -> str:
    if not run.metrics:
        return "<p>No logging interval has been written yet.</p>"
    last = run.metrics[-1]
    return (
        f"<p>{_count(len(run.metrics), 'logging interval')}; the last at env step "
        f"{last['step']:,}, {_to_float(last.get('time')):,.0f} s after the start. "
        f"{_count(len(run.events), 'event')}.</p>"
    )


def _count(n: int, noun: str) -> str:
    """``1 event``, ``2 events``."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def check_out_dir(out: Path) -> None:
    """Refuse a report directory that is an existing file (before anything is plotted)."""
    if out.exists() and not out.is_dir():
        raise HrrlError(
            f"--out {str(out)!r} is a file: give a directory for the plots and report.html "
            "(default RUN_DIR/report)"
        )


def write_report(
    run_dir: str | Path, out_dir: str | Path | None = None, *, embed: bool = False
) -> ReportResult:
    """Write the PNGs and ``report.html`` for ``run_dir`` into ``out_dir`` (default run_dir/report)."""
    run = load_run(run_dir)
    out = Path(out_dir) if out_dir is not None else run.run_dir / "report"
    check_out_dir(out)
    out.mkdir(parents=True, exist_ok=True)
    notes = list(run.notes)
    images: list[Path] = []
    sections: list[str] = []
    for plot in PLOTS:
        fig = plot.draw(run)
        body = f"<p>{html.escape(plot.caption)}</p>"
        if fig is None:
            skipped = f"{plot.title}: skipped, no {plot.needs} recorded"
            notes.append(skipped)
            body += f'<p class="note">{html.escape(skipped)}.</p>'
        else:
            path = out / f"{plot.name}.png"
            fig.savefig(path, dpi=100)
            images.append(path)
            body += _img_tag(path, plot.title, embed=embed)
        sections.append(f'<h2 id="{plot.name}">{html.escape(plot.title)}</h2>\n{body}')
    config = (
        f"<pre>{html.escape(yaml.safe_dump(run.config, sort_keys=False, default_flow_style=None))}</pre>"
        if run.config is not None
        else "<p>config.yaml not found.</p>"
    )
    notes_html = "".join(f'<li class="note">{html.escape(n)}</li>' for n in notes)
    title = f"hrrl report: {html.escape(run.run_dir.resolve().name)}"
    generated = datetime.datetime.now().isoformat(timespec="seconds")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title><style>{_CSS}</style></head>
<body>
<h1>{title}</h1>
<p>Run directory <code>{html.escape(str(run.run_dir.resolve()))}</code>; generated {generated}.</p>
{_summary(run)}
<ul>{notes_html}</ul>
<p>{" · ".join(f'<a href="#{p.name}">{html.escape(p.title)}</a>' for p in PLOTS)} ·
<a href="#final-metrics">Final metrics</a> · <a href="#events">Events</a> · <a href="#config">Config</a></p>
{"".join(sections)}
<h2 id="final-metrics">Final metrics</h2>
{_final_metrics(run)}
<h2 id="events">Events</h2>
{_events_table(run)}
<h2 id="config">Config</h2>
{config}
</body></html>
"""
    html_path = out / "report.html"
    html_path.write_text(page, encoding="utf-8")
    return ReportResult(html=html_path, images=images, notes=notes)
