"""Health alerts: each fires once when its condition starts and once when it recovers."""

from __future__ import annotations

import io
import json
import math
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hrrl.errors import ConfigError
from hrrl.monitoring.health import ALERT_KINDS, Alert, HealthConfig, HealthMonitor
from hrrl.monitoring.logger import ConsoleSink, JsonlSink, Logger

SUCCESS = "rollout/success_rate"
STAGE = "rollout/stage"
SPS = "perf/env_steps_per_s"
ANOM = "health/anomalies"


def _feed(
    monitor: HealthMonitor, rows: Sequence[dict[str, float]], start: int = 0
) -> list[tuple[int, Alert]]:
    """Feed rows one judgement (``judge_steps``) apart, the first at judgement ``start + 1``;
    return (interval index, alert) for every transition."""
    every = monitor.config.judge_steps
    return [
        (i, alert)
        for i, row in enumerate(rows)
        for alert in monitor.update(row, step=(start + i + 1) * every)
    ]


def _summary(alerts: list[tuple[int, Alert]]) -> list[tuple[int, str, bool]]:
    return [(i, a.kind, a.started) for i, a in alerts]


def test_guard_alert_fires_once_per_burst_and_recovers() -> None:
    rows = [{ANOM: 0}, {ANOM: 2}, {ANOM: 1}, {}, {ANOM: 0}, {ANOM: 3}]
    alerts = _feed(HealthMonitor(), rows)
    assert _summary(alerts) == [(1, "guard", True), (4, "guard", False), (5, "guard", True)]
    assert "health/anomalies=2" in alerts[0][1].message
    assert alerts[0][1].event_kind == "alert/guard"
    assert alerts[1][1].event_kind == "recovered/guard"


def test_nonfinite_train_metric_alerts_but_eval_nan_does_not() -> None:
    rows = [
        {"train/loss": 1.0, "eval/efficiency": math.nan},
        {"train/loss": math.nan},
        {"train/loss": math.inf},
        {"train/loss": 0.5},
    ]
    assert _summary(_feed(HealthMonitor(), rows)) == [
        (1, "nonfinite", True),
        (3, "nonfinite", False),
    ]


def test_stall_fires_once_after_n_flat_intervals_and_recovers_on_improvement() -> None:
    monitor = HealthMonitor(HealthConfig(stall_intervals=3, stall_min_delta=0.05))
    # best 0.40; 0.42 and 0.44 do not beat it by 0.05; 0.46 does.
    flat = [0.40, 0.42, 0.38, 0.44, 0.41, 0.43, 0.46]
    alerts = _feed(monitor, [{SUCCESS: s, STAGE: 0} for s in flat])
    assert _summary(alerts) == [(3, "stall", True), (6, "stall", False)]
    assert "stage 0 stalled" in alerts[0][1].message and "3 judgements" in alerts[0][1].message
    assert "improved to 0.46" in alerts[1][1].message


def test_a_stage_change_ends_a_stall_and_restarts_the_count() -> None:
    monitor = HealthMonitor(HealthConfig(stall_intervals=2))
    rows = [{SUCCESS: 0.5, STAGE: 0}] * 3 + [{SUCCESS: 0.2, STAGE: 1}] * 3
    alerts = _feed(monitor, rows)
    assert _summary(alerts) == [(2, "stall", True), (3, "stall", False), (5, "stall", True)]
    assert alerts[1][1].message == "stage changed from 0 to 1"
    assert "collapse" not in monitor.active  # 0.5 -> 0.2 across stages is not a collapse


def test_a_mastered_stage_never_stalls() -> None:
    monitor = HealthMonitor(HealthConfig(stall_intervals=2, stall_ignore_above=0.9))
    assert _feed(monitor, [{SUCCESS: 0.97, STAGE: 3}] * 10) == []


def test_collapse_alerts_once_and_recovers_with_hysteresis() -> None:
    monitor = HealthMonitor(HealthConfig(collapse_drop=0.3, stall_intervals=100))
    # best 0.8; 0.45 drops 0.35 > 0.3 (alert); 0.6 drops 0.2 > 0.15 (still on); 0.7 drops 0.1 (off)
    rows = [{SUCCESS: s, STAGE: 0} for s in (0.5, 0.8, 0.45, 0.3, 0.6, 0.7, 0.52)]
    alerts = _feed(monitor, rows)
    assert _summary(alerts) == [(2, "collapse", True), (5, "collapse", False)]
    assert "stage best 0.8" in alerts[0][1].message
    assert monitor.active == {}  # 0.52 drops 0.28 < 0.3: not a new alert


def test_throughput_drop_uses_median_of_healthy_intervals_with_hysteresis() -> None:
    monitor = HealthMonitor(HealthConfig(throughput_ratio=0.5, throughput_warmup=3))
    # median 1000: alert below 500, recover at 750 or more; alert intervals do not lower the median
    values = [900, 1000, 1100, 1000, 400, 300, 300, 600, 800, 1000]
    alerts = _feed(monitor, [{SPS: v} for v in values])
    assert _summary(alerts) == [(4, "throughput", True), (8, "throughput", False)]
    assert "40% of recent median 1000" in alerts[0][1].message


