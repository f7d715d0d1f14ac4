"""Shared fixtures: one torch thread, tiny training configs, one small trained run per session."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from hrrl.config import apply_overrides
from hrrl.engine.trainer import Trainer
from hrrl.experiment import ExperimentConfig, preset
from hrrl.run import build_trainer

#: Overrides that make the default preset train in about a second on one core. Learning starts
#: early, evaluation is 2 puzzles of each family every 400 steps, nothing stops it early.
TINY: tuple[str, ...] = (
    "train.total_env_steps=800",
    "train.num_envs=8",
    "train.learning_starts=160",
    "train.updates_per_train=2",
    "train.eval_every=400",
    "puzzle.eval_count=2",
    "train.log_every=200",
    "puzzle.stop_success=null",
    "agent.hidden=32",
    "replay.capacity=4000",
    "replay.beta_steps=2000",
    "puzzle.curriculum.gate_window=20",
    "checkpoint.enabled=false",
)

TinyFactory = Callable[..., ExperimentConfig]


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Small networks train fastest on one thread, and two xdist workers share two cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_config(*overrides: str, base: str = "default") -> ExperimentConfig:
    """A preset with :data:`TINY` applied, then ``overrides``."""
    return apply_overrides(preset(base), [*TINY, *overrides])


@pytest.fixture(scope="session")
def tiny() -> TinyFactory:
    """``tiny("train.seed=3", base="baseline")``: a small, fast training config."""
    return tiny_config


@pytest.fixture(scope="session")
def tiny_overrides() -> tuple[str, ...]:
    """:data:`TINY`, for tests that pass it to ``hrrl train --set``."""
    return TINY


@dataclass(frozen=True)
class TrainedRun:
    """A finished tiny run with checkpoints: its directory and the trainer still in memory."""

    run_dir: Path
    trainer: Trainer

    @property
    def checkpoints(self) -> Path:
        return self.run_dir / "checkpoints"


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> TrainedRun:
    """The default preset trained for 1,200 env steps, checkpointed every 400."""
    run_dir = tmp_path_factory.mktemp("trained") / "run"
    config = tiny_config(
        "train.total_env_steps=1200", "checkpoint.enabled=true", "checkpoint.every_steps=400"
    )
    trainer = build_trainer(config, run_dir=run_dir)
    trainer.write_config()
    trainer.run()
    return TrainedRun(run_dir=run_dir, trainer=trainer)


#: A CartPole whose every copy raises at its ``FLAKY_FAIL_AT``-th step, and on a reset seeded
#: ``FLAKY_FAIL_SEED`` (never, when unset).
FLAKY_ENV = """
import os

import gymnasium
from gymnasium.envs.classic_control import CartPoleEnv


class Flaky(CartPoleEnv):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.steps = 0

    def reset(self, *, seed=None, options=None):
        if seed is not None and str(seed) == os.environ.get("FLAKY_FAIL_SEED"):
            raise RuntimeError("no such start")
        return super().reset(seed=seed, options=options)

    def step(self, action):
        self.steps += 1
        if self.steps == int(os.environ.get("FLAKY_FAIL_AT", "0")):
            raise RuntimeError("sensor lost")
        return super().step(action)


if "Flaky-v0" not in gymnasium.registry:
    gymnasium.register(id="Flaky-v0", entry_point=Flaky, max_episode_steps=500)
"""


@pytest.fixture
def flaky_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """``flaky_env:Flaky-v0`` (:data:`FLAKY_ENV`), importable here and in the processes this
    test starts (subprocesses and Ray's workers inherit ``PYTHONPATH``)."""
    (tmp_path / "flaky_env.py").write_text(FLAKY_ENV)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), *sys.path]))
    yield "flaky_env:Flaky-v0"
    sys.modules.pop("flaky_env", None)
