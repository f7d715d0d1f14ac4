"""CLI smoke run: every sub-command's --help, and a tiny real pipeline end to end.

suite generate -> train (tiny) -> eval -> solve -> checkpoints -> report, all through
``hrrl.cli.main`` as a user would type them, each checked for what it leaves behind.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import hrrl
from hrrl.cli import build_parser, main
from hrrl.puzzle.core import Status
from hrrl.puzzle.suite import read_results


def _subcommands(
    parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()
) -> list[tuple[str, ...]]:
    """Every command path the parser knows (``("suite", "generate")`` included)."""
    found: list[tuple[str, ...]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append((*prefix, name))
                found += _subcommands(sub, (*prefix, name))
    return found


COMMAND_PATHS = _subcommands(build_parser())


def test_every_documented_command_is_registered() -> None:
    names = {path[0] for path in COMMAND_PATHS}
    assert {
        "suite",
        "check-reward",
        "train",
        "eval",
        "solve",
        "checkpoints",
        "report",
        "dashboard",
    } <= names
    assert ("suite", "generate") in COMMAND_PATHS and ("suite", "solve") in COMMAND_PATHS


@pytest.mark.parametrize("path", COMMAND_PATHS, ids=" ".join)
def test_help(path: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([*path, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: hrrl {' '.join(path)}")


def test_module_entry_point() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "hrrl.cli", "--help"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "train" in done.stdout and "solve" in done.stdout


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
    assert "usage: hrrl" in capsys.readouterr().err


def test_tiny_pipeline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny_overrides: tuple[str, ...]
) -> None:
    suite = tmp_path / "suite.jsonl"
    run_dir = tmp_path / "run"
    results = tmp_path / "results.jsonl"

    # suite generate
    argv = ["suite", "generate", "--family", "in_range,trap,unsolvable", "--count", "2"]
    assert main([*argv, "--seed", "1", "--out", str(suite)]) == 0
    assert len(suite.read_text().splitlines()) == 6

    # train (tiny)
    train = ["train", "--run-dir", str(run_dir), "--quiet", "--no-tensorboard"]
    for item in (*tiny_overrides, "checkpoint.enabled=true"):
        train += ["--set", item]
    assert main(train) == 0
    assert (run_dir / "config.yaml").is_file() and (run_dir / "metrics.jsonl").is_file()
    assert (run_dir / "checkpoints" / "best").is_dir()

    # eval
    capsys.readouterr()
    assert (
        main(
            ["eval", "--checkpoint", str(run_dir), "--suite", str(suite), "--output", str(results)]
        )
        == 0
    )
    played = read_results(results)
    assert len(played) == 6
    assert [r.status for r in played[4:]] == [Status.UNSOLVABLE, Status.UNSOLVABLE]
    assert "all" in capsys.readouterr().out

    # solve
    assert (
        main(
            [
                "solve",
                "--checkpoint",
                str(run_dir),
                "--target",
                "37",
                "--forbidden",
                "5,10",
                "--json",
            ]
        )
        == 0
    )
    solved = json.loads(capsys.readouterr().out)
    assert solved["path"][0] == 0 and solved["steps"] == len(solved["path"]) - 1

    # checkpoints
    assert main(["checkpoints", str(run_dir)]) == 0
    table = capsys.readouterr().out
    assert "best" in table and "latest" in table and "yes" in table
    assert main(["checkpoints", str(run_dir), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows and all(row["valid"] for row in rows) and any(row["best"] for row in rows)

    # report
    assert main(["report", str(run_dir)]) == 0
    assert "report.html" in capsys.readouterr().out
    assert (run_dir / "report" / "report.html").is_file()
    assert list((run_dir / "report").glob("*.png"))

    # dashboard, without starting TensorBoard
    assert main(["dashboard", str(run_dir), "--dry-run"]) == 0
    assert "tensorboard.main" in capsys.readouterr().out


#: What building the parser (``hrrl --help``, a usage error) must not import: each command's
#: ``run`` imports these itself.
HEAVY_MODULES = ("torch", "matplotlib", "tensorboard", "tqdm", "gymnasium", "numpy")


def test_help_imports_no_heavy_module() -> None:
    """A fresh interpreter builds the parser and prints --help; none of HEAVY_MODULES loads."""
    code = (
        "import sys, contextlib, io\n"
        "from hrrl.cli import main\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['--help'])\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stderr(io.StringIO()):\n"
        "    main(['train', '--preset', 'nope'])\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(hrrl.__file__).parents[1])}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr
    loaded = set(done.stdout.split())
    assert "hrrl" in loaded
    assert not loaded & set(HEAVY_MODULES), sorted(loaded & set(HEAVY_MODULES))


def _help_texts(parser: argparse.ArgumentParser) -> list[str]:
    texts = [parser.format_help()]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                texts += _help_texts(sub)
    return texts


def test_help_has_no_rest_markup_and_every_option_is_explained() -> None:
    parser = build_parser()
    for text in _help_texts(parser):
        assert "``" not in text and ":mod:" not in text and ":class:" not in text, text
        assert ":func:" not in text and "::" not in text, text
    solve = next(
        sub
        for action in parser._actions
        if isinstance(action, argparse._SubParsersAction)
        for name, sub in action.choices.items()
        if name == "solve"
    )
    for action in solve._actions:
        assert action.help, f"solve {action.option_strings} has no help"
    train_help = next(t for t in _help_texts(parser) if t.startswith("usage: hrrl train"))
    assert "hrrl config show" in " ".join(train_help.split())


def test_train_help_names_every_tuned_gymnasium_preset() -> None:
    from hrrl.gym.presets import GYM_PRESETS, MINATAR_GAMES

    train_help = next(t for t in _help_texts(build_parser()) if t.startswith("usage: hrrl train"))
    flat = "".join(train_help.split())
    minatar = {f"MinAtar/{game}-v1": game for game in MINATAR_GAMES}  # named as a {set}
    for env_id in GYM_PRESETS:
        assert minatar.get(env_id, env_id) in flat, env_id
