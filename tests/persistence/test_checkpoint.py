"""Checkpoint store: round trips, atomicity, rotation, corruption, pickle refusal, failed saves."""

from __future__ import annotations

import errno
import io as stdio
import json
import math
import os
import pickle
import signal
import struct
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hrrl.errors import CheckpointError, ConfigError
from hrrl.persistence import formats as checkpoint_io
from hrrl.persistence.layout import CHECKPOINT_SCHEMA_VERSION, manifest_digest
from hrrl.persistence.payload import CheckpointPayload
from hrrl.persistence.schedule import CheckpointManager
from hrrl.persistence.store import (
    CheckpointConfig,
    CheckpointSaveError,
    CheckpointWarning,
    find_latest_valid,
    list_checkpoints,
    load_checkpoint,
    resolve_checkpoint,
    save_checkpoint,
)

REPO = Path(__file__).resolve().parents[2]


def payload(seed: int = 0) -> CheckpointPayload:
    """Two small networks, an optimizer moment, a replay buffer and JSON state."""
    g = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    tensors = {
        "online.0.weight": torch.randn(8, 4, generator=g),
        "online.0.bias": torch.randn(8, generator=g),
        "target.0.weight": torch.randn(8, 4, generator=g),
        "target.0.bias": torch.randn(8, generator=g),
        "optimizer.state.0.exp_avg": torch.randn(8, 4, generator=g),
        "optimizer.state.0.step": torch.tensor(float(seed + 1)),
    }
    arrays: dict[str, np.ndarray] = {
        "obs": rng.standard_normal((16, 4)).astype(np.float32),
        "actions": rng.integers(0, 3, 16),
        "priorities": rng.random(32),
    }
    state = {"counters": {"env_step": seed * 10, "episode": seed}, "epsilon": 0.1 * seed}
    return CheckpointPayload(tensors=tensors, arrays=arrays, state=state)


def save(
    run: Path,
    step: int,
    score: list[float] | None = None,
    metrics: dict[str, Any] | None = None,
    **kw: Any,
) -> Path:
    """A checkpoint whose evaluation the task scored ``score`` (None: not evaluated)."""
    p = payload(step)
    return save_checkpoint(
        run,
        step,
        tensors=p.tensors,
        arrays=p.arrays,
        state=p.state,
        metrics=metrics or {},
        score=score,
        **kw,
    )


def step_names(run: Path) -> list[str]:
    return sorted(e.name for e in (run / "checkpoints").iterdir() if e.name.startswith("step-"))


def link(run: Path, name: str) -> str | None:
    path = run / "checkpoints" / name
    return os.readlink(path) if path.is_symlink() else None


@pytest.fixture
def no_unpickling(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to unpickle during the test fails loudly."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("something tried to unpickle")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(torch, "load", refuse)


# --- config -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [("every_steps", 0), ("every_steps", 1.5), ("keep_last", -1), ("keep_last", True)],
)
def test_config_rejects_bad_values(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=field):
        CheckpointConfig(**{field: value})  # type: ignore[arg-type]


def test_config_defaults() -> None:
    config = CheckpointConfig()
    assert (config.every_steps, config.keep_last, config.enabled) == (50_000, 3, True)


# --- round trip and layout ---------------------------------------------------------------------


