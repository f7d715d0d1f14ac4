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
torch). :class:`TensorBoardSink` is the only code in hrrl that owns a ``SummaryWriter``.

JSON has no NaN or infinity, so ``metrics.jsonl`` writes non-finite floats as the strings
``"NaN"``, ``"Infinity"`` and ``"-Infinity"`` (``float()`` reads them back); a diverging loss is
exactly what the log must not drop.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import operator
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any, BinaryIO, Protocol, SupportsFloat, SupportsIndex, cast

import yaml
from tqdm import tqdm

log = logging.getLogger(__name__)

#: The groups a metric key may start with (``train/loss``, ``perf/env_steps_per_s``, ...).
KEY_GROUPS: tuple[str, ...] = ("train", "rollout", "eval", "health", "perf")

#: Scalars the hparams plugin links to the config: its table shows their latest values per run.
HPARAM_METRICS: tuple[str, ...] = (
    "eval/success_rate",
    "eval/efficiency",
    "rollout/success_rate",
    "rollout/episode_return",
)

#: Keys the console line shows first, when present (the rest of the interval is in the files).
CONSOLE_KEYS: tuple[str, ...] = (
    "rollout/stage",
    "rollout/success_rate",
    "rollout/episode_return",
    "rollout/epsilon",
    "train/loss",
    "train/grad_norm",
    "eval/success_rate",
    "perf/env_steps_per_s",
)

Scalar = int | float


class Sink(Protocol):
    """Where a dump goes. Every method is called by :class:`Logger`, never by training code."""

    def write(self, values: Mapping[str, Scalar], step: int, elapsed: float) -> None:
        """Write one interval's values, recorded at ``step``, ``elapsed`` seconds after start."""

    def write_config(self, config: Mapping[str, Any]) -> None:
        """Write the run's full resolved config, once at start-up."""

    def write_event(self, kind: str, message: str, step: int, elapsed: float) -> None:
        """Write one event (a health alert starting or ending)."""

    def close(self) -> None:
        """Flush and release files."""


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


def _json_number(value: Scalar) -> Scalar | str:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def flatten_config(config: Mapping[str, Any], prefix: str = "") -> dict[str, int | float | str]:
    """Nested config -> ``{"agent.lr": 5e-4, ...}``, the flat scalars the hparams plugin takes.

    Lists and other values become their string form; ``None`` becomes ``"None"``.
    """
    flat: dict[str, int | float | str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_config(value, prefix=f"{name}."))
        elif isinstance(value, bool | int | float | str):
            flat[name] = value
        else:
            flat[name] = str(value)
    return flat


def config_text(config: Mapping[str, Any]) -> str:
    """The config as YAML, indented 4 spaces so TensorBoard's markdown shows it verbatim."""
    text = yaml.safe_dump(_plain(config), sort_keys=False, default_flow_style=False)
    return "\n".join("    " + line for line in text.splitlines())


def _plain(value: Any) -> Any:
    """Config values YAML can dump safely (tuples -> lists, anything odd -> str)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


class TensorBoardSink:
    """Scalars, the config (text + hparams plugin) and events into ``log_dir``'s event file.

    The hparams summaries are written into this same run (not into a timestamped sub-run as
    ``SummaryWriter.add_hparams`` does), so the hparams table links the config to the scalars the
    run logs under :data:`HPARAM_METRICS` (or the ``metrics`` given). The session-end record is
    written on :meth:`close`, so a killed run shows up as unfinished.
    """

    def __init__(
        self,
        log_dir: str | Path,
        *,
        metrics: tuple[str, ...] = HPARAM_METRICS,
        purge_step: int | None = None,
    ) -> None:
        from torch.utils.tensorboard import SummaryWriter

        # purge_step: TensorBoard hides the events of earlier files at steps >= it, so a resumed
        # run's curves continue from the checkpoint instead of doubling back.
        self.writer = SummaryWriter(log_dir=str(log_dir), purge_step=purge_step)
        self.metrics = metrics
        self._session_end: Any = None
        self._failed = False

    def write(self, values: Mapping[str, Scalar], step: int, elapsed: float) -> None:
        def add() -> None:
            wall = time.time()
            for key, value in values.items():
                self.writer.add_scalar(key, value, global_step=step, walltime=wall)
            self.writer.flush()

        self._guarded(add)

    def write_config(self, config: Mapping[str, Any]) -> None:
        from torch.utils.tensorboard.summary import hparams

        def add() -> None:
            self.writer.add_text("config", config_text(config), global_step=0)
            experiment, session_start, self._session_end = hparams(
                flatten_config(config), dict.fromkeys(self.metrics, 0.0)
            )
            file_writer = self.writer._get_file_writer()
            file_writer.add_summary(experiment)
            file_writer.add_summary(session_start)
            self.writer.flush()

        self._guarded(add)

    def write_event(self, kind: str, message: str, step: int, elapsed: float) -> None:
        def add() -> None:
            self.writer.add_text(f"events/{kind}", message, global_step=step)
            self.writer.flush()

        self._guarded(add)

    def close(self) -> None:
        def end() -> None:
            if self._session_end is not None:
                self.writer._get_file_writer().add_summary(self._session_end)

        self._guarded(end)
        with contextlib.suppress(OSError):  # a failed event file: its error is warned of already
            self.writer.close()

    def _guarded(self, write: Callable[[], None]) -> None:
        """Run ``write`` unless the event file has failed before (its writer thread is gone).

        A full or read-only disk must not end training: the first failure is logged and the
        sink goes quiet; ``metrics.jsonl`` keeps the record.
        """
        if self._failed:
            return
        try:
            write()
        except OSError as exc:
            self._failed = True
            log.warning("TensorBoard event file cannot be written, TensorBoard stops here: %s", exc)


class JsonlSink:
    """``metrics.jsonl`` (one object per dump) and ``events.jsonl`` (one object per event).

    Each line is ``{"step": ..., "time": <seconds since start>, "<key>": value, ...}``, written
    out as soon as it is recorded (unbuffered) so a killed run keeps every complete interval.
    Files are opened for appending (a resumed run continues its log); a last line cut short by a
    kill is closed with a newline first, so the next record starts a fresh line.

    A full or read-only disk does not end training: the bytes the disk refused wait in memory
    (warned about once) and go out, in order, with the next line once the disk takes them
    again, so a disk that fills up and frees again loses no row.
    """

    def __init__(self, path: str | Path, *, events_path: str | Path | None = None) -> None:
        self.path = Path(path)
        self.events_path = Path(events_path) if events_path else self.path.with_name("events.jsonl")
        self._files: dict[Path, BinaryIO] = {self.path: _open_append(self.path)}
        self._pending: dict[Path, bytes] = {}

    def write(self, values: Mapping[str, Scalar], step: int, elapsed: float) -> None:
        row: dict[str, Scalar | str] = {"step": step, "time": round(elapsed, 3)}
        row.update({key: _json_number(value) for key, value in values.items()})
        self._append(self.path, row)

    def write_config(self, config: Mapping[str, Any]) -> None:
        """Nothing: ``config.yaml`` is the config's file (written by the trainer)."""

    def write_event(self, kind: str, message: str, step: int, elapsed: float) -> None:
        row = {"step": step, "time": round(elapsed, 3), "kind": kind, "message": message}
        self._append(self.events_path, row)

    def close(self) -> None:
        for path in list(self._pending):
            self._drain(path, b"")  # a last try; what the disk still refuses is warned of
        for handle in self._files.values():
            handle.close()

    def _append(self, path: Path, row: Mapping[str, object]) -> None:
        self._drain(path, (json.dumps(row, allow_nan=False) + "\n").encode())

    def _drain(self, path: Path, data: bytes) -> None:
        """Write what waits for ``path`` and then ``data``; keep what the disk refuses."""
        failing = path in self._pending
        data = self._pending.pop(path, b"") + data
        try:
            handle = self._files.get(path) or self._files.setdefault(path, _open_append(path))
            while data:
                data = data[handle.write(data) :]  # a full disk may take part of it
        except OSError as exc:
            self._pending[path] = data
            if not failing:
                log.warning("%s cannot be written, training goes on: %s", path, exc)


