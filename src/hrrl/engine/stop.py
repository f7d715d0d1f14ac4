"""A request to stop training at the next vector-step boundary, from outside the loop.

The engine only polls it: :meth:`hrrl.engine.trainer.Trainer.run` looks once per vector step,
between two steps, and ends the run there with a checkpoint. Who sets it is the application's
business (``hrrl train`` and ``hrrl resume`` set it on SIGTERM and SIGINT, see
:mod:`hrrl.commands.signals`); setting it is one attribute write, safe in a signal handler.

Stopping between two vector steps is what makes the stop exact: that is the state every
checkpoint holds, so a run resumed from the stop replays the same sequence an uninterrupted run
would have (collect, learn, evaluate, log and checkpoint counters included).
"""

from __future__ import annotations


class StopRequest:
    """Set once by whoever wants the run to end; polled by the trainer."""

    def __init__(self) -> None:
        self._reason: str | None = None

    @property
    def requested(self) -> bool:
        return self._reason is not None

    @property
    def reason(self) -> str | None:
        """What asked for the stop (``"SIGTERM"``), or None while none did."""
        return self._reason

    def request(self, reason: str) -> None:
        """Ask the run to stop; the first reason given is the one kept."""
        if self._reason is None:
            self._reason = reason