def test_round_trip_is_bit_exact(tmp_path: Path) -> None:
    tensors = {
        "online.w": torch.randn(5, 3, dtype=torch.float64),
        "online.half": torch.randn(7).to(torch.bfloat16),
        "online.idx": torch.arange(6, dtype=torch.int64).reshape(2, 3),
        "online.mask": torch.tensor([True, False]),
        "online.scalar": torch.tensor(3.5),
        "online.empty": torch.zeros(0, 4),
        "target.view": torch.arange(12.0).reshape(3, 4).t(),  # non-contiguous
        "optimizer.state.0.step": torch.tensor(42.0),
    }
    arrays = {
        "obs": np.random.default_rng(1).standard_normal((10, 2, 3)).astype(np.float32),
        "flags": np.array([True, False, True]),
        "u8": np.arange(256, dtype=np.uint8),
        "empty": np.zeros((0, 5)),
        "file": np.array(7),  # a key np.savez itself could not take
    }
    state = {
        "rng": {"pcg64": {"state": 2**127 + 12345, "inc": 2**100 + 1}, "python": [3, [1, 2], None]},
        "epsilon": 0.1,
        "tiny": 5e-324,
        "names": ["a", "é", ""],
        "nested": {"deep": {"deeper": [{"x": -1}]}},
        "flag": False,
    }
    metrics = {"eval/success_rate": 0.75, "eval/efficiency": 0.5, "train/loss": 1e-3}
    path = save_checkpoint(
        tmp_path, 123, tensors=tensors, arrays=arrays, state=state, metrics=metrics
    )
    assert path == tmp_path / "checkpoints" / "step-000000123"
    loaded = load_checkpoint(path)
    assert loaded.step == 123 and loaded.path == path
    assert set(loaded.tensors) == set(tensors)
    for key, tensor in tensors.items():
        assert loaded.tensors[key].dtype == tensor.dtype
        assert torch.equal(loaded.tensors[key], tensor), key
    assert set(loaded.arrays) == set(arrays)
    for key, array in arrays.items():
        assert loaded.arrays[key].dtype == array.dtype
        np.testing.assert_array_equal(loaded.arrays[key], array)
    assert loaded.state == state
    assert loaded.metrics == metrics
    assert loaded.meta["schema_version"] == CHECKPOINT_SCHEMA_VERSION
    assert loaded.meta["hrrl_version"]
    assert loaded.meta["created"].endswith("+00:00")
    commit = loaded.meta["git_commit"]
    assert commit is None or len(commit) == 40


@settings(max_examples=10, deadline=None)
@given(
    state=st.dictionaries(
        st.text(max_size=5),
        st.recursive(
            st.none()
            | st.booleans()
            | st.integers()
            | st.floats(allow_nan=False)
            | st.text(max_size=8),
            lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=3), kids),
            max_leaves=10,
        ),
        max_size=4,
    )
)
def test_any_json_state_round_trips(state: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = save_checkpoint(tmp, 1, tensors={}, arrays={}, state=state, metrics={})
        assert load_checkpoint(path).state == state


def test_layout_splits_tensors_by_prefix(tmp_path: Path) -> None:
    from safetensors import safe_open

    path = save(tmp_path, 50_000)
    assert sorted(p.name for p in path.iterdir()) == [
        "model.safetensors",
        "optimizer.safetensors",
        "replay.npz",
        "state.json",
    ]
    with safe_open(str(path / "model.safetensors"), "pt") as f:
        assert all(k.startswith(("online.", "target.")) for k in f.keys())  # noqa: SIM118
    with safe_open(str(path / "optimizer.safetensors"), "pt") as f:
        assert all(k.startswith("optimizer.") for k in f.keys())  # noqa: SIM118
    manifest = json.loads((path / "state.json").read_text())
    assert set(manifest["files"]) == {"model.safetensors", "optimizer.safetensors", "replay.npz"}
    assert link(tmp_path, "latest") == "step-000050000"  # relative: the run dir can move


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"state": {"x": np.float32(1.0)}}, "float32"),
        ({"state": {1: "a"}}, "keys must be strings"),
        ({"arrays": {"bad": np.array([{}], dtype=object)}}, "object arrays"),
        ({"tensors": {"online.w": np.zeros(3)}}, "torch.Tensor"),
        ({"metrics": {"eval/success_rate": np.float32(0.5)}}, "float32"),
    ],
)
def test_bad_payload_is_refused_before_writing(
    tmp_path: Path, kwargs: dict[str, Any], match: str
) -> None:
    args: dict[str, Any] = {"tensors": {}, "arrays": {}, "state": {}, "metrics": {}, **kwargs}
    with pytest.raises(CheckpointError, match=match) as info:
        save_checkpoint(tmp_path, 7, **args)
    assert not isinstance(info.value, CheckpointSaveError)  # a bug, not a disk problem
    ckdir = tmp_path / "checkpoints"
    assert not ckdir.exists() or list(ckdir.iterdir()) == []


def test_same_step_needs_replace(tmp_path: Path) -> None:
    save(tmp_path, 5, [0.9])
    with pytest.raises(CheckpointError, match="already exists"):
        save(tmp_path, 5)
    p = payload(99)
    save_checkpoint(
        tmp_path, 5, tensors=p.tensors, arrays=p.arrays, state=p.state, metrics={}, replace=True
    )
    assert load_checkpoint(tmp_path / "checkpoints" / "step-000000005").state == p.state
    assert link(tmp_path, "best") == "step-000000005"  # kept: the old best score is gone


