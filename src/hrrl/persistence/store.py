"""Checkpoints: atomic, verified, pickle-free snapshots of a run (design §4).

The store is generic: it knows tensors, numpy arrays and JSON, never puzzles or agents. It writes
and reads the layout of :mod:`hrrl.persistence.layout` (``step-*`` directories of
``model.safetensors``, ``optimizer.safetensors``, ``replay.npz`` and ``state.json``, with the
``best`` and ``latest`` links); the trainer's state reaches it as a
:class:`~hrrl.persistence.payload.CheckpointPayload`.

Crash safety: a save writes everything into a hidden ``.tmp-*`` sibling, fsyncs each file and the
directory, renames it to ``step-*`` in one ``os.rename``, and only then moves ``latest`` and
``best`` (each an ``os.replace`` of a fresh symlink). A crash at any instant leaves either no new
``step-*`` directory or a complete one; earlier checkpoints are never touched before the new one
is in place. Rotation then deletes the oldest beyond ``keep_last``, except the ``best`` one.

Disk pressure: before writing, a save deletes what rotation would delete after it, checks that
the disk has room for the new checkpoint and, when it has not, deletes every checkpoint but
``latest`` and ``best``; when even that is not enough it fails with nothing written
(:class:`CheckpointSaveError`), so the newest checkpoint and the best one survive a full disk.
One writer per run directory is assumed (a save sweeps stale ``.tmp-*`` / ``.trash-*`` entries).

Loading verifies every SHA-256 before parsing anything, and parses only safetensors, ``.npz``
with ``allow_pickle=False`` and JSON, so a crafted pickle is refused even when an attacker has
also rewritten the checksums in ``state.json``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import uuid
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hrrl.errors import CheckpointError, ConfigError, field_error
from hrrl.persistence import formats, fs
from hrrl.persistence.layout import (
    BEST_LINK,
    CHECKPOINT_SCHEMA_VERSION,
    CHECKPOINTS_DIR,
    DATA_FILES,
    DIGEST_KEY,
    LATEST_LINK,
    MODEL_FILE,
    OPTIMIZER_FILE,
    OPTIMIZER_PREFIX,
    REPLAY_FILE,
    STATE_FILE,
    STEP_DIR,
    checkpoints_dir,
    link_target,
    manifest_digest,
    read_manifest,
    step_dir_name,
    step_dirs,
    verify_checkpoint,
)
from hrrl.persistence.provenance import git_commit, package_version

__all__ = [
    "CheckpointConfig",
    "CheckpointInfo",
    "CheckpointSaveError",
    "CheckpointWarning",
    "LoadedCheckpoint",
    "find_latest_valid",
    "list_checkpoints",
    "load_checkpoint",
    "refresh_links",
    "resolve_checkpoint",
    "save_checkpoint",
    "skip_checkpoint",
    "valid_checkpoints",
]

logger = logging.getLogger(__name__)


class CheckpointWarning(UserWarning):
    """A checkpoint was skipped (corrupt, truncated, altered) and an older one used instead."""


class CheckpointSaveError(CheckpointError):
    """A save failed for a reason outside the program (disk full, no permission)."""


@dataclass(frozen=True, kw_only=True)
class CheckpointConfig:
    """When to save and how many checkpoints to keep."""

    every_steps: int = 50_000
    """Save a checkpoint every this many environment steps."""
    every_seconds: float | None = None
    """Save as well once this many wall seconds have passed since the last save (None: by
    steps only); a preempted job then loses at most this much even without a signal."""
    keep_last: int = 3
    """Keep this many most recent checkpoints; older ones are deleted, except the best."""
    enabled: bool = True
    """Write checkpoints at all (off for quick experiments and tests)."""

    def __post_init__(self) -> None:
        for name in ("every_steps", "keep_last"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise field_error(ConfigError, name, value, "use a positive integer")
        if not isinstance(self.enabled, bool):
            raise field_error(ConfigError, "enabled", self.enabled, "use true or false")
        seconds = self.every_seconds
        if seconds is not None and (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not math.isfinite(seconds)
            or seconds <= 0
        ):
            raise field_error(
                ConfigError, "every_seconds", seconds, "use a positive number of seconds, or null"
            )


@dataclass(frozen=True)
class LoadedCheckpoint:
    """A verified checkpoint in memory. ``tensors`` merges model and optimizer tensors (CPU)."""

    tensors: dict[str, torch.Tensor]
    arrays: dict[str, np.ndarray]
    state: dict[str, Any]
    metrics: dict[str, Any]
    path: Path
    step: int
    meta: dict[str, Any] = field(default_factory=dict)
    """schema_version, hrrl_version, git_commit, created."""


@dataclass(frozen=True)
class CheckpointInfo:
    """One row of :func:`list_checkpoints`."""

    step: int
    path: Path
    created: str | None
    metrics: dict[str, Any]
    score: list[float] | None
    """The task's score of the evaluation in ``metrics`` (None: not evaluated)."""
    size_bytes: int
    valid: bool
    reason: str | None
    is_best: bool
    is_latest: bool


