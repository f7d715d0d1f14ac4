"""A stop on request: the run ends between two vector steps with a checkpoint of that state,
and resuming it gives exactly the uninterrupted run (weights, optimizer, replay, RNGs, counters,
log rows)."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from hrrl.engine.config import check_device
from hrrl.engine.stop import StopRequest, stop_reason
from hrrl.engine.trainer import STOP_REQUESTED, Counters, Trainer
from hrrl.errors import ConfigError
from hrrl.experiment import ExperimentConfig
from hrrl.monitoring.logger import Logger, Scalar
from hrrl.persistence.payload import state_from_checkpoint
from hrrl.persistence.store import load_checkpoint
from hrrl.run import build_trainer

TinyFactory = Callable[..., ExperimentConfig]
#: Saves only where the tests ask (every 400 steps); the stop saves on its own.
CHECKPOINTED = ("checkpoint.enabled=true", "checkpoint.every_steps=400")


#: Parts of the trainer state that follow the wall clock, not the seed.
CLOCK_KEYS = frozenset({"logger", "health", "best_wall_seconds", "wall"})


def _clockless(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _clockless(v) for k, v in node.items() if k not in CLOCK_KEYS}
    if isinstance(node, list):
        return [_clockless(v) for v in node]
    return node


def assert_same_state(a: Trainer, b: Trainer) -> None:
    """Every tensor, array and (clock aside) JSON value of the two trainers' states equal."""
    pa, pb = a.payload(), b.payload()
    assert pa.tensors.keys() == pb.tensors.keys() and pa.arrays.keys() == pb.arrays.keys()
    for key, tensor in pa.tensors.items():
        assert torch.equal(tensor, pb.tensors[key]), key
    for key, array in pa.arrays.items():
        assert np.array_equal(array, pb.arrays[key]), key
    want, got = (json.dumps(_clockless(p.state), sort_keys=True) for p in (pa, pb))
    assert want == got


class Rows:
    """A sink keeping each dump's (step, values)."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, dict[str, Scalar]]] = []

    def write(self, values: Mapping[str, Scalar], step: int, elapsed: float) -> None:
        self.rows.append((step, dict(values)))

    def write_config(self, config: Mapping[str, Any]) -> None: ...
    def write_event(self, kind: str, message: str, step: int, elapsed: float) -> None: ...
    def close(self) -> None: ...


def clockless(rows: list[tuple[int, dict[str, Scalar]]]) -> list[tuple[int, dict[str, Scalar]]]:
    """The rows without what follows the wall clock (throughput and its alert)."""
    clock = ("perf/", "health/alerts_active")
    return [(step, {k: v for k, v in row.items() if not k.startswith(clock)}) for step, row in rows]


@pytest.fixture(scope="module")
def uninterrupted(tiny: TinyFactory, tmp_path_factory: pytest.TempPathFactory) -> Trainer:
    trainer = build_trainer(
        tiny(*CHECKPOINTED), run_dir=tmp_path_factory.mktemp("full"), logger=Logger([Rows()])
    )
    trainer.run()
    return trainer


def rows_of(trainer: Trainer) -> list[tuple[int, dict[str, Scalar]]]:
    sink = trainer.logger.sinks[0]
    assert isinstance(sink, Rows)
    return sink.rows


@pytest.mark.parametrize(
    "at",
    [
        0,  # before the first step
        328,  # mid logging interval, past the start of learning
        400,  # where the step cadence saved, evaluated and logged already
        608,  # right after a logging boundary (600), between two evaluations
    ],
)
def test_a_stop_saves_this_boundary_and_the_resumed_run_is_the_uninterrupted_one(
    at: int, tiny: TinyFactory, uninterrupted: Trainer, tmp_path: Path
) -> None:
    config = tiny(*CHECKPOINTED)
    stopped = build_trainer(config, run_dir=tmp_path, logger=Logger([Rows()]))
    request = StopRequest()

    def ask(_: int) -> None:
        if stopped.counters.env_steps == at:
            request.request("test")

    if at == 0:
        request.request("test")
    result = stopped.run(progress=ask, stop=request)
    assert result.stop_reason == STOP_REQUESTED and stopped.counters.env_steps == at
    assert result.checkpoint == tmp_path / "checkpoints" / f"step-{at:09d}"

    ck = load_checkpoint(result.checkpoint)
    resumed = build_trainer(config, run_dir=tmp_path, logger=Logger([Rows()]))
    resumed.load_state_dict(state_from_checkpoint(ck.state, ck.tensors, ck.arrays))
    resumed.run()
    assert_same_state(resumed, uninterrupted)
    assert clockless(rows_of(stopped) + rows_of(resumed)) == clockless(rows_of(uninterrupted))


def test_a_stop_right_after_a_save_reuses_that_checkpoint(
    tiny: TinyFactory, tmp_path: Path
) -> None:
    trainer = build_trainer(tiny(*CHECKPOINTED), run_dir=tmp_path)
    request = StopRequest()

    def ask(_: int) -> None:
        if trainer.counters.env_steps == 400:
            request.request("test")

    result = trainer.run(progress=ask, stop=request)
    assert trainer.checkpoints is not None and trainer.checkpoints.last_saved_step == 400
    assert result.checkpoint == trainer.checkpoints.last_saved
    assert sorted(p.name for p in (tmp_path / "checkpoints").glob("step-*")) == ["step-000000400"]


def test_without_a_run_directory_a_stop_saves_nothing(tiny: TinyFactory) -> None:
    trainer = build_trainer(tiny())
    request = StopRequest()
    request.request("test")
    request.request("ignored: the first reason stays")
    result = trainer.run(stop=request)
    assert result.stop_reason == STOP_REQUESTED and result.checkpoint is None
    assert request.reason == "test" and trainer.counters.env_steps == 0


def test_a_finished_run_is_told_from_its_state(tiny: TinyFactory, uninterrupted: Trainer) -> None:
    config = tiny()
    c = dataclasses.replace(uninterrupted.counters, solved_in_row=0)
    assert stop_reason(config.train, c, elapsed=0.0) == "total_env_steps"
    longer = tiny("train.total_env_steps=1600")
    assert stop_reason(longer.train, c, elapsed=0.0) is None
    solved_once = dataclasses.replace(c, solved_in_row=1)
    assert stop_reason(longer.train, solved_once, elapsed=0.0) == "solved"
    # Asked for two solved evaluations in a row, one is not enough.
    twice = tiny("train.total_env_steps=1600", "train.stop_solved_evaluations=2")
    assert stop_reason(twice.train, solved_once, elapsed=0.0) is None
    solved_twice = dataclasses.replace(c, solved_in_row=2)
    assert stop_reason(twice.train, solved_twice, elapsed=0.0) == "solved"
    assert stop_reason(config.train, Counters(env_steps=8), elapsed=0.0) is None
    walled = tiny("train.max_wall_seconds=5")
    late = stop_reason(walled.train, Counters(env_steps=8), elapsed=6.0)
    assert late == "max_wall_seconds"


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="a CUDA device is present")
@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_cuda_without_cuda_is_one_clear_error_before_anything_is_built(
    device: str, tiny: TinyFactory
) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"train.device='{device}' is not available")):
        check_device(device)
    with pytest.raises(ConfigError, match=re.escape("use train.device=cpu")):
        build_trainer(tiny(f"train.device={device}"))
