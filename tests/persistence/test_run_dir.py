"""The run directory as a whole: one writer (``.lock``), whole or absent, nobody else's files."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from hrrl.errors import CheckpointError, RunDirectoryError, RunLockedError
from hrrl.persistence.run_dir import LOCK_FILE, RunDirectory, check_new_run_dir


def test_a_new_run_is_created_locked_and_named(tmp_path: Path) -> None:
    path = tmp_path / "runs" / "a"
    with RunDirectory.create(path) as run:
        assert (path / LOCK_FILE).read_text() == f"{os.getpid()} {socket.gethostname()}\n"
        run.started()
    assert (path / LOCK_FILE).read_text() == ""  # a clean release empties it


def test_a_failed_start_removes_the_directory_and_the_parents_it_made(tmp_path: Path) -> None:
    path = tmp_path / "runs" / "nested" / "a"
    with pytest.raises(RuntimeError), RunDirectory.create(path):
        (path / "config.yaml").write_text("half a start")
        raise RuntimeError("the TensorBoard sink failed")
    assert os.listdir(tmp_path) == []


def test_a_failed_start_in_an_empty_directory_leaves_it_empty(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt), RunDirectory.create(tmp_path):
        (tmp_path / "metrics.jsonl").write_text("")
        (tmp_path / "checkpoints").mkdir()
        raise KeyboardInterrupt
    assert os.listdir(tmp_path) == []


def test_after_started_a_failure_leaves_the_run(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), RunDirectory.create(tmp_path / "a") as run:
        (tmp_path / "a" / "config.yaml").write_text("x")
        run.started()
        raise RuntimeError("a bug in step 4,000")
    assert sorted(os.listdir(tmp_path / "a")) == [LOCK_FILE, "config.yaml"]


@pytest.mark.parametrize(
    ("entries", "needle"),
    [
        (["notes.txt"], "holds files that are not an hrrl run (notes.txt)"),
        (["a", "b", "c", "d"], "(a, b, c and 1 more)"),
        (
            ["config.yaml", "metrics.jsonl"],
            "already holds an hrrl run (config.yaml, metrics.jsonl)",
        ),
        (["checkpoints/step-000000800/"], "already holds checkpoints: use `hrrl resume"),
    ],
)
def test_a_directory_holding_anything_is_refused_untouched(
    entries: list[str], needle: str, tmp_path: Path
) -> None:
    for entry in entries:
        target = tmp_path / entry
        if entry.endswith("/"):
            target.mkdir(parents=True)
        else:
            target.write_text("mine")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    with pytest.raises(RunDirectoryError, match=r"^--run-dir ") as info:
        RunDirectory.create(tmp_path)
    assert needle in str(info.value)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_a_file_is_no_run_directory(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    with pytest.raises(RunDirectoryError, match="is a file"):
        check_new_run_dir(tmp_path / "f")


def test_a_second_writer_is_refused_with_the_holders_pid(tmp_path: Path) -> None:
    holder = f"hrrl PID {os.getpid()} on {socket.gethostname()}"
    with RunDirectory.create(tmp_path / "a") as run:
        with pytest.raises(RunLockedError, match=holder):  # two `hrrl train` racing
            RunDirectory.create(tmp_path / "a")
        assert (tmp_path / "a").is_dir()  # the loser removes nothing: it is the winner's
        run.started()
        (tmp_path / "a" / "checkpoints").mkdir()
        with pytest.raises(RunLockedError, match=holder) as info:  # `hrrl resume` meanwhile
            RunDirectory.open(tmp_path / "a")
        assert f"kill -TERM {os.getpid()}" in str(info.value)
    with RunDirectory.open(tmp_path / "a") as again:  # free once released
        assert again.lock.stale_holder_note() is None


def test_a_lock_held_by_another_process_is_refused(tmp_path: Path) -> None:
    run = tmp_path / "a"
    (run / "checkpoints").mkdir(parents=True)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, pathlib; from hrrl.persistence.run_dir import RunDirectory\n"
            f"d = RunDirectory.open(pathlib.Path({str(run)!r})); print('held', flush=True)\n"
            "sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(RunLockedError, match=f"hrrl PID {holder.pid} "):
            RunDirectory.open(run)
    finally:
        holder.communicate("")
    with RunDirectory.open(run):
        pass


def test_a_stale_lock_of_a_dead_process_is_taken_over_with_a_note(tmp_path: Path) -> None:
    (tmp_path / "checkpoints").mkdir()
    script = "import os; print(os.getpid())"
    pid = int(subprocess.run([sys.executable, "-c", script], capture_output=True).stdout)
    (tmp_path / LOCK_FILE).write_text(f"{pid} {socket.gethostname()}\n")
    with RunDirectory.open(tmp_path) as run:
        note = run.lock.stale_holder_note()
        assert note is not None and f"PID {pid}" in note and "not running any more" in note
        assert (tmp_path / LOCK_FILE).read_text().startswith(f"{os.getpid()} ")
    (tmp_path / LOCK_FILE).write_text("4242 another-host\n")
    with RunDirectory.open(tmp_path) as run:
        assert "on another-host" in str(run.lock.stale_holder_note())


def test_open_needs_a_run_with_checkpoints(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="has no checkpoints/ folder"):
        RunDirectory.open(tmp_path)
    assert not (tmp_path / LOCK_FILE).exists()  # refused before the lock was taken


def test_a_run_in_use_is_refused_as_in_use_before_its_first_checkpoint(tmp_path: Path) -> None:
    with RunDirectory.create(tmp_path / "a") as run:
        (tmp_path / "a" / "config.yaml").write_text("x")
        run.started()
        for second in (check_new_run_dir, RunDirectory.open):
            with pytest.raises(RunLockedError, match=f"hrrl PID {os.getpid()} "):
                second(tmp_path / "a")
    assert (tmp_path / "a" / LOCK_FILE).read_text() == ""  # the probes wrote nothing
