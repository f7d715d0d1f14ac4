"""The ablation study: arms, fault injection, t intervals, a tiny resumable study, Ray parity."""

from __future__ import annotations

import importlib.util
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hrrl.cli import main
from hrrl.config import diff, to_dict
from hrrl.engine.task import EpisodeEnd, PolicyFn, StepOutcome
from hrrl.errors import ConfigError
from hrrl.experiment import preset, puzzle_section
from hrrl.studies.ablation import (
    DEFAULT_ARMS,
    TrialSpec,
    config_hash,
    fault_for,
    make_specs,
    parse_arms,
    run_study,
    trial_config,
)
from hrrl.studies.ablation_report import (
    ArmSummary,
    claims_table,
    effect,
    mean_ci,
    summarize_arms,
    t975,
    write_report,
)
from hrrl.studies.fault import FaultConfig, FaultInjectingTask
from hrrl.studies.gym_trial import GYM_ARMS

TINY = {
    "budget_steps": 256,
    "eval_every": 128,
    "eval_count": 1,
    "heldout_count": 1,
    "paper_count": 1,
}


# --- arms -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("arm", "changed"),
    [
        ("no-double", {"agent.double"}),
        ("no-per", {"replay.kind"}),
        ("no-clip", {"agent.max_grad_norm", "guard.enabled"}),
        ("no-adaptive-eps", {"exploration.kind"}),
        ("legacy-reward", {"puzzle.reward"}),
        (
            "paper-encoder",
            {
                "puzzle.encoder",
                "agent.network",
                "puzzle.curriculum.action_sets",
                "puzzle.eval_actions",
            },
        ),
        ("no-hierarchy", {"puzzle.planner"}),
        ("no-curriculum", {"puzzle.curriculum.stages"}),
    ],
)
def test_each_arm_is_the_preset_plus_its_override(arm: str, changed: set[str]) -> None:
    base = trial_config(TrialSpec(arm="all", seed=0))
    got = {line.split(":")[0] for line in diff(base, trial_config(TrialSpec(arm=arm, seed=0)))}
    assert {g.split("[")[0] for g in got} == changed or got == changed


def test_no_curriculum_keeps_only_the_last_stage() -> None:
    stages = trial_config(TrialSpec(arm="no-curriculum", seed=0)).puzzle.curriculum.stages
    assert stages == (preset("default").puzzle.curriculum.stages[-1],)


def test_baseline_arm_is_the_prototype_capped_by_the_budget() -> None:
    config = trial_config(TrialSpec(arm="baseline", seed=3, budget_steps=1234))
    assert config.preset == "baseline" and config.train.total_env_steps == 1234
    assert config.train.total_episodes == 5_000 and config.train.seed == 3


def test_fault_arm_trains_through_its_window() -> None:
    spec = TrialSpec(arm="no-clip+fault", seed=2, budget_steps=10_000)
    fault = fault_for(spec)
    assert fault is not None and (fault.start_step, fault.stop_step) == (1_000, 3_000)
    assert puzzle_section(trial_config(spec)).stop_success is None
    assert fault_for(TrialSpec(arm="no-clip", seed=2)) is None


def test_parse_arms_and_bad_names() -> None:
    assert parse_arms(",".join(DEFAULT_ARMS)) == list(DEFAULT_ARMS)
    with pytest.raises(ConfigError, match="no-dueling"):
        parse_arms("all,no-dueling")
    with pytest.raises(ConfigError, match="twice"):
        parse_arms("all,all")


def test_config_hash_tracks_what_a_trial_depends_on() -> None:
    spec = TrialSpec(arm="all", seed=0)
    assert config_hash(spec) == config_hash(TrialSpec(arm="all", seed=0))
    assert config_hash(spec) != config_hash(TrialSpec(arm="all", seed=1))
    assert config_hash(spec) != config_hash(TrialSpec(arm="all", seed=0, budget_steps=5))
    assert config_hash(spec) != config_hash(TrialSpec(arm="all+fault", seed=0))


# --- fault injection ------------------------------------------------------------------------------
class ConstantTask:
    """Two envs, reward 1 every step, an episode ends every step."""

    obs_dim, n_actions, num_envs, stage = 1, 2, 2, 0
    obs_shape = (1,)

    def reset(self) -> np.ndarray:
        return np.zeros((2, 1), np.float32)

    def step(self, actions: np.ndarray) -> StepOutcome:
        obs = np.zeros((2, 1), np.float32)
        ends = [EpisodeEnd(i, True, 1.0, 1, "SUCCESS", 0) for i in range(2)]
        flags = np.zeros(2, bool)
        return StepOutcome(obs, obs, np.ones(2, np.float32), flags, flags, ends)

    def evaluate(self, policy: PolicyFn) -> dict[str, float]:
        return {"eval/success_rate": 1.0}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


