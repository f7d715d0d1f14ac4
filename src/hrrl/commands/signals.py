"""SIGTERM and SIGINT during ``hrrl train`` and ``hrrl resume``: stop at a checkpoint, exactly.

What Slurm, Kubernetes and spot reclaim send (SIGTERM) and what Ctrl-C sends (SIGINT) both end
a run with a checkpoint at the current step, and the command exits ``128 + signal`` (143, 130)
with one line naming that checkpoint::

    before arm()   the run does not exist yet: the signal ends the command at once
                   (:class:`Interrupted`) and the start is undone, nothing is left behind
    1st signal     a stop is requested (:class:`~hrrl.engine.stop.StopRequest`), with one note
                   on stderr: the vector step in flight finishes, its state is saved, the logs
                   are flushed
    2nd signal     ignored, with one note on stderr: the save in progress completes
    3rd signal     aborts at once (:class:`Interrupted`): the save in progress is dropped, the
                   checkpoints already on disk stay intact (every save is atomic)

The engine never sees a signal: the trainer polls the request once per vector step.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any

from hrrl.engine.stop import StopRequest

#: The signals that stop a run gracefully.
STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGINT)
#: Exit status of a process ended by signal N, as shells report it: 128 + N.
SIGNAL_EXIT_BASE = 128


class Interrupted(BaseException):
    """A signal that ends the command at once; the exit status is ``128 + signum``.

    A ``BaseException`` like ``KeyboardInterrupt``, so that no ``except Exception`` on the way
    out swallows it, while every ``finally`` (the save's clean-up, the lock) still runs.
    """

    def __init__(self, signum: int, message: str) -> None:
        super().__init__(message)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return SIGNAL_EXIT_BASE + self.signum


class GracefulStop:
    """Installs the SIGTERM and SIGINT handlers of one command while in its ``with`` block.

    Only the main thread can install signal handlers; elsewhere (a command run from a worker
    thread) the block installs nothing and signals keep their usual effect.
    """

    def __init__(self, command: str) -> None:
        self.command = command
        self.request = StopRequest()
        self.signum: int | None = None
        """The first signal received once armed, or None."""
        self.received_at: int | None = None
        """The env step the run was at when that signal came."""
        self._count = 0
        self._step: Callable[[], int] | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> GracefulStop:
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def arm(self, step: Callable[[], int]) -> StopRequest:
        """From now on a signal requests a stop; ``step()`` tells the env step it came at."""
        self._step = step
        return self.request

    @property
    def exit_code(self) -> int | None:
        """``128 + signum`` once a signal asked for the stop, else None."""
        return None if self.signum is None else SIGNAL_EXIT_BASE + self.signum

    @property
    def signal_name(self) -> str:
        return "no signal" if self.signum is None else signal.Signals(self.signum).name

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        self._count += 1
        if self._step is None:
            raise Interrupted(signum, f"interrupted by {name} before training started")
        if self._count == 1:
            self.signum, self.received_at = signum, self._step()
            self.request.request(name)
            print(
                f"hrrl {self.command}: {name}: stopping after the step in flight, with a "
                "checkpoint (a second signal is ignored, a third aborts)",
                file=sys.stderr,
                flush=True,
            )
        elif self._count == 2:
            print(
                f"hrrl {self.command}: {name} again: finishing the checkpoint first "
                "(a third signal aborts it)",
                file=sys.stderr,
                flush=True,
            )
        else:
            raise Interrupted(
                signum,
                f"aborted by a third signal ({name}): the checkpoint in progress was dropped, "
                "the ones already on disk are intact",
            )
