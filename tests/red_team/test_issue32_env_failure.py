"""Issue 32, item 3: an environment that raises ends the run with its last whole step saved.

Before: the exception went through the trainer as a traceback and nothing was saved since the
last periodic checkpoint (up to 50,000 steps at the default cadence), with sync and async
vector envs alike. Now the step that failed leaves no trace (no random draw, nothing stored),
the state of the last whole step is saved, an ``error/env`` event is logged, the command says
it in one line naming the env and the exception (the traceback goes to ``env_error.txt``) and
exits 1; ``hrrl resume`` goes on from that checkpoint with new episodes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hrrl.cli import main
from hrrl.persistence.store import list_checkpoints, load_checkpoint

SETS = (
    "train.total_env_steps=640",
    "train.num_envs=4",
    "train.learning_starts=64",
    "train.eval_every=320",
    "gym.eval_episodes=1",
    "train.log_every=80",
    "agent.hidden=32",
    "replay.capacity=2000",
    "checkpoint.enabled=true",
    "checkpoint.every_steps=10000",
)


@pytest.fixture
def flaky(flaky_module: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("FLAKY_FAIL_AT", "50")  # the 50th vector step: env step 196 is whole
    return flaky_module


@pytest.mark.parametrize("vector", ["sync", "async"])
def test_a_raising_env_saves_the_last_whole_step_in_one_line_and_resumes(
    tmp_path: Path,
    flaky: str,
    vector: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run = tmp_path / "run"
    sets = [f"--set={s}" for s in (*SETS, f"gym.vector={vector}")]
    argv = ["train", "--env", flaky, "--run-dir", str(run), *sets, "--no-tensorboard"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    [line] = err.strip().splitlines()
    assert line.startswith("hrrl train: error: the environment flaky_env:Flaky-v0 raised")
    assert "RuntimeError: sensor lost at env step 196" in line
    assert "step-000000196" in line and "hrrl resume" in line
    assert "sensor lost" in (run / "env_error.txt").read_text()
    [ckpt] = list_checkpoints(run)
    assert ckpt.step == 196 and ckpt.valid
    state = load_checkpoint(ckpt.path).state
    assert state["counters"]["env_steps"] == 196 and state["obs"] is None  # new episodes
    events = [json.loads(x) for x in (run / "events.jsonl").read_text().splitlines()]
    assert ("error/env", 196) in [(e["kind"], e["step"]) for e in events]
    # The environment works again: the run goes on from its last whole step to the end.
    monkeypatch.delenv("FLAKY_FAIL_AT")
    assert main(["resume", str(run), "--quiet", "--no-tensorboard"]) == 0
    assert max(info.step for info in list_checkpoints(run)) >= 640


def test_a_raising_evaluation_is_saved_and_done_again(
    tmp_path: Path,
    flaky: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The evaluation's episodes are seeded ``gym.eval_seed + k``; the evaluation copy raises on
    its first reset (at env step 320): the training episodes go on after a resume."""
    monkeypatch.delenv("FLAKY_FAIL_AT")
    monkeypatch.setenv("FLAKY_FAIL_SEED", "7")
    run = tmp_path / "run"
    sets = [f"--set={s}" for s in (*SETS, "gym.eval_seed=7")]
    argv = ["train", "--env", flaky, "--run-dir", str(run), *sets, "--no-tensorboard"]
    assert main(argv) == 1
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "RuntimeError: no such start (in evaluation) at env step 320" in line
    [ckpt] = list_checkpoints(run)
    state = load_checkpoint(ckpt.path).state
    assert state["obs"] is not None  # the training episodes were not touched
    assert state["counters"]["next_eval"] == ckpt.step  # its evaluation is still to do
    monkeypatch.delenv("FLAKY_FAIL_SEED")
    assert main(["resume", str(run), "--quiet", "--no-tensorboard"]) == 0
