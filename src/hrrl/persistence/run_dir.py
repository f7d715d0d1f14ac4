"""The run directory as a whole (design §4): one writer, whole or absent, nobody else's files.

* **One writer.** ``.lock`` is a :mod:`filelock` lock (``flock`` underneath) held by the one
  process training or resuming the run. While held it names that process (``PID HOST``); a clean
  release empties it again. A second writer is refused, naming the holder. The kernel drops the
  lock of a process that dies, so a lock that is free yet still names a process was left by one
  killed without cleaning up (SIGKILL, power loss): it is taken over, with a warning.
* **Whole or absent.** :meth:`RunDirectory.create` refuses a directory that holds anything (a
  run: use ``hrrl resume``; anything else: someone else's files), creates it, takes the lock,
  and until :meth:`RunDirectory.started` an error removes everything it made: the directory (and
  the parents it created), or, for one that existed empty, what it wrote into it. The caller
  checks the config, builds the environment and checks the device *before* creating it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import time
from pathlib import Path
from types import TracebackType

from filelock import FileLock, Timeout

from hrrl.errors import RunDirectoryError, RunLockedError
from hrrl.persistence.layout import CHECKPOINTS_DIR, checkpoints_dir, step_dirs

__all__ = [
    "CONFIG_FILE",
    "EVENTS_FILE",
    "LOCK_FILE",
    "METRICS_FILE",
    "RunDirectory",
    "RunLock",
    "check_new_run_dir",
]

CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.jsonl"
EVENTS_FILE = "events.jsonl"
LOCK_FILE = ".lock"
#: Entries that make a directory an hrrl run (with TensorBoard's ``events.out.tfevents.*``).
RUN_ENTRIES = frozenset({CONFIG_FILE, METRICS_FILE, EVENTS_FILE, CHECKPOINTS_DIR, "report"})
TENSORBOARD_PREFIX = "events.out.tfevents."
#: How long a refused writer waits for the holder's PID to appear (it is written just after
#: the lock is taken).
_HOLDER_WAIT_S = 0.5


def _is_run_entry(name: str) -> bool:
    return name in RUN_ENTRIES or name.startswith(TENSORBOARD_PREFIX)


def check_new_run_dir(path: Path) -> None:
    """Refuse ``path`` for a new run unless it is absent or empty (a lone ``.lock`` aside).

    A run some process is writing is refused as in use, naming that process.
    """
    if not path.exists():
        return
    if not path.is_dir():
        raise RunDirectoryError(f"--run-dir {path} is a file, not a directory: choose another path")
    RunLock(path).check_free()
    _check_empty(path)


def _check_empty(path: Path) -> None:
    names = sorted(entry.name for entry in path.iterdir() if entry.name != LOCK_FILE)
    ours = [name for name in names if _is_run_entry(name)]
    if ours:
        ckdir = path / CHECKPOINTS_DIR
        if ckdir.is_dir() and step_dirs(ckdir):
            raise RunDirectoryError(
                f"--run-dir {path} already holds checkpoints: use `hrrl resume {path}` or "
                "choose another directory"
            )
        raise RunDirectoryError(
            f"--run-dir {path} already holds an hrrl run ({', '.join(ours)}) that never saved a "
            "checkpoint: remove it, or choose another directory"
        )
    if names:
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        raise RunDirectoryError(
            f"--run-dir {path} holds files that are not an hrrl run ({shown}): choose a new or "
            "empty directory"
        )


class RunLock:
    """``run_dir/.lock``, held by this process (see the module doc)."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / LOCK_FILE
        self._lock = FileLock(self.path, on_acquired=self._claim)
        self._fd: int | None = None
        self.took_over: str | None = None
        """The holder a stale lock still named (``PID HOST``), when this one took it over."""

    def acquire(self) -> None:
        """Take the lock now, or raise :class:`RunLockedError` naming the live holder."""
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            raise self._in_use() from None
        except OSError as exc:
            raise self._unusable(exc) from exc

    def check_free(self) -> None:
        """Raise :class:`RunLockedError` if a live process holds the lock; write nothing."""
        if not self.path.is_file():
            return
        probe = FileLock(self.path)  # no callback: taking and dropping it writes nothing
        try:
            probe.acquire(timeout=0)
        except Timeout:
            raise self._in_use() from None
        except OSError as exc:
            raise self._unusable(exc) from exc
        probe.release()

    def _unusable(self, exc: OSError) -> RunLockedError:
        """One line for a lock file that cannot be opened: a symlink (never followed), a full
        disk, no permission."""
        why = (
            "it is a symbolic link, which hrrl never follows"
            if self.path.is_symlink()
            else exc.strerror or str(exc)
        )
        return RunLockedError(
            f"{self.path} cannot be locked: {why}; remove it (or free the disk, or fix its "
            "permissions) and run the command again"
        )

    def _in_use(self) -> RunLockedError:
        fields = self._read_holder().split()
        if not fields:
            return RunLockedError(
                f"{self.path.parent} is in use: another process holds {self.path} "
                "(its PID is not written yet); wait for it to end"
            )
        pid, host = fields[0], " ".join(fields[1:2])
        return RunLockedError(
            f"{self.path.parent} is in use: hrrl PID {pid}{f' on {host}' if host else ''} "
            f"holds {self.path}; wait for it to end, or stop it with `kill -TERM {pid}` "
            "(it saves a checkpoint first)"
        )

    def release(self) -> None:
        """Empty the lock file (a clean release) and let go."""
        if self._fd is not None:
            with contextlib.suppress(OSError):  # a full or read-only disk: the PID stays
                os.ftruncate(self._fd, 0)
            self._fd = None
        if self._lock.is_locked:
            self._lock.release()

    def stale_holder_note(self) -> str | None:
        """One line about the stale lock taken over, or None when the lock was released cleanly."""
        if self.took_over is None:
            return None
        fields = self.took_over.split()
        pid, host = fields[0], (fields[1] if len(fields) > 1 else "?")
        if host == socket.gethostname() and pid.isdigit() and not _alive(int(pid)):
            why = "it is not running any more (killed before it could release the lock)"
        else:
            why = "it no longer holds the lock (a process killed without cleaning up)"
        return f"took over the stale lock {self.path}: PID {pid} on {host} left it, but {why}"

    def _claim(self, fd: int) -> None:
        """Called with the lock's descriptor once the lock is ours: note a stale holder, write us."""
        previous = os.pread(fd, 256, 0).decode("utf-8", errors="replace").strip()
        self.took_over = previous or None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        self._fd = fd

    def _read_holder(self) -> str:
        deadline = time.monotonic() + _HOLDER_WAIT_S
        while True:
            try:
                text = self.path.read_text(encoding="utf-8", errors="replace").strip()
            except OSError:
                text = ""
            if text or time.monotonic() >= deadline:
                return text
            time.sleep(0.02)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


