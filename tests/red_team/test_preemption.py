"""Preemption, one writer, whole-or-absent run directories, a full or read-only disk (issue 17).

Before: SIGTERM killed ``hrrl train`` at once (everything since the last checkpoint lost), Ctrl-C
saved nothing, two trainers could write one run, a failed start left a half-made directory,
``hrrl resume`` of a finished run rewrote its checkpoint. Now, on real ``hrrl`` processes:

1. SIGTERM and SIGINT at random moments (three each; some doubled: the second is ignored) stop
   the run at a checkpoint of the step they land in, exit 143 / 130 with one line naming it, and
   ``hrrl resume`` ends with the weights, optimizer, replay and metric rows of one uninterrupted
   reference run. The table printed (``-s``) is the work each signal lost: none.
2. A second ``hrrl train`` / ``hrrl resume`` on a run in progress is refused, naming its PID.
3. A start that fails leaves no directory; resuming a finished run rewrites no byte.
4. A save on a full disk (``RLIMIT_FSIZE`` in the subprocess: every platform; a size-limited
   tmpfs and a read-only remount where the test may mount) is an event, training goes on, the
   older checkpoints stay intact, the next save works, and the weights are the reference's.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from hrrl.cli import main
from hrrl.config import apply_overrides
from hrrl.engine.trainer import Trainer
from hrrl.experiment import ExperimentConfig, preset
from hrrl.monitoring.logger import JsonlSink, Logger, Scalar
from hrrl.persistence.layout import verify_checkpoint
from hrrl.persistence.store import load_checkpoint
from hrrl.run import build_trainer

TOTAL = 4_800
OVERRIDES = (
    f"train.total_env_steps={TOTAL}",
    "train.num_envs=16",
    "train.learning_starts=160",
    "train.updates_per_train=1",
    "train.eval_every=1600",
    "puzzle.eval_count=2",
    "puzzle.stop_success=null",
    "train.log_every=200",
    "agent.hidden=32",
    "replay.capacity=4000",
    "checkpoint.every_steps=1600",
    "checkpoint.keep_last=10",
)
QUIET = ("--quiet", "--no-tensorboard")
TIMEOUT_S = 120.0
#: Metric keys that follow the wall clock, not the seed.
CLOCK_KEYS = ("perf/", "time", "health/alerts_active")
STOP_LINE = re.compile(
    r"stopped by (SIG\w+) \(received at env step ([\d,]+)\): checkpoint (\S+) holds env step "
    r"([\d,]+); continue with `hrrl resume (\S+)`"
)


def config(*extra: str) -> ExperimentConfig:
    return apply_overrides(preset("default"), [*OVERRIDES, *extra])


def sets(*extra: str) -> list[str]:
    return [arg for item in (*OVERRIDES, *extra) for arg in ("--set", item)]


def hrrl(*args: str, log: Path, **kwargs: Any) -> subprocess.Popen[str]:
    with log.open("a") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "hrrl.cli", *args],
            stdout=out,
            stderr=out,
            text=True,
            **kwargs,
        )


def wait(proc: subprocess.Popen[str]) -> int:
    return proc.wait(timeout=TIMEOUT_S)


def rows(path: Path) -> list[dict[str, Any]]:
    """A metrics file's rows without the clock's values."""
    out = []
    for line in path.read_text().splitlines():
        row = json.loads(line)
        out.append({k: v for k, v in row.items() if not k.startswith(CLOCK_KEYS)})
    return out


def last_row_step(path: Path) -> int:
    try:
        lines = path.read_text().splitlines()
        return int(json.loads(lines[-1])["step"]) if lines else -1
    except (OSError, ValueError):
        return -1  # not there yet, or a line half written


def show(capsys: pytest.CaptureFixture[str], *lines: str) -> None:
    """Print past the capture the test itself reads (seen with ``-s``)."""
    with capsys.disabled():
        print(*lines, sep="\n")


def steps_of(ckdir: Path) -> list[int]:
    return sorted(int(p.name.removeprefix("step-")) for p in ckdir.glob("step-*"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Trainer, Path]:
    """The one uninterrupted run every case is compared with: final state and metric rows."""
    metrics = tmp_path_factory.mktemp("reference") / "metrics.jsonl"
    trainer = build_trainer(config(), logger=Logger([JsonlSink(metrics)]))
    with trainer.logger:
        trainer.run()
    return trainer, metrics


def assert_final_is_the_reference(run: Path, reference: tuple[Trainer, Path]) -> str:
    trainer, metrics = reference
    want = trainer.payload()
    got = load_checkpoint(run / "checkpoints" / f"step-{TOTAL:09d}")
    assert got.tensors.keys() == want.tensors.keys() and got.arrays.keys() == want.arrays.keys()
    tensors = sum(torch.equal(got.tensors[k], t) for k, t in want.tensors.items())
    arrays = sum(np.array_equal(got.arrays[k], a) for k, a in want.arrays.items())
    same_rows = rows(run / "metrics.jsonl") == rows(metrics)
    verdict = (
        f"{tensors}/{len(want.tensors)} tensors, {arrays}/{len(want.arrays)} replay arrays, "
        f"metric rows {'identical' if same_rows else 'DIFFERENT'}"
    )
    assert tensors == len(want.tensors) and arrays == len(want.arrays), verdict
    assert same_rows, verdict
    return verdict


# --- 1 and 2: signals at random moments, then resume ------------------------------------------

#: (signal, how many times it is sent): three moments each; a doubled one shows the second
#: signal ignored while the checkpoint is written.
CASES = (
    (signal.SIGTERM, 1),
    (signal.SIGTERM, 2),
    (signal.SIGTERM, 1),
    (signal.SIGINT, 1),
    (signal.SIGINT, 2),
    (signal.SIGINT, 1),
)


def second_writer_is_refused(run: Path, pid: int, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["train", "--run-dir", str(run), *sets(), *QUIET]) == 2
    assert main(["resume", str(run), *QUIET]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2, lines
    for line, command in zip(lines, ("train", "resume"), strict=True):
        assert line.startswith(f"hrrl {command}: error: {run} is in use: hrrl PID {pid} "), line
        show(capsys, f"  second writer: {line}")


def test_sigterm_and_sigint_at_random_moments_resume_bit_identically(
    tmp_path: Path, reference: tuple[Trainer, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    seed = int(os.environ.get("HRRL_PREEMPT_SEED", random.randrange(2**31)))
    rng = random.Random(seed)
    # A logging row to wait for (every 200 steps), then a random delay inside the next interval.
    targets = rng.sample(range(400, TOTAL * 3 // 4, 200), len(CASES))
    table = []
    show(capsys, "", f"random points drawn with HRRL_PREEMPT_SEED={seed}")
    for case, ((signum, times), target) in enumerate(zip(CASES, targets, strict=True)):
        run, log = tmp_path / f"run{case}", tmp_path / f"run{case}.log"
        proc = hrrl("train", "--run-dir", str(run), *sets(), *QUIET, log=log)
        deadline = time.monotonic() + TIMEOUT_S
        for wanted in (0, target) if case == 0 else (target,):
            while last_row_step(run / "metrics.jsonl") < wanted:
                assert proc.poll() is None, (
                    f"training ended before step {wanted}: {log.read_text()}"
                )
                assert time.monotonic() < deadline, "the training process hung"
                time.sleep(0.002)
            if wanted == 0:  # running (its first row is out): a second writer meanwhile
                second_writer_is_refused(run, proc.pid, capsys)
        time.sleep(rng.uniform(0.0, 0.1))
        before = steps_of(run / "checkpoints") if (run / "checkpoints").is_dir() else []
        for _ in range(times):
            proc.send_signal(signum)
            time.sleep(0.005)
        code = wait(proc)
        out = log.read_text()
        assert code == 128 + signum, out
        [line] = [x for x in out.splitlines() if x.startswith("stopped by")]
        match = STOP_LINE.fullmatch(line)
        assert match is not None, line
        received, saved = (int(match.group(i).replace(",", "")) for i in (2, 4))
        assert match.group(1) == signum.name and Path(match.group(3)).is_dir()
        assert saved - received in (0, 16), "the step in flight finishes, nothing more"
        assert f"hrrl train: {signum.name}: stopping after the step in flight" in out
        # A second signal is ignored if it comes while the run stops (if it came at all: two
        # signals sent before the process ran its handler arrive as one).
        noted = "finishing the checkpoint first" in out
        kill_keeps = max((s for s in before if s <= received), default=0)

        capsys.readouterr()
        assert main(["resume", str(run), *QUIET]) == 0  # in this process: one start-up less
        assert f"from step-{saved:09d}" in capsys.readouterr().out
        verdict = assert_final_is_the_reference(run, reference)
        name = signum.name + (f" x2{' (2nd noted)' if noted else ''}" if times == 2 else "")
        table.append((name, target, received, saved, max(0, received - saved), kill_keeps, verdict))

    header = ("signal", "after row", "received", "saved", "lost", "kill keeps", "kill loses")
    lines = ["  ".join(f"{h:>10}" for h in header) + "  final state vs the uninterrupted run"]
    for name, target, received, saved, lost, kept, verdict in table:
        cells = (name, target, received, saved, lost, kept, received - kept)
        lines.append("  ".join(f"{c:>10}" for c in cells) + f"  {verdict}")
    lines.append(
        "(env steps; lost = received - saved when positive; kill keeps = the newest checkpoint "
        "on disk when the signal was sent, all an immediate kill would have left)"
    )
    show(capsys, *lines)
    assert all(lost == 0 for *_, lost, _, _ in table)


def test_a_third_signal_aborts_and_the_checkpoints_on_disk_stay_whole(
    tmp_path: Path, reference: tuple[Trainer, Path]
) -> None:
    run, log = tmp_path / "run", tmp_path / "run.log"
    proc = hrrl("train", "--run-dir", str(run), *sets(), *QUIET, log=log)
    while not (run / "checkpoints" / "step-000001600").is_dir():  # one periodic save first
        assert proc.poll() is None, log.read_text()
        time.sleep(0.002)
    time.sleep(0.05)  # then off the save grid: the stop has a checkpoint to write
    for _ in range(3):
        if proc.poll() is not None:
            break
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.002)
    code = wait(proc)
    out = log.read_text()
    # The third signal aborts the stop (exit 143), or, if the stop was already through, it
    # meets the default handler (killed by SIGTERM, which a shell shows as 143 as well).
    assert code in (143, -signal.SIGTERM), out
    ckdir = run / "checkpoints"
    assert not list(ckdir.glob(".tmp-*")), "an aborted save leaves no half-written directory"
    for step in steps_of(ckdir):
        verify_checkpoint(ckdir / f"step-{step:09d}")
    assert main(["resume", str(run), *QUIET]) == 0
    print(f"\nthree SIGTERMs, exit {code}: {out.strip().splitlines()[-1]}")
    print(f"resumed to the end: {assert_final_is_the_reference(run, reference)}")


# --- 3: whole or absent; a finished run stays as it is -----------------------------------------


@pytest.mark.parametrize(
    "bad",
    [("--env", "Nope-v0"), ("--set", "train.device=cuda"), ("--seed", "-1")],
    ids=["unknown-env", "cuda-on-cpu", "seed-1"],
)
@pytest.mark.parametrize("existed", [False, True], ids=["new", "empty-dir"])
def test_a_failed_start_leaves_no_directory(
    bad: tuple[str, str], existed: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if "cuda" in bad[1] and torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    run = tmp_path / "runs" / "run"
    if existed:
        run.mkdir(parents=True)
    assert main(["train", "--run-dir", str(run), *sets(), *QUIET, *bad]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("hrrl train: error: ")
    assert (list(run.iterdir()) == []) if existed else (list(tmp_path.iterdir()) == [])


def checksums(run: Path) -> dict[str, str]:
    """Every file's SHA-256 and every link's target, by path."""
    out = {}
    for path in sorted(run.rglob("*")):
        key = str(path.relative_to(run))
        if path.is_symlink():
            out[key] = "-> " + os.readlink(path)
        elif path.is_file():
            out[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def test_resume_of_a_finished_run_rewrites_no_byte(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    short = ("train.total_env_steps=800", "checkpoint.every_steps=400")
    assert main(["train", "--run-dir", str(run), *sets(*short), "--quiet"]) == 0  # TensorBoard on
    before = checksums(run)
    capsys.readouterr()
    assert main(["resume", str(run)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert checksums(run) == before
    assert len(out) == 1 and "is finished (total_env_steps reached at env step 800" in out[0]
    show(capsys, "", out[0], f"{len(before)} files and links, every one unchanged")
    longer = ["--allow-config-change", "--set", "train.total_env_steps=1200", *QUIET]
    assert main(["resume", str(run), *longer]) == 0  # raising the limit trains on
    assert (run / "checkpoints" / "step-000001200").is_dir()  # --quiet: the checkpoint says so


# --- 4: a full disk, a read-only disk ----------------------------------------------------------


def test_a_save_on_a_full_disk_is_an_event_and_training_goes_on(
    tmp_path: Path, reference: tuple[Trainer, Path]
) -> None:
    """``RLIMIT_FSIZE`` makes every write past 128 KiB fail with EFBIG (SIGXFSZ ignored): the
    replay file of a save cannot be written, the small logs can. The cap is set on the running
    process after its first save and lifted after the first failure."""
    run, log = tmp_path / "run", tmp_path / "run.log"

    def ignore_sigxfsz() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    every_400 = sets("checkpoint.every_steps=400", "checkpoint.keep_last=20")
    argv = ("train", "--run-dir", str(run), *every_400, *QUIET)
    proc = hrrl(*argv, log=log, preexec_fn=ignore_sigxfsz)
    ckdir = run / "checkpoints"
    deadline = time.monotonic() + TIMEOUT_S
    while not (ckdir / "latest").is_symlink():
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.002)
    resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (128 * 1024, resource.RLIM_INFINITY))
    intact = checksums(ckdir)
    while "failed, training goes on" not in log.read_text():
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.002)
    unlimited = resource.RLIM_INFINITY
    resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (unlimited, unlimited))
    assert wait(proc) == 0, log.read_text()

    out = log.read_text()
    warning = next(x for x in out.splitlines() if "failed, training goes on" in x)
    assert "File too large" in warning
    events = [json.loads(x) for x in (run / "events.jsonl").read_text().splitlines()]
    kinds = [e["kind"] for e in events if e["kind"].endswith("/checkpoint")]
    assert kinds[0] == "alert/checkpoint" and kinds[-1] == "recovered/checkpoint"
    failed = [e["step"] for e in events if e["kind"] == "alert/checkpoint"]
    assert not set(failed) & set(steps_of(ckdir)) and not list(ckdir.glob(".tmp-*"))
    assert {k: v for k, v in checksums(ckdir).items() if k in intact and "/" in k} == {
        k: v for k, v in intact.items() if "/" in k
    }, "a checkpoint written before the full disk changed"
    for step in steps_of(ckdir):
        verify_checkpoint(ckdir / f"step-{step:09d}")
    verdict = assert_final_is_the_reference(run, reference)
    print(f"\n{warning}\nevents: {[(e['kind'], e['step']) for e in events]}")
    print(f"checkpoints: {steps_of(ckdir)}; final state: {verdict}")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 MiB tmpfs (the run's checkpoints take about 40), where this test may mount one
    (root on Linux); skipped elsewhere."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


class Events:
    """A sink that keeps the events (the checkpoint alerts)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int]] = []

    def write(self, values: Mapping[str, Scalar], step: int, elapsed: float) -> None: ...
    def write_config(self, config: Mapping[str, Any]) -> None: ...
    def write_event(self, kind: str, message: str, step: int, elapsed: float) -> None:
        self.events.append((kind, step))

    def close(self) -> None: ...


