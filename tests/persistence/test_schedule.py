"""The save schedule's wall-clock cadence (``checkpoint.every_seconds``) beside the step cadence."""

from __future__ import annotations

import errno
from pathlib import Path

import numpy as np
import pytest
import torch

from hrrl.config import apply_overrides
from hrrl.errors import ConfigError
from hrrl.experiment import preset
from hrrl.persistence import formats
from hrrl.persistence.payload import CheckpointPayload
from hrrl.persistence.schedule import CheckpointManager
from hrrl.persistence.store import CheckpointConfig


def payload() -> CheckpointPayload:
    return CheckpointPayload(
        tensors={"online.w": torch.zeros(2)}, arrays={"replay.obs": np.zeros(3)}, state={}
    )


class Clock:
    """A hand-driven monotonic clock."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_save_is_due_by_time_as_well_as_by_steps(tmp_path: Path) -> None:
    clock = Clock()
    config = CheckpointConfig(every_steps=1000, every_seconds=30.0)
    manager = CheckpointManager(tmp_path, config, clock=clock)
    saved = []
    for step in range(0, 1200, 10):
        clock.now += 1.0  # one second per 10 steps
        if manager.maybe_save(step, payload, {}):
            saved.append(step)
    # 30 s after the start (step 290), 30 s after that (590, 890); then the step grid (1000),
    # which restarts the clock.
    assert saved == [290, 590, 890, 1000]
    # A save off the grid leaves the grid where it was: the next step save is still at 2000.
    assert manager.next_due == 2000


def test_without_every_seconds_time_never_makes_a_save_due(tmp_path: Path) -> None:
    clock = Clock()
    manager = CheckpointManager(tmp_path, CheckpointConfig(every_steps=100), clock=clock)
    clock.now += 1e9
    assert not manager.due(99) and manager.due(100)


def test_a_failed_timed_save_waits_a_period_before_the_retry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    config = CheckpointConfig(every_steps=10**6, every_seconds=10.0)
    manager = CheckpointManager(tmp_path, config, clock=clock)

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(formats, "write_npz", disk_full)
    clock.now += 10.0
    assert manager.maybe_save(5, payload, {}) is None and len(manager.failures) == 1
    assert not manager.due(6)  # not one attempt per step
    clock.now += 10.0
    monkeypatch.undo()
    assert manager.maybe_save(7, payload, {}) is not None  # retried, and the disk is back
    assert manager.last_saved_step == 7


@pytest.mark.parametrize("value", [0, -5, float("inf"), float("nan"), True, "30"])
def test_every_seconds_must_be_a_positive_number(value: object) -> None:
    with pytest.raises(ConfigError, match="every_seconds"):
        CheckpointConfig(every_seconds=value)  # type: ignore[arg-type]


def test_every_seconds_is_set_from_the_command_line() -> None:
    config = apply_overrides(preset("default"), ["checkpoint.every_seconds=600"])
    assert config.checkpoint.every_seconds == 600
    assert preset("default").checkpoint.every_seconds is None