# --- atomicity --------------------------------------------------------------------------------


def test_failed_rename_leaves_previous_checkpoints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    save(tmp_path, 1)
    save(tmp_path, 2)

    def crash(*args: object) -> None:
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(os, "rename", crash)
    with pytest.raises(CheckpointSaveError, match="I/O error"):
        save(tmp_path, 3)
    monkeypatch.undo()
    assert step_names(tmp_path) == ["step-000000001", "step-000000002"]
    assert link(tmp_path, "latest") == "step-000000002"
    assert [e.name for e in (tmp_path / "checkpoints").iterdir() if e.name.startswith(".")] == []
    assert find_latest_valid(tmp_path).step == 2


class Killed(BaseException):
    """Stands in for SIGKILL: nothing after it runs, not even cleanup."""


def test_crash_without_cleanup_leaves_only_hidden_debris(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    save(tmp_path, 1)

    def killed(*args: object, **kwargs: object) -> None:
        raise Killed

    monkeypatch.setattr(os, "rename", killed)
    monkeypatch.setattr("hrrl.persistence.store.shutil.rmtree", lambda *a, **k: None)
    with pytest.raises(Killed):
        save(tmp_path, 2)
    monkeypatch.undo()
    debris = [e for e in (tmp_path / "checkpoints").iterdir() if e.name.startswith(".tmp-")]
    assert len(debris) == 1 and (debris[0] / "replay.npz").exists()
    assert [info.step for info in list_checkpoints(tmp_path)] == [1]
    assert find_latest_valid(tmp_path).step == 1
    save(tmp_path, 3)  # the next save sweeps the debris
    assert not debris[0].exists()


def test_disk_full_mid_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    save(tmp_path, 1, [0.5])
    real = checkpoint_io.write_npz

    def half_then_full(path: Path, arrays: Any) -> None:
        real(path, arrays)
        with path.open("r+b") as f:
            f.truncate(path.stat().st_size // 2)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint_io, "write_npz", half_then_full)
    with pytest.raises(CheckpointSaveError, match="No space left"):
        save(tmp_path, 2, [1.0])
    assert step_names(tmp_path) == ["step-000000001"]
    assert (link(tmp_path, "latest"), link(tmp_path, "best")) == ("step-000000001",) * 2
    assert list((tmp_path / "checkpoints").glob(".tmp-*")) == []


def test_any_write_error_is_a_save_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ENOSPC or EACCES from any file write (every file is fsynced) is a CheckpointSaveError."""
    save(tmp_path, 1)
    for code in (errno.ENOSPC, errno.EACCES):

        def fail(fd: int, code: int = code) -> None:
            raise OSError(code, os.strerror(code))

        monkeypatch.setattr(os, "fsync", fail)
        with pytest.raises(CheckpointSaveError, match=os.strerror(code)):
            save(tmp_path, 2)
        monkeypatch.undo()
    assert step_names(tmp_path) == ["step-000000001"]
    assert list((tmp_path / "checkpoints").glob(".tmp-*")) == []


def test_sigkill_during_saves_never_leaves_a_broken_step_dir(tmp_path: Path) -> None:
    """A real SIGKILL at an arbitrary moment of a save loop (large enough to die mid-write)."""
    script = textwrap.dedent(
        f"""
        import sys, numpy as np, torch
        from hrrl.persistence.store import save_checkpoint
        big = {{"obs": np.ones((400_000, 4), np.float32)}}
        for step in range(1, 10_000):
            save_checkpoint({str(tmp_path)!r}, step, tensors={{"online.w": torch.ones(3)}},
                            arrays=big, state={{"step": step}}, metrics={{}}, keep_last=2)
            print(step, flush=True)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    assert proc.stdout is not None
    for _ in range(3):  # let a few saves complete, then kill inside the next ones
        proc.stdout.readline()
    time.sleep(0.013)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    infos = list_checkpoints(tmp_path)
    assert infos and all(info.valid for info in infos), [i.reason for i in infos]
    latest = find_latest_valid(tmp_path)
    assert latest.state == {"step": latest.step}
    assert link(tmp_path, "latest") in step_names(tmp_path)


# --- rotation and best ------------------------------------------------------------------------


def test_rotation_keeps_last_k_and_best(tmp_path: Path) -> None:
    successes = [0.5, 0.9, 0.7, 0.8, 0.6]
    for step, success in enumerate(successes, start=1):
        save(tmp_path, step, [success, 0.5], keep_last=2)
    assert step_names(tmp_path) == ["step-000000002", "step-000000004", "step-000000005"]
    assert link(tmp_path, "best") == "step-000000002"
    assert link(tmp_path, "latest") == "step-000000005"
    rows = {info.step: info for info in list_checkpoints(tmp_path)}
    assert rows[2].is_best and not rows[2].is_latest and rows[5].is_latest


def test_fewer_checkpoints_than_keep_last_are_all_kept(tmp_path: Path) -> None:
    # The pruning before a save keeps keep_last - 1: a run with fewer loses none of them.
    for step in range(1, 8):
        save(tmp_path, step, [0.5, 0.5], keep_last=10)
    assert step_names(tmp_path) == [f"step-{step:09d}" for step in range(1, 8)]


def test_saving_a_step_again_replaces_it_and_deletes_no_other(tmp_path: Path) -> None:
    # A run's closing save rewrites its last step's checkpoint: it adds none, so rotation has
    # nothing more to delete (it took the oldest one when it counted the step twice).
    save(tmp_path, 1, [0.5, 0.5], keep_last=2)
    save(tmp_path, 2, [0.6, 0.5], keep_last=2)  # best and latest: step 1 is not protected
    save(tmp_path, 2, [0.6, 0.6], keep_last=2, replace=True)
    assert step_names(tmp_path) == ["step-000000001", "step-000000002"]
    assert {i.step: i.score for i in list_checkpoints(tmp_path)}[2] == [0.6, 0.6]


def test_best_ranks_scores_as_tuples_and_takes_the_later_on_ties(tmp_path: Path) -> None:
    # The store reads no metric: the score a task gave (here a puzzle's success, efficiency).
    save(tmp_path, 1, [0.9, 0.7], {"eval/success_rate": 0.9, "eval/efficiency": 0.7})
    save(tmp_path, 2, [0.9, 0.8])
    assert link(tmp_path, "best") == "step-000000002"
    save(tmp_path, 3, [0.9, 0.8])  # a tie goes to the policy trained longer
    save(tmp_path, 4, [0.8, 1.0])
    save(tmp_path, 5, None, {"eval/success_rate": 1.0, "eval/efficiency": 1.0})  # no score
    assert link(tmp_path, "best") == "step-000000003"
    save(tmp_path, 6, [-250.0])  # one number (a return) ranks below any pair it prefixes
    assert link(tmp_path, "best") == "step-000000003"


@pytest.mark.parametrize("score", [[], [math.nan], [0.5, math.inf]])
def test_a_score_that_cannot_rank_is_refused_before_writing(
    tmp_path: Path, score: list[float]
) -> None:
    with pytest.raises(CheckpointError, match="score"):
        save(tmp_path, 1, score)
    assert not (tmp_path / "checkpoints").exists() or step_names(tmp_path) == []


def test_without_evaluation_there_is_no_best_and_resolve_uses_latest(tmp_path: Path) -> None:
    save(tmp_path, 1)
    save(tmp_path, 2)
    assert link(tmp_path, "best") is None
    assert resolve_checkpoint(tmp_path).step == 2


# --- corruption ----------------------------------------------------------------------------


def _truncate(path: Path) -> None:
    with path.open("r+b") as f:
        f.truncate(path.stat().st_size - 3)


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [_truncate, _flip], ids=["truncate", "flip"])
@pytest.mark.parametrize(
    "name", ["model.safetensors", "optimizer.safetensors", "replay.npz", "state.json"]
)
def test_corrupt_newest_is_skipped_with_a_warning(tmp_path: Path, name: str, damage: Any) -> None:
    save(tmp_path, 1)
    newest = save(tmp_path, 2)
    damage(newest / name)
    with pytest.warns(CheckpointWarning, match="step-000000002"):
        loaded = find_latest_valid(tmp_path)
    assert loaded.step == 1
    rows = list_checkpoints(tmp_path)
    assert [r.valid for r in rows] == [True, False] and rows[1].reason


def test_no_valid_checkpoint_is_an_error(tmp_path: Path) -> None:
    _truncate(save(tmp_path, 1) / "replay.npz")
    (tmp_path / "checkpoints" / "step-000000002").mkdir()  # a stray, empty directory
    with pytest.warns(CheckpointWarning), pytest.raises(CheckpointError, match="no valid"):
        find_latest_valid(tmp_path)
    with pytest.raises(CheckpointError, match="not a directory"):
        find_latest_valid(tmp_path / "missing")


def test_resolve_falls_back_from_a_corrupt_best(tmp_path: Path) -> None:
    best = save(tmp_path, 1, [1.0])
    save(tmp_path, 2, [0.0])
    assert resolve_checkpoint(tmp_path).step == 1
    assert resolve_checkpoint(tmp_path / "checkpoints" / "step-000000002").step == 2
    _flip(best / "model.safetensors")
    with pytest.warns(CheckpointWarning, match="best"):
        assert resolve_checkpoint(tmp_path).step == 2
    with pytest.raises(CheckpointError, match="SHA-256"):
        resolve_checkpoint(best)


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = save(tmp_path, 1)
    manifest = json.loads((path / "state.json").read_text())
    manifest["schema_version"] = CHECKPOINT_SCHEMA_VERSION + 1
    (path / "state.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="newer hrrl"):
        load_checkpoint(path)


# --- no pickle, ever ----------------------------------------------------------------------------


class Boobytrap:
    """Unpickling this creates a directory: the test's proof that nothing was unpickled."""

    marker: Path

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.mkdir, (str(self.marker),))


def _forge_checksum(ckpt: Path, name: str) -> None:
    """What an attacker who can also rewrite state.json would do (its own digest included)."""
    manifest = json.loads((ckpt / "state.json").read_text())
    manifest["files"][name] = {
        "sha256": checkpoint_io.sha256_file(ckpt / name),
        "bytes": (ckpt / name).stat().st_size,
    }
    manifest["digest"] = manifest_digest(manifest)
    (ckpt / "state.json").write_text(json.dumps(manifest))


def _plain_pickle(path: Path, trap: Boobytrap) -> None:
    path.write_bytes(pickle.dumps({"obs": trap}))


def _torch_save(path: Path, trap: Boobytrap) -> None:
    buffer = stdio.BytesIO()
    torch.save({"online.w": torch.ones(2), "evil": trap}, buffer)
    path.write_bytes(buffer.getvalue())


def _npz_with_object_array(path: Path, trap: Boobytrap) -> None:
    np.savez(path, obs=np.array([trap], dtype=object), allow_pickle=True)


@pytest.mark.parametrize(
    ("name", "forge"),
    [
        ("replay.npz", _plain_pickle),
        ("replay.npz", _npz_with_object_array),
        ("model.safetensors", _torch_save),
        ("model.safetensors", _plain_pickle),
        ("optimizer.safetensors", _torch_save),
    ],
)
@pytest.mark.parametrize("checksum", ["stale", "forged"])
def test_pickle_in_place_of_a_checkpoint_file_is_refused(
    tmp_path: Path, name: str, forge: Any, checksum: str, no_unpickling: None
) -> None:
    ckpt = save(tmp_path, 1)
    trap = Boobytrap()
    trap.marker = tmp_path / "pwned"
    forge(ckpt / name, trap)
    if checksum == "forged":
        _forge_checksum(ckpt, name)
    expected = "SHA-256|bytes" if checksum == "stale" else "pickle|not safetensors|never"
    with pytest.raises(CheckpointError, match=expected):
        load_checkpoint(ckpt)
    assert not trap.marker.exists()
    assert not list_checkpoints(tmp_path)[0].valid


# --- the manager -------------------------------------------------------------------------------


def test_manager_saves_on_schedule_and_calls_the_provider_only_then(tmp_path: Path) -> None:
    manager = CheckpointManager(tmp_path, CheckpointConfig(every_steps=100, keep_last=2))
    calls: list[int] = []

    def provider() -> CheckpointPayload:
        calls.append(1)
        return payload(len(calls))

    saved = [s for s in range(0, 1000, 7) if manager.maybe_save(s, provider, {})]
    # Steps jump by 7: the first step at or past each multiple of 100 saves.
    assert saved == [105, 203, 301, 406, 504, 602, 700, 805, 903]
    assert len(calls) == len(saved)
    assert step_names(tmp_path) == ["step-000000805", "step-000000903"]
    assert manager.last_saved == tmp_path / "checkpoints" / "step-000000903"


def test_manager_disabled_writes_nothing(tmp_path: Path) -> None:
    manager = CheckpointManager(tmp_path, CheckpointConfig(enabled=False, every_steps=1))
    assert manager.maybe_save(10, payload, {}) is None
    assert manager.save(10, payload, {}) is None
    assert not (tmp_path / "checkpoints").exists()


def test_failed_save_is_recorded_and_training_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manager = CheckpointManager(tmp_path, CheckpointConfig(every_steps=10))
    assert manager.maybe_save(10, payload, {}) is not None

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    # Root ignores chmod, so a read-only disk is simulated at the write itself.
    monkeypatch.setattr(checkpoint_io, "write_safetensors", disk_full)
    trained = 0
    with pytest.warns(CheckpointWarning, match="training goes on") as caught:
        for step in range(11, 40):
            trained += 1  # the "training" between saves
            manager.maybe_save(step, payload, {})
    assert trained == 29 and len(caught) == 2  # one warning per failed save
    assert [f.step for f in manager.failures] == [20, 30]
    assert "No space left" in manager.failures[0].error
    assert step_names(tmp_path) == ["step-000000010"]
    monkeypatch.undo()
    assert manager.maybe_save(40, payload, {}) is not None  # the disk came back

    restored = CheckpointManager(tmp_path, CheckpointConfig(every_steps=10))
    restored.load_state_dict(json.loads(json.dumps(manager.state_dict())))
    assert restored.failures == manager.failures and restored.next_due == 50


# --- the CLI ---------------------------------------------------------------------------------


def _cli(monkeypatch: pytest.MonkeyPatch, *argv: str) -> int:
    from hrrl import cli

    monkeypatch.setattr(cli, "COMMANDS", ("checkpoints",))
    return cli.main(list(argv))


def test_checkpoints_command_lists_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    save(tmp_path, 50_000, [0.625, 0.8125], {"eval/success_rate": 0.625, "eval/efficiency": 0.8125})
    save(tmp_path, 100_000, [0.5, 0.0], {"eval/success_rate": 0.5})
    _flip(save(tmp_path, 150_000) / "replay.npz")
    assert _cli(monkeypatch, "checkpoints", str(tmp_path)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["step", "time", "(UTC)", "success"]
    assert lines[1].split()[0] == "50000" and "0.625" in lines[1] and "0.812" in lines[1]
    assert "best" in lines[1] and "yes" in lines[1]
    assert "latest" in lines[3] and "NO:" in lines[3] and "SHA-256" in lines[3]
    assert lines[-1].startswith("1 of 3 checkpoints are invalid")

    assert _cli(monkeypatch, "checkpoints", str(tmp_path), "--json") == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["step"], r["valid"], r["best"], r["latest"]) for r in rows] == [
        (50_000, True, True, False),
        (100_000, True, False, False),
        (150_000, False, False, True),
    ]
    assert all(r["size_bytes"] > 0 for r in rows)
    assert [r["score"] for r in rows[:2]] == [[0.625, 0.8125], [0.5, 0.0]]


