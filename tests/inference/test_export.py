"""Inference bundles: round trip (plays exactly like its checkpoint), CLI, tamper refusal."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import pytest
import torch

from hrrl import Policy
from hrrl.cli import main
from hrrl.config import apply_overrides
from hrrl.errors import CheckpointError
from hrrl.experiment import preset
from hrrl.inference.export import (
    BUNDLE_FORMAT,
    BUNDLE_VERSION,
    MANIFEST_FILE,
    WEIGHTS_FILE,
    export_policy,
    is_bundle,
    read_bundle,
)
from hrrl.persistence import formats as checkpoint_io
from hrrl.puzzle.core import Puzzle
from hrrl.puzzle.suite import write_suite
from hrrl.run import build_trainer

PUZZLES = [
    Puzzle.create(target=17, forbidden=[], id="a"),
    Puzzle.create(target=40, forbidden=[3, 9, 20], id="b"),
    Puzzle.create(target=123, forbidden=[50, 51, 52, 53, 54], id="c"),
    Puzzle.create(target=7, forbidden=[1, 3, 5, 6, 8], id="d"),  # maybe unsolvable: fine
    Puzzle.create(target=64, forbidden=[60, 61, 62, 63], actions=[1, 3, 5], id="e"),
]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A briefly trained run (weights off their initial values) with a best checkpoint."""
    run_dir = tmp_path_factory.mktemp("export") / "run"
    config = apply_overrides(
        preset("default"),
        [
            "train.total_env_steps=800",
            "train.num_envs=16",
            "train.updates_per_train=1",
            "train.learning_starts=200",
            "train.eval_every=400",
            "puzzle.eval_count=2",
            "puzzle.stop_success=null",
            "checkpoint.every_steps=400",
        ],
    )
    trainer = build_trainer(config, run_dir=run_dir)
    trainer.write_config()
    trainer.run()
    return run_dir


@pytest.fixture
def bundle(run: Path, tmp_path: Path) -> Path:
    return export_policy(run, tmp_path / "bundle")


def results(policy: Policy) -> list[dict[str, object]]:
    return [r.to_dict() for r in policy.play(PUZZLES)]


def test_bundle_holds_weights_and_how_to_play_them(run: Path, bundle: Path) -> None:
    assert sorted(p.name for p in bundle.iterdir()) == [MANIFEST_FILE, WEIGHTS_FILE]
    manifest = json.loads((bundle / MANIFEST_FILE).read_text())
    assert manifest["format"] == BUNDLE_FORMAT and manifest["format_version"] == BUNDLE_VERSION
    assert manifest["task"] == "puzzle"
    assert set(manifest["env"]) == {
        "reward",
        "encoder",
        "window",
        "planner",
        "actions",
        "horizon",
        "levels",
    }
    assert set(manifest["agent"]) == {"network", "hidden"}
    source = manifest["source"]
    best = (run / "checkpoints" / "best").resolve()
    assert source["checkpoint"] == str(best) and "eval/success_rate" in source["metrics"]
    assert manifest["weights"]["sha256"] == checkpoint_io.sha256_file(bundle / WEIGHTS_FILE)
    assert is_bundle(bundle) and is_bundle(bundle / MANIFEST_FILE) and not is_bundle(run)
    # Online network only: no target network, no optimizer, no replay.
    keys = set(read_bundle(bundle).weights)
    assert keys and not any("target" in k or "optim" in k for k in keys)


def test_bundle_plays_exactly_like_its_checkpoint(run: Path, bundle: Path) -> None:
    from_run, from_bundle = Policy.load(run), Policy.load(bundle)
    for key, tensor in from_run.network.state_dict().items():
        assert torch.equal(from_bundle.network.state_dict()[key], tensor)
    assert results(from_bundle) == results(from_run)
    assert from_bundle.env_config == from_run.env_config
    solved = from_bundle.solve(PUZZLES[0])
    assert solved.path[0] == 0 and solved.steps == len(solved.path) - 1


def test_cli_export_then_solve_and_eval(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cli-bundle"
    assert main(["export", str(run), "--out", str(out)]) == 0
    assert "policy.safetensors" in capsys.readouterr().out
    answers = []
    for source in (run, out):
        args = ["solve", "--checkpoint", str(source), "--target", "40", "--forbidden", "3,9,20"]
        assert main([*args, "--json"]) == 0
        answers.append(json.loads(capsys.readouterr().out))
    assert answers[0] == answers[1]
    suite = tmp_path / "suite.jsonl"
    write_suite(suite, PUZZLES)
    for source in (run, out):
        assert main(["eval", "--checkpoint", str(source), "--suite", str(suite)]) == 0
    with_run, with_bundle = (
        t.split("\n", 1)[1] for t in capsys.readouterr().out.split("policy: ")[1:]
    )
    assert with_run == with_bundle


def test_export_refuses_to_overwrite(run: Path, bundle: Path, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="--force"):
        export_policy(run, bundle)
    export_policy(run / "checkpoints" / "latest", bundle, overwrite=True)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(CheckpointError, match="not empty"):
        export_policy(run, other, overwrite=True)


def test_tampered_weights_are_refused(
    bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    weights = bundle / WEIGHTS_FILE
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="SHA-256"):
        Policy.load(bundle)
    assert main(["solve", "--checkpoint", str(bundle), "--target", "17"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "fails its SHA-256 check" in err
    weights.write_bytes(bytes(data[:-10]))
    with pytest.raises(CheckpointError, match="truncated or altered"):
        Policy.load(bundle)


def test_a_pickle_with_a_matching_checksum_is_still_refused(bundle: Path) -> None:
    weights = bundle / WEIGHTS_FILE
    weights.write_bytes(pickle.dumps({"weight": [1.0, 2.0]}, protocol=4))
    manifest = json.loads((bundle / MANIFEST_FILE).read_text())
    manifest["weights"].update(
        sha256=checkpoint_io.sha256_file(weights), bytes=weights.stat().st_size
    )
    (bundle / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="a Python pickle"):
        Policy.load(bundle)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        ({"format_version": 99}, "format_version 99"),
        ({"format": "something-else"}, "not an hrrl-policy manifest"),
        ({"obs_dim": "12"}, "'obs_dim' is missing or invalid"),
    ],
)
def test_bad_manifest_is_refused(bundle: Path, edit: dict[str, object], match: str) -> None:
    manifest = json.loads((bundle / MANIFEST_FILE).read_text())
    (bundle / MANIFEST_FILE).write_text(json.dumps({**manifest, **edit}))
    with pytest.raises(CheckpointError, match=match):
        read_bundle(bundle)


def test_wrong_shapes_are_refused(bundle: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(bundle, copy)
    manifest = json.loads((copy / MANIFEST_FILE).read_text())
    manifest["agent"]["hidden"] = manifest["agent"]["hidden"] * 2
    (copy / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="do not fit"):
        Policy.load(copy)