# --- save -------------------------------------------------------------------------------------


def _score(value: object) -> tuple[float, ...] | None:
    """A manifest's ``score`` as a sort key; None when the checkpoint was not evaluated (or was
    saved before checkpoints carried their task's score)."""
    if not isinstance(value, list) or not value:
        return None
    if not all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in value
    ):
        return None
    return tuple(float(v) for v in value)


def _best_name(ckdir: Path) -> str | None:
    """Directory with the highest score (the latest step on ties: the policy trained longer,
    as the trainer ranks them), from each state.json."""
    best: tuple[tuple[float, ...], str] | None = None
    for _, path in step_dirs(ckdir):
        try:
            rank = _score(read_manifest(path).get("score"))
        except CheckpointError:
            continue
        if rank is not None and (best is None or rank >= best[0]):
            best = (rank, path.name)
    return None if best is None else best[1]


def refresh_links(run_dir: Path | str, *, latest: str | None = None) -> None:
    """Point ``latest`` at ``latest`` (default: the newest step) and ``best`` at the best rank.

    Used after every save, and after a rollback moved checkpoints away. With no ranked
    checkpoint ``best`` stays where it is, unless its target is gone: a dangling link is removed.
    """
    ckdir = checkpoints_dir(run_dir)
    names = [path.name for _, path in step_dirs(ckdir)]
    for link, name in (
        (LATEST_LINK, latest or (names[-1] if names else None)),
        (BEST_LINK, _best_name(ckdir)),
    ):
        current = link_target(ckdir / link)
        if name is None and current is not None and current not in names:
            (ckdir / link).unlink()
        elif name is not None and name != current:
            fs.atomic_symlink(ckdir / link, name)


def _sweep(ckdir: Path) -> None:
    """Delete what a killed save or rotation left behind (``.tmp-*``, ``.trash-*``, link temps)."""
    for entry in ckdir.iterdir():
        if entry.name.startswith((".tmp-", ".trash-")) and entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        elif entry.name.startswith((f".{LATEST_LINK}.tmp-", f".{BEST_LINK}.tmp-")):
            entry.unlink(missing_ok=True)


def _prune(ckdir: Path, keep: int) -> None:
    """Delete all but the newest ``keep`` checkpoints, never the ones ``best`` or ``latest`` name."""
    protected = {link_target(ckdir / BEST_LINK), link_target(ckdir / LATEST_LINK)}
    steps = step_dirs(ckdir)
    for _, path in steps[: max(len(steps) - keep, 0)]:
        if path.name not in protected:
            fs.remove_tree(path)


#: Room a save asks for beyond its tensors, arrays and JSON (file headers, directory entries).
SAVE_MARGIN_BYTES = 64 * 1024


def payload_bytes(
    tensors: Mapping[str, torch.Tensor], arrays: Mapping[str, np.ndarray], json_bytes: int
) -> int:
    """About how many bytes a checkpoint of these tensors, arrays and JSON takes on disk (a value
    that is neither a tensor nor an array counts nothing: the writers refuse it)."""
    data = sum(int(getattr(v, "nbytes", 0)) for v in (*tensors.values(), *arrays.values()))
    return data + json_bytes + SAVE_MARGIN_BYTES


def _make_room(ckdir: Path, name: str, need: int, keep_last: int | None) -> None:
    """Before a save: delete what rotation would delete after it (all but the newest
    ``keep_last - 1``, or ``keep_last`` when the save replaces checkpoint ``name``); when the disk still has less than ``need`` bytes free, every checkpoint
    but ``latest`` and ``best`` as well. Raises :class:`CheckpointSaveError`, with nothing
    written, when even that leaves too little room: the newest checkpoint and the best one are
    kept until a new one is whole."""
    _sweep(ckdir)
    if keep_last is not None:  # a save that replaces its step's checkpoint adds none
        _prune(ckdir, keep_last if (ckdir / name).is_dir() else keep_last - 1)
    if shutil.disk_usage(ckdir).free >= need:
        return
    _prune(ckdir, 0)
    free = shutil.disk_usage(ckdir).free
    if free < need:
        raise CheckpointSaveError(
            f"no room for checkpoint {name}: it needs about {fs.human_size(need)}, "
            f"{fs.human_size(free)} are free in {ckdir} (the latest and best checkpoints are kept)"
        )


