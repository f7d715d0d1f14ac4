"""Suite and results files, the exact oracle and the per-family summary."""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hrrl.errors import PuzzleError
from hrrl.puzzle.core import Puzzle, Status
from hrrl.puzzle.solver import optimal_steps
from hrrl.puzzle.suite import (
    Result,
    format_table,
    parse_suite_lines,
    read_results,
    read_suite,
    solve_entry,
    solve_suite,
    summarize,
    write_results,
    write_suite,
)


def _lines(*objs: object) -> list[str]:
    return [o if isinstance(o, str) else json.dumps(o) for o in objs]


def test_bad_lines_are_rejected_with_a_reason_and_the_rest_is_read(tmp_path: Path) -> None:
    path = tmp_path / "suite.jsonl"
    path.write_text(
        "\n".join(
            _lines(
                {"id": "a", "target": 13, "forbidden": []},
                "{not json",
                {"id": "b", "forbidden": [2]},  # no target
                {"id": "c", "target": 10, "forbidden": [10]},  # forbidden target
                "",  # blank lines are skipped, not rejected
                {"target": 9, "forbidden": []},  # no id
                [1, 2, 3],
                {"id": "a", "target": 20, "forbidden": []},  # repeated id
                {"id": "d", "target": 20, "forbidden": [3], "family": "x"},
            )
        )
        + "\n"
    )
    entries = read_suite(path)
    assert [e.line for e in entries] == [1, 2, 3, 4, 6, 7, 8, 9]
    assert [e.valid for e in entries] == [True, False, False, False, False, False, False, True]
    reasons = [e.reason or "" for e in entries]
    assert "invalid JSON" in reasons[1]
    assert "target is missing" in reasons[2]
    assert "target cannot be forbidden" in reasons[3]
    assert "id is missing" in reasons[4]
    assert "JSON object" in reasons[5]
    assert "repeats line 1" in reasons[6]
    assert entries[3].id == "c" and entries[1].id == "line-2"
    assert entries[7].family == "x" and entries[0].family == "-"

    results = solve_suite(entries)
    assert [r.status for r in results] == [
        Status.SUCCESS,
        *[Status.INVALID] * 6,
        Status.SUCCESS,
    ]
    assert results[3].to_dict() == {
        "id": "c",
        "status": "INVALID",
        "steps": 0,
        "path": [],
        "optimal_steps": None,
        "reason": reasons[3],
    }


def test_defaults_fill_actions_start_and_max_steps() -> None:
    (short, long_) = parse_suite_lines(
        _lines(
            {"id": "s", "target": 13, "forbidden": []}, {"id": "l", "target": 200, "forbidden": []}
        )
    )
    assert short.puzzle is not None and long_.puzzle is not None
    assert short.puzzle.actions == (1, 3, 5) and short.puzzle.start == 0
    # optimum 3 (0 -> 3 -> 8 -> 13): max(2 * 3, 3 + 20) = 23; optimum 40: max(80, 60) = 80.
    assert short.puzzle.max_steps == 23
    assert long_.puzzle.max_steps == 80


def test_extra_fields_are_kept_and_ignored() -> None:
    (entry,) = parse_suite_lines(
        _lines({"id": "e", "target": 9, "forbidden": [4], "family": "f", "optimal_steps": 3})
    )
    assert entry.puzzle is not None
    assert entry.puzzle.extra == {"family": "f", "optimal_steps": 3}


def test_suite_round_trip(tmp_path: Path) -> None:
    puzzles = [
        Puzzle.create(target=13, forbidden=[5, 7], id="p0", extra={"family": "a"}),
        Puzzle.create(target=40, forbidden=[], actions=[2, 7], start=3, max_steps=9, id="p1"),
    ]
    path = tmp_path / "nested" / "suite.jsonl"
    assert write_suite(path, puzzles) == 2
    back = [e.puzzle for e in read_suite(path)]
    assert back == puzzles
    assert [p.extra for p in back if p] == [p.extra for p in puzzles]
    assert not list(path.parent.glob("*.tmp"))


def test_oracle_hand_worked() -> None:
    entries = parse_suite_lines(
        _lines(
            {"id": "ok", "target": 13, "forbidden": []},
            {"id": "wall", "target": 10, "forbidden": [1, 2, 3, 4, 5], "max_steps": 30},
            {"id": "budget", "target": 13, "forbidden": [], "max_steps": 2},
            {"id": "shifted", "target": 16, "forbidden": [], "start": 3},
        )
    )
    ok, wall, budget, shifted = solve_suite(entries)
    assert ok.status is Status.SUCCESS and ok.steps == 3 and ok.optimal_steps == 3
    assert ok.path == (0, 3, 8, 13)
    for r in (wall, budget):
        assert r.to_dict() == {
            "id": r.id,
            "status": "UNSOLVABLE",
            "steps": 0,
            "path": [0],
            "optimal_steps": None,
        }
    assert shifted.path[0] == 3 and shifted.path[-1] == 16 and shifted.steps == 3


