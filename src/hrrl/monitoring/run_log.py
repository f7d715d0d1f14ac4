"""A run directory's logs, parsed: what ``hrrl report`` and its plots read (design §4).

Unparsable JSONL lines (the half-written last line of a killed run) are skipped and counted. If a
resumed run logged a step again, the rows it rolled back are dropped (the log keeps the history the
final model actually has).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from hrrl.config import safe_yaml
from hrrl.errors import HrrlError

#: The files of a run directory the report reads (design §4).
RUN_FILES = ("metrics.jsonl", "events.jsonl", "config.yaml")
STAGE_KEY = "rollout/stage"
#: The trainer's event when the curriculum moves on: "curriculum stage 0 -> 1".
STAGE_EVENT = "stage"
_STAGE_CHANGE = re.compile(r"-> *(\d+)")


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
        values = np.array([to_float(row[key]) for row in rows], dtype=np.float64)
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


def to_float(value: Any) -> float:
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
                f"{path.name}: skipped {plural(bad, 'unreadable line')} (a run cut short)"
            )
        if path.name == "metrics.jsonl":
            run.metrics = _drop_rolled_back(rows)
            if len(run.metrics) < len(rows):
                dropped = len(rows) - len(run.metrics)
                run.notes.append(f"metrics.jsonl: {plural(dropped, 'row')} rolled back by a resume")
        else:
            run.events = rows
    if files[2].exists():
        try:
            loaded = safe_yaml(files[2].read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            run.notes.append(f"config.yaml could not be parsed: {exc}")
        else:
            run.config = loaded if isinstance(loaded, dict) else {"config": loaded}
    else:
        run.notes.append("config.yaml not found")
    return run


def plural(n: int, noun: str) -> str:
    """``1 event``, ``2 events``."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"
