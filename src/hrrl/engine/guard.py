"""The training guard: refuse updates that would poison the network, and roll back when one did.

A learner asks its guard three things each learning step, and nothing else::

    |TD errors| ──> screen ──────> keep mask: poisoned transitions left out of the loss
    loss, grad_norm ──> check_update ──> "nonfinite_loss" | "nonfinite_grad" | "loss_spike" | None
    optimizer.step()                         │ a reason: drop the gradients, restore the snapshot
    parameters ──────> check_step ───> "nonfinite_params" | None
                                             │ a reason: restore the snapshot
                                             │ None: a good update (loss history, TD scale,
                                             │ a snapshot every ``snapshot_interval`` of them)

Refusal, rollback and acceptance happen behind those calls: the guard holds the online net, the
target net and the optimizer it protects (:meth:`Guard.attach`). :func:`make_guard` is the one
place ``guard.enabled`` is read; off, the learner gets a :class:`NullGuard`, which never refuses
and never snapshots.

A loss spike is ``loss > spike_factor * max(last window good losses)``, checked only once
``min_history`` good losses are known. The largest, not the median: under sparse rewards most
batches hold no reward and a loss near zero, so the median is the loss of a batch with nothing
to learn and every batch that holds a reward reads as a spike. On MinAtar Asterix (seed 1) the
median test rolled back 4,616 of the first 23,751 updates and the agent never learnt to collect
(greedy return 0.3 at 500k steps, 14.9 with the guard off); now one accepted reward batch in the
window sets the bar, and an exploding update is still orders above it. The price: one outlier
accepted unchecked (in the first updates after a hard sync) raises the bar for a window too.
Poisoned transitions are the screen's to catch, and it keeps the median, which one outlier
cannot move.

A spike that persists is a new regime, not an accident (the data changed, e.g. a new curriculum
stage): after ``spike_patience`` rejected spikes within ``window`` good updates the guard
forgets its loss history and lets updates through again. Within the window, not in a row: rare
reward batches come between good ones, so a streak never forms, and a reward the window has not
yet seen would be refused for ever. Non-finite values are always refused.

A hard target sync also starts a new regime (:meth:`Guard.new_target`): the online net had fitted
the old target, often to a loss thousands of times below the one the new target brings, so the
first update after every sync would read as a spike and be rolled back, snapshot target included
(on MountainCar-v0 that froze Q at -3 for the whole run). The loss and TD-error histories restart,
and the first ``min_history`` updates after a hard sync are checked for non-finite values only.
Polyak syncs move the target a little at a time and keep the histories.

Rejections restore the last good snapshot (online net, target net, optimizer) even when the
offending step was never applied: a spike usually means the last updates already pushed the
network somewhere bad, and the snapshot is the last state known to be healthy.
"""

from __future__ import annotations

import bisect
import copy
import math
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import nn

from hrrl.config import check_int, check_range
from hrrl.engine.optim import total_norm
from hrrl.errors import ConfigError, field_error

#: Most recent events kept in memory and in the state (counts cover all of them).
MAX_EVENTS = 1000
REASONS: tuple[str, ...] = ("nonfinite_loss", "nonfinite_grad", "loss_spike", "nonfinite_params")


@dataclass(frozen=True, kw_only=True)
class GuardConfig:
    """When the guard refuses an update and how often it takes a snapshot."""

    enabled: bool = True
    """Check every update (off: every update is applied, as in the original prototype)."""
    spike_factor: float = 50.0
    """A loss above spike_factor x the largest of the last ``window`` good losses is a spike.
    Generous on purpose: a target-network sync or a new curriculum stage lifts the loss
    several-fold, and rolling those back stalls learning; an exploding update (reward 5000, NaN)
    is orders above."""
    window: int = 200
    """Number of recent good losses (and batch scales) the spike and screen tests look back on."""
    min_history: int = 50
    """Good losses needed before spikes are checked."""
    snapshot_interval: int = 100
    """Good updates between in-memory snapshots (the rollback point)."""
    spike_patience: int = 25
    """Rejected spikes within ``window`` good updates after which the new loss level is accepted
    as a new regime."""
    screen_factor: float = 50.0
    """Sample screening: a transition whose |TD error| exceeds screen_factor x the running
    median of recent batches' scales (the larger of the batch's largest |TD error| and its mean
    |Q|), or is not finite, is left out of the update."""

    def __post_init__(self) -> None:
        if not isinstance(self.enabled, bool):
            raise field_error(ConfigError, "guard.enabled", self.enabled, "use true or false")
        check_range("guard.spike_factor", self.spike_factor, low=1.0, low_open=True)
        for name in ("window", "min_history", "snapshot_interval", "spike_patience"):
            check_int(f"guard.{name}", getattr(self, name), low=1)
        check_range("guard.min_history", self.min_history, low=1, high=self.window)
        check_range("guard.screen_factor", self.screen_factor, low=1.0, low_open=True)


