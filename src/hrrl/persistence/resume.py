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
it is not needed), together with the ``metrics.jsonl`` rows logged after ``S``. ``latest`` then
points at ``S`` and ``best`` at the best checkpoint left, so neither can name an abandoned one.

**Config drift.** The config to resume with (``config.yaml`` of the run, then ``--set``
overrides) is compared with the config saved in the checkpoint; any difference is refused with
the list of changes unless ``allow_config_change`` is given.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from hrrl.config import apply_overrides, diff, from_dict, load_yaml
from hrrl.engine.trainer import Trainer
from hrrl.errors import CheckpointError, ConfigError
from hrrl.experiment import ExperimentConfig
from hrrl.monitoring.logger import Logger
from hrrl.persistence import fs
from hrrl.persistence.layout import checkpoints_dir, step_dir_name, step_dirs
from hrrl.persistence.payload import state_from_checkpoint
from hrrl.persistence.store import (
    LoadedCheckpoint,
    find_latest_valid,
    load_checkpoint,
    refresh_links,
)

__all__ = [
    "ABANDONED_PREFIX",
    "CONFIG_FILE",
    "METRICS_FILE",
    "ResumePlan",
    "abandon_after",
    "config_changes",
    "plan_resume",
    "restore_trainer",
    "select_checkpoint",
]

ABANDONED_PREFIX = "abandoned-"
CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.jsonl"


@dataclass(frozen=True)
class ResumePlan:
    """What :func:`plan_resume` decided: where to start, with which config, what was set aside."""

    run_dir: Path
    checkpoint: LoadedCheckpoint
    config: ExperimentConfig
    changes: list[str]
    """``key: old -> new`` for every config field that differs from the checkpoint's."""
    abandoned: Path | None
    """Folder that received the checkpoints (and metric rows) after the resume point, if any."""
    abandoned_steps: list[int]


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


def config_changes(saved: dict[str, object], config: ExperimentConfig) -> list[str]:
    """``key: saved -> new`` for every leaf where ``config`` differs from a checkpoint's config."""
    try:
        before = from_dict(ExperimentConfig, saved)
    except ConfigError as exc:
        raise CheckpointError(f"the checkpoint's saved config no longer loads: {exc}") from exc
    return diff(before, config)


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
    rows = _metric_rows_after(run / METRICS_FILE, step)
    if not later and not rows[1]:
        refresh_links(ckdir, latest=step_dir_name(step))
        return None, []
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    folder = ckdir / f"{ABANDONED_PREFIX}{stamp}"
    folder.mkdir()
    for _, path in later:
        os.rename(path, folder / path.name)
    fs.fsync_path(ckdir)
    kept, dropped = rows
    if dropped:
        (folder / METRICS_FILE).write_text("".join(dropped), encoding="utf-8")
        _replace_text(run / METRICS_FILE, "".join(kept))
    refresh_links(ckdir, latest=step_dir_name(step))
    return folder, [s for s, _ in later]


def _metric_rows_after(path: Path, step: int) -> tuple[list[str], list[str]]:
    """Split ``metrics.jsonl`` lines into (kept, logged after ``step``); unparsable lines stay."""
    if not path.is_file():
        return [], []
    kept, dropped = [], []
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        try:
            row_step = json.loads(line).get("step")
        except (json.JSONDecodeError, AttributeError):
            row_step = None
        if isinstance(row_step, int) and row_step > step:
            dropped.append(line)
        else:
            kept.append(line if line.endswith("\n") else line + "\n")
    return kept, dropped


def _replace_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and one ``os.replace``."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def plan_resume(
    run_dir: Path | str,
    *,
    from_step: int | None = None,
    overrides: Sequence[str] = (),
    allow_config_change: bool = False,
) -> ResumePlan:
    """Choose the checkpoint, check the config, then set the abandoned timeline aside.

    Nothing on disk changes before the checks pass: a refused resume leaves the run as it was.
    """
    run = Path(run_dir)
    checkpoint = select_checkpoint(run, from_step)
    saved = checkpoint.state.get("config")
    if not isinstance(saved, dict):
        raise CheckpointError(f"{checkpoint.path} holds no run config: not an hrrl training run")
    config_file = run / CONFIG_FILE
    base = (
        load_yaml(ExperimentConfig, config_file)
        if config_file.is_file()
        else from_dict(ExperimentConfig, saved)
    )
    config = apply_overrides(base, overrides)
    changes = config_changes(saved, config)
    if changes and not allow_config_change:
        raise ConfigError(
            f"the config differs from {checkpoint.path.name}'s: {'; '.join(changes)}; resume "
            "with the saved config, or pass --allow-config-change to continue with these changes"
        )
    folder, moved = abandon_after(run, checkpoint.step)
    return ResumePlan(
        run_dir=run,
        checkpoint=checkpoint,
        config=config,
        changes=changes,
        abandoned=folder,
        abandoned_steps=moved,
    )


def restore_trainer(plan: ResumePlan, *, logger: Logger | None = None) -> Trainer:
    """A trainer in exactly the state of the plan's checkpoint, writing into the same run."""
    trainer = Trainer(plan.config, run_dir=plan.run_dir, logger=logger)
    ck = plan.checkpoint
    try:
        trainer.load_state_dict(state_from_checkpoint(ck.state, ck.tensors, ck.arrays))
    except (KeyError, ValueError, RuntimeError, TypeError) as exc:
        why = "with the changed config" if plan.changes else "(the checkpoint is incomplete)"
        raise CheckpointError(f"cannot continue from {ck.path} {why}: {exc}") from exc
    return trainer
