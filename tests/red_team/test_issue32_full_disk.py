"""Issue 32, item 2: a full disk neither loses the run nor ends it silently.

Before: old checkpoints were deleted only after a new save succeeded, so once the disk could not
hold one more, no save ever succeeded again; the run exited 0, naming a ``best`` checkpoint that
did not exist, and a log file the disk refused ended empty with no word said (the warning went
to the library's silent logger). Now a save first deletes what rotation would delete after it,
checks the room it needs and, short of it, keeps only ``latest`` and ``best``; a run whose final
state cannot be saved exits 1 with one line saying which checkpoint is left; log rows the disk
never took are warned of by count.

The disk is simulated (tmpfs needs root): :class:`Quota` makes checkpoint writes past its limit
fail with ``ENOSPC``, after writing, as a real file system does, and answers
``shutil.disk_usage`` for what is left.
"""

from __future__ import annotations

import errno
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from hrrl.cli import main
from hrrl.monitoring import sinks
from hrrl.monitoring.logger import make_logger
from hrrl.persistence import formats, schedule
from hrrl.persistence.store import CheckpointSaveError, list_checkpoints, save_checkpoint

KB = 1024


class Quota:
    """A disk of ``limit`` bytes for everything under ``root`` (None: no limit)."""

    def __init__(self, root: Path, limit: int | None) -> None:
        self.root, self.limit = root, limit
        self.peak = 0

    def used(self) -> int:
        files = [p for p in self.root.rglob("*") if p.is_file() and not p.is_symlink()]
        return sum(p.stat().st_size for p in files)

    def free(self) -> int:
        return 1 << 40 if self.limit is None else max(0, self.limit - self.used())

    def after_write(self, write: Callable[..., None]) -> Callable[..., None]:
        def checked(path: Path, *args: Any) -> None:
            write(path, *args)
            used = self.used()
            if self.limit is not None and used > self.limit:
                raise OSError(errno.ENOSPC, "No space left on device", str(path))
            self.peak = max(self.peak, used)

        return checked


@pytest.fixture
def quota(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Quota]:
    disk = Quota(tmp_path, None)
    usage = shutil.disk_usage

    def disk_usage(path: Any) -> Any:
        if not Path(path).resolve().is_relative_to(tmp_path.resolve()):
            return usage(path)
        return usage(path)._replace(free=disk.free())

    monkeypatch.setattr(shutil, "disk_usage", disk_usage)
    monkeypatch.setattr(formats, "write_npz", disk.after_write(formats.write_npz))
    monkeypatch.setattr(formats, "write_safetensors", disk.after_write(formats.write_safetensors))
    yield disk


def _save(run: Path, step: int, size: int, score: float) -> Path:
    return save_checkpoint(
        run,
        step,
        tensors={"w": torch.zeros(4)},
        arrays={"replay": np.zeros(size, dtype=np.uint8)},
        state={"step": step},
        metrics={},
        score=[score],
        keep_last=3,
    )


def test_saves_that_grow_keep_succeeding_once_the_disk_is_full(
    tmp_path: Path, quota: Quota
) -> None:
    """Checkpoints of 256 KB x k on a 6 MB disk, keep_last=3, the best one at k=2: before, the
    eighth save found three old checkpoints in its way and every save after it failed."""
    run = tmp_path / "run"
    quota.limit = 6 * 1024 * KB
    for k in range(1, 11):
        _save(run, k, 256 * KB * k, score=10.0 if k == 2 else float(k) / 100)
    rows = list_checkpoints(run)
    assert [r.step for r in rows if r.is_latest] == [10]
    assert [r.step for r in rows if r.is_best] == [2]  # best survives every pruning
    assert all(r.valid for r in rows)
    assert quota.peak <= quota.limit


def test_a_save_with_no_room_writes_nothing_and_keeps_latest_and_best(
    tmp_path: Path, quota: Quota
) -> None:
    run = tmp_path / "run"
    _save(run, 1, 256 * KB, score=1.0)
    _save(run, 2, 256 * KB, score=0.5)
    _save(run, 3, 256 * KB, score=0.2)
    quota.limit = quota.used() + 300 * KB  # room for the checkpoint pruned, not for 1 MB
    with pytest.raises(CheckpointSaveError, match="no room for checkpoint step-000000004"):
        _save(run, 4, 1024 * KB, score=2.0)
    rows = list_checkpoints(run)
    assert [(r.step, r.is_best, r.is_latest) for r in rows] == [(1, True, False), (3, False, True)]
    assert not [p for p in (run / "checkpoints").iterdir() if p.name.startswith(".")]


@pytest.fixture
def fills_after_first_save(quota: Quota, monkeypatch: pytest.MonkeyPatch) -> Quota:
    """The disk fills up right after the run's first checkpoint (32 KB left for the logs)."""
    save, saves = schedule.save_checkpoint, []

    def save_then_fill(*args: Any, **kwargs: Any) -> Path:
        path = save(*args, **kwargs)
        saves.append(path)
        if len(saves) == 1:
            quota.limit = quota.used() + 32 * KB
        return path

    monkeypatch.setattr(schedule, "save_checkpoint", save_then_fill)
    return quota


def test_a_run_whose_final_state_cannot_be_saved_exits_1_and_says_what_is_left(
    tmp_path: Path,
    fills_after_first_save: Quota,
    tiny_overrides: tuple[str, ...],
    capsys: pytest.CaptureFixture[str],
) -> None:
    run = tmp_path / "run"
    sets = [
        f"--set={s}"
        for s in (*tiny_overrides, "checkpoint.enabled=true", "checkpoint.every_steps=400")
    ]
    argv = ["train", "--run-dir", str(run), *sets, "--set=train.total_env_steps=1200"]
    assert main([*argv, "--no-tensorboard"]) == 1
    out, err = capsys.readouterr()
    [line] = [x for x in err.splitlines() if "error:" in x]
    assert "final state (env step 1,2" in line and "step-000000400" in line
    assert "hrrl resume" in line and "Traceback" not in err
    assert "best checkpoint" not in out or (run / "checkpoints" / "best").exists()
    # The disk frees up: the run goes on from its newest checkpoint and saves its final state.
    fills_after_first_save.limit = None
    assert main(["resume", str(run), "--quiet", "--no-tensorboard"]) == 0
    assert next(r.step for r in list_checkpoints(run) if r.is_latest) >= 1200


class Refusing:
    """A log file on a full disk: every write fails."""

    def write(self, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    def close(self) -> None: ...


def test_log_rows_the_disk_never_took_are_warned_of(tmp_path: Path) -> None:
    logger = make_logger(tmp_path, tensorboard=False, console=False)
    [sink] = logger.sinks
    assert isinstance(sink, sinks.JsonlSink)
    sink._files[sink.path].close()
    sink._files[sink.path] = Refusing()  # type: ignore[assignment]
    with pytest.warns(sinks.LogWriteWarning, match="cannot be written"):
        logger.record("train/loss", 1.0)
        logger.dump(1)
    logger.record("train/loss", 2.0)
    logger.dump(2)
    with pytest.warns(sinks.LogWriteWarning, match=r"2 row\(s\) .* were never written"):
        logger.close()
