"""The Ray a study's workers run on: the local one (started for the study with ``workers`` CPUs
and shut down after it) or a cluster's (``address``), joined as it is (``hrrl ablate --ray``,
``hrrl tune --ray``)."""

from __future__ import annotations

import contextlib
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
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=max(1, workers), include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()
