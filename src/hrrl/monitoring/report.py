"""``hrrl report``: PNG plots and one ``report.html`` from a run directory's logs.

Reads whatever the run has written so far (design §4), so it works on a finished run, a running one
and a killed one::

    runs/<name>/config.yaml      -> the config section (optional)
    runs/<name>/metrics.jsonl    -> every plot and the final metrics table (optional)
    runs/<name>/events.jsonl     -> the events table, guard marks on the loss plot (optional)
                  |
                  v
    runs/<name>/report/  learning_curves.png  success_by_stage.png  epsilon.png  loss.png
                         q_bias.png  eval_by_family.png  throughput.png  report.html

What each plot shows is :mod:`hrrl.monitoring.plots`; how the logs are read,
:mod:`hrrl.monitoring.run_log`. A plot whose metrics were never recorded is skipped with a note in
the HTML. Images are referenced by file name next to ``report.html`` (``embed=True`` inlines them
as base64 instead, for a single file to mail).
"""

from __future__ import annotations

import base64
import datetime
import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hrrl.errors import HrrlError
from hrrl.monitoring.plots import plots_for
from hrrl.monitoring.run_log import RunData, load_run, plural, to_float


@dataclass(frozen=True)
class ReportResult:
    """Where the report went: the HTML, the images written, the notes shown in it."""

    html: Path
    images: list[Path]
    notes: list[str]


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
        f"<p>{plural(len(run.metrics), 'logging interval')}; the last at env step "
        f"{last['step']:,}, {to_float(last.get('time')):,.0f} s after the start. "
        f"{plural(len(run.events), 'event')}.</p>"
    )


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
    plots = plots_for(run)
    for plot in plots:
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
<p>{" · ".join(f'<a href="#{p.name}">{html.escape(p.title)}</a>' for p in plots)} ·
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
