"""Resume: exact continuation, rollback, corrupt checkpoints, config drift, failed saves.

One short run with a checkpoint every 400 env steps is trained once (module fixture); each test
works on a copy. "Exact" means every tensor (networks and optimizer) and every array (replay,
priorities, RNG states) of the final checkpoint equals the uninterrupted run's.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from hrrl.cli import main
from hrrl.commands.train import train_and_report
from hrrl.config import apply_overrides, save_yaml
from hrrl.errors import CheckpointError, ConfigError
from hrrl.experiment import ExperimentConfig, load_config, preset
from hrrl.persistence import formats as checkpoint_io
from hrrl.persistence.resume import ABANDONED_PREFIX
from hrrl.persistence.store import CheckpointWarning, list_checkpoints, load_checkpoint
from hrrl.run import build_trainer, plan_resume, restore_trainer

TOTAL = 1_600
OVERRIDES = [
    f"train.total_env_steps={TOTAL}",
    "train.num_envs=16",
    "train.updates_per_train=1",
    "train.learning_starts=200",
    "train.eval_every=400",
    "puzzle.eval_count=2",
    "puzzle.stop_success=null",
    "train.log_every=200",
    "checkpoint.every_steps=400",
    "checkpoint.keep_last=10",
]
QUIET = ["--quiet", "--no-tensorboard"]


def config() -> ExperimentConfig:
    return apply_overrides(preset("default"), OVERRIDES)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted run with checkpoints at 400, 800, 1200, 1600 (and best moves)."""
    run = tmp_path_factory.mktemp("reference") / "run"
    assert main(["train", "--run-dir", str(run), *(f"--set={o}" for o in OVERRIDES), *QUIET]) == 0
    return run