def save_checkpoint(
    run_dir: Path | str,
    step: int,
    *,
    tensors: Mapping[str, torch.Tensor],
    arrays: Mapping[str, np.ndarray],
    state: Mapping[str, Any],
    metrics: Mapping[str, Any],
    score: Sequence[float] | None = None,
    keep_last: int | None = None,
    replace: bool = False,
) -> Path:
    """Write ``runs/<name>/checkpoints/step-{step:09d}/`` atomically and move the links.

    ``metrics`` and ``score`` are the evaluation of the policy saved (none when it was not
    evaluated): the store never reads a metric; ``best`` is the checkpoint with the highest
    ``score`` (compared as tuples, as the task that made them ranks evaluations).

    ``replace`` lets a resumed run overwrite a same-step checkpoint left by an abandoned
    timeline. Bad input raises :class:`CheckpointError` before anything is written; a failing
    file system raises :class:`CheckpointSaveError` after removing the temporary directory.
    """
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise CheckpointError(f"step={step!r} is invalid: use a non-negative integer")
    formats.check_jsonable(dict(state), "state")
    formats.check_jsonable(dict(metrics), "metrics")
    if score is not None and _score(list(score)) is None:
        raise CheckpointError(f"score={list(score)!r} is invalid: give finite numbers, or None")
    model = {k: v for k, v in tensors.items() if not k.startswith(OPTIMIZER_PREFIX)}
    optim = {k: v for k, v in tensors.items() if k.startswith(OPTIMIZER_PREFIX)}
    ckdir = Path(run_dir) / CHECKPOINTS_DIR
    final = ckdir / step_dir_name(step)
    tmp = ckdir / f".tmp-{final.name}-{uuid.uuid4().hex}"
    try:
        ckdir.mkdir(parents=True, exist_ok=True)
        if final.exists() and not replace:
            raise CheckpointError(f"{final} already exists (pass replace=True to overwrite)")
        json_bytes = len(json.dumps({"metrics": dict(metrics), "state": dict(state)}, indent=1))
        _make_room(ckdir, final.name, payload_bytes(tensors, arrays, json_bytes), keep_last)
        tmp.mkdir()
        tag = {"format": "pt", "hrrl_schema": str(CHECKPOINT_SCHEMA_VERSION)}
        formats.write_safetensors(tmp / MODEL_FILE, model, tag)
        formats.write_safetensors(tmp / OPTIMIZER_FILE, optim, tag)
        formats.write_npz(tmp / REPLAY_FILE, arrays)
        files = {
            name: {"sha256": formats.sha256_file(tmp / name), "bytes": (tmp / name).stat().st_size}
            for name in DATA_FILES
        }
        manifest = {
            "schema_version": CHECKPOINT_SCHEMA_VERSION,
            "step": step,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "hrrl_version": package_version(),
            "git_commit": git_commit(),
            "metrics": dict(metrics),
            "score": None if score is None else [float(v) for v in score],
            "files": files,
            "state": dict(state),
        }
        manifest[DIGEST_KEY] = manifest_digest(manifest)  # over everything above: written last
        (tmp / STATE_FILE).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        fs.fsync_path(tmp / STATE_FILE)
        fs.fsync_path(tmp)
        if final.exists():
            fs.remove_tree(final)
        os.rename(tmp, final)
        fs.fsync_path(ckdir)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError):
            raise CheckpointSaveError(f"cannot save checkpoint {final}: {exc}") from exc
        raise
    try:
        refresh_links(ckdir, latest=final.name)
    except OSError as exc:
        raise CheckpointSaveError(f"saved {final} but could not move latest/best: {exc}") from exc
    try:
        _sweep(ckdir)
        if keep_last is not None:
            _prune(ckdir, keep_last)
    except OSError as exc:
        message = f"checkpoint rotation in {ckdir} failed: {exc}"
        logger.warning(message)
        warnings.warn(message, CheckpointWarning, stacklevel=2)
    return final


# --- load -------------------------------------------------------------------------------------


