"""``hrrl checkpoints RUN_DIR``: list a run's checkpoints, verified, with their metrics.

Every ``step-*`` directory is checked (state.json, sizes, SHA-256, file headers) but not loaded,
so listing a run with full replay buffers costs one read of each file.

Example::

    step    time (UTC)           success  efficiency  size      mark    valid
    50000   2025-01-01 12:00:00  0.625    0.812       53.3 MiB          yes
    100000  2025-01-01 12:30:00  0.938    0.877       53.3 MiB  best    yes
    150000  2025-01-01 13:00:00  0.875    0.900       53.3 MiB  latest  NO: ... fails its SHA-256 check
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hrrl.persistence.store import CheckpointInfo

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "checkpoints",
        help="list a run's checkpoints (step, time, eval metrics, size, valid or not)",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="runs/<name> directory")
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object a checkpoint instead of a table"
    )
    parser.set_defaults(func=run)


def human_size(size: int) -> str:
    """Bytes in binary units with one decimal (``48.9 MiB``)."""
    value = float(size)
    for unit in _UNITS:
        if value < 1024 or unit == _UNITS[-1]:
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _metric(info: CheckpointInfo, key: str) -> str:
    value = info.metrics.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return "-"
    return f"{value:.3f}"


def _row(info: CheckpointInfo) -> list[str]:
    from hrrl.persistence.store import EFFICIENCY_METRIC, SUCCESS_METRIC

    created = (info.created or "-").replace("T", " ").removesuffix("+00:00")
    marks = " ".join(m for m, on in (("best", info.is_best), ("latest", info.is_latest)) if on)
    valid = "yes" if info.valid else f"NO: {info.reason}"
    return [
        str(info.step),
        created,
        _metric(info, SUCCESS_METRIC),
        _metric(info, EFFICIENCY_METRIC),
        human_size(info.size_bytes),
        valid,
        marks,
    ]


def format_table(infos: list[CheckpointInfo]) -> str:
    """Left-aligned columns; the ``valid`` column carries the reason of an invalid checkpoint."""
    header = ["step", "time (UTC)", "success", "efficiency", "size", "valid", "mark"]
    rows = [header, *(_row(info) for info in infos)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    # The valid column may hold a long reason: keep it and the mark column unpadded at the end.
    lines = []
    for row in rows:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:5])]
        lines.append("  ".join([*cells, f"{row[6]:<6}", row[5]]).rstrip())
    return "\n".join(lines)


def _as_json(info: CheckpointInfo) -> dict[str, Any]:
    return {
        "step": info.step,
        "path": str(info.path),
        "created": info.created,
        "metrics": info.metrics,
        "size_bytes": info.size_bytes,
        "valid": info.valid,
        "reason": info.reason,
        "best": info.is_best,
        "latest": info.is_latest,
    }


def run(args: argparse.Namespace) -> int:
    from hrrl.persistence.store import list_checkpoints

    infos = list_checkpoints(args.run_dir)
    if args.json:
        for info in infos:
            print(json.dumps(_as_json(info)))
        return 0
    if not infos:
        print(f"no checkpoints in {args.run_dir}")
        return 0
    print(format_table(infos))
    invalid = sum(not info.valid for info in infos)
    if invalid:
        print(f"{invalid} of {len(infos)} checkpoints are invalid and would be skipped on resume")
    return 0
