"""Old checkpoints keep loading: runs and a bundle written by an earlier hrrl verify, play, resume.

``tests/fixtures/`` (see its README) holds two short training runs and one exported bundle, made
by hrrl at commit a762fc9, before the package was split into layers. Every test reads the saved
config (``config.yaml`` and the copy inside ``state.json``) with today's code, so a change to the
config format or the checkpoint layout that no longer reads them fails here. The fixtures are
never written to: a test that resumes works on a copy.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from hrrl import Policy, Puzzle, Status
from hrrl.cli import main
from hrrl.errors import EnvironmentMismatchError
from hrrl.experiment import config_from_dict, load_config
from hrrl.gym.task import evaluate_env
from hrrl.inference.export import BUNDLE_VERSION, READABLE_VERSIONS, read_bundle
from hrrl.inference.gym_policy import load_greedy_policy
from hrrl.persistence.layout import (
    BEST_LINK,
    CHECKPOINT_SCHEMA_VERSION,
    CHECKPOINTS_DIR,
    LATEST_LINK,
    verify_checkpoint,
)
from hrrl.persistence.payload import payload_from_state
from hrrl.persistence.store import list_checkpoints, load_checkpoint, resolve_checkpoint
from hrrl.puzzle.generate import generate_suite
from hrrl.run import plan_resume, restore_trainer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PUZZLE_RUN = FIXTURES / "puzzle-run"
CARTPOLE_RUN = FIXTURES / "cartpole-run"
BUNDLE = FIXTURES / "puzzle-bundle"
RUNS = [pytest.param(PUZZLE_RUN, id="puzzle"), pytest.param(CARTPOLE_RUN, id="cartpole")]
#: What each run's config.yaml says (values off the preset defaults, so a fallback shows).
SAVED = {
    PUZZLE_RUN: {"network": "phase_adaptive", "hidden": 16, "env_id": None, "steps": 800},
    CARTPOLE_RUN: {"network": "mlp", "hidden": 16, "env_id": "CartPole-v1", "steps": 1200},
}
SMALL = Puzzle.create(target=20, forbidden=[3])
QUIET = ["--quiet", "--no-tensorboard"]


def copy_run(run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(run, tmp_path / run.name, symlinks=True))


def latest_step(run: Path) -> int:
    return load_checkpoint((run / CHECKPOINTS_DIR / LATEST_LINK).resolve()).step


@pytest.mark.parametrize("run", RUNS)
def test_every_checkpoint_verifies_and_the_links_are_kept(run: Path) -> None:
    infos = list_checkpoints(run)
    assert infos and all(info.valid for info in infos), [info.reason for info in infos]
    for info in infos:
        # Written before state.json covered itself (schema 1): still read, without that check.
        assert verify_checkpoint(info.path)["schema_version"] == 1 < CHECKPOINT_SCHEMA_VERSION
        assert load_checkpoint(info.path).step == info.step
    for name in (BEST_LINK, LATEST_LINK):  # git must keep them as symlinks
        link = run / CHECKPOINTS_DIR / name
        assert link.is_symlink() and link.resolve().parent == link.parent
    assert any(info.is_best for info in infos) and any(info.is_latest for info in infos)


def test_bundle_verifies() -> None:
    bundle = read_bundle(BUNDLE)  # size and SHA-256 of the weights, format version
    # Version 1 (before Gymnasium bundles): a puzzle bundle without the task field.
    assert bundle.manifest["format_version"] == 1 and 1 in READABLE_VERSIONS
    assert BUNDLE_VERSION > 1 and "task" not in bundle.manifest and bundle.task == "puzzle"
    assert bundle.weights and bundle.obs_dim == 182 and bundle.env_id is None


@pytest.mark.parametrize("run", RUNS)
def test_the_saved_config_reads_back(run: Path) -> None:
    from_yaml = load_config(run / "config.yaml")
    from_checkpoint = config_from_dict(resolve_checkpoint(run).state["config"])
    assert from_yaml == from_checkpoint
    want = SAVED[run]
    got = {
        "network": from_yaml.agent.network,
        "hidden": from_yaml.agent.hidden,
        "env_id": None if from_yaml.gym is None else from_yaml.gym.id,
        "steps": from_yaml.train.total_env_steps,
    }
    assert got == want


@pytest.mark.parametrize("source", [PUZZLE_RUN, BUNDLE], ids=["run", "bundle"])
def test_policy_plays_a_small_puzzle_to_the_end(source: Path) -> None:
    result = Policy.load(source).solve(SMALL)
    assert result.status.terminal
    # What hrrl a762fc9 played with these weights: the encoder and planner are rebuilt alike.
    assert result.status is Status.SUCCESS and result.path == (0, 5, 10, 15, 20)


def test_the_bundle_plays_like_the_run_it_was_exported_from() -> None:
    puzzles = generate_suite(["in_range", "dense", "trap", "wall"], 3, seed=5)
    assert Policy.load(BUNDLE).play(puzzles) == Policy.load(PUZZLE_RUN).play(puzzles)


def test_cartpole_greedy_policy_loads_and_acts() -> None:
    policy, source = load_greedy_policy(CARTPOLE_RUN, env_id="CartPole-v1")
    assert source == (CARTPOLE_RUN / CHECKPOINTS_DIR / BEST_LINK).resolve()
    obs = np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32)
    actions = policy(obs)
    assert actions.shape == (16,) and actions.dtype == np.int64
    assert set(actions.tolist()) <= {0, 1}
    metrics = evaluate_env("CartPole-v1", policy, episodes=2, seed=0)
    assert metrics["eval/mean_return"] == 13.5  # what hrrl a762fc9 gets with these weights


def test_each_loader_refuses_the_other_domain() -> None:
    with pytest.raises(EnvironmentMismatchError, match="the number puzzle"):
        load_greedy_policy(PUZZLE_RUN, env_id="CartPole-v1")
    with pytest.raises(EnvironmentMismatchError, match="--env CartPole-v1"):
        Policy.load(CARTPOLE_RUN)


def _json(value: Any) -> Any:
    return json.loads(json.dumps(value))


@pytest.mark.parametrize("run", RUNS)
def test_a_restored_trainer_holds_the_whole_checkpoint(run: Path, tmp_path: Path) -> None:
    plan = plan_resume(copy_run(run, tmp_path))
    assert plan.changes == [] and plan.abandoned is None
    ck = plan.checkpoint
    trainer = restore_trainer(plan)
    assert trainer.config == config_from_dict(ck.state["config"])
    assert trainer.counters.env_steps == ck.step
    # Saving it again gives back every tensor, array and JSON value (but the run clock).
    again = payload_from_state(trainer.state_dict())
    assert again.tensors.keys() == ck.tensors.keys() and again.arrays.keys() == ck.arrays.keys()
    for key, tensor in ck.tensors.items():
        assert torch.equal(again.tensors[key], tensor), key
    for key, array in ck.arrays.items():
        assert again.arrays[key].dtype == array.dtype, key
        assert np.array_equal(again.arrays[key], array), key
    skip = {"config", "logger", "health"}
    state = _json(again.state)
    # The agent's copy of its config section gains the fields added since (with their defaults).
    new_config, old_config = state["agent"]["meta"].pop("config"), dict(ck.state["agent"]["meta"])
    old_config = old_config.pop("config")
    assert {k: new_config[k] for k in old_config} == old_config
    old = {k: v for k, v in ck.state.items() if k not in skip}
    old["agent"] = {**old["agent"], "meta": {**old["agent"]["meta"]}}
    old["agent"]["meta"].pop("config")
    # The guard's streak of refused spikes became the marks of those within its window; the
    # fixtures' streaks are 0, which is no marks.
    old_guard = dict(old["agent"]["meta"]["guard"])
    assert old_guard.pop("consecutive_spikes") == 0
    old["agent"]["meta"]["guard"] = {**old_guard, "spike_marks": []}
    if "vec" in state.get("task", {}):
        # Each hierarchy layer gained its exact waypoint and subgoal counts since (issue 15),
        # with the values a wrapper that never glanced holds: every value it had comes back.
        for new_layers, old_layers in zip(
            state["task"]["vec"]["envs"], ck.state["task"]["vec"]["envs"], strict=True
        ):
            for i, (new, prior) in enumerate(zip(new_layers, old_layers, strict=True)):
                if "waypoints" in prior:
                    assert {k: new[k] for k in prior} == prior
                    assert new["exact"] is None and new["failures"] == 0
                    new_layers[i] = prior
    # The best evaluation's success and efficiency became the task's score of it, and the
    # counters learned the step of the last evaluation (unknown before: none).
    best_success, best_efficiency = (
        old["counters"].pop(k) for k in ("best_success", "best_efficiency")
    )
    assert state["counters"].pop("last_eval_step") is None
    # ... and whether its last evaluation was solved (the start of a streak of solved ones).
    last = ck.state["last_metrics"]
    assert state["counters"].pop("solved_in_row") == int(bool(last) and trainer.task.solved(last))
    # The guard's screened transitions are logged per interval since (from what it restored).
    assert state.pop("screened_logged") == ck.state["agent"]["meta"]["guard"]["n_screened"]
    score = state["counters"].pop("best_score")
    if run == PUZZLE_RUN:
        assert score == [best_success, best_efficiency]
    else:  # a Gymnasium run ranks by its mean return
        assert score == [ck.state["best_metrics"]["eval/mean_return"]]
    assert {k: v for k, v in state.items() if k not in skip} == old
    # The health monitor gained its pooled judgement since: every value it had comes back.
    assert {k: state["health"][k] for k in ck.state["health"]} == ck.state["health"]


@pytest.mark.parametrize("run", RUNS)
def test_a_finished_run_resumes_and_goes_on(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = copy_run(run, tmp_path)
    start = latest_step(copy)
    longer = start + 200  # a multiple of the 8 environments
    rows_before = (copy / "metrics.jsonl").read_text().splitlines()
    args = ["resume", str(copy), "--allow-config-change", f"--set=train.total_env_steps={longer}"]
    assert main([*args, *QUIET]) == 0
    out = capsys.readouterr().out
    assert f"from step-{start:09d}" in out  # --quiet: no summary; latest_step says how far
    assert latest_step(copy) == longer
    final = load_checkpoint((copy / CHECKPOINTS_DIR / LATEST_LINK).resolve())
    saved = config_from_dict(final.state["config"])
    assert saved == load_config(copy / "config.yaml")
    assert saved.train.total_env_steps == longer
    assert all(info.valid for info in list_checkpoints(copy))
    rows = (copy / "metrics.jsonl").read_text().splitlines()
    assert rows[: len(rows_before)] == rows_before and len(rows) > len(rows_before)
