"""The Ray that workers run on: a local one (started with ``workers`` CPUs and shut down after
it) or a cluster's (``address``), joined as it is (``hrrl ablate --ray``, ``hrrl tune --ray``,
the actors of ``hrrl train --actors``)."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

from hrrl.errors import ConfigError


@contextlib.contextmanager
def ray_session(*, workers: int, address: str | None) -> Iterator[Any]:
    """The ``ray`` module, initialised; one started here is shut down on the way out."""
    try:
        import ray
    except ImportError as exc:
        raise ConfigError("--ray needs Ray: pip install 'hrrl[ray]' (or pip install ray)") from exc
    started = not ray.is_initialized()
    if started:
        with _signal_handlers_kept():
            if address:
                ray.init(address=address, log_to_driver=False)
            else:
                ray.init(num_cpus=max(1, workers), include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


@contextlib.contextmanager
def _signal_handlers_kept() -> Iterator[None]:
    """SIGTERM's and SIGINT's Python handlers as they were before: ``ray.init`` installs its
    own (a SIGTERM then aborts the process with a stack trace), and a run's SIGTERM must end
    it at a checkpoint instead (:class:`~hrrl.commands.signals.GracefulStop`)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    kept = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in kept.items():
            if handler is not None:
                signal.signal(sig, handler)
