"""Bad input is one line on stderr naming what and how to fix it, exit 2, before any work; a
bad suite line is one INVALID result; a skipped checkpoint is one warning line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import hrrl
from hrrl.cli import main
from hrrl.puzzle.suite import read_results

GOOD_LINE = {"id": "ok-1", "target": 12, "forbidden": [4]}


def _one_error(capsys: pytest.CaptureFixture[str], command: str) -> str:
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1, captured.err
    assert err[0].startswith(f"hrrl {command}: error: ")
    assert "Traceback" not in captured.err + captured.out
    return err[0]


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--seed", "-1", "--quiet"],
        ["check-reward", "--seed", "-1"],
        ["suite", "generate", "--family", "in_range", "--seed", "-1", "--out", "x.jsonl"],
        ["eval", "--checkpoint", "nowhere", "--env", "CartPole-v1", "--seed", "-1"],
    ],
    ids=lambda argv: argv[0],
)
def test_a_negative_seed_names_the_flag_and_the_fix(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    line = _one_error(capsys, argv[0])
    assert "--seed -1 is negative: give a seed >= 0, e.g. --seed 0" in line
    assert list(tmp_path.iterdir()) == []  # nothing written (no runs/, no suite)


def test_bad_bytes_in_a_suite_make_that_line_invalid_and_the_rest_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = tmp_path / "suite.jsonl"
    good = json.dumps(GOOD_LINE).encode()
    latin = json.dumps(
        {"id": "caf\u00e9", "target": 9, "forbidden": []}, ensure_ascii=False
    ).encode()
    latin = latin.replace("\u00e9".encode(), b"\xe9")
    suite.write_bytes(
        b"\xef\xbb\xbf" + good + b"\n" + latin + b"\n" + good.replace(b"ok-1", b"ok-2")
    )
    out = tmp_path / "optimum.jsonl"
    assert main(["suite", "solve", str(suite), "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    results = read_results(out)
    assert [r.status.value for r in results] == ["INVALID", "INVALID", "SUCCESS"]
    assert "byte-order mark" in (results[0].reason or "")
    assert "byte 0xe9 at column 12 is not UTF-8: save the file as UTF-8" in (
        results[1].reason or ""
    )
    assert f"2 INVALID lines in {suite}:" in printed
    assert "line 2 (line-2): byte 0xe9" in printed


def test_output_naming_a_directory_is_refused_before_playing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], trained_run: Any
) -> None:
    suite = tmp_path / "suite.jsonl"
    suite.write_text(json.dumps(GOOD_LINE) + "\n")
    argv = ["eval", "--checkpoint", str(trained_run.run_dir), "--suite", str(suite)]
    assert main([*argv, "--output", str(tmp_path)]) == 2
    line = _one_error(capsys, "eval")
    assert f"--output {tmp_path} is a directory: name the file to write" in line
    assert ".tmp" not in line
    assert main(["suite", "solve", str(suite), "--output", str(tmp_path)]) == 2
    assert "is a directory" in _one_error(capsys, "suite")
    assert capsys.readouterr().out == ""  # no table: nothing was played


def test_report_refuses_a_file_for_the_run_and_for_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], trained_run: Any
) -> None:
    assert main(["report", str(trained_run.run_dir / "config.yaml")]) == 2
    line = _one_error(capsys, "report")
    assert "is a file, not a run directory: pass the directory `hrrl train` wrote" in line
    assert str(trained_run.run_dir) in line  # the hint: its directory
    out = tmp_path / "report.html"
    out.write_text("")
    assert main(["report", str(trained_run.run_dir), "--out", str(out)]) == 2
    assert "is a file: give a directory" in _one_error(capsys, "report")


def test_a_corrupt_checkpoint_is_one_warning_line_without_a_source_location(
    tmp_path: Path, trained_run: Any
) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(trained_run.run_dir, run_dir, symlinks=True)
    best = (run_dir / "checkpoints" / "best").resolve()
    model = best / "model.safetensors"
    data = bytearray(model.read_bytes())
    data[-1] ^= 0xFF
    model.write_bytes(bytes(data))
    env = {**os.environ, "PYTHONPATH": str(Path(hrrl.__file__).parents[1])}
    done = subprocess.run(
        [sys.executable, "-m", "hrrl.cli", "solve", "--checkpoint", str(run_dir), "--target", "9"],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    warnings = done.stderr.strip().splitlines()
    assert len(warnings) == 1, done.stderr
    assert warnings[0].startswith("hrrl solve: warning: skipping checkpoint ")
    assert "fails its SHA-256 check" in warnings[0]
    assert ".py:" not in done.stderr and "warnings.warn" not in done.stderr