@dataclass(frozen=True)
class Screening:
    """A batch screened on the device (:meth:`Guard.screen_on_device`)."""

    keep: torch.Tensor
    """Which transitions to learn from (bool, on the batch's device)."""
    counts: torch.Tensor
    """float32 ``[screened out, whole batch above the scale]``, for the learner's one read."""


class UpdateGuard(Protocol):
    """What the learner asks of a guard (:class:`Guard`, or :class:`NullGuard` when off).

    Each check returns the reason it refused (the guard has already rolled back) or ``None``.
    ``step`` only labels the guard's events.
    """

    def attach(self, model: nn.Module, target: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        """Protect these three (and take the first snapshot of them)."""

    def screen(self, td_abs: torch.Tensor, *, step: int | None = None) -> torch.Tensor | None:
        """The mask of the transitions to learn from, or ``None`` for all of them."""

    def screen_on_device(self, td_abs: torch.Tensor) -> Screening | None:
        """:meth:`screen` without reading anything back: the mask stays on the device, and
        :meth:`record_screen` takes the counts once the learner has read them with its other
        numbers. ``None``: nothing is ever screened (no guard)."""

    def record_screen(self, counts: Sequence[float], *, step: int | None) -> int:
        """The host's side of a screening, from its ``counts`` as read: the scale's
        bookkeeping and the events; returns how many transitions were screened out."""

    def check_update(self, loss: float, grad_norm: float, *, step: int | None = None) -> str | None:
        """Before the optimizer step: is this loss and gradient norm fit to apply?"""

    def params_finite_on_device(self) -> torch.Tensor | None:
        """Whether every protected parameter is finite, as a device tensor read with the
        update's other numbers (None: nothing to check)."""

    def check_step(
        self, loss: float, scale: float, *, step: int | None = None, finite: bool | None = None
    ) -> str | None:
        """After the optimizer step: are the parameters sound (``finite``, as read from
        :meth:`params_finite_on_device`; None: read them now)? ``None`` accepts the update
        (``scale``: the batch's ``max(max |TD error|, mean |Q(s, a)|)``)."""

    def check_params(
        self, *, step: int | None = None, loss: float = math.nan, finite: bool | None = None
    ) -> str | None:
        """Are the parameters sound? (Without accepting anything: no step was taken.)"""

    def new_target(self) -> None:
        """The target net was replaced (a hard sync)."""

    def snapshot(self) -> None:
        """Make the current state the rollback point (after loading a checkpoint)."""

    def state_dict(self) -> dict[str, Any] | None: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def make_guard(config: GuardConfig) -> Guard | NullGuard:
    """The guard ``config`` asks for: a :class:`Guard`, or a :class:`NullGuard` when off."""
    return Guard(config) if config.enabled else NullGuard()


def _clone_state(state: Any) -> Any:
    """Deep copy of a (nested) state dict with every tensor cloned."""
    if isinstance(state, torch.Tensor):
        return state.detach().clone()
    if isinstance(state, dict):
        return {k: _clone_state(v) for k, v in state.items()}
    if isinstance(state, list):
        return [_clone_state(v) for v in state]
    return copy.deepcopy(state)


class RollingWindow:
    """The last ``window`` values, kept sorted as they come and go: their median and max.

    ``median()`` equals ``numpy.median`` of the window to the bit (the middle value, or the
    mean of the two middle ones), at O(window) memmove per append instead of a sort per call:
    the guard asks for a median and a max every update. Values must be finite (the guard only
    records accepted, finite updates).
    """

    def __init__(self, window: int, values: Iterable[float] = ()) -> None:
        self._values: deque[float] = deque(maxlen=window)
        self._sorted: list[float] = []
        for value in values:
            self.append(value)

    def append(self, value: float) -> None:
        value = float(value)
        if len(self._values) == self._values.maxlen:
            del self._sorted[bisect.bisect_left(self._sorted, self._values[0])]
        self._values.append(value)
        bisect.insort(self._sorted, value)

    def clear(self) -> None:
        self._values.clear()
        self._sorted.clear()

    def max(self) -> float:
        """The largest value in the window."""
        if not self._sorted:
            raise ValueError("max of an empty window")
        return self._sorted[-1]

    def median(self) -> float:
        n = len(self._sorted)
        if n == 0:
            raise ValueError("median of an empty window")
        middle = n // 2
        if n % 2:
            return self._sorted[middle]
        return (self._sorted[middle - 1] + self._sorted[middle]) / 2

    def __len__(self) -> int:
        return len(self._values)

    def __iter__(self) -> Iterator[float]:
        return iter(self._values)


@dataclass(frozen=True)
class _Protected:
    model: nn.Module
    target: nn.Module
    optimizer: torch.optim.Optimizer
    params: list[torch.Tensor]  # the model's parameters, walked once


class Guard:
    """Checks losses and parameters, keeps the rollback snapshot, records every event.

    Always checks: whether to guard at all is :func:`make_guard`'s choice.
    """

    def __init__(self, config: GuardConfig) -> None:
        self.config = config
        self.losses = RollingWindow(config.window)
        self.td_peaks = RollingWindow(config.window)
        self.n_screened = 0
        self.events: deque[dict[str, Any]] = deque(maxlen=MAX_EVENTS)
        self.counts: dict[str, int] = dict.fromkeys((*REASONS, "regime_reset", "screened"), 0)
        self.n_good = 0
        self.n_restored = 0
        self.spike_marks: deque[int] = deque(maxlen=config.spike_patience)  # n_good at each
        self.consecutive_full_screens = 0
        self._protected: _Protected | None = None
        self._snapshot: dict[str, Any] | None = None

    def attach(self, model: nn.Module, target: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        """Protect ``model`` (the online net), ``target`` and ``optimizer``; snapshot them.
        Attach again after replacing any of them (the parameter list is taken here)."""
        self._protected = _Protected(model, target, optimizer, list(model.parameters()))
        self.snapshot()

    # --- the three checks of a learning step --------------------------------------------------
    def screen(self, td_abs: torch.Tensor, *, step: int | None = None) -> torch.Tensor | None:
        """Mask of the transitions to learn from, or ``None`` when all of them are fine.

        A poisoned transition (a reward of 5000 from a broken simulator, a NaN) would otherwise
        either spike every batch it lands in, so the whole update is refused and, under
        prioritized replay, the transition keeps its top priority and comes back forever; or,
        once accepted, drag the Q-function with it. Screening drops just those transitions:

            keep_i = isfinite(td_i) and td_i <= screen_factor * median(recent batch scales)
            batch scale = max(max_i |td_i|, mean_i |Q(s_i, a_i)|)

        The value level is part of the scale because a TD error as large as the values
        themselves is learning, not poison: the first transitions into a goal state correct
        Q from wherever bootstrapping left it (MountainCar-v0: from about -45 to -1) while the
        TD errors around them are a few hundredths. Judged by TD errors alone, those were
        screened out and the car never learnt to reach the flag. A poisoned reward is still
        orders of magnitude above both.

        The learner gives screened transitions zero loss and reports a zero TD error, so
        prioritized replay stops sampling them (priority eps). The history only grows from
        accepted batches.
        """
        screening = self.screen_on_device(td_abs)
        dropped = self.record_screen(screening.counts.tolist(), step=step)
        return screening.keep if dropped else None

    def screen_on_device(self, td_abs: torch.Tensor) -> Screening:
        """:meth:`screen`'s mask, computed without a read from the device. Whether a whole
        batch above the scale resets it (``spike_patience`` such batches in a row) is known on
        the host beforehand, so the reset's mask (every finite transition) is chosen on the
        device too."""
        finite = torch.isfinite(td_abs)
        keep = finite
        if len(self.td_peaks) >= self.config.min_history:
            limit = self.config.screen_factor * self.td_peaks.median()
            keep = finite & (td_abs <= limit)
        whole = (~keep).all() & finite.any()
        if self.consecutive_full_screens + 1 >= self.config.spike_patience:
            keep = torch.where(whole, finite, keep)
        counts = torch.stack([(~keep).sum().float(), whole.float()])
        return Screening(keep=keep, counts=counts)

    def record_screen(self, counts: Sequence[float], *, step: int | None) -> int:
        """A whole batch above the scale, again and again, is a scale gone stale (screened
        batches never update it), not poison: outliers are few and, once screened, rarely drawn
        again. After ``spike_patience`` such batches the scale is forgotten (a new regime, and
        that batch learnt from whole)."""
        dropped, whole = int(counts[0]), bool(counts[1])
        if whole:
            self.consecutive_full_screens += 1
            if self.consecutive_full_screens >= self.config.spike_patience:
                self.td_peaks.clear()
                self.consecutive_full_screens = 0
                self.counts["regime_reset"] += 1
                self.events.append({"step": step, "reason": "regime_reset", "screen": True})
        else:
            self.consecutive_full_screens = 0
        if dropped:
            self.n_screened += dropped
            self.counts["screened"] = self.counts.get("screened", 0) + dropped
            self.events.append({"step": step, "reason": "screened", "count": dropped})
        return dropped

    def check_update(self, loss: float, grad_norm: float, *, step: int | None = None) -> str | None:
        """Before the optimizer step: the reason to refuse this update (its gradients are
        dropped and the snapshot restored), or ``None`` to apply it."""
        reason = self._update_anomaly(loss, grad_norm, step=step)
        if reason is not None:
            self._reject(reason, step=step, loss=loss)
        return reason

    def params_finite_on_device(self) -> torch.Tensor:
        """One fused norm over every protected parameter, finite iff every entry is (or the
        weights are astronomically large, as much an anomaly): a 0-d bool on the device."""
        with torch.no_grad():
            return torch.isfinite(total_norm(self._modules().params))

    def check_step(
        self, loss: float, scale: float, *, step: int | None = None, finite: bool | None = None
    ) -> str | None:
        """After the optimizer step: ``"nonfinite_params"`` (the snapshot is restored), or
        ``None``, and the update is accepted: its loss and batch ``scale`` (``max(max |TD
        error|, mean |Q(s, a)|)`` of the batch, read by the learner with its other numbers in
        one transfer) join the histories, and every ``snapshot_interval`` accepted updates the
        state becomes the rollback point. ``finite``: the parameters' soundness as the learner
        read it (:meth:`params_finite_on_device`); None reads it here."""
        reason = self.check_params(step=step, loss=loss, finite=finite)
        if reason is None:
            self._accept(loss, scale)
        return reason

    def check_params(
        self, *, step: int | None = None, loss: float = math.nan, finite: bool | None = None
    ) -> str | None:
        """``"nonfinite_params"`` (and the snapshot restored) if any protected parameter holds
        NaN or inf (``finite``, when the learner read it already); on its own when no step was
        taken (every transition screened)."""
        if finite is None:
            finite = bool(self.params_finite_on_device())
        if finite:
            return None
        self._reject("nonfinite_params", step=step, loss=loss)
        return "nonfinite_params"

    def new_target(self) -> None:
        """The target net was replaced (a hard sync): forget the loss and TD-error scales."""
        self.losses.clear()
        self.td_peaks.clear()
        self.spike_marks.clear()
        self.consecutive_full_screens = 0

    def snapshot(self) -> None:
        """In-memory copy of the three state dicts (tensors cloned): the rollback point."""
        p = self._modules()
        self._snapshot = {
            "model": _clone_state(p.model.state_dict()),
            "target": _clone_state(p.target.state_dict()),
            "optimizer": _clone_state(p.optimizer.state_dict()),
        }

    # --- behind the checks --------------------------------------------------------------------
    def _update_anomaly(self, loss: float, grad_norm: float, *, step: int | None) -> str | None:
        if not math.isfinite(loss):
            return "nonfinite_loss"
        if not math.isfinite(grad_norm):
            return "nonfinite_grad"
        known = len(self.losses) >= self.config.min_history
        if known and loss > self.config.spike_factor * self.losses.max():
            marks = self.spike_marks
            while marks and self.n_good - marks[0] >= self.config.window:
                marks.popleft()  # refused more than a window of good updates ago
            if len(marks) + 1 < self.config.spike_patience:
                return "loss_spike"
            self.losses.clear()  # a recurring level: a new regime, learn from it
            marks.clear()
            self.counts["regime_reset"] += 1
            self.events.append({"step": step, "reason": "regime_reset", "loss": float(loss)})
        return None

    def _accept(self, loss: float, scale: float) -> None:
        """Record a good update; take a snapshot every ``snapshot_interval`` of them. The batch
        scale ``max(max |TD error|, mean |Q|)`` feeds :meth:`screen`."""
        self.losses.append(float(loss))
        self.n_good += 1
        if self.n_good % self.config.snapshot_interval == 0:
            self.snapshot()
        self.td_peaks.append(float(scale))

    def _reject(self, reason: str, *, step: int | None, loss: float) -> None:
        """Record the event, drop the gradients and roll back to the last snapshot."""
        self.counts[reason] = self.counts.get(reason, 0) + 1
        if reason == "loss_spike":
            self.spike_marks.append(self.n_good)
        self.events.append({"step": step, "reason": reason, "loss": float(loss)})
        self._modules().optimizer.zero_grad(set_to_none=True)
        self._restore()

    def _modules(self) -> _Protected:
        if self._protected is None:
            raise RuntimeError("Guard used before attach(): give it the modules it protects")
        return self._protected

    def _restore(self) -> None:
        """Load the snapshot back. The optimizer gets a fresh clone: ``load_state_dict`` keeps
        the tensors it is given, and Adam updates its moments in place."""
        p = self._modules()
        assert self._snapshot is not None  # attach() took one
        p.model.load_state_dict(self._snapshot["model"])
        p.target.load_state_dict(self._snapshot["target"])
        p.optimizer.load_state_dict(_clone_state(self._snapshot["optimizer"]))
        self.n_restored += 1

    @property
    def has_snapshot(self) -> bool:
        return self._snapshot is not None

    @property
    def n_skipped(self) -> int:
        """Updates refused (every reason but regime resets)."""
        return sum(self.counts[r] for r in REASONS)

    # --- state --------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Counters, loss history and events. The snapshot itself is not saved: whoever loads
        this also loads the networks, and takes a fresh snapshot of them."""
        return {
            "losses": list(self.losses),
            "td_peaks": list(self.td_peaks),
            "n_screened": self.n_screened,
            "events": [dict(e) for e in self.events],
            "counts": dict(self.counts),
            "n_good": self.n_good,
            "n_restored": self.n_restored,
            "spike_marks": list(self.spike_marks),
            "consecutive_full_screens": self.consecutive_full_screens,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.losses = RollingWindow(self.config.window, state["losses"])
        self.events = deque((dict(e) for e in state["events"]), maxlen=MAX_EVENTS)
        self.counts = {
            **dict.fromkeys((*REASONS, "regime_reset", "screened"), 0),
            **state["counts"],
        }
        self.n_good = int(state["n_good"])
        self.n_restored = int(state["n_restored"])
        # States before spike marks kept a streak count: no marks to carry over.
        self.spike_marks = deque(
            (int(m) for m in state.get("spike_marks", ())), maxlen=self.config.spike_patience
        )
        self.td_peaks = RollingWindow(self.config.window, state["td_peaks"])
        self.n_screened = int(state["n_screened"])
        self.consecutive_full_screens = int(state.get("consecutive_full_screens", 0))


class NullGuard:
    """The guard switched off: the same calls, and every update goes through as computed.

    Never refuses, never snapshots, holds nothing (so one instance can serve any learner);
    its state is ``None``, what checkpoints of unguarded runs have always held.
    """

    n_restored = 0
    n_screened = 0

    @property
    def counts(self) -> dict[str, int]:
        return {}

    def attach(self, model: nn.Module, target: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        pass

    def screen(self, td_abs: torch.Tensor, *, step: int | None = None) -> torch.Tensor | None:
        return None

    def screen_on_device(self, td_abs: torch.Tensor) -> Screening | None:
        return None

    def record_screen(self, counts: Sequence[float], *, step: int | None) -> int:
        return 0

    def check_update(self, loss: float, grad_norm: float, *, step: int | None = None) -> str | None:
        return None

    def params_finite_on_device(self) -> torch.Tensor | None:
        return None

    def check_step(
        self, loss: float, scale: float, *, step: int | None = None, finite: bool | None = None
    ) -> str | None:
        return None

    def check_params(
        self, *, step: int | None = None, loss: float = math.nan, finite: bool | None = None
    ) -> str | None:
        return None

    def new_target(self) -> None:
        pass

    def snapshot(self) -> None:
        pass

    def state_dict(self) -> None:
        return None

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass  # a guarded run's history, resumed unguarded: nothing to keep it in


#: The default guard of a learner built without one.
NULL_GUARD = NullGuard()
