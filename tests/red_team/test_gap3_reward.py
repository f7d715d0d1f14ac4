"""GAP 3, the reward: the prototype's shaped reward ranks failures above successes and pays for
dawdling; the ordered reward does neither. Same checker, same puzzles, same seed; exact DP, so
every episode of every puzzle is accounted for.
"""

from __future__ import annotations

import pytest

from hrrl.cli import main
from hrrl.puzzle.core import Puzzle, Status
from hrrl.puzzle.exact import best_return_path, path_return
from hrrl.puzzle.reward_check import CheckResult, run_checks, sample_puzzles
from hrrl.puzzle.rewards import make_reward
from hrrl.puzzle.solver import optimal_steps

SEED = 0
PUZZLES = sample_puzzles(40, seed=SEED, max_target=60)


def results(name: str) -> dict[str, CheckResult]:
    return {r.name.split(",")[0]: r for r in run_checks(PUZZLES, make_reward(name), gamma=0.99)}


def test_legacy_fails_ordering_and_no_dawdling() -> None:
    legacy = results("legacy")
    scheme = make_reward("legacy")
    assert legacy["(a) ordering"].violations
    assert legacy["(b) no dawdling"].violations
    # The counterexamples are real episodes: replayed, the failure outscores the success and the
    # dawdler outscores the shortest success.
    c = legacy["(a) ordering"].violations[0]
    fail, success = (path_return(c.puzzle, scheme, e.path) for e in (c.winner, c.loser))
    assert fail.status.failed and success.status.value == "SUCCESS" and fail.ret >= success.ret
    d = legacy["(b) no dawdling"].violations[0]
    slow, fast = (path_return(d.puzzle, scheme, e.path) for e in (d.winner, d.loser))
    assert slow.steps > fast.steps and slow.ret > fast.ret


@pytest.mark.parametrize("name", ["ordered", "steps"])
def test_the_fixes_pass_both_on_the_same_puzzles(name: str) -> None:
    for result in results(name).values():
        assert result.violations == [], result.violations[0].describe()


def test_progress_in_steps_keeps_the_learners_optimum_the_shortest_route() -> None:
    """At the default learner's gamma 0.9, ``ordered``'s progress in numbers pays a stride of 5
    now over the steps its landing costs later: the return-maximising route of this puzzle is
    two steps longer than the shortest. ``steps`` pays progress in exact steps to the target,
    and its optimum is the shortest route."""
    puzzle = Puzzle(target=100, forbidden=[22], actions=(1, 5, 11))
    shortest = optimal_steps(puzzle)
    ordered = best_return_path(puzzle, make_reward("ordered"), 0.9).episode
    steps = best_return_path(puzzle, make_reward("steps"), 0.9).episode
    assert ordered.status is Status.SUCCESS and ordered.steps == shortest + 2
    assert steps.status is Status.SUCCESS and steps.steps == shortest == 10


@pytest.mark.parametrize(("name", "code"), [("legacy", 1), ("ordered", 0), ("steps", 0)])
def test_cli_exit_codes(name: str, code: int, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["check-reward", "--reward", name, "--puzzles", "15", "--seed", str(SEED)]
    assert main(argv) == code
    out = capsys.readouterr().out
    assert ("FAIL" if code else "PASS") in out
    if code:
        assert " >= SUCCESS at step " in out


def test_cli_bad_input_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-reward", "--reward", "shaped"]) == 2
    assert "legacy, ordered" in capsys.readouterr().err
