"""Training health alerts: a run that diverges, stalls or slows down says so while it runs.

:class:`HealthMonitor` is fed once per logging interval with that interval's metrics (a flat
``{name: number}`` dict, e.g. :meth:`hrrl.monitoring.logger.Logger.values`) and knows nothing else: not the
puzzle, not the agent. The guard and finite checks judge every interval; the success and
throughput checks judge intervals pooled until they span ``judge_steps`` env steps (success
weighted by episodes, throughput by time), so a judgement rests on enough episodes, and an
evaluation's pause is spread over enough steps, however often metrics are dumped. It watches
five conditions, each an *alert* with a start and an end::

    guard       a guard count (anomalies, rollbacks) is > 0 in the interval
    nonfinite   a ``train/`` metric is NaN or infinite
    stall       the success rate of the current curriculum stage has not beaten its best by
                ``stall_min_delta`` for ``stall_intervals`` judgements (and is below
                ``stall_ignore_above``: a mastered stage waiting to advance is not stalled)
    collapse    success rate fell more than ``collapse_drop`` below its best in this stage
    throughput  env steps/s fell below ``throughput_ratio`` x the median of recent healthy judgements

An alert is reported once when it starts and once when it ends ("recovered"), never every
interval in between. Collapse and throughput end with hysteresis, so a value hovering at the
threshold does not flap::

    success  best ──────────────────────────────
             best - drop/2 ─ ─ ─ ─ ─ ─ ─ ─ ─ ─ ─   recovered when back above this
             best - drop ───────────────────────   alert when below this

A stage change (the ``stage_key`` metric changing) starts a new stage: its best and its stall
counter are reset, and a stall or collapse of the previous stage ends. A check whose metrics are
absent from an interval leaves its alert as it was.
"""

from __future__ import annotations

import dataclasses
import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from hrrl.config import check_int
from hrrl.errors import ConfigError, field_error
from hrrl.monitoring.logger import Logger

#: The alert kinds, in the order they are checked.
ALERT_KINDS: tuple[str, ...] = ("guard", "nonfinite", "stall", "collapse", "throughput")

#: An alert with a threshold ends once the value is back this fraction of the way to normal.
RECOVERY_FRACTION = 0.5


@dataclass(frozen=True, kw_only=True)
class HealthConfig:
    """Thresholds and metric names of the health checks (generic: any metric names work)."""

    success_key: str = "rollout/success_rate"
    """Metric with the success rate of the interval's episodes (0..1)."""
    stage_key: str = "rollout/stage"
    """Metric with the curriculum stage index; absent = one stage for the whole run."""
    throughput_key: str = "perf/env_steps_per_s"
    """Metric with the interval's throughput (env steps per second)."""
    guard_keys: tuple[str, ...] = ("health/anomalies", "health/rollbacks", "health/screened")
    """Per-interval guard counts (events since the last dump, not running totals)."""
    episodes_key: str = "rollout/episodes"
    """Metric with the running episode count, weighting each interval's success rate in a pooled
    judgement (absent: every interval weighs the same)."""
    judge_steps: int = 5_000
    """Env steps of intervals pooled into one judgement of the stall, collapse and throughput
    checks (the dump interval of train.log_every can be far shorter)."""
    finite_prefix: str = "train/"
    """Metrics starting with this prefix must be finite."""
    stall_intervals: int = 20
    """Judgements (of judge_steps each) without improvement after which a stage is stalled."""
    stall_min_delta: float = 0.02
    """How much the success rate must beat the stage's best to count as improvement."""
    stall_ignore_above: float = 0.95
    """A success rate at or above this is never a stall (the stage is mastered)."""
    collapse_drop: float = 0.3
    """Alert when the success rate falls more than this below its best in the stage."""
    throughput_ratio: float = 0.5
    """Alert when throughput falls below this fraction of its recent median."""
    throughput_window: int = 20
    """How many recent healthy judgements the throughput median is taken over."""
    throughput_warmup: int = 3
    """Judgements of throughput to see before the throughput check starts."""

    def __post_init__(self) -> None:
        for name in ("stall_intervals", "throughput_window", "throughput_warmup", "judge_steps"):
            check_int(f"health.{name}", getattr(self, name), low=1)
        for name, low, high in (
            ("stall_min_delta", 0.0, 1.0),
            ("stall_ignore_above", 0.0, 1.0),
            ("collapse_drop", 0.0, 1.0),
            ("throughput_ratio", 0.0, 1.0),
        ):
            value = getattr(self, name)
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            if not ok or not low < value <= high:
                raise field_error(ConfigError, name, value, f"use a number in ({low}, {high}]")
        if self.throughput_window < self.throughput_warmup:
            raise field_error(
                ConfigError,
                "throughput_window",
                self.throughput_window,
                f"use at least throughput_warmup={self.throughput_warmup}",
            )


