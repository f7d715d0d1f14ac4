"""Issue 31, item 9: the small things a new user trips over, each fixed and kept fixed.

Before: ``hrrl ... | head`` ended in a ``BrokenPipeError`` traceback; ``suite generate --out -``
wrote a file named ``-``; a misspelled suite key (``targte``) read ``target is missing`` without
naming it; ``train --help`` named a default run directory that is not the one used; a warning
kept Gymnasium's raw colour codes; a misspelled flag showed the top-level usage; the README's
commands left files in the repository's root; console lines ran to about 190 characters.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shlex
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import hrrl
from hrrl import cli
from hrrl.cli import main
from hrrl.monitoring.sinks import CONSOLE_KEYS, ConsoleSink
from hrrl.puzzle.suite import parse_suite_lines

README = Path(__file__).resolve().parents[2] / "README.md"


def test_a_closed_pipe_ends_quietly() -> None:
    """The reader goes away before the first line (``| head -0``): no traceback, exit 141."""
    env = {**os.environ, "PYTHONPATH": str(Path(hrrl.__file__).parents[1])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "hrrl.cli", "config", "show"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == cli.EXIT_BROKEN_PIPE
    assert "Traceback" not in err and "BrokenPipeError" not in err, err


def test_suite_generate_to_stdout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    argv = ["suite", "generate", "--family", "scale", "--count", "3", "--out", "-"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 3 and all("target" in row for row in rows)
    assert "wrote 3 puzzles" in err and "to stdout" in err
    assert not (tmp_path / "-").exists()


def test_a_misspelled_suite_key_is_named() -> None:
    [entry] = parse_suite_lines(['{"id": "a", "targte": 10, "forbidden": []}'])
    assert not entry.valid and "target is missing" in (entry.reason or "")
    assert "'targte'" in (entry.reason or "")


def test_train_help_names_the_default_run_directory(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "runs/<preset>-seed<seed>-<YYYYmmdd-HHMMSS>" in help_text


def test_a_coloured_warning_is_one_plain_line(capsys: pytest.CaptureFixture[str]) -> None:
    show = cli._WarningLines("train")
    show("\x1b[33mWARN: the env\nis odd\x1b[0m", UserWarning, "x.py", 1)
    err = capsys.readouterr().err
    assert err == "hrrl train: warning: WARN: the env is odd\n"


def test_a_misspelled_flag_gets_the_subcommand_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["train", "--sedd", "1"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: hrrl train") and "unrecognized arguments: --sedd 1" in err


def _readme_commands() -> list[list[str]]:
    block = README.read_text(encoding="utf-8").split("## Using it", 1)[1].split("```bash", 1)[1]
    lines = block.split("```", 1)[0].splitlines()
    return [shlex.split(line.split("  #", 1)[0]) for line in lines if line.startswith(".venv")]


def test_the_readme_commands_write_under_runs() -> None:
    commands = _readme_commands()
    assert len(commands) > 20
    written = []
    for words in commands:
        for flag, value in itertools.pairwise(words):
            if flag in ("--out", "--output", "--run-dir", ">"):
                written.append(value)
    assert written and all(path.startswith("runs/") for path in written), written


def test_console_lines_stay_short() -> None:
    lines: list[str] = []
    sink = ConsoleSink(stream=None)
    sink._print = lines.append  # type: ignore[method-assign]
    values = {key: 0.123456789 for key in CONSOLE_KEYS}
    values |= {"rollout/stage": 3, "perf/env_steps_per_s": 12345.678}
    sink.write(values, step=1_234_567, elapsed=12345.0)
    [line] = lines
    assert len(line) <= 120, line
    assert not re.search(r"\brollout/|\btrain/|\beval/", line)


def test_warnings_filter_is_restored() -> None:
    shown = warnings.showwarning
    with pytest.raises(SystemExit):
        main(["train", "--sedd"])
    assert warnings.showwarning is shown