def fill(disk: Path) -> None:
    with (disk / "filler").open("wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError:
            pass


@pytest.mark.parametrize("trouble", ["full", "read-only"])
def test_a_real_small_disk_that_fills_or_turns_read_only(
    trouble: str, small_disk: Path, reference: tuple[Trainer, Path]
) -> None:
    run = small_disk / "run"
    events = Events()
    sinks: list[Any] = [events]
    if trouble == "full":  # the metrics file on the full disk too (it is closed for a remount)
        run.mkdir()
        sinks.append(JsonlSink(run / "metrics.jsonl"))
    trainer = build_trainer(config("checkpoint.every_steps=400"), run_dir=run, logger=Logger(sinks))
    intact: dict[str, str] = {}

    def weather(_: int) -> None:
        step = trainer.counters.env_steps
        if step == 1008:
            intact.update(checksums(run / "checkpoints"))
            if trouble == "full":
                fill(small_disk)
            else:
                subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
        elif step == 2016:
            if trouble == "full":
                (small_disk / "filler").unlink()
            else:
                subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)

    with trainer.logger:
        result = trainer.run(progress=weather)
    assert result.stop_reason == "total_env_steps"
    assert trainer.checkpoints is not None
    failures = [(f.step, f.error) for f in trainer.checkpoints.failures]
    # A full disk is seen before writing (the save's room check); a read-only one by the write.
    why = "no room for checkpoint" if trouble == "full" else "Read-only file system"
    assert [s for s, _ in failures] == [1200, 1600, 2000] and all(why in e for _, e in failures)
    assert ("alert/checkpoint", 1200) in events.events
    assert ("recovered/checkpoint", 2400) in events.events
    ckdir = run / "checkpoints"
    # On the full disk the save at 1,200 made room by deleting all but latest (800) and best.
    before = [800] if trouble == "full" else [400, 800]
    assert steps_of(ckdir) == [*before, *range(2400, TOTAL + 1, 400)]
    kept = tuple(f"step-{step:09d}/" for step in before)
    files = {k: v for k, v in intact.items() if k.startswith(kept)}  # not the links: they move
    assert {k: v for k, v in checksums(ckdir).items() if k in files} == files
    for step in steps_of(ckdir):
        verify_checkpoint(ckdir / f"step-{step:09d}")
    if trouble == "full":  # the rows the full disk refused went out once it had room again
        got_rows, want_rows = rows(run / "metrics.jsonl"), rows(reference[1])
        assert [r["step"] for r in got_rows] == [r["step"] for r in want_rows]
        assert got_rows == want_rows
    want = reference[0].payload()
    got = trainer.payload()
    assert all(torch.equal(got.tensors[k], t) for k, t in want.tensors.items())
    assert all(np.array_equal(got.arrays[k], a) for k, a in want.arrays.items())
    print(
        f"\n{trouble} disk: saves failed at {[s for s, _ in failures]} ({why}); "
        f"checkpoints {steps_of(ckdir)}; final weights and replay = the reference's"
        + ("; metric rows = the reference's (none lost)" if trouble == "full" else "")
    )
