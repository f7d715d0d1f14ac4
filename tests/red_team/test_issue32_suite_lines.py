"""Issue 32, item 5: one bad suite line is that line's ``INVALID``, never the whole suite's end.

Before: a target of 5,000 digits (``Exceeds the limit (4300 digits)``, exit 2) and a line of
100,000 nested brackets (a ``RecursionError`` traceback, exit 1) aborted ``hrrl suite solve`` and
``hrrl eval``. Now each is an INVALID line with a one-line reason and the rest of the suite runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hrrl.cli import main
from hrrl.puzzle.suite import parse_suite_lines

BUNDLE = Path(__file__).resolve().parents[1] / "fixtures" / "puzzle-bundle"
HUGE = '{"id": "huge", "target": ' + "9" * 5000 + ', "forbidden": []}'
DEEP = "[" * 100_000 + "]" * 100_000
GOOD = '{"id": "ok", "target": 12, "forbidden": [3]}'


def test_each_bad_line_is_invalid_and_the_good_one_stays() -> None:
    entries = parse_suite_lines([HUGE, DEEP, GOOD])
    assert [e.valid for e in entries] == [False, False, True]
    assert "4300 digits" in (entries[0].reason or "") and len(entries[0].reason or "") < 200
    assert entries[1].reason == "unreadable JSON: nested too deep"


@pytest.mark.parametrize("command", ["solve", "eval"])
def test_the_commands_run_the_rest_of_the_suite(
    tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    suite, out = tmp_path / "suite.jsonl", tmp_path / "out.jsonl"
    suite.write_text("\n".join([HUGE, DEEP, GOOD]) + "\n")
    argv = (
        ["suite", "solve", str(suite), "--output", str(out)]
        if command == "solve"
        else ["eval", "--checkpoint", str(BUNDLE), "--suite", str(suite), "--output", str(out)]
    )
    main(argv)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [row["status"] for row in rows][:2] == ["INVALID", "INVALID"]
    assert rows[2]["id"] == "ok" and rows[2]["status"] in (
        "SUCCESS",
        "OVERSHOOT",
        "FORBIDDEN",
        "MAX_STEPS",
    )
    assert "9999999999" not in capsys.readouterr().err  # no message expands the input
