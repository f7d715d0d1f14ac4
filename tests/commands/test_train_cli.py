"""``hrrl train`` end to end through ``hrrl.cli.main``: run directory, overrides, bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from hrrl.cli import build_parser, main
from hrrl.commands.train import resolve_config
from hrrl.config import apply_overrides, save_yaml
from hrrl.experiment import load_config, preset
from hrrl.persistence.store import list_checkpoints


def _train_argv(tiny_overrides: tuple[str, ...], run_dir: Path, *extra: str) -> list[str]:
    argv = ["train", "--run-dir", str(run_dir), "--quiet", "--no-tensorboard"]
    for item in (*tiny_overrides, "checkpoint.enabled=true"):
        argv += ["--set", item]
    return [*argv, *extra]


def test_train_writes_the_run_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny: Any, tiny_overrides: tuple[str, ...]
) -> None:
    run_dir = tmp_path / "run"
    assert main(_train_argv(tiny_overrides, run_dir, "--seed", "3")) == 0
    assert capsys.readouterr() == ("", "")  # --quiet: nothing but errors

    config = load_config(run_dir / "config.yaml")
    assert config == apply_overrides(tiny("checkpoint.enabled=true"), ["train.seed=3"])

    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert rows and all("step" in row for row in rows)
    keys = {k for row in rows for k in row}
    assert {"rollout/success_rate", "train/loss", "eval/success_rate"} <= keys
    assert not list(run_dir.glob("events.out.tfevents.*"))  # --no-tensorboard

    best = run_dir / "checkpoints" / "best"
    assert best.is_symlink() and (best / "state.json").is_file()
    assert (run_dir / "checkpoints" / "latest" / "model.safetensors").is_file()
    listed = list_checkpoints(run_dir)
    assert listed and all(info.valid for info in listed)
    assert any(info.is_best for info in listed)

    # A second run into the same directory is refused, the checkpoints left alone.
    assert main(_train_argv(tiny_overrides, run_dir)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already holds checkpoints" in err[0]
    assert list_checkpoints(run_dir) == listed


@pytest.mark.parametrize(
    ("item", "needle"),
    [
        ("agent.gamma=1.5", "agent.gamma=1.5 is out of range: it must be in [0.0, 1.0]"),
        ("agent.lrr=0.1", "unknown key 'lrr'"),
        ("nope.lr=0.1", "'nope' is not a config section"),
        ("agent.lr=abc", "agent.lr='abc' is invalid"),
        ("agentlr", "write it as section.field=value"),
    ],
)
def test_bad_set_exits_2_with_one_line(
    item: str, needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = tmp_path / "run"
    assert main(["train", "--run-dir", str(run_dir), "--quiet", "--set", item]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("hrrl train: error: ")
    assert needle in err[0]
    assert "Traceback" not in captured.err + captured.out
    assert not run_dir.exists()  # refused before anything was written


def test_unknown_preset_is_an_argparse_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["train", "--preset", "fast"])
    assert info.value.code == 2
    assert "invalid choice: 'fast'" in capsys.readouterr().err


def test_the_cli_preset_names_match_the_presets() -> None:
    from hrrl.commands import GYM_PRESET_NAMES, PRESET_NAMES
    from hrrl.experiment import PRESETS
    from hrrl.gym.presets import GYM_VARIANTS

    assert (PRESETS, tuple(GYM_VARIANTS)) == (PRESET_NAMES, GYM_PRESET_NAMES)


def test_a_gymnasium_preset_without_an_env_is_one_line_naming_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = tmp_path / "run"
    assert main(["train", "--preset", "atari-100k", "--run-dir", str(run_dir), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--preset atari-100k --env ALE/Breakout-v5" in err[0]
    assert not run_dir.exists()


def test_a_gymnasium_preset_with_an_env_records_its_name_and_composes_back(
    tmp_path: Path,
) -> None:
    """``--preset atari-100k --env ID``: the data-efficient Atari preset (issue 28), recorded as
    ``atari-100k:ID``, which a saved config composes over again (resume, --config)."""
    config = resolve_config(_args("--preset", "atari-100k", "--env", "ALE/Pong-v5"))
    assert config.preset == "atari-100k:ALE/Pong-v5" and config.puzzle is None
    t, a = config.train, config.agent
    assert (t.total_env_steps, t.num_envs, t.updates_per_train, t.learning_starts) == (
        100_000, 1, 1, 1_600
    )  # fmt: skip
    assert (a.network, a.n_step, a.target_update_interval) == ("cnn", 10, 2_000)
    assert config != resolve_config(_args("--env", "ALE/Pong-v5"))  # not RL-Zoo's 10M preset
    path = tmp_path / "c.yaml"
    save_yaml(config, path)
    assert resolve_config(_args("--config", str(path))) == config
    again = resolve_config(
        _args("--config", str(path), "--preset", "atari-100k", "--env", "ALE/Pong-v5")
    )
    assert again == config


def _args(*argv: str) -> Any:
    return build_parser().parse_args(["train", *argv])


def test_resolve_config_preset_then_set_then_seed() -> None:
    config = resolve_config(
        _args(
            "--preset", "baseline", "--set", "agent.lr=3e-4", "--set", "train.seed=1", "--seed", "9"
        )
    )
    assert config == apply_overrides(preset("baseline"), ["agent.lr=3e-4", "train.seed=9"])


def test_resolve_config_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    base = apply_overrides(preset("baseline"), ["agent.hidden=64"])
    save_yaml(base, path)
    config = resolve_config(_args("--config", str(path), "--set", "agent.tau=0.5"))
    assert config == apply_overrides(base, ["agent.tau=0.5"])


def test_missing_config_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--config", str(tmp_path / "none.yaml"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "none.yaml" in err[0]


class _Bar:
    """What the progress bar was told."""

    def __init__(self, total: int | None, desc: str, *, unit: str, disable: bool | None) -> None:
        self.total, self.unit, self.n, self.postfix = total, unit, 0, ""

    def __enter__(self) -> _Bar:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def update(self, n: int) -> None:
        self.n += n

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        self.postfix = text


@pytest.fixture
def bars(monkeypatch: pytest.MonkeyPatch) -> list[_Bar]:
    made: list[_Bar] = []

    def progress(total: int | None, desc: str, **kwargs: Any) -> _Bar:
        made.append(_Bar(total, desc, **kwargs))
        return made[-1]

    monkeypatch.setattr("hrrl.run.progress", progress)
    return made


def test_the_progress_bar_counts_the_real_budget_and_says_why_it_stopped(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    tiny_overrides: tuple[str, ...],
    bars: list[_Bar],
) -> None:
    base = ["train", "--no-tensorboard", *(f"--set={item}" for item in tiny_overrides)]
    # Early stopping at a perfect evaluation: the bar's total is the budget, the end says so.
    argv = [*base, "--run-dir", str(tmp_path / "a"), "--set", "puzzle.stop_success=0.0"]
    argv += ["--set", "puzzle.stop_efficiency=0.0"]
    argv += ["--set", "puzzle.curriculum.stages=[{targets: [5, 30], forbidden: [2, 5]}]"]
    assert main(argv) == 0
    bar = bars[-1]
    assert (bar.total, bar.unit, bar.n) == (800, "step", 400)
    assert bar.postfix == "stopped early: solved"
    out = capsys.readouterr().out
    assert "stopped: solved after 400 env steps" in out
    # Checkpoints are off in these runs: the summary names no best checkpoint.
    assert out.splitlines()[-1] == f"run directory: {tmp_path / 'a'}"
    # An episode budget: the bar counts episodes.
    argv = [*base, "--run-dir", str(tmp_path / "b"), "--set", "train.total_episodes=30"]
    assert main([*argv, "--set", "train.total_env_steps=100000"]) == 0
    bar = bars[-1]
    assert (bar.total, bar.unit, bar.n, bar.postfix) == (30, "episode", 30, "")


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--env", "Nope-v0"], "cannot be made"),
        (["--set", "train.device=cuda"], "train.device='cuda' is not available"),
        (["--seed", "-1"], "--seed -1 is negative"),
    ],
)
@pytest.mark.parametrize("existed", [False, True])
def test_a_failed_start_leaves_nothing_behind(
    argv: list[str],
    needle: str,
    existed: bool,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Config, environment and device are checked before the run directory is made."""
    if "cuda" in needle and torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    run_dir = tmp_path / "runs" / "run"
    if existed:
        run_dir.mkdir(parents=True)
    assert main(["train", "--run-dir", str(run_dir), "--quiet", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err
    if existed:
        assert list(run_dir.iterdir()) == []  # the empty directory stays empty
    else:
        assert list(tmp_path.iterdir()) == []  # nor its parent


def test_someone_elses_directory_is_refused_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny_overrides: tuple[str, ...]
) -> None:
    (tmp_path / "thesis.tex").write_text("chapter 1")
    assert main(_train_argv(tiny_overrides, tmp_path)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds files that are not an hrrl run (thesis.tex)" in err[0]
    assert [p.name for p in tmp_path.iterdir()] == ["thesis.tex"]
