"""Record, then dump: the one place training metrics leave the process.

Code anywhere in the training loop *records* scalars under a grouped key; once per logging
interval the trainer *dumps* them, and every sink writes the same values::

    logger.record("train/loss", 0.12)          # last value in the interval wins
    logger.record_mean("rollout/episode_return", 3.5)  # averaged over the interval
    logger.dump(step=env_steps)                # -> TensorBoard, metrics.jsonl, console; clears

              record / record_mean            dump(step)
    trainer ───────────────────────> Logger ─────────────┬──> TensorBoardSink  events.out.tfevents.*
                                      │                  ├──> JsonlSink        metrics.jsonl, events.jsonl
              log_config / log_event ─┘                  └──> ConsoleSink      one line per interval

Keys are ``<group>/<name>`` with group one of :data:`KEY_GROUPS`; the name may itself contain
slashes (``eval/<family>/success_rate``). Values are real scalars (python, numpy or 1-element
torch).

The sinks, and how each survives a full disk, are :mod:`hrrl.monitoring.sinks` (re-exported
here).
"""

from __future__ import annotations

import contextlib
import operator
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, SupportsFloat, SupportsIndex, cast

from tqdm import tqdm

from hrrl.monitoring.sinks import (
    CONSOLE_KEYS,
    HPARAM_METRICS,
    ConsoleSink,
    JsonlSink,
    Scalar,
    Sink,
    TensorBoardSink,
    config_text,
    flatten_config,
    make_sinks,
)

__all__ = [
    "CONSOLE_KEYS",
    "HPARAM_METRICS",
    "KEY_GROUPS",
    "ConsoleSink",
    "JsonlSink",
    "Logger",
    "Scalar",
    "Sink",
    "TensorBoardSink",
    "check_key",
    "config_text",
    "flatten_config",
    "make_logger",
    "make_sinks",
    "progress",
    "to_scalar",
]

#: The groups a metric key may start with (``train/loss``, ``perf/env_steps_per_s``, ...).
KEY_GROUPS: tuple[str, ...] = ("train", "rollout", "eval", "health", "perf")


def check_key(key: str) -> None:
    """Refuse a key outside the five groups: a typo'd group would vanish from every plot."""
    group, sep, name = key.partition("/")
    if not sep or not name or group not in KEY_GROUPS:
        raise ValueError(
            f"metric key {key!r} is invalid: use '<group>/<name>' with group one of {KEY_GROUPS}"
        )


def to_scalar(key: str, value: object) -> Scalar:
    """``value`` as a python int (integers stay integers in the log) or float.

    Accepts python, numpy and 1-element torch numbers; cheap for python floats and ints, which is
    what hot loops should record (``loss.item()``).
    """
    if type(value) is float or type(value) is int:
        return value
    if isinstance(value, str | bytes) or not hasattr(value, "__float__"):
        raise TypeError(f"metric {key!r}: value {value!r} is not a real scalar")
    number = float(cast(SupportsFloat, value))
    if isinstance(value, bool):
        return int(value)
    if hasattr(value, "__index__") and number.is_integer():
        with contextlib.suppress(TypeError):  # a float tensor has __index__ but refuses it
            return operator.index(cast(SupportsIndex, value))
    return number


class Logger:
    """Collects one interval's scalars and hands them to every sink on :meth:`dump`.

    ``record`` keeps the last value of the interval (a gauge: epsilon, replay size);
    ``record_mean`` keeps the running mean over the interval (per-update loss, per-episode return).
    Recording the same key both ways in one interval is refused.
    """

    def __init__(self, sinks: list[Sink], *, elapsed: float = 0.0) -> None:
        self.sinks = list(sinks)
        self._start = time.monotonic() - elapsed
        self._values: dict[str, Scalar] = {}
        self._sums: dict[str, float] = {}
        self._counts: dict[str, int] = {}
        self._checked: set[str] = set()

    def _check(self, key: str) -> None:
        if key not in self._checked:
            check_key(key)
            self._checked.add(key)

    def record(self, key: str, value: object) -> None:
        """Set ``key`` to ``value`` for this interval (the last call before the dump wins)."""
        self._check(key)
        if key in self._sums:
            raise ValueError(f"metric {key!r} is already recorded with record_mean this interval")
        self._values[key] = to_scalar(key, value)

    def record_mean(self, key: str, value: object) -> None:
        """Add ``value`` to ``key``'s interval mean: dumped as sum / count."""
        self._check(key)
        if key in self._values:
            raise ValueError(f"metric {key!r} is already recorded with record this interval")
        self._sums[key] = self._sums.get(key, 0.0) + float(to_scalar(key, value))
        self._counts[key] = self._counts.get(key, 0) + 1

    def values(self) -> dict[str, Scalar]:
        """This interval's values so far (means computed), without clearing: for health checks."""
        out: dict[str, Scalar] = dict(self._values)
        out.update({key: self._sums[key] / self._counts[key] for key in self._sums})
        return dict(sorted(out.items()))

    @property
    def elapsed(self) -> float:
        """Wall seconds since the run started (carried across a resume by the state dict)."""
        return time.monotonic() - self._start

    def dump(self, step: int) -> dict[str, Scalar]:
        """Write this interval to every sink at ``step`` and clear it; returns what was written.

        An empty interval writes nothing.
        """
        values = self.values()
        self._values.clear()
        self._sums.clear()
        self._counts.clear()
        if values:
            elapsed = self.elapsed
            for sink in self.sinks:
                sink.write(values, int(step), elapsed)
        return values

    def log_config(self, config: Mapping[str, Any]) -> None:
        """Send the full resolved config to the sinks (TensorBoard: text and hparams)."""
        for sink in self.sinks:
            sink.write_config(config)

    def log_event(self, kind: str, message: str, step: int) -> None:
        """Record an event (a health alert starting or ending) in every sink at once."""
        elapsed = self.elapsed
        for sink in self.sinks:
            sink.write_event(kind, message, int(step), elapsed)

    def attach(self, sinks: list[Sink]) -> None:
        """Add sinks: a run builds its logger first and opens the files once the start is sure."""
        self.sinks.extend(sinks)

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()

    def __enter__(self) -> Logger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def state_dict(self) -> dict[str, Any]:
        """The run clock and the interval recorded so far (empty right after a dump).

        A checkpoint between two dumps (a stop on a signal, a save on the wall clock) carries
        the open interval, so the resumed run writes the very rows the uninterrupted one would.
        """
        return {
            "elapsed": self.elapsed,
            "values": dict(self._values),
            "sums": dict(self._sums),
            "counts": dict(self._counts),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self._start = time.monotonic() - float(state["elapsed"])
        # Checkpoints before the interval was saved hold only the clock: an empty interval.
        self._values = dict(state.get("values", {}))
        self._sums = {k: float(v) for k, v in state.get("sums", {}).items()}
        self._counts = {k: int(v) for k, v in state.get("counts", {}).items()}


def make_logger(run_dir: str | Path, *, tensorboard: bool, console: bool) -> Logger:
    """A logger on :func:`make_sinks` of ``run_dir`` (created if need be)."""
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    return Logger(make_sinks(run_dir, tensorboard=tensorboard, console=console))


def progress(
    total: int | None, desc: str, *, unit: str = "it", disable: bool | None = None
) -> tqdm[Any]:
    """A tqdm bar for train / eval / ablate loops. ``disable=None`` hides it when not on a TTY."""
    return tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True, disable=disable)