def test_fault_window_rate_and_nan() -> None:
    task = FaultInjectingTask(ConstantTask(), FaultConfig(start_step=2, stop_step=6, rate=1.0))
    rewards = [task.step(np.zeros(2)).rewards for _ in range(4)]
    np.testing.assert_array_equal(rewards[0], [1, 1])  # steps 0-1: before the window
    assert np.all(np.abs(np.concatenate(rewards[1:3])) == 5000.0)  # steps 2-5
    np.testing.assert_array_equal(rewards[3], [1, 1])  # steps 6-7: after it
    assert task.n_extreme == 4 and task.n_nan == 0
    nan = FaultInjectingTask(ConstantTask(), FaultConfig(start_step=0, rate=1.0, nan_share=1.0))
    assert np.all(np.isnan(nan.step(np.zeros(2)).rewards))
    # Episodes and evaluation pass through untouched.
    assert nan.step(np.zeros(2)).ended[0].episode_return == 1.0
    assert nan.evaluate(lambda o: o) == {"eval/success_rate": 1.0}


def test_fault_state_round_trip() -> None:
    config = FaultConfig(start_step=0, rate=0.5, seed=4)
    a = FaultInjectingTask(ConstantTask(), config)
    for _ in range(3):
        a.step(np.zeros(2))
    b = FaultInjectingTask(ConstantTask(), config)
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(a.step(np.zeros(2)).rewards, b.step(np.zeros(2)).rewards)


def test_fault_config_validated() -> None:
    with pytest.raises(ConfigError, match=r"fault\.rate"):
        FaultConfig(rate=1.5)


# --- statistics -----------------------------------------------------------------------------------
def test_t_interval_by_hand() -> None:
    # [1, 2, 3]: mean 2, s = 1, half = t(0.975, 2) / sqrt(3) = 4.303 / 1.732.
    e = mean_ci([1.0, 2.0, 3.0, None, math.nan])
    assert e.n == 3 and e.mean == 2.0 and e.half == pytest.approx(4.303 / math.sqrt(3))
    assert t975(1) == 12.706 and t975(100) == 1.96
    assert mean_ci([5.0]).n == 1 and math.isnan(mean_ci([5.0]).half)
    assert mean_ci([]).n == 0


# --- a tiny study ---------------------------------------------------------------------------------
def _stable(trial: dict[str, Any]) -> str:
    """The fields that must not depend on where or when a trial ran (as JSON: NaN == NaN)."""
    keep = ("arm", "seed", "config_hash", "env_steps", "heldout", "paper", "steps_to_95")
    stable = {
        **{k: trial[k] for k in keep},
        "history": [{k: v for k, v in h.items() if k != "wall"} for h in trial["history"]],
    }
    return json.dumps(stable, sort_keys=True)


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    out = tmp_path_factory.mktemp("study")
    specs = make_specs(["all", "no-per"], [0], **TINY)
    return out, run_study(specs, out, workers=2)


def test_study_writes_a_file_per_trial_then_skips_them(
    study: tuple[Path, list[dict[str, Any]]],
) -> None:
    out, first = study
    files = sorted((out / "trials").glob("*.json"))
    assert [f.name for f in files] == ["all__seed0.json", "no-per__seed0.json"]
    stamps = [f.stat().st_mtime_ns for f in files]
    seen: list[bool] = []
    specs = make_specs(["all", "no-per"], [0], **TINY)
    again = run_study(specs, out, workers=2, on_done=lambda t, skipped: seen.append(skipped))
    assert seen == [True, True] and [f.stat().st_mtime_ns for f in files] == stamps
    assert [_stable(t) for t in again] == [_stable(t) for t in first]
    # A changed budget is a different trial: its hash no longer matches, so it would rerun.
    changed = make_specs(["all"], [0], **{**TINY, "budget_steps": 512})[0]
    assert config_hash(changed) != first[0]["config_hash"]


def test_trial_contents(study: tuple[Path, list[dict[str, Any]]]) -> None:
    _, trials = study
    for t in trials:
        assert t["env_steps"] >= 256 or t["stop_reason"] == "solved"
        assert 0.0 <= t["heldout"]["success_rate"] <= 1.0 and t["params_finite"]
        assert set(t["paper"]["by_family"]) >= {"123", "278", "431"}


