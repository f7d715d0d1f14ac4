"""Resume a run from a checkpoint, exactly: the continued run is the run it would have been.

A checkpoint holds every part of :meth:`hrrl.engine.trainer.Trainer.state_dict` (weights, optimizer,
replay with priorities, every RNG, counters, exploration, curriculum, guard), so resuming is::

    config.yaml (+ --set)  ──┐
                             ├─> drift check ──> Trainer(config) ──> load_state_dict ──> run()
    step-S/ (newest valid, ──┘   (refuse unless
     or the one --from S)         allowed)

**One timeline.** Resuming from step ``S`` abandons whatever the run did after ``S``: corrupt
checkpoints that were skipped, a killed run's saves past its last valid one, or, with
``--from S``, the later checkpoints of a run being rolled back. They are *moved*, never deleted,
into ``checkpoints/abandoned-<UTC time>/`` (outside rotation and listing; delete it by hand once
it is not needed), together with the ``metrics.jsonl`` and ``events.jsonl`` rows logged after
``S``, so the logs go on from ``S`` without a step back (TensorBoard does the same with its
``purge_step``, see :class:`hrrl.monitoring.sinks.TensorBoardSink`). ``latest`` then points at
``S`` and ``best`` at the best checkpoint left, so neither can name an abandoned one.

**Config drift.** The config to resume with (``config.yaml`` of the run, then ``--set``
overrides) is compared with the config saved in the checkpoint; any difference is refused with
the list of changes unless ``allow_config_change`` is given.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from hrrl.errors import CheckpointError
from hrrl.persistence import fs
from hrrl.persistence.layout import checkpoints_dir, step_dir_name, step_dirs
from hrrl.persistence.run_dir import CONFIG_FILE, EVENTS_FILE, METRICS_FILE
from hrrl.persistence.store import (
    LoadedCheckpoint,
    find_latest_valid,
    load_checkpoint,
    refresh_links,
    valid_checkpoints,
)

__all__ = [
    "ABANDONED_PREFIX",
    "CONFIG_FILE",
    "LOG_FILES",
    "METRICS_FILE",
    "abandon_after",
    "checkpoints_to_try",
    "select_checkpoint",
]

ABANDONED_PREFIX = "abandoned-"
#: The logs whose rows after the resume point are set aside.
LOG_FILES = (METRICS_FILE, EVENTS_FILE)


def checkpoints_to_try(
    run_dir: Path | str, from_step: int | None = None
) -> Iterator[LoadedCheckpoint]:
    """The checkpoints a resume may start from, in order: every valid one, newest first (skipped
    ones are warned about), or only the one at ``from_step``."""
    if from_step is None:
        yield from valid_checkpoints(run_dir)
    else:
        yield select_checkpoint(run_dir, from_step)


def select_checkpoint(run_dir: Path | str, from_step: int | None = None) -> LoadedCheckpoint:
    """The newest valid checkpoint (skipped ones are warned about), or the one at ``from_step``."""
    if from_step is None:
        return find_latest_valid(run_dir)
    ckdir = checkpoints_dir(run_dir)
    steps = [step for step, _ in step_dirs(ckdir)]
    if from_step not in steps:
        raise CheckpointError(
            f"--from {from_step}: no checkpoint at that step in {ckdir} "
            f"(steps there: {', '.join(map(str, steps)) or 'none'})"
        )
    try:
        return load_checkpoint(ckdir / step_dir_name(from_step))
    except CheckpointError as exc:
        raise CheckpointError(f"--from {from_step}: that checkpoint is invalid: {exc}") from exc


def abandon_after(run_dir: Path | str, step: int) -> tuple[Path | None, list[int]]:
    """Move every checkpoint after ``step`` and the metric rows after it aside; relink.

    Returns the ``abandoned-*`` folder (None when nothing lay after ``step``) and the steps moved.
    The moves are renames within the run directory; ``latest`` and ``best`` are repointed
    afterwards, so a crash in between leaves at worst a link to a moved checkpoint, which the next
    resume repairs (resolving ``best`` falls back to the newest valid checkpoint).
    """
    run = Path(run_dir)
    ckdir = checkpoints_dir(run)
    later = [(s, path) for s, path in step_dirs(ckdir) if s > step]
    rows = {name: _rows_after(run / name, step) for name in LOG_FILES}
    if not later and not any(dropped for _, dropped in rows.values()):
        refresh_links(ckdir, latest=step_dir_name(step))
        return None, []
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    folder = ckdir / f"{ABANDONED_PREFIX}{stamp}"
    folder.mkdir()
    for _, path in later:
        os.rename(path, folder / path.name)
    fs.fsync_path(ckdir)
    for name, (kept, dropped) in rows.items():
        if dropped:
            (folder / name).write_bytes(b"".join(dropped))
            _replace_file(run / name, b"".join(kept))
    refresh_links(ckdir, latest=step_dir_name(step))
    return folder, [s for s, _ in later]


def _rows_after(path: Path, step: int) -> tuple[list[bytes], list[bytes]]:
    """Split a JSONL log's lines into (kept, logged after ``step``); a line that does not parse
    (bad JSON, bytes that are not UTF-8) stays as it is, byte for byte."""
    if not path.is_file():
        return [], []
    kept, dropped = [], []
    for line in path.read_bytes().splitlines(keepends=True):
        try:
            row_step = json.loads(line.decode("utf-8")).get("step")
        except (UnicodeDecodeError, json.JSONDecodeError, AttributeError):
            row_step = None
        if isinstance(row_step, int) and row_step > step:
            dropped.append(line)
        else:
            kept.append(line if line.endswith(b"\n") else line + b"\n")
    return kept, dropped


def _replace_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and one ``os.replace``."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
