"""Where a dump goes: TensorBoard, ``metrics.jsonl`` / ``events.jsonl``, the console.

Every sink gets the same values from :class:`hrrl.monitoring.logger.Logger`; none is called by
training code. :class:`TensorBoardSink` is the only code in hrrl that owns a ``SummaryWriter``.
A full or read-only disk never ends training through a sink: the JSONL files keep what the disk
refuses until it takes it again, TensorBoard goes quiet after a warning.

JSON has no NaN or infinity, so ``metrics.jsonl`` writes non-finite floats as the strings
``"NaN"``, ``"Infinity"`` and ``"-Infinity"`` (``float()`` reads them back); a diverging loss is
exactly what the log must not drop.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import sys
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any, BinaryIO, Protocol, cast

import yaml
from tqdm import tqdm

log = logging.getLogger(__name__)


class LogWriteWarning(UserWarning):
    """A log file (``metrics.jsonl``, ``events.jsonl``, TensorBoard's) that the disk refused."""


def _warn(message: str) -> None:
    """Log ``message`` and warn of it: the command line shows warnings as one line each, even
    where no logging handler is configured (a library's logger stays quiet by default)."""
    log.warning(message)
    warnings.warn(message, LogWriteWarning, stacklevel=3)


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
    "rollout/epsilon",
    "train/loss",
    "eval/success_rate",
    "perf/env_steps_per_s",
)
#: The console line of a Gymnasium run: returns and episode lengths, no stages or successes.
GYM_CONSOLE_KEYS: tuple[str, ...] = (
    "rollout/episode_return",
    "rollout/episode_length",
    "rollout/epsilon",
    "train/loss",
    "eval/mean_return",
    "perf/env_steps_per_s",
)
#: The short names a console line gives its metrics (the files keep the full keys).
CONSOLE_LABELS: dict[str, str] = {
    "rollout/stage": "stage",
    "rollout/success_rate": "success",
    "rollout/episode_return": "return",
    "rollout/episode_length": "length",
    "rollout/epsilon": "eps",
    "train/loss": "loss",
    "train/grad_norm": "grad",
    "eval/success_rate": "eval success",
    "eval/mean_return": "eval return",
    "perf/env_steps_per_s": "steps/s",
}

#: Fewest wall seconds between two console lines of a run: metrics are dumped far more often
#: (``train.log_every``); every dump still reaches the files and TensorBoard.
CONSOLE_EVERY_SECONDS = 2.0

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
            _warn(f"TensorBoard event file cannot be written, TensorBoard stops here: {exc}")


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
            self._drain(path, b"")  # a last try
        for path, data in self._pending.items():
            rows = data.count(b"\n")
            _warn(
                f"{path}: {rows} row(s) ({len(data):,} bytes) were never written, the disk "
                "refused them to the end of the run"
            )
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
                _warn(f"{path} cannot be written, training goes on: {exc}")


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
    """One summary line per interval (at most one per ``every_seconds``, and one per step), and
    one line per event, via ``tqdm.write``.

    ``tqdm.write`` prints above any active progress bar instead of through it. The line shows the
    :data:`CONSOLE_KEYS` present in the interval (or the first ``max_keys`` keys if none is).
    """

    def __init__(
        self,
        *,
        keys: tuple[str, ...] = CONSOLE_KEYS,
        max_keys: int = 8,
        stream: IO[str] | None = None,
        every_seconds: float = 0.0,
    ) -> None:
        self.keys = keys
        self.max_keys = max_keys
        self.stream = stream
        self.every_seconds = every_seconds
        self._last: tuple[int, float] | None = None  # (step, elapsed) of the last line

    def write(self, values: Mapping[str, Scalar], step: int, elapsed: float) -> None:
        if self._last is not None and (
            step == self._last[0] or elapsed - self._last[1] < self.every_seconds
        ):
            return
        self._last = (step, elapsed)
        shown = [k for k in self.keys if k in values] or list(values)[: self.max_keys]
        parts = [f"step {step:,}", f"{elapsed:,.0f}s"]
        parts += [f"{CONSOLE_LABELS.get(key, key)} {_fmt(values[key])}" for key in shown]
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
    if math.isfinite(value) and abs(value) >= 1000:  # 12,346 rather than 1.235e+04
        return f"{value:,.0f}"
    return f"{value:.4g}"


def make_sinks(
    run_dir: str | Path,
    *,
    tensorboard: bool,
    console: bool,
    purge_step: int | None = None,
    console_keys: tuple[str, ...] = CONSOLE_KEYS,
) -> list[Sink]:
    """The standard sinks of a run directory (design §4), which must exist.

    Always ``run_dir/metrics.jsonl`` and ``run_dir/events.jsonl``; with ``tensorboard`` the event
    file in ``run_dir`` (``purge_step``: see :class:`TensorBoardSink`); with ``console`` a
    summary line per interval on stdout, of ``console_keys`` (:data:`GYM_CONSOLE_KEYS` for a
    Gymnasium run).
    """
    run_dir = Path(run_dir)
    sinks: list[Sink] = [JsonlSink(run_dir / "metrics.jsonl")]
    if tensorboard:
        sinks.append(TensorBoardSink(run_dir, purge_step=purge_step))
    if console:
        sinks.append(ConsoleSink(keys=console_keys, every_seconds=CONSOLE_EVERY_SECONDS))
    return sinks
