"""``hrrl report`` on finished, running and killed runs, and ``hrrl dashboard``'s command line."""

from __future__ import annotations

import argparse
import base64
import math
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from hrrl.cli import main
from hrrl.commands import dashboard as dashboard_cmd
from hrrl.commands import report as report_cmd
from hrrl.errors import ConfigError, HrrlError
from hrrl.monitoring.health import HealthConfig, HealthMonitor
from hrrl.monitoring.logger import make_logger
from hrrl.monitoring.plots import PLOTS
from hrrl.monitoring.report import write_report
from hrrl.monitoring.run_log import load_run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CHROMIUM = Path("/usr/bin/chromium")
ALL_PLOTS = {plot.name for plot in PLOTS}


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.srcs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.srcs.append(dict(attrs)["src"] or "")


def _img_srcs(html_path: Path) -> list[str]:
    parser = _Images()
    parser.feed(html_path.read_text(encoding="utf-8"))
    return parser.srcs


def make_run(run_dir: Path, *, intervals: int = 40, torn: bool = True) -> Path:
    """A synthetic run written by the real logger and health monitor, killed mid-line."""
    run_dir.mkdir(parents=True, exist_ok=True)
    config = {"preset": "default", "seed": 3, "agent": {"lr": 5e-4, "double": True}}
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
    logger = make_logger(run_dir, tensorboard=False, console=False)
    health = HealthMonitor(HealthConfig(stall_intervals=5, judge_steps=1000), logger=logger)
    for i in range(intervals):
        stage = min(i // 10, 3)
        success = min(1.0, 0.2 + 0.05 * (i % 10))
        logger.record("rollout/stage", stage)
        logger.record("rollout/success_rate", success)
        logger.record(f"rollout/stage_{stage}/success_rate", success)
        logger.record_mean("rollout/episode_return", 2 * success - 1)
        logger.record("rollout/status/SUCCESS", 10 * i)
        logger.record("rollout/status/FORBIDDEN", 40 - i)
        logger.record("rollout/episode_length", 20 - 10 * success)
        logger.record("rollout/epsilon", max(0.05, 1.0 - i / 30))
        logger.record("train/loss", math.nan if i == 17 else 1.0 / (i + 1))
        logger.record("train/td_error", 0.5 / (i + 1))
        logger.record("train/grad_norm", 10.0 / (i + 1))
        logger.record("train/q_bias", 2.0 / (i + 1))
        logger.record("train/q_mean", 1.0 + 0.01 * i)
        logger.record("train/q_max", 2.0 + 0.01 * i)
        logger.record("health/anomalies", int(i == 17))
        logger.record("perf/env_steps_per_s", 300.0 if i == 25 else 1000.0)
        logger.record("perf/updates_per_s", 250.0)
        if i % 5 == 4:
            for family in ("scale", "dense"):
                logger.record(f"eval/{family}/success_rate", success)
                logger.record(f"eval/{family}/efficiency", 0.9 * success)
            logger.record("eval/success_rate", success)
        health.update(logger.values(), step=(i + 1) * 1000)
        logger.dump(step=(i + 1) * 1000)
    logger.close()
    if torn:
        with (run_dir / "metrics.jsonl").open("a") as handle:
            handle.write('{"step": 41000, "rollout/success_ra')
    return run_dir


def test_full_run_writes_every_plot_and_the_html_references_only_existing_images(
    tmp_path: Path,
) -> None:
    run_dir = make_run(tmp_path / "run")
    result = write_report(run_dir)
    assert result.html == run_dir / "report" / "report.html"
    assert {p.stem for p in result.images} == ALL_PLOTS
    for image in result.images:
        assert image.read_bytes().startswith(PNG_MAGIC)
    srcs = _img_srcs(result.html)
    assert len(srcs) == len(ALL_PLOTS)
    assert all((result.html.parent / src).is_file() for src in srcs)
    assert any("skipped 1 unreadable line" in note for note in result.notes)
    page = result.html.read_text()
    assert "lr: 0.0005" in page  # the config section
    assert "alert/guard" in page and "recovered/guard" in page  # the events table
    assert "<td>train/loss</td><td class=num>0.025</td><td class=num>40,000</td>" in page
    assert "40 logging intervals; the last at env step 40,000" in page


def test_the_run_data_tolerates_the_torn_line_and_finds_stage_boundaries(tmp_path: Path) -> None:
    run = load_run(make_run(tmp_path / "run"))
    assert len(run.metrics) == 40 and run.metrics[-1]["step"] == 40_000
    assert run.stage_boundaries() == [(11_000, 1.0), (21_000, 2.0), (31_000, 3.0)]
    steps, loss = run.series("train/loss")
    assert len(steps) == 40 and math.isnan(loss[17])  # "NaN" in the file
    assert {e["kind"] for e in run.events} >= {"alert/guard", "alert/nonfinite", "alert/throughput"}


def test_a_run_that_only_wrote_its_config_gets_a_report_of_notes(tmp_path: Path) -> None:
    run_dir = tmp_path / "starting"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text("preset: baseline\n")
    out = tmp_path / "elsewhere"
    result = write_report(run_dir, out)
    assert result.html == out / "report.html" and result.images == []
    assert _img_srcs(result.html) == []
    assert "metrics.jsonl not found" in result.notes
    assert sum("skipped, no" in note for note in result.notes) == len(PLOTS)
    assert "preset: baseline" in result.html.read_text()


def test_missing_metrics_skip_their_plot_with_a_note(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    logger = make_logger(run_dir, tensorboard=False, console=False)
    for i in range(5):
        logger.record("rollout/success_rate", i / 5)
        logger.record("train/loss", 1.0)
        logger.dump(step=i)
    logger.close()
    result = write_report(run_dir)
    assert {p.stem for p in result.images} == {"learning_curves", "loss"}
    assert "Q-bias: skipped, no train/q_bias, train/q_mean or train/q_max recorded" in result.notes
    assert "config.yaml not found" in result.notes
    assert not any("events.jsonl" in note for note in result.notes)  # no events is no news
    assert all((result.html.parent / src).is_file() for src in _img_srcs(result.html))


def test_stage_success_bars_are_derived_when_per_stage_keys_are_absent(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    logger = make_logger(run_dir, tensorboard=False, console=False)
    for i in range(6):
        logger.record("rollout/success_rate", 0.5)
        logger.record("rollout/stage", i // 3)
        logger.dump(step=i)
    logger.close()
    assert "success_by_stage" in {p.stem for p in write_report(run_dir).images}


def test_rows_rolled_back_by_a_resume_are_dropped(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    logger = make_logger(run_dir, tensorboard=False, console=False)
    for step in (1, 2, 3, 4, 5, 3, 4, 5, 6):  # resumed from the checkpoint at step 2
        logger.record("train/loss", float(step))
        logger.dump(step=step)
    logger.close()
    run = load_run(run_dir)
    assert [row["step"] for row in run.metrics] == [1, 2, 3, 4, 5, 6]
    assert "metrics.jsonl: 3 rows rolled back by a resume" in run.notes


def test_embedded_report_is_one_file_of_valid_pngs(tmp_path: Path) -> None:
    result = write_report(make_run(tmp_path / "run", intervals=12), embed=True)
    srcs = _img_srcs(result.html)
    assert len(srcs) == len(ALL_PLOTS)
    for src in srcs:
        prefix, data = src.split(",", 1)
        assert prefix == "data:image/png;base64"
        assert base64.b64decode(data).startswith(PNG_MAGIC)


def test_not_a_run_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_report(tmp_path / "missing")
    with pytest.raises(HrrlError, match="not a run directory"):
        write_report(tmp_path)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium not installed")
def test_the_html_loads_in_headless_chromium(tmp_path: Path) -> None:
    result = write_report(make_run(tmp_path / "run", intervals=12))
    dom = subprocess.run(
        [
            str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--no-first-run", "--dump-dom",
            result.html.resolve().as_uri(),
        ],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    assert "<h1>hrrl report: run</h1>" in dom
    assert dom.count("<img ") == len(ALL_PLOTS)


def _parse(module: object, argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    module.register(parser.add_subparsers())  # type: ignore[attr-defined]
    return parser.parse_args(argv)


def test_report_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = make_run(tmp_path / "run", intervals=6)
    args = _parse(report_cmd, ["report", str(run_dir), "--out", str(tmp_path / "out")])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert f"wrote {len(ALL_PLOTS)} plots and {tmp_path / 'out' / 'report.html'}" in out
    assert "note: metrics.jsonl: skipped 1 unreadable line (a run cut short)" in out


def test_dashboard_command_line_serves_the_run_on_localhost(tmp_path: Path) -> None:
    command = dashboard_cmd.tensorboard_command(tmp_path, 6123)
    assert command == [
        sys.executable, "-m", "tensorboard.main",
        "--logdir", str(tmp_path), "--host", "127.0.0.1", "--port", "6123",
    ]  # fmt: skip
    assert shutil.which(command[0]) or Path(command[0]).exists()


def test_dashboard_refuses_a_missing_run_dir_and_a_bad_port(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        dashboard_cmd.tensorboard_command(tmp_path / "nope", 6006)
    with pytest.raises(ConfigError, match="port=70000"):
        dashboard_cmd.tensorboard_command(tmp_path, 70000)


def test_dashboard_dry_run_prints_and_a_real_run_waits_on_tensorboard(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    args = _parse(dashboard_cmd, ["dashboard", str(tmp_path), "--dry-run"])
    assert args.func(args) == 0
    assert "-m tensorboard.main --logdir" in capsys.readouterr().out

    started: list[list[str]] = []

    class FakeProcess:
        def __init__(self, command: list[str]) -> None:
            started.append(command)

        def wait(self, timeout: float | None = None) -> int:
            return 0

        def poll(self) -> int:
            return 0

    monkeypatch.setattr(dashboard_cmd.subprocess, "Popen", FakeProcess)
    monkeypatch.setattr(dashboard_cmd, "port_taken", lambda port, host="": False)
    args = _parse(dashboard_cmd, ["dashboard", str(tmp_path), "--port", "6200"])
    assert args.func(args) == 0
    assert started == [dashboard_cmd.tensorboard_command(tmp_path, 6200)]
    assert "open http://127.0.0.1:6200/" in capsys.readouterr().out


def tensorboard_until(stop: Callable[[], None], calls: list[str]) -> type:
    """A stand-in TensorBoard process: waiting on it runs ``stop`` (Ctrl-C, SIGTERM) until it
    is terminated; ``calls`` records ``terminate`` and ``waited``."""

    class RunningProcess:
        def __init__(self, command: list[str]) -> None:
            self.running = True

        def wait(self, timeout: float | None = None) -> int:
            if self.running:
                stop()
            calls.append("waited")
            return -15

        def poll(self) -> int | None:
            return None if self.running else -15

        def terminate(self) -> None:
            calls.append("terminate")
            self.running = False

    return RunningProcess


def test_dashboard_ctrl_c_takes_tensorboard_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def interrupt() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(dashboard_cmd.subprocess, "Popen", tensorboard_until(interrupt, calls))
    monkeypatch.setattr(dashboard_cmd, "port_taken", lambda port, host="": False)
    args = _parse(dashboard_cmd, ["dashboard", str(tmp_path)])
    assert args.func(args) == 0
    assert calls == ["terminate", "waited"]


# --- what the default run's report shows -------------------------------------------------------
def _stage_run(run_dir: Path, *, events: bool) -> Path:
    """Stage 0 -> 4 with dumps too coarse to see stages 1-3 in rollout/stage (as a 10-second
    default run logged every 5,000 steps); the stage events carry the exact steps."""
    logger = make_logger(run_dir, tensorboard=False, console=False)
    for step, stage in ((5_000, 0), (10_000, 4)):
        logger.record("rollout/stage", stage)
        logger.record("rollout/success_rate", 0.5)
        logger.record("train/loss", 0.1 + 0.1 * stage)
        logger.dump(step)
    if events:
        for step, stage in ((900, 1), (2_600, 2), (4_700, 3), (7_700, 4)):
            logger.log_event("stage", f"curriculum stage {stage - 1} -> {stage}", step)
    logger.close()
    return run_dir


def test_every_stage_boundary_is_marked(tmp_path: Path) -> None:
    exact = load_run(_stage_run(tmp_path / "events", events=True))
    assert exact.stage_boundaries() == [(900, 1.0), (2_600, 2.0), (4_700, 3.0), (7_700, 4.0)]
    coarse = load_run(_stage_run(tmp_path / "rows", events=False))
    assert coarse.stage_boundaries() == [(10_000, s) for s in (1.0, 2.0, 3.0, 4.0)]


def _drawn(run: Any, name: str) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = next(p for p in PLOTS if p.name == name).draw(run)
    assert fig is not None
    FigureCanvasAgg(fig).draw()
    return fig


def test_series_have_distinct_colours_and_markers_and_labels_stay_inside(tmp_path: Path) -> None:
    run = load_run(make_run(tmp_path / "run"))
    fig = _drawn(run, "eval_by_family")
    for ax in fig.axes:
        lines = [line for line in ax.get_lines() if not line.get_label().startswith("_")]
        assert len(lines) >= 2
        assert len({str(line.get_color()) for line in lines}) == len(lines)
        assert len({line.get_marker() for line in lines}) == len(lines)
    fig = _drawn(load_run(_stage_run(tmp_path / "stages", events=True)), "learning_curves")
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        box = ax.get_window_extent(renderer)
        labels = [t for t in ax.texts if t.get_text().startswith("stage ")]
        assert len(labels) == 4
        for text in labels:
            extent = text.get_window_extent(renderer)
            assert box.x0 <= extent.x0 and extent.x1 <= box.x1 + 0.5, text.get_text()
            assert box.y0 <= extent.y0 and extent.y1 <= box.y1 + 0.5, text.get_text()


def test_log_axes_read_as_plain_numbers(tmp_path: Path) -> None:
    fig = _drawn(load_run(make_run(tmp_path / "run")), "loss")
    for ax in fig.axes:
        assert ax.get_yscale() == "log"
        texts = [t.get_text() for t in ax.get_yticklabels() + ax.get_yticklabels(minor=True)]
        shown = [t for t in texts if t]
        assert shown, "a log axis with no labels"
        assert not any("10^" in t or "times" in t or "$" in t or "e-" in t for t in shown), shown


def test_a_normal_run_has_no_missing_file_notes_and_counts_read_right(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    (run_dir).mkdir()
    (run_dir / "config.yaml").write_text("preset: default\n")
    logger = make_logger(run_dir, tensorboard=False, console=False)
    logger.record("train/loss", 0.5)
    logger.dump(256)
    logger.log_event("stage", "curriculum stage 0 -> 1", 256)
    logger.close()
    result = write_report(run_dir)
    assert [n for n in result.notes if "not found" in n] == []
    assert "1 logging interval;" in result.html.read_text() and "1 event." in (
        result.html.read_text()
    )
    (run_dir / "events.jsonl").unlink()  # a run with nothing to report: still no note
    assert not any("events.jsonl" in n for n in write_report(run_dir).notes)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium not installed")
def test_a_screenshot_of_the_report_in_headless_chromium(tmp_path: Path) -> None:
    """What a person opening report.html sees: a tall page, mostly the plots (not blank)."""
    from PIL import Image

    result = write_report(make_run(tmp_path / "run", intervals=40))
    shot = tmp_path / "report.png"
    subprocess.run(
        [
            str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--no-first-run",
            f"--screenshot={shot}", "--window-size=1280,4000", result.html.resolve().as_uri(),
        ],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    with Image.open(shot) as image:
        assert image.size == (1280, 4000)
        pixels = np.asarray(image.convert("RGB")).astype(int)
    # Coloured pixels are the plotted series (text is black, the page white, links few).
    coloured = float(((pixels.max(axis=2) - pixels.min(axis=2)) > 60).mean())
    assert coloured > 0.002, f"only {coloured:.2%} of the page is coloured: no plots shown?"


def test_dashboard_refuses_a_port_in_use_and_suggests_a_free_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        assert dashboard_cmd.port_taken(port)
        assert main(["dashboard", str(tmp_path), "--port", str(port)]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and f"port {port} on 127.0.0.1 is already in use" in err[0]
    assert "pass --port " in err[0]
    assert "open http" not in captured.out  # refused before anything was started


def test_dashboard_sigterm_takes_tensorboard_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def sigterm() -> None:
        signal.raise_signal(signal.SIGTERM)  # as `kill <dashboard pid>` would

    monkeypatch.setattr(dashboard_cmd.subprocess, "Popen", tensorboard_until(sigterm, calls))
    monkeypatch.setattr(dashboard_cmd, "port_taken", lambda port, host="": False)
    before = signal.getsignal(signal.SIGTERM)
    args = _parse(dashboard_cmd, ["dashboard", str(tmp_path), "--port", "6300"])
    assert args.func(args) == 143
    assert calls == ["terminate", "waited"]
    assert signal.getsignal(signal.SIGTERM) == before  # the handler is put back
