"""``hrrl eval`` and ``hrrl solve`` on a trained run, through ``hrrl.cli.main``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hrrl.cli import main
from hrrl.puzzle.core import Puzzle, Status
from hrrl.puzzle.generate import generate_suite
from hrrl.puzzle.suite import Result, read_results, write_suite

BAD_LINE = '{"id": "bad", "target": 10, "forbidden": [10]}'


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1, captured.err
    assert "Traceback" not in captured.err
    return err[0]


def _table(out: str) -> dict[str, list[str]]:
    return {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}


def test_eval_marks_a_bad_line_invalid_and_plays_the_rest(
    trained_run: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    puzzles = generate_suite(["in_range", "unsolvable"], 3, seed=4)
    suite = tmp_path / "suite.jsonl"
    write_suite(suite, puzzles)
    lines = suite.read_text().splitlines()
    lines.insert(2, BAD_LINE)  # in the middle: the results must stay aligned
    suite.write_text("\n".join(lines) + "\n")
    output = tmp_path / "results.jsonl"

    argv = ["eval", "--checkpoint", str(trained_run.run_dir), "--suite", str(suite)]
    assert main([*argv, "--output", str(output)]) == 0
    out = capsys.readouterr().out

    results = read_results(output)
    ids = [p.id for p in puzzles]
    assert [r.id for r in results] == [*ids[:2], "bad", *ids[2:]]
    bad = results[2]
    assert bad.status is Status.INVALID and bad.path == () and bad.steps == 0
    assert bad.reason is not None and "forbidden=10 is invalid" in bad.reason
    played = results[:2] + results[3:]
    for puzzle, result in zip(puzzles, played, strict=True):
        if puzzle.extra["family"] == "unsolvable":
            assert (result.status, result.path) == (Status.UNSOLVABLE, (puzzle.start,))
        else:
            assert result.status not in (Status.UNSOLVABLE, Status.INVALID)
            assert result.path[0] == puzzle.start and result.steps >= 1

    assert f"policy: {(trained_run.checkpoints / 'best').resolve()}" in out
    table = _table(out)
    assert table["family"][1:] == [
        "puzzles",
        "solvable",
        "solved",
        "unsolvable",
        "unsupported",
        "invalid",
        "success_rate",
        "mean_efficiency",
    ]
    assert table["in_range"][1:3] == ["3", "3"]
    assert table["unsolvable"][1:5] == ["3", "0", "0", "3"]
    assert table["all"][1] == "7" and table["all"][6] == "1"  # one invalid line counted


def test_one_policy_plays_three_action_sets_nine_actions_included_in_one_suite(
    trained_run: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nine = Puzzle.create(target=60, forbidden=[4], actions=range(1, 10), id="nine-actions")
    puzzles = [
        *generate_suite(["in_range"], 2, seed=4, actions=(1, 2, 7)),
        nine,
        *generate_suite(["in_range", "unsolvable"], 2, seed=4, actions=(2, 5)),
        Puzzle.create(target=40, forbidden=[5], actions=[5, 3, 1], id="reordered"),
    ]
    suite, output = tmp_path / "mixed.jsonl", tmp_path / "mixed.results.jsonl"
    write_suite(suite, puzzles)
    argv = ["eval", "--checkpoint", str(trained_run.run_dir), "--suite", str(suite)]
    assert main([*argv, "--output", str(output)]) == 0
    results = read_results(output)
    assert [r.id for r in results] == [p.id for p in puzzles]
    by_id = {r.id: r for r in results}
    # Nine actions, wider than the env's 8 slots: played in their own width (issue 27).
    assert by_id["nine-actions"].status is Status.SUCCESS
    for puzzle, result in zip(puzzles, results, strict=True):
        if puzzle.extra.get("family") == "unsolvable":
            assert result.status is Status.UNSOLVABLE
            continue
        assert result.status not in (Status.UNSUPPORTED, Status.INVALID, Status.UNSOLVABLE)
        steps = {b - a for a, b in zip(result.path, result.path[1:], strict=False)}
        assert steps <= set(puzzle.actions), (puzzle.actions, steps)
    table = _table(capsys.readouterr().out)
    assert table["all"][5] == "0"  # no line unsupported


def test_eval_resume_continues_a_killed_results_file(trained_run: Any, tmp_path: Path) -> None:
    puzzles = generate_suite(["in_range", "trap"], 3, seed=9, actions=(1, 2, 7))
    suite, full, partial = tmp_path / "s.jsonl", tmp_path / "full.jsonl", tmp_path / "p.jsonl"
    write_suite(suite, puzzles)
    argv = ["eval", "--checkpoint", str(trained_run.run_dir), "--suite", str(suite)]
    assert main([*argv, "--output", str(full)]) == 0
    lines = full.read_text().splitlines()
    # A killed eval: two finished lines (out of suite order) and a torn third.
    partial.write_text(lines[4] + "\n" + lines[1] + "\n" + lines[2][:7])
    assert main([*argv, "--output", str(partial), "--resume"]) == 0
    assert read_results(partial) == read_results(full)


def test_eval_results_match_the_policy(trained_run: Any, tmp_path: Path) -> None:
    from hrrl.inference.policy import Policy

    puzzles = generate_suite(["trap", "wall"], 2, seed=8)
    suite, output = tmp_path / "s.jsonl", tmp_path / "r.jsonl"
    write_suite(suite, puzzles)
    args = ["eval", "--checkpoint", str(trained_run.run_dir), "--suite", str(suite)]
    assert main([*args, "--output", str(output)]) == 0
    assert read_results(output) == Policy.load(trained_run.run_dir).play(puzzles)


@pytest.mark.parametrize("content", ["", "\n\n"])
def test_eval_empty_suite_exits_2(
    trained_run: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str
) -> None:
    suite = tmp_path / "empty.jsonl"
    suite.write_text(content)
    assert main(["eval", "--checkpoint", str(trained_run.run_dir), "--suite", str(suite)]) == 2
    assert "holds no puzzles" in _one_error_line(capsys)


def test_eval_missing_suite_or_checkpoint_exits_2(
    trained_run: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = str(tmp_path / "nope.jsonl")
    assert main(["eval", "--checkpoint", str(trained_run.run_dir), "--suite", missing]) == 2
    assert "nope.jsonl" in _one_error_line(capsys)
    suite = tmp_path / "s.jsonl"
    write_suite(suite, generate_suite(["in_range"], 1, seed=0))
    assert main(["eval", "--checkpoint", str(tmp_path / "norun"), "--suite", str(suite)]) == 2
    assert "does not exist" in _one_error_line(capsys)


def _solve(trained_run: Any, *argv: str) -> list[str]:
    return ["solve", "--checkpoint", str(trained_run.run_dir), *argv]


def test_solve_json_prints_a_valid_result(
    trained_run: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_solve(trained_run, "--target", "123", "--forbidden", "23,45,67", "--json")) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    result = Result.from_dict(json.loads(out[0]))
    puzzle = Puzzle.create(target=123, forbidden=[23, 45, 67], id="cli")
    assert result.id == "cli" and result.status is not Status.UNSOLVABLE
    assert result.path[0] == 0 and result.steps == len(result.path) - 1
    assert all(b - a in (1, 3, 5) for a, b in zip(result.path, result.path[1:], strict=False))
    assert puzzle.status_after(result.path[-1], result.steps) is result.status
    assert result.optimal_steps == 25


def test_solve_text_and_start(trained_run: Any, capsys: pytest.CaptureFixture[str]) -> None:
    argv = _solve(trained_run, "--target", "40", "--forbidden", "", "--start", "10")
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("status: ")
    assert "(optimal 6)" in lines[1]
    assert lines[2].startswith("path:   10 -> ")


def test_solve_unsolvable(trained_run: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_solve(trained_run, "--target", "10", "--forbidden", "1,3,5", "--json")) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["status"] == "UNSOLVABLE" and data["steps"] == 0 and data["path"] == [0]


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--target", "500", "--actions", ",".join(map(str, range(1, 66)))], "at most 64 actions"),
        (["--target", "50", "--forbidden", "50"], "forbidden"),
        (["--target", "0"], "target"),
        (["--target", "50", "--max-steps", "0"], "max_steps"),
    ],
)
def test_solve_bad_input_exits_2(
    trained_run: Any, capsys: pytest.CaptureFixture[str], argv: list[str], needle: str
) -> None:
    assert main(_solve(trained_run, *argv)) == 2
    line = _one_error_line(capsys)
    assert line.startswith("hrrl solve: error: ") and needle in line


def test_solve_malformed_list_is_an_argparse_error(
    trained_run: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(_solve(trained_run, "--target", "50", "--forbidden", "a,b"))
    assert info.value.code == 2
    assert "comma-separated list of integers" in capsys.readouterr().err