@pytest.fixture
def run(reference: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(reference, copy, symlinks=True)
    return copy


def step_dir(run: Path, step: int) -> Path:
    return run / "checkpoints" / f"step-{step:09d}"


def link(run: Path, name: str) -> str:
    return os.readlink(run / "checkpoints" / name)


def assert_same_final(run: Path, reference: Path) -> None:
    got, want = load_checkpoint(step_dir(run, TOTAL)), load_checkpoint(step_dir(reference, TOTAL))
    assert set(got.tensors) == set(want.tensors) and set(got.arrays) == set(want.arrays)
    for key, tensor in want.tensors.items():
        assert torch.equal(got.tensors[key], tensor), key
    for key, array in want.arrays.items():
        assert np.array_equal(got.arrays[key], array), key


def corrupt(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_killed_run_resumes_to_bit_identical_weights(
    run: Path, reference: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A kill after the save at 800: nothing later exists, `latest` dangles, a save was half-written.
    for step in (1_200, TOTAL):
        shutil.rmtree(step_dir(run, step))
    (run / "checkpoints" / ".tmp-step-000001200-deadbeef").mkdir()
    assert main(["resume", str(run), *QUIET]) == 0
    out = capsys.readouterr().out
    assert "from step-000000800" in out  # --quiet: no summary; the checks below say how far
    assert_same_final(run, reference)
    assert link(run, "latest") == f"step-{TOTAL:09d}"
    assert not list((run / "checkpoints").glob(".tmp-*"))


def test_from_step_rolls_back_and_sets_the_later_timeline_aside(run: Path, reference: Path) -> None:
    plan = plan_resume(run, from_step=400)
    assert plan.checkpoint.step == 400 and plan.changes == []
    assert plan.abandoned is not None and plan.abandoned.name.startswith(ABANDONED_PREFIX)
    assert plan.abandoned_steps == [800, 1_200, TOTAL]
    assert sorted(p.name for p in plan.abandoned.glob("step-*")) == [
        f"step-{s:09d}" for s in (800, 1_200, TOTAL)
    ]
    # Neither link names an abandoned checkpoint; the metric rows after 400 moved too.
    assert link(run, "latest") == "step-000000400" and link(run, "best") == "step-000000400"
    assert [i.step for i in list_checkpoints(run)] == [400]
    steps = [int(line.split(",")[0].split(":")[1]) for line in (run / "metrics.jsonl").open()]
    assert steps and max(steps) <= 400
    assert (plan.abandoned / "metrics.jsonl").read_text()
    trainer = restore_trainer(plan)
    trainer.run()
    assert_same_final(run, reference)


def test_from_step_must_name_a_valid_checkpoint(run: Path) -> None:
    with pytest.raises(CheckpointError, match="no checkpoint at that step"):
        plan_resume(run, from_step=500)
    corrupt(step_dir(run, 800) / "optimizer.safetensors")
    with pytest.raises(CheckpointError, match="that checkpoint is invalid"):
        plan_resume(run, from_step=800)
    assert not list((run / "checkpoints").glob(f"{ABANDONED_PREFIX}*"))


def test_corrupt_newest_is_named_and_skipped(
    run: Path, reference: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corrupt(step_dir(run, TOTAL) / "model.safetensors")
    (step_dir(run, 1_200) / "replay.npz").write_bytes(b"truncated")
    assert main(["resume", str(run), *QUIET]) == 0
    captured = capsys.readouterr()
    warnings = [line for line in captured.err.splitlines() if "warning: skipping" in line]
    assert len(warnings) == 2
    assert "step-000001600" in warnings[0] and "SHA-256" in warnings[0]
    assert "step-000001200" in warnings[1] and "bytes" in warnings[1]
    assert "from step-000000800" in captured.out
    assert_same_final(run, reference)  # the corrupt ones were set aside and rewritten


def test_corrupt_newest_warns_through_the_library(run: Path) -> None:
    corrupt(step_dir(run, TOTAL) / "state.json")
    with pytest.warns(CheckpointWarning, match="step-000001600"):
        plan = plan_resume(run)
    assert plan.checkpoint.step == 1_200 and plan.abandoned_steps == [TOTAL]


def one_error_line(err: str) -> str:
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1, err
    return errors[0]


def test_no_valid_checkpoint_exits_2(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for path in (run / "checkpoints").glob("step-*"):
        corrupt(path / "model.safetensors")
    assert main(["resume", str(run), *QUIET]) == 2
    err = capsys.readouterr().err
    assert "no valid checkpoint" in one_error_line(err) and err.count("warning: skipping") == 4
    empty = run.parent / "empty"
    (empty / "checkpoints").mkdir(parents=True)
    assert main(["resume", str(empty)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no checkpoint in" in err
    assert main(["resume", str(run.parent / "missing")]) == 2
    assert "is not a directory" in one_error_line(capsys.readouterr().err)


def test_config_drift_is_refused_with_the_list(
    run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["resume", str(run), "--set", "agent.lr=0.001", "--set", "train.seed=7", *QUIET]
    assert main(args) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "agent.lr: 0.002 -> 0.001" in line and "train.seed: 0 -> 7" in line
    assert "--allow-config-change" in line
    assert not list((run / "checkpoints").glob(f"{ABANDONED_PREFIX}*"))  # nothing touched
    # An edited config.yaml is drift too.
    edited = apply_overrides(load_config(run / "config.yaml"), ["puzzle.reward=legacy"])
    save_yaml(edited, run / "config.yaml")
    with pytest.raises(ConfigError, match=re.escape("puzzle.reward: 'steps' -> 'legacy'")):
        plan_resume(run)


def test_config_drift_allowed_with_the_flag(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    longer = TOTAL + 32
    args = ["resume", str(run), "--allow-config-change", f"--set=train.total_env_steps={longer}"]
    assert main([*args, *QUIET]) == 0
    out = capsys.readouterr().out
    assert f"train.total_env_steps: {TOTAL} -> {longer}" in out
    assert link(run, "latest") == f"step-{longer:09d}"
    assert load_config(run / "config.yaml").train.total_env_steps == longer
    saved: dict[str, Any] = load_checkpoint(step_dir(run, longer)).state["config"]
    assert saved["train"]["total_env_steps"] == longer


def test_incompatible_config_change_is_a_clear_error(run: Path) -> None:
    plan = plan_resume(run, overrides=["agent.hidden=32"], allow_config_change=True)
    with pytest.raises(CheckpointError, match="with the changed config"):
        restore_trainer(plan)


def test_failed_save_is_recorded_and_training_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real_write, calls = checkpoint_io.write_npz, []

    def disk_full_once(path: Path, arrays: dict[str, np.ndarray]) -> None:
        calls.append(path)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real_write(path, arrays)

    monkeypatch.setattr(checkpoint_io, "write_npz", disk_full_once)
    trainer = build_trainer(config(), run_dir=tmp_path / "run")
    assert train_and_report(trainer, quiet=True) == 0
    assert trainer.counters.env_steps == TOTAL
    assert trainer.checkpoints is not None
    [failure] = trainer.checkpoints.failures
    assert "No space left on device" in failure.error
    assert f"failed during the run (env steps {failure.step:,})" in capsys.readouterr().err
    infos = list_checkpoints(tmp_path / "run")
    assert infos and all(info.valid for info in infos)
    assert failure.step not in {info.step for info in infos}
    assert not list((tmp_path / "run" / "checkpoints").glob(".tmp-*"))
    final = load_checkpoint(step_dir(tmp_path / "run", TOTAL))
    assert final.state["checkpoints"]["failures"][0][0] == failure.step  # shown after resume too


def test_rows_of_both_logs_after_the_resume_point_are_set_aside(run: Path) -> None:
    events = [{"step": s, "time": 0.0, "kind": "alert/stall", "message": "m"} for s in (400, 1200)]
    (run / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    plan = plan_resume(run, from_step=800)
    assert plan.abandoned is not None
    kept = [json.loads(line)["step"] for line in (run / "events.jsonl").open()]
    moved = [json.loads(line)["step"] for line in (plan.abandoned / "events.jsonl").open()]
    assert kept == [400] and moved == [1200]
    assert max(json.loads(line)["step"] for line in (run / "metrics.jsonl").open()) <= 800


def test_a_finished_run_is_planned_without_touching_it(run: Path) -> None:
    (run / "checkpoints" / ".tmp-step-000009999-dead").mkdir()  # even this stays
    before = sorted((p.name, p.stat().st_mtime_ns) for p in run.rglob("*"))
    plan = plan_resume(run)
    assert plan.finished == "total_env_steps" and plan.abandoned is None
    assert sorted((p.name, p.stat().st_mtime_ns) for p in run.rglob("*")) == before
    longer = plan_resume(
        run, overrides=[f"train.total_env_steps={TOTAL * 2}"], allow_config_change=True
    )
    assert longer.finished is None
