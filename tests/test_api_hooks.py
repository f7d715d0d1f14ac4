"""Issue 31, item 5: the Python API gives progress, callbacks that can stop a run, several seeds
in one call (``hrrl.train_seeds``, ``hrrl train --seeds``) and a short ``repr``.

Before: ``hrrl.train`` printed nothing and had no option to; there was no callback; several
seeds needed a shell loop (``--seed 0 1`` was refused); ``print(run)`` dumped about 3 KB.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest
import torch

import hrrl
from hrrl.cli import main
from hrrl.engine.trainer import Trainer
from hrrl.errors import ConfigError

TINY = {
    "train": {
        "total_env_steps": 800,
        "num_envs": 8,
        "learning_starts": 160,
        "eval_every": 400,
        "log_every": 200,
    },
    "puzzle": {"eval_count": 2, "stop_success": None},
    "agent": {"hidden": 32},
    "replay": {"capacity": 2000},
}


class Recorder(hrrl.Callback):
    """Counts every event; stops after ``stop_after`` evaluations."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.steps = 0
        self.evaluations: list[int] = []
        self.checkpoints: list[Path] = []
        self.stop_after = stop_after

    def on_step(self, trainer: Trainer) -> None:
        self.steps += 1

    def on_evaluation(self, trainer: Trainer, metrics: Mapping[str, float]) -> bool:
        assert "eval/success_rate" in metrics
        self.evaluations.append(trainer.counters.env_steps)
        return self.stop_after is None or len(self.evaluations) < self.stop_after

    def on_checkpoint(self, trainer: Trainer, path: Path) -> None:
        self.checkpoints.append(path)


def test_callbacks_hear_every_event_and_one_can_stop_the_run(tmp_path: Path) -> None:
    full = Recorder()
    run = hrrl.train(TINY, callbacks=[full])
    assert run.stop_reason == "total_env_steps"
    assert full.steps == run.result.counters.vector_steps and full.evaluations == [400, 800]
    stopper, listener = Recorder(stop_after=1), Recorder()
    stopped = hrrl.train(TINY, run_dir=tmp_path / "run", callbacks=[stopper, listener])
    assert stopped.stop_reason == "callback" and stopped.env_steps == 400
    assert listener.evaluations == [400]  # every callback hears of every event
    assert stopped.result.checkpoint is not None  # the moment it stopped is saved
    assert listener.checkpoints[-1] == stopped.result.checkpoint


def test_progress_is_off_by_default_in_the_api(capsys: pytest.CaptureFixture[str]) -> None:
    hrrl.train(TINY)
    assert capsys.readouterr().err == ""
    hrrl.train(TINY, progress=True)
    err = capsys.readouterr().err
    assert "train" in err and "800/800" in err


def test_several_seeds_in_one_call(tmp_path: Path) -> None:
    runs = hrrl.train_seeds(TINY, seeds=[0, 1], run_dir=tmp_path / "seeds")
    assert [run.config.train.seed for run in runs] == [0, 1]
    assert [run.run_dir for run in runs] == [
        tmp_path / "seeds" / "seed0",
        tmp_path / "seeds" / "seed1",
    ]
    weights = [run.trainer.agent.online.state_dict() for run in runs]
    assert any(not torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    with pytest.raises(ConfigError, match="distinct seeds"):
        hrrl.train_seeds(TINY, seeds=[3, 3])


def test_a_run_prints_in_one_short_line() -> None:
    run = hrrl.train(TINY)
    text = repr(run)
    assert len(text) < 160 and "\n" not in text, text
    assert text.startswith("Run(puzzle, seed 0: total_env_steps after 800 env steps, best eval")


def test_train_seeds_on_the_command_line(tmp_path: Path, tiny_overrides: tuple[str, ...]) -> None:
    base = tmp_path / "runs"
    sets = [f"--set={s}" for s in tiny_overrides]
    argv = ["train", "--seeds", "0", "1", "--run-dir", str(base), *sets, "--quiet"]
    assert main([*argv, "--no-tensorboard"]) == 0
    assert sorted(p.name for p in base.iterdir()) == ["seed0", "seed1"]
    for seed in (0, 1):
        assert f"seed: {seed}" in (base / f"seed{seed}" / "config.yaml").read_text()


def test_seeds_with_workers_train_at_once(
    tmp_path: Path, tiny_overrides: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    base = tmp_path / "runs"
    sets = [f"--set={s}" for s in tiny_overrides]
    argv = ["train", "--seeds", "3", "4", "--workers", "2", "--run-dir", str(base), *sets]
    assert main([*argv, "--no-tensorboard"]) == 0
    lines = sorted(capsys.readouterr().out.splitlines())
    assert lines == [f"seed 3: done: {base / 'seed3'}", f"seed 4: done: {base / 'seed4'}"]
    for seed in (3, 4):
        assert (base / f"seed{seed}" / "checkpoints").is_dir() or (
            base / f"seed{seed}" / "metrics.jsonl"
        ).is_file()
    assert main(["train", "--workers", "2", "--run-dir", str(tmp_path / "x")]) == 2