def test_checkpoints_command_bad_run_dir_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _cli(monkeypatch, "checkpoints", str(tmp_path / "nope")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a directory" in err
    assert _cli(monkeypatch, "checkpoints", str(tmp_path)) == 2
    assert "no checkpoints/ folder" in capsys.readouterr().err


@pytest.mark.parametrize("header_length", [640, 896, 1152, 1408])
def test_safetensors_whose_length_bytes_look_like_a_pickle_marker_load(
    tmp_path: Path, header_length: int
) -> None:
    # A header of 640 bytes starts the file with 80 02 00 ..., a pickle's protocol-2 marker.
    from hrrl.persistence.formats import read_safetensors, write_safetensors

    for width in range(1, 400):
        path = tmp_path / f"w{width}.safetensors"
        write_safetensors(path, {"w": torch.zeros(width)}, {"pad": "x" * 0})
        if struct.unpack("<Q", path.read_bytes()[:8])[0] == header_length:
            break
    else:  # pad the metadata until the header has exactly the length we want
        path = tmp_path / "padded.safetensors"
        for pad in range(2000):
            write_safetensors(path, {"w": torch.zeros(3)}, {"pad": "x" * pad})
            if struct.unpack("<Q", path.read_bytes()[:8])[0] == header_length:
                break
        else:
            pytest.skip(f"could not build a header of {header_length} bytes")
    assert path.read_bytes()[:1] == b"\x80"
    assert read_safetensors(path)["w"].shape[0] >= 1