def _open_append(path: Path) -> BinaryIO:
    path.parent.mkdir(parents=True, exist_ok=True)
    torn = False
    if path.exists() and path.stat().st_size > 0:
        with path.open("rb") as existing:
            existing.seek(-1, 2)
            torn = existing.read(1) != b"\n"
    handle = cast(BinaryIO, path.open("ab", buffering=0))
    if torn:
        handle.write(b"\n")
    return handle


class ConsoleSink:
    """One summary line per interval, and one line per event, via ``tqdm.write``.

    ``tqdm.write`` prints above any active progress bar instead of through it. The line shows the
    :data:`CONSOLE_KEYS` present in the interval (or the first ``max_keys`` keys if none is).
    """

    def __init__(
        self,
        *,
        keys: tuple[str, ...] = CONSOLE_KEYS,
        max_keys: int = 8,
        stream: IO[str] | None = None,
    ) -> None:
        self.keys = keys
        self.max_keys = max_keys
        self.stream = stream

    def write(self, values: Mapping[str, Scalar], step: int, elapsed: float) -> None:
        shown = [k for k in self.keys if k in values] or list(values)[: self.max_keys]
        parts = [f"step {step:,}", f"{elapsed:,.0f}s"]
        parts += [f"{key} {_fmt(values[key])}" for key in shown]
        self._print(" | ".join(parts))

    def write_config(self, config: Mapping[str, Any]) -> None:
        """Nothing: the config is in config.yaml and TensorBoard."""

    def write_event(self, kind: str, message: str, step: int, elapsed: float) -> None:
        self._print(f"[{kind}] step {step:,}: {message}")

    def close(self) -> None:
        """Nothing to release."""

    def _print(self, line: str) -> None:
        tqdm.write(line, file=self.stream or sys.stdout)


def _fmt(value: Scalar) -> str:
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.4g}"


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


def make_sinks(
    run_dir: str | Path, *, tensorboard: bool, console: bool, purge_step: int | None = None
) -> list[Sink]:
    """The standard sinks of a run directory (DESIGN §4), which must exist.

    Always ``run_dir/metrics.jsonl`` and ``run_dir/events.jsonl``; with ``tensorboard`` the event
    file in ``run_dir`` (``purge_step``: see :class:`TensorBoardSink`); with ``console`` a
    summary line per interval on stdout.
    """
    run_dir = Path(run_dir)
    sinks: list[Sink] = [JsonlSink(run_dir / "metrics.jsonl")]
    if tensorboard:
        sinks.append(TensorBoardSink(run_dir, purge_step=purge_step))
    if console:
        sinks.append(ConsoleSink())
    return sinks


def make_logger(run_dir: str | Path, *, tensorboard: bool, console: bool) -> Logger:
    """A logger on :func:`make_sinks` of ``run_dir`` (created if need be)."""
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    return Logger(make_sinks(run_dir, tensorboard=tensorboard, console=console))


def progress(
    total: int | None, desc: str, *, unit: str = "it", disable: bool | None = None
) -> tqdm[Any]:
    """A tqdm bar for train / eval / ablate loops. ``disable=None`` hides it when not on a TTY."""
    return tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True, disable=disable)
