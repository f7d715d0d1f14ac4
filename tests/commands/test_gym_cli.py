"""A Gymnasium run through every command a puzzle run has: export, eval --env, checkpoints,
report and the train summary; a policy of the other kind gets one error line and exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from hrrl.cli import main
from hrrl.monitoring.plots import GYM_PLOTS, PLOTS

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CARTPOLE_RUN = FIXTURES / "cartpole-run"
PUZZLE_RUN = FIXTURES / "puzzle-run"
PUZZLE_BUNDLE = FIXTURES / "puzzle-bundle"


@pytest.fixture
def gym_bundle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    out = tmp_path / "bundle"
    assert main(["export", str(CARTPOLE_RUN), "--out", str(out)]) == 0
    assert "Gymnasium env CartPole-v1" in capsys.readouterr().out
    return out


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("source", ["run", "bundle"])
def test_eval_env_prints_mean_and_std_of_the_return(
    source: str, gym_bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = CARTPOLE_RUN if source == "run" else gym_bundle
    args = ["eval", "--env", "CartPole-v1", "--checkpoint", str(path), "--episodes", "2"]
    assert main([*args, "--seed", "0"]) == 0
    out = capsys.readouterr().out
    assert "CartPole-v1: mean return 13.50 +/- " in out and "over 2 episodes (seeds 0..1)" in out


def test_eval_reads_the_task_from_the_checkpoint_and_writes_each_episode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 31, item 6: ``hrrl eval`` needed ``--env`` although the checkpoint knows its task,
    and ignored ``--output``; it printed ``success rate nan`` for an env without a threshold."""
    out = tmp_path / "episodes.jsonl"
    args = ["eval", "--checkpoint", str(CARTPOLE_RUN), "--episodes", "2", "--output", str(out)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "CartPole-v1: mean return 13.50 +/- " in text
    assert "success rate 0.00 (return >= 475)" in text
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["env"], r["seed"]) for r in rows] == [("CartPole-v1", 0), ("CartPole-v1", 1)]
    assert sum(r["return"] for r in rows) / 2 == 13.5 and all(r["length"] > 0 for r in rows)


def test_eval_epsilon_plays_random_actions_at_that_rate(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Issue 28: ``hrrl eval`` played only greedy episodes (the Nature DQN scored Atari at 0.05).
    At 1 every action is random: the fixture's weak greedy policy (13.5) is not what plays."""
    args = ["eval", "--checkpoint", str(CARTPOLE_RUN), "--episodes", "8"]
    means = []
    for epsilon in ("0", "1", "1"):
        assert main([*args, "--epsilon", epsilon]) == 0
        out = capsys.readouterr().out
        assert ("epsilon 1" in out) == (epsilon == "1")
        means.append(float(out.split("mean return ")[1].split()[0]))
    assert means[1] == means[2] != means[0]  # random play, and the same again from the seeds
    assert main([*args, "--epsilon", "1.5"]) == 2
    assert "epsilon=1.5 is out of range" in _one_error_line(capsys)


@pytest.mark.parametrize("flag", ["--episodes", "--seed", "--epsilon"])
def test_episode_flags_with_a_suite_are_one_line(
    flag: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = tmp_path / "suite.jsonl"
    suite.write_text('{"id": "a", "target": 10, "forbidden": []}\n')
    argv = ["eval", "--checkpoint", str(PUZZLE_RUN), "--suite", str(suite), flag, "3"]
    assert main(argv) == 2
    assert f"{flag} sets the episodes of a Gymnasium policy" in _one_error_line(capsys)


def test_checkpoints_show_the_evaluation_return(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["checkpoints", str(CARTPOLE_RUN)]) == 0
    header, row = capsys.readouterr().out.splitlines()[:2]
    assert "return" in header.split() and "success" not in header
    assert "16.00 +/- 0.0" in row  # the fixture's best evaluation
    assert main(["checkpoints", str(PUZZLE_RUN)]) == 0
    assert "success  efficiency" in capsys.readouterr().out  # the puzzle's table is unchanged


def test_report_draws_the_return_curve_and_no_puzzle_section(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report"
    assert main(["report", str(CARTPOLE_RUN), "--out", str(out)]) == 0
    assert f"wrote {len(GYM_PLOTS)} plots" in capsys.readouterr().out
    assert {p.stem for p in out.glob("*.png")} == {p.name for p in GYM_PLOTS}
    page = (out / "report.html").read_text()
    assert 'id="eval_return"' in page
    for puzzle_only in ("success_by_stage", "eval_by_family", "q_bias"):
        assert puzzle_only in {p.name for p in PLOTS} and f'id="{puzzle_only}"' not in page


def test_train_summary_names_the_return(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch.set_num_threads(1)
    sets = (
        "train.total_env_steps=320",
        "train.learning_starts=160",
        "train.eval_every=320",
        "gym.eval_episodes=2",
        "agent.hidden=16",
        "checkpoint.enabled=false",
    )
    run = ["train", "--env", "CartPole-v1", "--run-dir", str(tmp_path / "r"), "--no-tensorboard"]
    assert main([*run, *(f"--set={s}" for s in sets)]) == 0
    out = capsys.readouterr().out.splitlines()
    (best,) = [line for line in out if "best evaluation" in line]
    assert best.startswith("best evaluation: mean return ") and " +/- " in best
    # Issue 31, items 2 and 9: the console speaks returns, in short lines.
    console = [line for line in out if line.startswith("step ")]
    assert console and all(len(line) <= 120 for line in console), console
    assert all("return" in line and "stage" not in line for line in console)
    assert all("success" not in line for line in console)
    assert "success" not in best


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["eval", "--env", "CartPole-v1", "--checkpoint", str(PUZZLE_RUN)], "number puzzle"),
        (["eval", "--env", "CartPole-v1", "--checkpoint", str(PUZZLE_BUNDLE)], "number puzzle"),
        (["eval", "--checkpoint", str(PUZZLE_RUN)], "--suite FILE"),
        (["solve", "--checkpoint", str(CARTPOLE_RUN), "--target", "10"], "--env CartPole-v1"),
        (["solve", "--checkpoint", "BUNDLE", "--target", "10"], "--env CartPole-v1"),
        (["eval", "--checkpoint", "BUNDLE", "--suite", "SUITE"], "--env CartPole-v1"),
        (["eval", "--env", "Acrobot-v1", "--checkpoint", "BUNDLE"], "pass --env CartPole-v1"),
        (["export", str(CARTPOLE_RUN), "--out", "BUNDLE"], "not empty"),
    ],
    ids=[
        "puzzle-run-to-eval-env",
        "puzzle-bundle-to-eval-env",
        "puzzle-run-to-eval-nothing",
        "gym-run-to-solve",
        "gym-bundle-to-solve",
        "gym-bundle-to-eval-suite",
        "gym-bundle-to-another-id",
        "export-over-a-bundle",
    ],
)
def test_the_other_kind_gets_one_line_and_exit_2(
    argv: list[str],
    says: str,
    gym_bundle: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    suite = tmp_path / "suite.jsonl"
    suite.write_text('{"id": "a", "target": 10, "forbidden": []}\n')
    swap = {"BUNDLE": str(gym_bundle), "SUITE": str(suite)}
    assert main([swap.get(a, a) for a in argv]) == 2
    assert says in _one_error_line(capsys)
