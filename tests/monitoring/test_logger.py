"""Logger: record-then-dump semantics, and each sink's files read back by their own readers."""

from __future__ import annotations

import errno
import io
import json
import math
from pathlib import Path
from typing import BinaryIO, cast

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from hrrl.monitoring.logger import (
    ConsoleSink,
    JsonlSink,
    Logger,
    TensorBoardSink,
    flatten_config,
    make_logger,
    progress,
    to_scalar,
)

CONFIG = {
    "preset": "default",
    "seed": 7,
    "agent": {"lr": 5e-4, "double": True, "hidden": [256, 256]},
    "replay": {"kind": "prioritized", "alpha": 0.6, "capacity": None},
}


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


class ListSink:
    """A sink that keeps what it is given, to test the Logger alone."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, dict[str, float]]] = []
        self.events: list[tuple[str, str, int]] = []

    def write(self, values, step, elapsed):  # type: ignore[no-untyped-def]
        self.rows.append((step, dict(values)))

    def write_config(self, config):  # type: ignore[no-untyped-def]
        pass

    def write_event(self, kind, message, step, elapsed):  # type: ignore[no-untyped-def]
        self.events.append((kind, message, step))

    def close(self) -> None:
        pass


def test_record_keeps_last_and_record_mean_averages_then_dump_clears() -> None:
    sink = ListSink()
    logger = Logger([sink])
    logger.record("rollout/epsilon", 0.9)
    logger.record("rollout/epsilon", 0.5)
    for value in (1.0, 2.0, 6.0):
        logger.record_mean("train/loss", value)
    assert logger.dump(step=100) == {"rollout/epsilon": 0.5, "train/loss": 3.0}
    assert sink.rows == [(100, {"rollout/epsilon": 0.5, "train/loss": 3.0})]
    logger.record_mean("train/loss", 4.0)
    logger.dump(step=200)
    assert sink.rows[1] == (200, {"train/loss": 4.0})  # cleared: no epsilon, fresh mean
    assert logger.dump(step=300) == {}
    assert len(sink.rows) == 2  # an empty interval writes nothing


@pytest.mark.parametrize("key", ["loss", "training/loss", "train/", "/loss", "Train/loss"])
def test_keys_outside_the_groups_are_refused(key: str) -> None:
    with pytest.raises(ValueError, match="group"):
        Logger([]).record(key, 1.0)


def test_mixing_record_and_record_mean_on_one_key_is_refused() -> None:
    logger = Logger([])
    logger.record("train/loss", 1.0)
    with pytest.raises(ValueError, match="record"):
        logger.record_mean("train/loss", 1.0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (3, 3),
        (np.int64(4), 4),
        (torch.tensor(5), 5),
        (True, 1),
        (2.5, 2.5),
        (np.float32(0.25), 0.25),
        (torch.tensor(1.5), 1.5),
    ],
)
def test_scalars_from_python_numpy_and_torch(value: object, expected: float) -> None:
    result = to_scalar("train/x", value)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize("value", ["1.0", None, [1.0], {"a": 1}])
def test_non_scalars_are_refused(value: object) -> None:
    with pytest.raises(TypeError, match="real scalar"):
        Logger([]).record("train/x", value)


def test_jsonl_lines_parse_and_keep_nonfinite_values(tmp_path: Path) -> None:
    logger = make_logger(tmp_path, tensorboard=False, console=False)
    logger.record("train/loss", math.nan)
    logger.record("train/grad_norm", math.inf)
    logger.record("rollout/stage", 2)
    logger.dump(step=10)
    logger.record("train/loss", 0.5)
    logger.dump(step=20)
    logger.log_event("alert/guard", "guard fired", step=20)
    logger.close()
    rows = _lines(tmp_path / "metrics.jsonl")
    assert [row["step"] for row in rows] == [10, 20]
    assert rows[0]["train/loss"] == "NaN" and rows[0]["train/grad_norm"] == "Infinity"
    assert math.isnan(float(rows[0]["train/loss"]))  # type: ignore[arg-type]
    assert rows[0]["rollout/stage"] == 2 and isinstance(rows[0]["time"], float)
    assert _lines(tmp_path / "events.jsonl") == [
        {
            "step": 20,
            "time": pytest.approx(0, abs=5),
            "kind": "alert/guard",
            "message": "guard fired",
        }
    ]


def test_jsonl_is_flushed_per_line_and_a_torn_last_line_is_closed_on_reopen(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    sink = JsonlSink(path)
    sink.write({"train/loss": 1.0}, step=1, elapsed=0.1)
    assert len(_lines(path)) == 1  # visible before close: a killed run keeps it
    sink.close()
    with path.open("a") as handle:
        handle.write('{"step": 2, "train/lo')  # killed mid-write
    sink = JsonlSink(path)  # resumed run appends
    sink.write({"train/loss": 3.0}, step=3, elapsed=0.2)
    sink.close()
    lines = path.read_text().splitlines()
    assert json.loads(lines[0])["step"] == 1
    assert lines[1] == '{"step": 2, "train/lo'
    assert json.loads(lines[2]) == {"step": 3, "time": 0.2, "train/loss": 3.0}


def test_tensorboard_scalars_config_text_hparams_and_events_read_back(tmp_path: Path) -> None:
    logger = make_logger(tmp_path, tensorboard=True, console=False)
    logger.log_config(CONFIG)
    written = {}
    for step in (100, 200, 300):
        logger.record("train/loss", 1.0 / step)
        logger.record_mean("rollout/success_rate", step / 400)
        logger.record("eval/easy/success_rate", step / 300)
        written[step] = logger.dump(step)
    logger.log_event("alert/stall", "stage 1 stalled", step=300)
    logger.close()

    assert list(tmp_path.glob("events.out.tfevents.*")), "event file in the run dir itself"
    acc = EventAccumulator(str(tmp_path), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    for key in ("train/loss", "rollout/success_rate", "eval/easy/success_rate"):
        events = acc.Scalars(key)
        assert [e.step for e in events] == [100, 200, 300]
        expected = [written[e.step][key] for e in events]
        assert [e.value for e in events] == pytest.approx(expected, rel=1e-6)

    tags = acc.Tags()["tensors"]
    config_text = acc.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "kind: prioritized" in config_text and "lr: 0.0005" in config_text
    assert "events/alert/stall/text_summary" in tags
    event_text = acc.Tensors("events/alert/stall/text_summary")[0]
    assert event_text.step == 300
    assert event_text.tensor_proto.string_val[0].decode() == "stage 1 stalled"

    hparams = acc.PluginTagToContent("hparams")
    assert {"_hparams_/experiment", "_hparams_/session_start_info"} <= set(hparams)
    assert "_hparams_/session_end_info" in hparams  # written by close()
    start = plugin_data_pb2.HParamsPluginData.FromString(
        hparams["_hparams_/session_start_info"]
    ).session_start_info
    assert start.hparams["agent.lr"].number_value == pytest.approx(5e-4)
    assert start.hparams["replay.kind"].string_value == "prioritized"
    experiment = plugin_data_pb2.HParamsPluginData.FromString(
        hparams["_hparams_/experiment"]
    ).experiment
    assert "eval/success_rate" in {m.name.tag for m in experiment.metric_infos}


def test_flatten_config_joins_nested_keys_and_stringifies_the_rest() -> None:
    assert flatten_config(CONFIG) == {
        "preset": "default",
        "seed": 7,
        "agent.lr": 5e-4,
        "agent.double": True,
        "agent.hidden": "[256, 256]",
        "replay.kind": "prioritized",
        "replay.alpha": 0.6,
        "replay.capacity": "None",
    }


def test_console_prints_one_summary_line_per_dump_and_one_per_event() -> None:
    stream = io.StringIO()
    logger = Logger([ConsoleSink(stream=stream)])
    logger.record("rollout/success_rate", 0.75)
    logger.record("train/loss", 0.0123456)
    logger.record("perf/replay_size", 5000)
    logger.dump(step=12345)
    logger.log_event("alert/collapse", "success rate collapsed", step=12345)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("step 12,345 | ")
    assert "success 0.75" in lines[0] and "loss 0.01235" in lines[0]
    assert "perf/replay_size" not in lines[0]  # not a headline key, and headline keys exist
    assert lines[1] == "[alert/collapse] step 12,345: success rate collapsed"


def test_state_dict_carries_the_run_clock() -> None:
    logger = Logger([])
    logger.load_state_dict({"elapsed": 3600.0})
    state = logger.state_dict()
    assert 3600.0 <= state["elapsed"] < 3700.0
    assert isinstance(state["elapsed"], float)


def test_progress_bar_counts_and_tqdm_write_goes_above_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with progress(10, "train", unit="step", disable=False) as bar:
        bar.update(4)
        ConsoleSink().write({"train/loss": 1.0}, step=4, elapsed=0.0)
        assert bar.n == 4 and bar.total == 10 and bar.desc == "train"
    captured = capsys.readouterr()
    assert "step 4 | 0s | loss 1" in captured.out
    assert "train" in captured.err and "4/10" in captured.err


def test_the_console_prints_a_step_once_and_at_most_one_line_per_interval() -> None:
    stream = io.StringIO()
    sink = ConsoleSink(stream=stream, every_seconds=2.0)
    sink.write({"train/loss": 1.0}, step=256, elapsed=0.5)
    sink.write({"train/loss": 0.9}, step=512, elapsed=1.0)  # too soon
    sink.write({"train/loss": 0.8}, step=768, elapsed=2.6)
    sink.write({"rollout/stage": 4}, step=768, elapsed=9.0)  # the closing dump: same step
    lines = stream.getvalue().splitlines()
    assert [line.split(" | ")[0] for line in lines] == ["step 256", "step 768"]


def test_state_dict_carries_the_open_interval() -> None:
    """A checkpoint between two dumps keeps what was recorded: the resumed run dumps the same."""
    logger, sink = Logger([]), ListSink()
    logger.record("rollout/epsilon", 0.5)
    logger.record_mean("train/loss", 1.0)
    logger.record_mean("train/loss", 2.0)
    state = json.loads(json.dumps(logger.state_dict()))
    resumed = Logger([sink])
    resumed.load_state_dict(state)
    resumed.record_mean("train/loss", 3.0)
    logger.record_mean("train/loss", 3.0)
    assert (
        resumed.dump(step=8) == logger.dump(step=8) == {"rollout/epsilon": 0.5, "train/loss": 2.0}
    )
    # A checkpoint written before the interval was saved holds only the clock.
    old = Logger([])
    old.load_state_dict({"elapsed": 1.0})
    assert old.values() == {}


class FullDisk:
    """A file on a disk that refuses writes while ``full`` (after taking part of the first one),
    and otherwise takes at most ``chunk`` bytes a call, as a nearly full disk does."""

    def __init__(self, handle: BinaryIO, chunk: int = 7) -> None:
        self.handle, self.chunk, self.full, self.took_part = handle, chunk, False, False

    def write(self, data: bytes) -> int:
        if self.full:
            if not self.took_part:
                self.took_part = True
                return self.handle.write(data[:5])
            raise OSError(errno.ENOSPC, "No space left on device")
        return self.handle.write(data[: self.chunk])

    def close(self) -> None:
        self.handle.close()


def test_a_full_disk_is_warned_about_once_and_loses_no_row(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    logger = make_logger(tmp_path, tensorboard=False, console=False)
    [sink] = logger.sinks
    assert isinstance(sink, JsonlSink)
    disk = FullDisk(sink._files[sink.path])
    sink._files[sink.path] = cast(BinaryIO, disk)
    logger.record("train/loss", 0.0)
    logger.dump(0)
    disk.full = True
    for step in (1, 2, 3):  # training goes on while the disk is full
        logger.record("train/loss", float(step))
        logger.dump(step)
    warnings = [r.getMessage() for r in caplog.records if "cannot be written" in r.getMessage()]
    assert len(warnings) == 1 and "training goes on" in warnings[0] and "No space" in warnings[0]
    disk.full = False
    logger.record("train/loss", 4.0)
    logger.dump(4)
    logger.close()
    assert [row["step"] for row in _lines(tmp_path / "metrics.jsonl")] == [0, 1, 2, 3, 4]


def test_an_events_file_that_cannot_be_made_is_retried(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sink = JsonlSink(tmp_path / "metrics.jsonl", events_path=tmp_path / "no" / "events.jsonl")
    (tmp_path / "no").write_text("a file where the folder should be")
    sink.write_event("alert/checkpoint", "failed", step=1, elapsed=0.0)
    assert "cannot be written" in caplog.text
    (tmp_path / "no").unlink()
    sink.write_event("recovered/checkpoint", "saved", step=2, elapsed=0.0)
    sink.close()
    assert [e["kind"] for e in _lines(tmp_path / "no" / "events.jsonl")] == [
        "alert/checkpoint",
        "recovered/checkpoint",
    ]


def test_tensorboard_purge_step_hides_the_abandoned_timeline(tmp_path: Path) -> None:
    """A resumed run's TensorBoard curves go on from the checkpoint, never back in time."""
    first = TensorBoardSink(tmp_path)
    for step in range(10):
        first.write({"train/loss": float(step)}, step=step, elapsed=0.0)
    first.close()
    resumed = TensorBoardSink(tmp_path, purge_step=5)  # resumed from the checkpoint at 4
    for step in range(5, 8):
        resumed.write({"train/loss": 100.0 + step}, step=step, elapsed=0.0)
    resumed.close()
    acc = EventAccumulator(str(tmp_path), size_guidance={"scalars": 0})
    acc.Reload()
    events = acc.Scalars("train/loss")
    assert [e.step for e in events] == list(range(8))
    assert [e.value for e in events] == [0, 1, 2, 3, 4, 105, 106, 107]


def test_tensorboard_goes_quiet_after_a_write_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    sink = TensorBoardSink(tmp_path)

    def read_only(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(sink.writer, "add_scalar", read_only)
    sink.write({"train/loss": 1.0}, step=1, elapsed=0.0)
    sink.write({"train/loss": 2.0}, step=2, elapsed=0.0)
    sink.write_event("alert/checkpoint", "failed", step=2, elapsed=0.0)
    sink.close()
    warnings = [r.getMessage() for r in caplog.records if "TensorBoard" in r.getMessage()]
    assert len(warnings) == 1 and "Read-only" in warnings[0]