def test_missing_metrics_leave_alerts_alone() -> None:
    monitor = HealthMonitor()
    monitor.update({ANOM: 1}, step=0)
    assert monitor.update({}, step=1) == []
    assert monitor.update({"train/loss": 0.1}, step=2) == []
    assert set(monitor.active) == {"guard"}


def test_alerts_go_to_the_logger_once_each(tmp_path: Path) -> None:
    stream = io.StringIO()
    logger = Logger([JsonlSink(tmp_path / "metrics.jsonl"), ConsoleSink(stream=stream)])
    monitor = HealthMonitor(logger=logger)
    for step, count in enumerate([0, 4, 4, 4, 0], start=1):
        logger.record("health/anomalies", count)
        monitor.update(logger.values(), step=step * 100)
        logger.dump(step * 100)
    logger.close()
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert [(e["step"], e["kind"]) for e in events] == [
        (200, "alert/guard"),
        (500, "recovered/guard"),
    ]
    printed = [line for line in stream.getvalue().splitlines() if line.startswith("[")]
    assert printed == [
        "[alert/guard] step 200: guard fired: health/anomalies=4",
        "[recovered/guard] step 500: no guard events this interval",
    ]
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [row["health/alerts_active"] for row in rows] == [0, 1, 1, 1, 0]


def test_state_dict_round_trip_continues_exactly() -> None:
    config = HealthConfig(stall_intervals=3, throughput_warmup=2)
    rows = [
        {SUCCESS: 0.1 * (i % 4), STAGE: i // 6, SPS: 1000 - 150 * (i % 5), ANOM: i % 3 == 0}
        for i in range(24)
    ]
    whole = _summary(_feed(HealthMonitor(config), rows))
    first = HealthMonitor(config)
    head = _summary(_feed(first, rows[:11]))
    state = json.loads(json.dumps(first.state_dict()))  # plain data only
    second = HealthMonitor(config)
    second.load_state_dict(state)
    tail = [(i + 11, k, s) for i, k, s in _summary(_feed(second, rows[11:], start=11))]
    assert head + tail == whole
    assert whole, "the sequence should exercise some alerts"


_metric_rows = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            SUCCESS: st.floats(0, 1),
            STAGE: st.integers(0, 3),
            SPS: st.floats(1, 1e5),
            ANOM: st.integers(0, 2),
            "train/loss": st.sampled_from([0.1, 1.0, math.nan, math.inf]),
        },
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(rows=_metric_rows)
def test_every_alert_alternates_start_and_recovery(rows: list[dict[str, float]]) -> None:
    monitor = HealthMonitor(HealthConfig(stall_intervals=2, throughput_warmup=2))
    alerts = _feed(monitor, rows)
    for kind in ALERT_KINDS:
        states = [a.started for _, a in alerts if a.kind == kind]
        assert states == [i % 2 == 0 for i in range(len(states))]  # start, recover, start, ...
        assert (kind in monitor.active) == (bool(states) and states[-1])


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("stall_intervals", 0),
        ("stall_intervals", 2.5),
        ("collapse_drop", 0.0),
        ("collapse_drop", 1.5),
        ("throughput_ratio", True),
        ("throughput_warmup", 0),
        ("throughput_window", 2),
    ],
)
def test_bad_config_names_the_field(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"{field}="):
        HealthConfig(**{field: value})  # type: ignore[arg-type]


EPISODES = "rollout/episodes"


def test_short_intervals_are_pooled_into_one_judgement_weighted_by_episodes() -> None:
    """Dumps every 256 steps: the success checks judge 5,000-step pools, each interval weighted
    by the episodes it ended, so one unlucky interval of few episodes is no collapse."""
    monitor = HealthMonitor(HealthConfig(collapse_drop=0.3))
    step, episodes, alerts = 0, 0, []
    for i in range(60):
        step += 256
        few = i % 10 == 9  # every 10th interval: 2 episodes, both failed
        episodes += 2 if few else 50
        row = {SUCCESS: 0.0 if few else 0.9, STAGE: 0, EPISODES: episodes}
        alerts += monitor.update(row, step=step)
    assert alerts == []
    # A real collapse, sustained over a whole pool, is still seen.
    for _ in range(40):
        step += 256
        episodes += 50
        alerts += monitor.update({SUCCESS: 0.3, STAGE: 0, EPISODES: episodes}, step=step)
    assert [(a.kind, a.started) for a in alerts] == [("collapse", True)]


def test_an_evaluation_pause_in_one_short_interval_is_no_throughput_drop() -> None:
    """256 steps at 1,000 steps/s plus a 0.5 s evaluation read 338 steps/s (alone, an alert
    below 500); pooled over 5,000 steps, about 910."""
    monitor = HealthMonitor(HealthConfig(throughput_warmup=2))
    alerts = []
    for i in range(1, 200):
        rate = 256 / (0.256 + 0.5) if i == 150 else 1000.0
        alerts += monitor.update({SPS: rate}, step=256 * i)
    assert alerts == []
    assert monitor.update({SPS: 100.0}, step=256 * 250) != []  # a lasting drop still alerts
