"""GAP 5, resume: a run SIGKILLed at arbitrary moments, one of them in the middle of writing a
checkpoint, and resumed each time with ``hrrl resume``, ends with weights bit-identical to an
uninterrupted run of the same seed and config.

The killed run is a real ``hrrl train`` subprocess; the test watches its ``checkpoints/`` folder
and sends SIGKILL (no handler, no cleanup) when

1. the run has saved past a given step, a moment later (between saves: mid-collect or learn);
2. a ``.tmp-step-*`` directory appears, i.e. a save is being written (retried until the kill
   lands before the rename, proved by the half-written directory still being there);
3. the next resumed process has saved 1,600 steps further, a moment later.

The reference is the same config trained in this process without checkpoints (saving reads the
state, it never changes it). Run with ``-s`` to see the kill points and the comparison.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from hrrl.config import apply_overrides
from hrrl.experiment import preset
from hrrl.persistence.store import load_checkpoint
from hrrl.run import build_trainer

TOTAL = 6_400
OVERRIDES = [
    f"train.total_env_steps={TOTAL}",
    "train.num_envs=16",
    "train.updates_per_train=1",
    "train.eval_every=2000",
    "puzzle.eval_count=2",
    "puzzle.stop_success=null",
    "train.log_every=1000",
    "checkpoint.every_steps=800",
    "checkpoint.keep_last=3",
]
POLL_S = 0.0005
PROCESS_TIMEOUT_S = 120.0
SAVE_KILL_ATTEMPTS = 6


def hrrl(*args: str, cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "hrrl.cli", *args], cwd=cwd, stdout=out, stderr=out
        )


def latest_step(ckdir: Path) -> int:
    try:
        return int(os.readlink(ckdir / "latest").removeprefix("step-"))
    except (OSError, ValueError):
        return -1


def saving(ckdir: Path) -> str | None:
    """The ``.tmp-step-*`` directory of a save in progress, once it holds a file."""
    try:
        for entry in os.scandir(ckdir):
            if entry.name.startswith(".tmp-step-") and any(os.scandir(entry.path)):
                return entry.name
    except FileNotFoundError:  # not created yet, or renamed into place while we looked
        pass
    return None


def kill_when(proc: subprocess.Popen[bytes], ready: Callable[[], str | None]) -> str | None:
    """SIGKILL ``proc`` as soon as ``ready()`` names a moment; None if it finished first."""
    deadline = time.monotonic() + PROCESS_TIMEOUT_S
    while proc.poll() is None:
        moment = ready()
        if moment is not None:
            os.kill(proc.pid, signal.SIGKILL)
            assert proc.wait() == -signal.SIGKILL
            return moment
        assert time.monotonic() < deadline, "the training process hung"
        time.sleep(POLL_S)
    return None


def after_step(ckdir: Path, step: int, delay_s: float) -> Callable[[], str | None]:
    """Ready ``delay_s`` after ``latest`` first reaches ``step``: a moment between saves."""
    seen: list[float] = []

    def ready() -> str | None:
        if not seen and latest_step(ckdir) >= step:
            seen.append(time.monotonic())
        if seen and time.monotonic() - seen[0] >= delay_s:
            return f"between saves, {delay_s * 1000:.0f} ms after step-{latest_step(ckdir)} landed"
        return None

    return ready


def state_of(ckdir: Path) -> str:
    steps = sorted(int(p.name.removeprefix("step-")) for p in ckdir.glob("step-*"))
    return f"checkpoints on disk: {', '.join(map(str, steps))}; latest -> {latest_step(ckdir)}"


def test_sigkill_three_times_then_resume_is_bit_identical(tmp_path: Path) -> None:
    t0 = time.monotonic()
    run, log = tmp_path / "run", tmp_path / "hrrl.log"
    ckdir = run / "checkpoints"
    sets = [arg for item in OVERRIDES for arg in ("--set", item)]
    common = ["--quiet", "--no-tensorboard"]
    kills: list[str] = []

    # Kill 1: the first `hrrl train`, between saves.
    proc = hrrl("train", "--run-dir", str(run), *sets, *common, cwd=tmp_path, log=log)
    moment = kill_when(proc, after_step(ckdir, 1_600, delay_s=0.05))
    assert moment is not None, "training finished before kill 1"
    kills.append(f"kill 1 (hrrl train): {moment}; {state_of(ckdir)}")

    # Kill 2: a resumed run, in the middle of writing a checkpoint.
    for attempt in range(1, SAVE_KILL_ATTEMPTS + 1):
        proc = hrrl("resume", str(run), *common, cwd=tmp_path, log=log)
        tmp = kill_when(proc, lambda: saving(ckdir))
        assert tmp is not None, "training finished before a save could be interrupted"
        if (ckdir / tmp).is_dir():  # the rename had not happened: killed mid-save
            files = sorted(p.name for p in (ckdir / tmp).iterdir())
            kills.append(
                f"kill 2 (hrrl resume, attempt {attempt}): DURING a save, {tmp[:22]}... left "
                f"half-written holding {files or 'nothing yet'}; {state_of(ckdir)}"
            )
            break
        kills.append(f"(attempt {attempt} landed just after a save completed; retrying)")
    else:
        raise AssertionError(f"no kill landed inside a save in {SAVE_KILL_ATTEMPTS} attempts")

    # Kill 3: the next resumed run, two saves later.
    start = latest_step(ckdir)
    proc = hrrl("resume", str(run), *common, cwd=tmp_path, log=log)
    moment = kill_when(proc, after_step(ckdir, start + 1_600, delay_s=0.12))
    assert moment is not None, "training finished before kill 3"
    kills.append(f"kill 3 (hrrl resume): {moment}; {state_of(ckdir)}")

    # Resume to the end.
    done = subprocess.run(
        [sys.executable, "-m", "hrrl.cli", "resume", str(run), *common],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stderr
    assert latest_step(ckdir) == TOTAL
    assert not any(e.name.startswith(".tmp-") for e in os.scandir(ckdir)), "stale temporaries"

    # The uninterrupted reference, in this process.
    config = apply_overrides(preset("default"), OVERRIDES)
    reference = build_trainer(config)
    reference.run()
    expected = reference.payload()
    final = load_checkpoint(ckdir / f"step-{TOTAL:09d}")

    nets = [k for k in expected.tensors if ".online." in k or ".target." in k]
    same_nets = [k for k in nets if torch.equal(final.tensors[k], expected.tensors[k])]
    same_all = [k for k in expected.tensors if torch.equal(final.tensors[k], expected.tensors[k])]
    same_arrays = [
        k for k in expected.arrays if np.array_equal(final.arrays[k], expected.arrays[k])
    ]
    assert set(final.tensors) == set(expected.tensors)
    assert set(final.arrays) == set(expected.arrays)

    print()
    for line in kills:
        print(line)
    print(f"final resume: {done.stdout.strip().splitlines()[0]}")
    print(
        f"final weights vs uninterrupted run (same seed and config), step {TOTAL}: "
        f"{len(same_nets)}/{len(nets)} online+target tensors torch.equal; "
        f"{len(same_all)}/{len(expected.tensors)} tensors incl. optimizer; "
        f"{len(same_arrays)}/{len(expected.arrays)} replay/RNG arrays equal "
        f"({time.monotonic() - t0:.1f} s)"
    )
    assert len(same_nets) == len(nets) > 0
    assert len(same_all) == len(expected.tensors)
    assert len(same_arrays) == len(expected.arrays)