class RunDirectory:
    """A run directory this process writes: locked, and undone if the start fails.

    ``with RunDirectory.create(path) as run: ...; run.started(); train...`` (a new run) or
    ``with RunDirectory.open(path) as run:`` (an existing one: nothing to undo). Leaving the
    ``with`` releases the lock; leaving it by an exception before :meth:`started` also removes
    what :meth:`create` made.
    """

    def __init__(self, path: Path, lock: RunLock, *, made: list[Path], was_empty: bool) -> None:
        self.path = path
        self.lock = lock
        self._made = made  # directories created, deepest first
        self._was_empty = was_empty
        self._undo = made or was_empty

    @classmethod
    def create(cls, path: Path) -> RunDirectory:
        """A new run at ``path`` (absent or empty), created and locked."""
        check_new_run_dir(path)
        made = [p for p in (path, *path.parents) if not p.exists()]
        path.mkdir(parents=True, exist_ok=True)
        lock = RunLock(path)
        try:
            lock.acquire()
        except RunLockedError:  # another process took it between the check and now: it is theirs
            raise
        except BaseException:
            _remove_made(path, made)
            raise
        run = cls(path, lock, made=made, was_empty=not made)
        try:
            _check_empty(path)  # still empty, now that no one else can write it
        except BaseException:
            run._undo = False
            run.close()
            raise
        return run

    @classmethod
    def open(cls, path: Path) -> RunDirectory:
        """An existing run at ``path`` (it must hold ``checkpoints/``), locked.

        A run in use is refused as such even before its first checkpoint; a directory that is
        no run at all is refused before a lock file is made in it.
        """
        if not (path / LOCK_FILE).is_file():
            checkpoints_dir(path)
        lock = RunLock(path)
        lock.acquire()
        try:
            checkpoints_dir(path)
        except BaseException:
            lock.release()
            raise
        return cls(path, lock, made=[], was_empty=False)

    def started(self) -> None:
        """The run is whole (config written, logs open): from now on an error leaves it as it is."""
        self._undo = False

    def close(self, *, failed: bool = False) -> None:
        try:
            if failed and self._undo:
                if self._made:
                    _remove_made(self.path, self._made)
                elif self._was_empty:
                    for entry in self.path.iterdir():
                        if entry.is_dir() and not entry.is_symlink():
                            shutil.rmtree(entry, ignore_errors=True)
                        else:
                            entry.unlink(missing_ok=True)
        finally:
            self.lock.release()

    def __enter__(self) -> RunDirectory:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close(failed=exc_type is not None)


def _remove_made(path: Path, made: list[Path]) -> None:
    """Remove ``path`` and the parents that were created for it (only while they are empty)."""
    shutil.rmtree(path, ignore_errors=True)
    for parent in made[1:]:
        try:
            parent.rmdir()
        except OSError:
            break
