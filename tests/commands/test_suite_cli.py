"""``hrrl suite generate`` and ``hrrl suite solve`` end to end through ``hrrl.cli.main``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hrrl.cli import main


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    return err[0]


def test_generate_then_solve(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = tmp_path / "suite.jsonl"
    args = ["suite", "generate", "--family", "in_range,unsolvable", "--count", "3", "--seed", "5"]
    assert main([*args, "--out", str(suite)]) == 0
    assert "wrote 6 puzzles" in capsys.readouterr().out
    lines = [json.loads(x) for x in suite.read_text().splitlines()]
    assert [x["id"] for x in lines][:3] == ["in_range-0000", "in_range-0001", "in_range-0002"]

    again = tmp_path / "again.jsonl"
    assert main([*args, "--out", str(again)]) == 0
    assert again.read_bytes() == suite.read_bytes()

    with suite.open("a") as fh:
        fh.write('{"id": "broken", "target": 10, "forbidden": [10]}\n')
    results = tmp_path / "results.jsonl"
    assert main(["suite", "solve", str(suite), "--output", str(results)]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}
    assert rows["in_range"][1:4] == ["3", "3", "0"]
    assert rows["unsolvable"][1:4] == ["3", "0", "3"]
    assert "line 7 (broken): forbidden=10 is invalid" in out
    statuses = [json.loads(x)["status"] for x in results.read_text().splitlines()]
    assert statuses == ["SUCCESS"] * 3 + ["UNSOLVABLE"] * 3 + ["INVALID"]


@pytest.mark.parametrize(
    "argv",
    [
        ["suite", "generate", "--family", "nonsense", "--out", "x.jsonl"],
        ["suite", "generate", "--family", "scale", "--count", "0", "--out", "x.jsonl"],
        ["suite", "generate", "--family", "scale", "--seed", "-1", "--out", "x.jsonl"],
        ["suite", "solve", "does-not-exist.jsonl"],
    ],
)
def test_bad_input_exits_2_with_one_line(
    argv: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert _one_error_line(capsys).startswith("hrrl suite: error:")
    assert not (tmp_path / "x.jsonl").exists()


def test_solve_empty_suite_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    assert main(["suite", "solve", str(empty)]) == 2
    assert "no puzzle lines" in _one_error_line(capsys)


def test_generate_takes_action_sets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hrrl.cli import main
    from hrrl.puzzle.suite import read_suite

    out = tmp_path / "unseen.jsonl"
    argv = ["suite", "generate", "--family", "trap,wall", "--count", "2", "--out", str(out)]
    assert main([*argv, "--actions", "1,2,7", "--actions", "2,5"]) == 0
    entries = read_suite(out)
    assert [e.puzzle.actions for e in entries if e.puzzle] == [(1, 2, 7)] * 4 + [(2, 5)] * 4
    assert main([*argv, "--actions", "1,1"]) == 2
    assert "--actions" in capsys.readouterr().err