@settings(max_examples=60, deadline=None)
@given(
    target=st.integers(1, 60),
    forbidden=st.sets(st.integers(1, 59), max_size=25),
    actions=st.sets(st.integers(1, 7), min_size=1, max_size=3),
)
def test_oracle_path_is_legal_and_optimal(
    target: int, forbidden: set[int], actions: set[int]
) -> None:
    puzzle = Puzzle.create(
        target=target, forbidden=forbidden - {target}, actions=sorted(actions), id="h"
    )
    result = solve_entry(parse_suite_lines([json.dumps(puzzle.to_dict())])[0])
    if result.status is Status.UNSOLVABLE:
        assert optimal_steps(puzzle) is None and result.path == (0,)
        return
    assert result.status is Status.SUCCESS
    assert result.steps == result.optimal_steps == optimal_steps(puzzle)
    statuses = [puzzle.status_after(x, i) for i, x in enumerate(result.path[1:], start=1)]
    assert statuses[-1] is Status.SUCCESS
    assert all(s is Status.IN_PROGRESS for s in statuses[:-1])
    assert all(b - a in puzzle.actions for a, b in zip(result.path, result.path[1:], strict=False))


def test_result_contract_is_enforced() -> None:
    with pytest.raises(PuzzleError, match="steps"):
        Result(id="x", status=Status.SUCCESS, steps=3, path=(0, 5), optimal_steps=1)
    with pytest.raises(PuzzleError, match="reason"):
        Result(id="x", status=Status.INVALID, steps=0, path=(), optimal_steps=None)
    with pytest.raises(PuzzleError, match="UNSOLVABLE"):
        Result(id="x", status=Status.UNSOLVABLE, steps=1, path=(0, 1), optimal_steps=None)
    with pytest.raises(PuzzleError, match="status"):
        Result(id="x", status=Status.IN_PROGRESS, steps=1, path=(0, 1), optimal_steps=None)


def test_results_round_trip_and_bad_results_line(tmp_path: Path) -> None:
    p = Puzzle.create(target=13, forbidden=[], id="p")
    results = [
        Result.from_path(p, [0, 5, 10, 13], Status.SUCCESS, optimal_steps=3),
        Result.from_path(p, [0, 5, 10, 15], Status.OVERSHOOT, optimal_steps=3),
        Result.unsolvable(p),
        Result.invalid("line-4", "target is missing"),
    ]
    path = tmp_path / "results.jsonl"
    assert write_results(path, results) == 4
    assert read_results(path) == results
    path.write_text(path.read_text() + '{"id": "z", "status": "WON", "steps": 0, "path": []}\n')
    with pytest.raises(PuzzleError, match="line 5: status='WON'"):
        read_results(path)


def _result(status: Status, steps: int, optimal: int | None) -> Result:
    path = (0,) if status is Status.UNSOLVABLE else tuple(range(steps + 1))
    return Result(id="r", status=status, steps=len(path) - 1, path=path, optimal_steps=optimal)


def test_summarize_by_family_hand_worked() -> None:
    def fam(name: str) -> Puzzle:
        return Puzzle.create(target=9, forbidden=[], max_steps=30, extra={"family": name})

    results = [
        _result(Status.SUCCESS, 4, 2),  # efficiency 0.5
        _result(Status.SUCCESS, 2, 2),  # efficiency 1.0
        _result(Status.FORBIDDEN, 1, 5),
        _result(Status.UNSOLVABLE, 0, None),
        Result.invalid("bad", "nope"),
    ]
    puzzles = [fam("a"), fam("a"), fam("a"), fam("b"), None]
    a, b, none, total = summarize(results, puzzles)
    assert (a.family, a.puzzles, a.solvable, a.solved) == ("a", 3, 3, 2)
    assert a.success_rate == pytest.approx(2 / 3)
    assert a.mean_efficiency == pytest.approx(0.75)
    assert a.mean_optimal_steps == pytest.approx(3.0)
    assert a.statuses == {"SUCCESS": 2, "FORBIDDEN": 1}
    assert (b.family, b.solvable, b.unsolvable) == ("b", 0, 1)
    assert math.isnan(b.success_rate) and math.isnan(b.mean_efficiency)
    assert (none.family, none.invalid) == ("-", 1)
    assert (total.family, total.puzzles, total.solvable, total.solved) == ("all", 5, 3, 2)
    table = format_table([a, b], ("puzzles", "success_rate", "mean_efficiency"))
    assert table.splitlines()[0].split() == ["family", "puzzles", "success_rate", "mean_efficiency"]
    assert "0.667" in table and "0.750" in table
    assert table.splitlines()[-1].split() == ["b", "1", "-", "-"]
    with pytest.raises(ValueError, match="2 puzzles"):
        summarize(results, puzzles[:2])


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_written_files_get_the_umask_permissions(tmp_path: Path, umask: int) -> None:
    """Suites and results are ordinary output files: mode 0666 minus the umask, not 0600."""
    puzzle = Puzzle.create(target=13, forbidden=[5], id="p0")
    result = Result(id="p0", status=Status.SUCCESS, steps=3, path=(0, 5, 10, 13), optimal_steps=3)
    old = os.umask(umask)
    try:
        write_suite(tmp_path / "suite.jsonl", [puzzle])
        write_results(tmp_path / "results.jsonl", [result])
    finally:
        os.umask(old)
    for name in ("suite.jsonl", "results.jsonl"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~umask, name
