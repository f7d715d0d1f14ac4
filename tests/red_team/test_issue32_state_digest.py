"""Issue 32, item 1: ``state.json`` proves itself.

Before: one digit changed in a checkpoint's ``state.json`` (the agent's RNG state, the
optimizer's ``lr``, ``counters.episodes``), or ``"status"`` renamed to ``"rtatus"``, was listed
``valid yes`` and resumed silently into a different run. Now state.json carries the SHA-256 of its
own content: an edited one is invalid, named with the reason, and resume falls back to the
previous checkpoint.

A checkpoint that verifies but does not restore (written by a buggy or foreign writer that
also signed it) ended the resume with exit 2; now resume skips it, says why, and goes on from
the newest one that both verifies and restores.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hrrl.cli import main
from hrrl.persistence.layout import DIGEST_KEY, manifest_digest
from hrrl.persistence.store import CheckpointWarning, find_latest_valid, list_checkpoints
from hrrl.run import build_trainer


def _trained(run_dir: Path, tiny, total: int) -> Path:  # type: ignore[no-untyped-def]
    """A tiny run of ``total`` env steps, checkpointed every 400."""
    config = tiny(
        f"train.total_env_steps={total}", "checkpoint.enabled=true", "checkpoint.every_steps=400"
    )
    trainer = build_trainer(config, run_dir=run_dir)
    trainer.write_config()
    trainer.run()
    return run_dir


@pytest.fixture
def run(tmp_path: Path, tiny) -> Path:  # type: ignore[no-untyped-def]
    return _trained(tmp_path / "run", tiny, 800)


def _edit(state: Path, how: str) -> None:
    text = state.read_text()
    if how == "episodes":
        data = json.loads(text)
        data["state"]["counters"]["episodes"] += 100
        state.write_text(json.dumps(data, indent=1))
    elif how == "lr":
        data = json.loads(text)
        data["state"]["agent"]["meta"]["optimizer"]["param_groups"][0]["lr"] *= 10
        state.write_text(json.dumps(data, indent=1))
    else:  # a key renamed by hand, the file otherwise byte for byte
        assert '"status"' in text
        state.write_text(text.replace('"status"', '"rtatus"', 1))


@pytest.mark.parametrize("how", ["episodes", "lr", "rename"])
def test_an_edited_state_json_is_invalid_and_skipped(run: Path, how: str) -> None:
    newest = run / "checkpoints" / "step-000000800"
    _edit(newest / "state.json", how)
    rows = {info.step: info for info in list_checkpoints(run)}
    assert not rows[800].valid and "state.json fails its SHA-256" in (rows[800].reason or "")
    assert rows[400].valid
    with pytest.warns(CheckpointWarning, match="step-000000800"):
        assert find_latest_valid(run).step == 400


@pytest.fixture
def killed_run(tmp_path: Path, tiny) -> Path:  # type: ignore[no-untyped-def]
    """Checkpoints at 400 and 800 of a 1,200-step run killed before its final save."""
    run_dir = _trained(tmp_path / "run", tiny, 1200)
    shutil.rmtree(run_dir / "checkpoints" / "step-000001200")
    return run_dir


@pytest.mark.parametrize("flaw", ["plan", "restore"])
def test_a_signed_checkpoint_that_does_not_restore_is_skipped(
    killed_run: Path, flaw: str, capsys: pytest.CaptureFixture[str]
) -> None:
    state = killed_run / "checkpoints" / "step-000000800" / "state.json"
    data = json.loads(state.read_text())
    if flaw == "plan":  # planning the resume fails: the run clock is gone
        del data["state"]["logger"]
    else:  # restoring fails: the agent's state has lost its optimizer
        del data["state"]["agent"]["meta"]["optimizer"]
    data[DIGEST_KEY] = manifest_digest(data)
    state.write_text(json.dumps(data, indent=1))
    assert list_checkpoints(killed_run)[-1].valid  # it verifies
    assert main(["resume", str(killed_run), "--quiet", "--no-tensorboard"]) == 0
    err = capsys.readouterr().err
    [warning] = [line for line in err.splitlines() if "skipping checkpoint" in line]
    assert "step-000000800" in warning and ("logger" in warning or "optimizer" in warning)
    rows = list_checkpoints(killed_run)  # resumed from 400, trained to the end
    assert [r.step for r in rows if r.is_latest] == [1200] and all(r.valid for r in rows)
