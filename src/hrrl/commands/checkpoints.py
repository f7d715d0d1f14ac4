"""``hrrl checkpoints RUN_DIR``: list a run's checkpoints, verified, with their evaluations.

A checkpoint carries the evaluation of the policy it holds, or none (``-``) when that policy
was not evaluated (a periodic save between two evaluations); ``best`` is the one its task
scores highest.

Every ``step-*`` directory is checked (state.json, sizes, SHA-256, file headers) but not loaded,
so listing a run with full replay buffers costs one read of each file.

Example::

    step    time (UTC)           success  efficiency  size      mark    valid
    50000   2025-01-01 12:00:00  0.625    0.812       53.3 MiB          yes
    100000  2025-01-01 12:30:00  0.938    0.877       53.3 MiB  best    yes
    150000  2025-01-01 13:00:00  0.875    0.900       53.3 MiB  latest  NO: ... fails its SHA-256 check

A Gymnasium run (its checkpoints carry ``eval/mean_return``) shows the evaluation return instead
of the puzzle's success and efficiency::

    step   time (UTC)           return          size       mark    valid
    25000  2025-01-01 12:00:00  212.40 +/- 31.2  3.3 MiB            yes
    50000  2025-01-01 12:10:00  500.00 +/- 0.0   3.3 MiB   best    yes
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hrrl.persistence.fs import human_size

if TYPE_CHECKING:
    from hrrl.persistence.store import CheckpointInfo

#: What a Gymnasium task's evaluation records (:mod:`hrrl.gym.task`; not imported: it loads
#: Gymnasium).
RETURN_METRIC, RETURN_STD_METRIC = "eval/mean_return", "eval/return_std"


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


def finite_number(value: object) -> float | None:
    """``value`` when it is a finite number read back from a checkpoint's JSON, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _metric(info: CheckpointInfo, key: str) -> str:
    value = finite_number(info.metrics.get(key))
    return "-" if value is None else f"{value:.3f}"


def _return(info: CheckpointInfo) -> str:
    """``mean +/- std`` of a Gymnasium checkpoint's evaluation return (``-`` without one)."""
    mean = finite_number(info.metrics.get(RETURN_METRIC))
    std = finite_number(info.metrics.get(RETURN_STD_METRIC))
    if mean is None:
        return "-"
    return f"{mean:.2f}" if std is None else f"{mean:.2f} +/- {std:.1f}"


def is_gym_listing(infos: list[CheckpointInfo]) -> bool:
    """Whether these are a Gymnasium run's checkpoints (any carries an evaluation return)."""
    return any(RETURN_METRIC in info.metrics for info in infos)


def _row(info: CheckpointInfo, *, gym: bool) -> list[str]:
    from hrrl.puzzle.task import EFFICIENCY_METRIC, SUCCESS_METRIC

    created = (info.created or "-").replace("T", " ").removesuffix("+00:00")
    marks = " ".join(m for m, on in (("best", info.is_best), ("latest", info.is_latest)) if on)
    valid = "yes" if info.valid else f"NO: {info.reason}"
    scores = (
        [_return(info)]
        if gym
        else [_metric(info, SUCCESS_METRIC), _metric(info, EFFICIENCY_METRIC)]
    )
    return [str(info.step), created, *scores, human_size(info.size_bytes), marks, valid]


def format_table(infos: list[CheckpointInfo]) -> str:
    """Left-aligned columns; the ``valid`` column carries the reason of an invalid checkpoint.
    A Gymnasium run's table has one ``return`` column where a puzzle run's has ``success`` and
    ``efficiency``."""
    gym = is_gym_listing(infos)
    scores = ["return"] if gym else ["success", "efficiency"]
    header = ["step", "time (UTC)", *scores, "size", "mark", "valid"]
    rows = [header, *(_row(info, gym=gym) for info in infos)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    # The valid column may hold a long reason: keep it unpadded at the end; mark is 6 wide.
    lines = []
    for row in rows:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-2])]
        lines.append("  ".join([*cells, f"{row[-2]:<6}", row[-1]]).rstrip())
    return "\n".join(lines)


def _as_json(info: CheckpointInfo) -> dict[str, Any]:
    return {
        "step": info.step,
        "path": str(info.path),
        "created": info.created,
        "metrics": info.metrics,
        "score": info.score,
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