def load_checkpoint(path: Path | str) -> LoadedCheckpoint:
    """Verify every checksum, then load tensors, arrays and state (never through pickle)."""
    ckpt = Path(path)
    manifest = verify_checkpoint(ckpt)
    model = formats.read_safetensors(ckpt / MODEL_FILE)
    optim = formats.read_safetensors(ckpt / OPTIMIZER_FILE)
    if any(k.startswith(OPTIMIZER_PREFIX) for k in model) or any(
        not k.startswith(OPTIMIZER_PREFIX) for k in optim
    ):
        raise CheckpointError(f"{ckpt.name}: tensor keys are in the wrong file")
    meta = {k: manifest.get(k) for k in ("schema_version", "hrrl_version", "git_commit", "created")}
    return LoadedCheckpoint(
        tensors={**model, **optim},
        arrays=formats.read_npz(ckpt / REPLAY_FILE),
        state=manifest["state"],
        metrics=manifest["metrics"],
        path=ckpt,
        step=manifest["step"],
        meta=meta,
    )


def skip_checkpoint(path: Path, exc: CheckpointError) -> None:
    """Log and warn (:class:`CheckpointWarning`) that ``path`` is passed over, and why."""
    message = f"skipping checkpoint {path}: {exc}"
    logger.warning(message)
    warnings.warn(message, CheckpointWarning, stacklevel=3)


def valid_checkpoints(
    run_dir: Path | str, *, tried: Path | None = None
) -> Iterator[LoadedCheckpoint]:
    """Every checkpoint that verifies, newest first (by step), loaded one at a time, warning about
    each one skipped (``tried``, one that already failed and was warned about, is skipped
    silently). Raises :class:`CheckpointError` at once when none verifies."""
    ckdir = checkpoints_dir(run_dir)
    candidates = step_dirs(ckdir)
    found = False
    for _, path in reversed(candidates):
        if tried is not None and path.resolve() == tried:
            continue
        try:
            checkpoint = load_checkpoint(path)
        except CheckpointError as exc:
            skip_checkpoint(path, exc)
            continue
        found = True
        yield checkpoint
    if not found:
        raise CheckpointError(
            f"no valid checkpoint in {ckdir} ({len(candidates)} found, all invalid)"
            if candidates
            else f"no checkpoint in {ckdir}"
        )


def find_latest_valid(run_dir: Path | str, *, tried: Path | None = None) -> LoadedCheckpoint:
    """The newest checkpoint that verifies (:func:`valid_checkpoints`)."""
    return next(valid_checkpoints(run_dir, tried=tried))


def resolve_checkpoint(path: Path | str) -> LoadedCheckpoint:
    """Load what ``path`` names: a checkpoint directory, or a run (its best, else latest valid)."""
    target = Path(path)
    if STEP_DIR.match(target.name) or (target / STATE_FILE).exists():
        return load_checkpoint(target)
    ckdir = checkpoints_dir(target)
    best = ckdir / BEST_LINK
    tried: Path | None = None
    name = link_target(best)
    if name is None and best.is_symlink():
        skip_checkpoint(best, CheckpointError(f"it points outside the run, at {os.readlink(best)}"))
    elif name is not None and (ckdir / name).exists():
        try:
            return load_checkpoint(ckdir / name)
        except CheckpointError as exc:
            skip_checkpoint(best, exc)
            tried = (ckdir / name).resolve()
    return find_latest_valid(ckdir, tried=tried)


def list_checkpoints(run_dir: Path | str) -> list[CheckpointInfo]:
    """Every ``step-*`` directory of a run, by step, verified (checksums) and described."""
    ckdir = checkpoints_dir(run_dir)
    best, latest = link_target(ckdir / BEST_LINK), link_target(ckdir / LATEST_LINK)
    rows = []
    for step, path in step_dirs(ckdir):
        reason: str | None = None
        try:
            manifest = verify_checkpoint(path)
        except CheckpointError as exc:
            reason = str(exc)
            try:
                manifest = read_manifest(path)
            except CheckpointError:
                manifest = {}
        rows.append(
            CheckpointInfo(
                step=step,
                path=path,
                created=manifest.get("created"),
                metrics=dict(manifest.get("metrics") or {}),
                score=None if (rank := _score(manifest.get("score"))) is None else list(rank),
                size_bytes=fs.directory_size(path),
                valid=reason is None,
                reason=reason,
                is_best=path.name == best,
                is_latest=path.name == latest,
            )
        )
    return rows