@dataclass(frozen=True)
class Alert:
    """One alert transition: ``started`` True when it begins, False when it recovers."""

    kind: str
    started: bool
    message: str

    @property
    def event_kind(self) -> str:
        """The logger event kind: ``alert/<kind>`` or ``recovered/<kind>``."""
        return f"{'alert' if self.started else 'recovered'}/{self.kind}"


# A check returns None (no information this interval) or (active, message).
_Check = tuple[bool, str] | None


@dataclass
class _Pool:
    """Intervals gathered for the next judgement of the pooled checks."""

    steps: int = 0
    successes: float = 0.0  # sum of success rate x episodes
    episodes: float = 0.0
    timed_steps: int = 0  # steps of the intervals with a throughput, and their seconds
    seconds: float = 0.0


class HealthMonitor:
    """Turns per-interval metrics into alert transitions, logged as events once each.

    ``update(metrics, step)`` returns the transitions of this interval and, with a logger, sends
    each one to :meth:`Logger.log_event` (the console sink prints it; TensorBoard and
    ``events.jsonl`` keep it) and records ``health/alerts_active``.
    """

    def __init__(self, config: HealthConfig | None = None, *, logger: Logger | None = None) -> None:
        self.config = config or HealthConfig()
        self.logger = logger
        self.active: dict[str, str] = {}
        self._stage: float | None = None
        self._seen_stage = False
        self._stall_best = -math.inf
        self._since_improvement = 0
        self._best = -math.inf
        self._throughput: deque[float] = deque(maxlen=self.config.throughput_window)
        self._pool = _Pool()
        self._last_step = 0
        self._last_episodes: float | None = None

    def update(self, metrics: Mapping[str, float], step: int) -> list[Alert]:
        """Check one interval's metrics; return (and log) the alerts that start or end now."""
        stage_change = self._track_stage(metrics)
        success, throughput = self._judged(metrics, step)
        checks: dict[str, _Check] = {
            "guard": self._check_guard(metrics),
            "nonfinite": self._check_finite(metrics),
            "stall": self._check_stall(success, stage_change),
            "collapse": self._check_collapse(success, stage_change),
            "throughput": self._check_throughput(throughput),
        }
        alerts: list[Alert] = []
        for kind in ALERT_KINDS:
            result = checks[kind]
            if result is None:
                continue
            active, message = result
            if active and kind not in self.active:
                self.active[kind] = message
                alerts.append(Alert(kind, True, message))
            elif not active and kind in self.active:
                del self.active[kind]
                alerts.append(Alert(kind, False, message))
        if self.logger is not None:
            for alert in alerts:
                self.logger.log_event(alert.event_kind, alert.message, step)
            self.logger.record("health/alerts_active", len(self.active))
        return alerts

    # -- the checks -------------------------------------------------------------------------

    def _track_stage(self, metrics: Mapping[str, float]) -> str | None:
        """Start a new stage when the stage metric changes; returns a description if it did."""
        if self.config.success_key not in metrics:
            return None
        stage = _finite(metrics.get(self.config.stage_key))
        if self._seen_stage and stage == self._stage:
            return None
        change = f"stage changed from {_fmt(self._stage)} to {_fmt(stage)}"
        self._seen_stage, self._stage = True, stage
        self._stall_best, self._since_improvement, self._best = -math.inf, 0, -math.inf
        self._pool = _Pool()  # the new stage is judged on its own episodes
        return change

    def _judged(self, metrics: Mapping[str, float], step: int) -> tuple[float | None, float | None]:
        """Add this interval to the pool; once it spans ``judge_steps``, the pooled success rate
        and throughput (None where the pool holds none), and a fresh pool."""
        cfg, pool = self.config, self._pool
        steps = max(int(step) - self._last_step, 0)
        self._last_step = int(step)
        total = _finite(metrics.get(cfg.episodes_key))
        if total is None:
            weight = 1.0
        else:
            weight = total - (self._last_episodes or 0.0)
            self._last_episodes = total
        success = _finite(metrics.get(cfg.success_key))
        if success is not None and weight > 0:
            pool.successes += success * weight
            pool.episodes += weight
        rate = _finite(metrics.get(cfg.throughput_key))
        if rate is not None and rate > 0 and steps > 0:
            pool.timed_steps += steps
            pool.seconds += steps / rate
        pool.steps += steps
        if pool.steps < cfg.judge_steps:
            return None, None
        self._pool = _Pool()
        return (
            pool.successes / pool.episodes if pool.episodes > 0 else None,
            pool.timed_steps / pool.seconds if pool.seconds > 0 else None,
        )

    def _check_guard(self, metrics: Mapping[str, float]) -> _Check:
        counts = {k: metrics[k] for k in self.config.guard_keys if k in metrics}
        if not counts:
            return None
        fired = {k: v for k, v in counts.items() if v != 0}
        if fired:
            return True, "guard fired: " + ", ".join(f"{k}={_fmt(v)}" for k, v in fired.items())
        return False, "no guard events this interval"

    def _check_finite(self, metrics: Mapping[str, float]) -> _Check:
        watched = {k: v for k, v in metrics.items() if k.startswith(self.config.finite_prefix)}
        if not watched:
            return None
        bad = [f"{k}={v}" for k, v in watched.items() if not math.isfinite(v)]
        if bad:
            return True, "non-finite metrics: " + ", ".join(bad)
        return False, f"all {self.config.finite_prefix}* metrics finite again"

    def _check_stall(self, success: float | None, stage_change: str | None) -> _Check:
        cfg = self.config
        if success is None:
            return (False, stage_change) if stage_change else None
        first = self._stall_best == -math.inf
        if first or success >= self._stall_best + cfg.stall_min_delta:
            self._stall_best, self._since_improvement = success, 0
            if stage_change:
                return False, stage_change
            return None if first else (False, f"success rate improved to {success:.3g}")
        self._since_improvement += 1
        if success >= cfg.stall_ignore_above:
            return False, f"success rate {success:.3g} >= {cfg.stall_ignore_above} (mastered)"
        if self._since_improvement >= cfg.stall_intervals:
            return True, (
                f"stage {_fmt(self._stage)} stalled: success rate {success:.3g} has not beaten "
                f"{self._stall_best:.3g} by {cfg.stall_min_delta} for "
                f"{self._since_improvement} judgements of {cfg.judge_steps:,} steps"
            )
        return None

    def _check_collapse(self, success: float | None, stage_change: str | None) -> _Check:
        cfg = self.config
        if success is None:
            return (False, stage_change) if stage_change else None
        self._best = max(self._best, success)
        drop = self._best - success
        limit = cfg.collapse_drop * (RECOVERY_FRACTION if "collapse" in self.active else 1.0)
        if drop > limit:
            return True, (
                f"success rate collapsed to {success:.3g} from its stage best {self._best:.3g} "
                f"(drop {drop:.3g} > {cfg.collapse_drop})"
            )
        reason = stage_change or f"success rate back to {success:.3g} (best {self._best:.3g})"
        return False, reason

    def _check_throughput(self, value: float | None) -> _Check:
        cfg = self.config
        if value is None:
            return None
        if len(self._throughput) < cfg.throughput_warmup:
            self._throughput.append(value)
            return None
        median = float(np.median(np.asarray(self._throughput)))
        ratio = cfg.throughput_ratio
        if "throughput" in self.active:
            ratio += (1.0 - ratio) * RECOVERY_FRACTION
        if value < ratio * median:
            return True, (
                f"throughput dropped to {value:.4g} ({value / median:.0%} of recent median "
                f"{median:.4g}, threshold {cfg.throughput_ratio:.0%})"
            )
        self._throughput.append(value)
        return False, f"throughput back to {value:.4g} (recent median {median:.4g})"

    # -- checkpointing ----------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Plain data: active alerts, stage, bests, stall counter, throughput history."""
        return {
            "active": dict(self.active),
            "stage": self._stage,
            "seen_stage": self._seen_stage,
            "stall_best": self._stall_best,
            "since_improvement": self._since_improvement,
            "best": self._best,
            "throughput": list(self._throughput),
            "pool": dataclasses.asdict(self._pool),
            "last_step": self._last_step,
            "last_episodes": self._last_episodes,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.active = {str(k): str(v) for k, v in state["active"].items()}
        stage = state["stage"]
        self._stage = None if stage is None else float(stage)
        self._seen_stage = bool(state["seen_stage"])
        self._stall_best = float(state["stall_best"])
        self._since_improvement = int(state["since_improvement"])
        self._best = float(state["best"])
        self._throughput = deque(
            (float(v) for v in state["throughput"]), maxlen=self.config.throughput_window
        )
        # Checkpoints written before pooling carry no pool: start an empty one.
        self._pool = _Pool(**state.get("pool", {}))
        self._last_step = int(state.get("last_step", 0))
        last = state.get("last_episodes")
        self._last_episodes = None if last is None else float(last)


def _finite(value: float | None) -> float | None:
    """``value`` as a float, or None when absent or not finite (no information)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return str(int(value)) if float(value).is_integer() else f"{value:.4g}"