def test_in_process_gives_the_same_numbers(
    study: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    _, pooled = study
    specs = make_specs(["no-per"], [0], **TINY)
    (alone,) = run_study(specs, tmp_path, workers=0)
    assert _stable(alone) == _stable(pooled[1])


#: CI installs the ray extra (``make test``): there the Ray test must run, not skip.
RAY_MISSING = importlib.util.find_spec("ray") is None and not os.environ.get("CI")


@pytest.mark.skipif(RAY_MISSING, reason="ray is not installed (pip install -e '.[ray]')")
def test_ray_gives_the_same_numbers(
    study: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    _, pooled = study
    specs = make_specs(["all", "no-per"], [0], **TINY)
    via_ray = run_study(specs, tmp_path, workers=2, use_ray=True)
    assert [_stable(t) for t in via_ray] == [_stable(t) for t in pooled]


def test_report_files_and_claims(study: tuple[Path, list[dict[str, Any]]], tmp_path: Path) -> None:
    _, trials = study
    path = write_report(tmp_path, trials, ["all", "no-per"], header=["- tiny"])
    text = path.read_text()
    for name in ("ablation.csv", "trials.csv", "ablation.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert "| all | 1 |" in text and "PER: +30-50% sample efficiency" in text
    claims = claims_table(summarize_arms(trials, ["all"]))
    assert claims.count("\n") == 15  # header, rule, 14 claims
    assert "Ablation: no Double DQN 72.1% | not measured (arm not run)" in claims
    compare = {"suite": "s.jsonl", "rows": [{"method": "random", "success": 0.25}]}
    assert "25.0% on s.jsonl (random)" in claims_table(summarize_arms(trials, ["all"]), compare)


def test_cli_in_process_and_bad_arm(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["ablate", "--arms", "all", "--seeds", "1", "--budget-steps", "128"]
    argv += [
        "--eval-every",
        "128",
        "--heldout-count",
        "1",
        "--workers",
        "0",
        "--out",
        str(tmp_path),
    ]
    assert main(argv) == 0
    assert (tmp_path / "ablation.md").exists() and "## Claims" in capsys.readouterr().out
    assert main(["ablate", "--arms", "all,no-magic", "--out", str(tmp_path)]) == 2
    assert "no-magic" in capsys.readouterr().err


def test_all_arm_config_is_the_preset_with_study_settings() -> None:
    config = trial_config(TrialSpec(arm="all", seed=5, budget_steps=999))
    expected = to_dict(preset("default"))
    got = to_dict(config)
    assert got["agent"] == expected["agent"] and got["replay"] == expected["replay"]
    assert got["train"]["seed"] == 5 and got["checkpoint"]["enabled"] is False


# --- the study on a Gymnasium task ---------------------------------------------------------
def test_gym_study_trains_each_arm_and_reports_the_effects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError, match="does not apply to a Gymnasium task"):
        TrialSpec(arm="paper-encoder", seed=0, env="CartPole-v1")
    assert {"+n-step", "no-n-step", "+dueling", "no-double", "+double", "no-per"} <= set(GYM_ARMS)
    specs = [
        TrialSpec(arm=arm, seed=0, env="CartPole-v1", budget_steps=600, eval_every=300,
                  eval_count=2, heldout_count=2)
        for arm in ("all", "+n-step")
    ]  # fmt: skip
    assert trial_config(specs[1]).agent.n_step == 3 and trial_config(specs[0]).gym is not None
    trials = run_study(specs, tmp_path, workers=0)
    for trial in trials:
        assert trial["env"] == "CartPole-v1" and trial["env_steps"] == 600
        assert trial["heldout"]["return"] >= 8  # a CartPole episode lasts at least 8 steps
    from matplotlib.figure import Figure

    charts: list[Figure] = []
    save = Figure.savefig
    monkeypatch.setattr(
        Figure, "savefig", lambda fig, *a, **k: (charts.append(fig), save(fig, *a, **k))
    )
    text = write_report(tmp_path, trials, ["all", "+n-step"], gym=True).read_text()
    assert "| n-step returns (n=3), +n-step vs all | " in text and "paper" not in text.lower()
    # The chart shows each arm's held-out return (one seed: the trial's own), not the puzzle's
    # success and efficiency.
    (axes,) = charts[-1].axes
    heights = [bar.get_height() for bar in axes.patches]
    assert heights == pytest.approx([t["heldout"]["return"] for t in trials])
    assert "return" in axes.get_title()


def test_effect_interval_of_a_difference_by_hand() -> None:
    def arm(name: str, returns: list[float]) -> ArmSummary:
        est = mean_ci(returns)
        return ArmSummary(arm=name, seeds=len(returns), estimates={"return": est}, reached_95=0,
                          crashed=0, nonfinite=0, paper_by_target={})  # fmt: skip

    # Means 20 and 10; each sample sd 2 over 3 seeds: se^2 = 4/3 each, t(2) = 4.303.
    got = effect(arm("fix", [18.0, 20.0, 22.0]), arm("base", [8.0, 10.0, 12.0]), "return")
    half = 4.302653 * (8 / 3) ** 0.5
    assert got.startswith(f"+10.0 ± {half:.1f} ")
