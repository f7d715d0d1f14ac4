"""The trainer's side of checkpointing: save on schedule, keep training when the disk says no.

The store itself (layout, atomic writes, checksums, rotation, ``best``) is :mod:`hrrl.persistence.store`;
this module only decides *when* to save and records saves that failed.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hrrl.persistence.payload import CheckpointPayload
from hrrl.persistence.store import (
    CheckpointConfig,
    CheckpointSaveError,
    CheckpointWarning,
    save_checkpoint,
)


@dataclass(frozen=True)
class SaveFailure:
    """A save that did not happen: the environment step, when (UTC) and why."""

    step: int
    time: str
    error: str


class CheckpointManager:
    """Saves on schedule and keeps training going when the disk says no.

    A save is due when the environment step reaches ``next_due``, or (with ``every_seconds``)
    when that much wall time has passed since the last attempt. After any attempt ``next_due``
    moves to the next multiple of ``every_steps`` above the step, so a full disk costs one
    attempt per interval, not one per step, and a save off the step grid leaves the grid as it
    was (the trainer's state, ``next_due`` included, stays what an unsaved run would hold).
    Failed saves are logged and kept in ``failures`` (and in :meth:`state_dict`, so a resumed
    run still shows them); the next scheduled save is simply tried again.
    """

    def __init__(
        self,
        run_dir: Path | str,
        config: CheckpointConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.config = config
        self.next_due = config.every_steps
        self.failures: list[SaveFailure] = []
        self.last_saved: Path | None = None
        self.last_saved_step: int | None = None
        self._clock = clock
        self._last_attempt = clock()

    def due(self, env_step: int) -> bool:
        if not self.config.enabled:
            return False
        seconds = self.config.every_seconds
        late = seconds is not None and self._clock() - self._last_attempt >= seconds
        return env_step >= self.next_due or late

    def saved_at(self, env_step: int, path: Path) -> None:
        """Note a checkpoint of the current state that already exists (a resumed run's start)."""
        self.last_saved, self.last_saved_step = path, env_step

    def maybe_save(
        self,
        env_step: int,
        provider: Callable[[], CheckpointPayload],
        metrics: Mapping[str, Any],
        score: Sequence[float] | None = None,
    ) -> Path | None:
        """Save when due; ``provider`` is called only then. Returns the new directory or None."""
        if not self.due(env_step):
            return None
        return self.save(env_step, provider, metrics, score)

    def save(
        self,
        env_step: int,
        provider: Callable[[], CheckpointPayload],
        metrics: Mapping[str, Any],
        score: Sequence[float] | None = None,
    ) -> Path | None:
        """Save now (e.g. at the end of training); None when disabled or when the save failed.

        ``metrics`` and ``score`` are the evaluation of this step's policy (none when it was not
        evaluated); ``best`` follows the highest score (:func:`~hrrl.persistence.store.save_checkpoint`)."""
        if not self.config.enabled:
            return None
        every = self.config.every_steps
        self.next_due = (env_step // every + 1) * every
        payload = provider()
        try:
            path = save_checkpoint(
                self.run_dir,
                env_step,
                tensors=payload.tensors,
                arrays=payload.arrays,
                state=payload.state,
                metrics=metrics,
                score=score,
                keep_last=self.config.keep_last,
                replace=True,
            )
        except CheckpointSaveError as exc:
            now = datetime.now(UTC).isoformat(timespec="seconds")
            self.failures.append(SaveFailure(step=env_step, time=now, error=str(exc)))
            # A warning, not a log record: the command line shows it at once, even with --quiet.
            warnings.warn(
                f"checkpoint at step {env_step} failed, training goes on (the next save is tried "
                f"again): {exc}",
                CheckpointWarning,
                stacklevel=2,
            )
            return None
        finally:
            self._last_attempt = self._clock()
        self.saved_at(env_step, path)
        return path

    def state_dict(self) -> dict[str, Any]:
        return {
            "next_due": self.next_due,
            "failures": [[f.step, f.time, f.error] for f in self.failures],
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.next_due = int(state["next_due"])
        self.failures = [
            SaveFailure(step=int(s), time=str(t), error=str(e)) for s, t, e in state["failures"]
        ]
