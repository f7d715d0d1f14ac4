"""Reward schemes (hrrl.puzzle.rewards) and the exact checks of their promises (hrrl check-reward)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hrrl.errors import ConfigError
from hrrl.puzzle.core import Puzzle, Status
from hrrl.puzzle.exact import path_return
from hrrl.puzzle.reward_check import (
    check_no_dawdling,
    check_ordering,
    sample_puzzles,
)
from hrrl.puzzle.rewards import (
    BatchRewardScheme,
    LegacyReward,
    OrderedReward,
    RewardScheme,
    StepsReward,
    Transition,
    TransitionBatch,
    make_reward,
    status_code,
)
from hrrl.puzzle.solver import optimal_steps

# target 10, forbidden {4}, actions 1,3,5 (M = 5), budget 8 (step cost 1/8).
P10 = Puzzle(target=10, forbidden=frozenset({4}), actions=(1, 3, 5), max_steps=8)


def tr(
    prev: int,
    x: int,
    step: int,
    status: Status,
    goal: int = 10,
    p: Puzzle = P10,
    exact: bool = False,
) -> Transition:
    return Transition(p, prev, x, step, status, goal, exact)


@pytest.mark.parametrize(
    ("t", "want"),
    [
        (tr(0, 3, 1, Status.IN_PROGRESS), 10.0),  # closer to the goal
        (tr(3, 8, 2, Status.IN_PROGRESS, goal=5), -1.0),  # |5-8| = 3 > |5-3| = 2: not closer
        (tr(5, 10, 3, Status.SUCCESS), 97.0),  # 100 - step
        (tr(3, 4, 2, Status.FORBIDDEN), -50.0),
        (tr(9, 14, 5, Status.OVERSHOOT), -20.0),
        (tr(6, 7, 8, Status.MAX_STEPS), -10.0),
    ],
)
def test_legacy_hand_worked(t: Transition, want: float) -> None:
    assert make_reward("legacy")(t) == want


@pytest.mark.parametrize(
    ("t", "want"),
    [
        (tr(0, 3, 1, Status.IN_PROGRESS), 3 / 5 - 1 / 8),
        # Passing the subgoal 5 earns back half the step cost; landing past an exact one does not.
        (tr(3, 8, 2, Status.IN_PROGRESS, goal=5), 5 / 5 - 1 / 8 + 0.5 / 8),
        (tr(3, 8, 2, Status.IN_PROGRESS, goal=5, exact=True), 5 / 5 - 1 / 8),
        (tr(3, 5, 2, Status.IN_PROGRESS, goal=5, exact=True), 2 / 5 - 1 / 8 + 0.5 / 8),
        (tr(3, 2, 2, Status.IN_PROGRESS, goal=5), -1 / 5 - 1 / 8),  # not there yet
        (tr(3, 4, 2, Status.FORBIDDEN, goal=4, exact=True), 1 / 5 - 1 / 8 - 2),  # failed: no pay
        (tr(5, 10, 3, Status.SUCCESS), 5 / 5 - 1 / 8 + 2),
        (tr(3, 4, 2, Status.FORBIDDEN), 1 / 5 - 1 / 8 - 2),
        (tr(9, 14, 5, Status.OVERSHOOT), 1 / 5 - 1 / 8 - 2),  # progress capped at the target
        (tr(6, 7, 8, Status.MAX_STEPS), 1 / 5 - 1 / 8 - 2),
    ],
)
def test_ordered_hand_worked(t: Transition, want: float) -> None:
    assert make_reward("ordered")(t) == pytest.approx(want)


def test_ordered_success_return_telescopes() -> None:
    # 0 -> 5 -> 6 -> 7 -> 10: progress sums to 10/5, four steps cost 4/8, +2 on success.
    ep = path_return(P10, make_reward("ordered"), [0, 5, 6, 7, 10])
    assert ep.status is Status.SUCCESS
    assert ep.ret == pytest.approx(2 - 4 / 8 + 2)
    # legacy on the same path: 3 progress steps, then 100 - 4.
    assert path_return(P10, make_reward("legacy"), [0, 5, 6, 7, 10]).ret == 30 + 96


def test_steps_pays_progress_in_exact_steps_to_the_target() -> None:
    """``steps``: a step on a shortest route earns 1, one off it less, plus 0.3 of
    ``ordered``'s progress in numbers (the tie-break toward the longer stride); a success's
    progress sums to the fewest steps from the start (2 here: 0 -> 5 -> 10) plus that share."""
    scheme = make_reward("steps")
    cost, share = 1 / P10.max_steps, 0.3 / P10.max_action
    assert scheme(tr(0, 5, 1, Status.IN_PROGRESS)) == pytest.approx(1 + 5 * share - cost)
    assert scheme(tr(5, 6, 2, Status.IN_PROGRESS)) == pytest.approx(-1 + share - cost)
    assert scheme(tr(0, 3, 1, Status.IN_PROGRESS)) == pytest.approx(-1 + 3 * share - cost)
    ep = path_return(P10, scheme, [0, 5, 6, 7, 10])
    assert ep.status is Status.SUCCESS and ep.ret == pytest.approx(2 + 10 * share - 4 / 8 + 2)
    # Onto a forbidden number: no step progress is paid, only the numbers and the failure.
    assert scheme(tr(3, 4, 2, Status.FORBIDDEN)) == pytest.approx(share - 2 - cost)


@settings(max_examples=50, deadline=None)
@given(
    scale=st.integers(2, 200),
    prev=st.integers(0, 9),
    action=st.sampled_from([1, 3, 5]),
    step=st.integers(1, 8),
)
def test_ordered_is_scale_free(scale: int, prev: int, action: int, step: int) -> None:
    """The same puzzle shape at target 10 and at 10 * scale pays the same numbers."""
    big = Puzzle(
        target=10 * scale,
        forbidden=frozenset({4 * scale}),
        actions=tuple(a * scale for a in P10.actions),
        max_steps=P10.max_steps,
    )
    scheme = make_reward("ordered")
    x = prev + action
    small_r = scheme(tr(prev, x, step, P10.status_after(x, step)))
    big_r = scheme(
        tr(prev * scale, x * scale, step, big.status_after(x * scale, step), goal=big.target, p=big)
    )
    assert big_r == pytest.approx(small_r)


def test_batch_broadcasts_and_matches_scalar_calls() -> None:
    for name in ("legacy", "ordered", "steps"):
        scheme = make_reward(name)
        assert isinstance(scheme, RewardScheme)
        assert isinstance(scheme, BatchRewardScheme)
        prev = np.array([[0], [3], [5]])
        x = prev + np.array([[1, 3, 5]])
        statuses = [[P10.status_after(int(v), 2) for v in row] for row in x]
        codes = np.array([[status_code(s) for s in row] for row in statuses], dtype=np.int8)
        got = scheme.batch(
            TransitionBatch(
                puzzle=P10, prev=prev, x=x, step=np.asarray(2), status=codes, goal=np.asarray(10)
            )
        )
        want = [
            [scheme(tr(int(p_), int(v), 2, s)) for v, s in zip(row, srow, strict=True)]
            for p_, row, srow in zip(prev[:, 0], x, statuses, strict=True)
        ]
        np.testing.assert_allclose(got, want)


@settings(max_examples=300, deadline=None)
@given(
    name=st.sampled_from(["ordered", "steps"]),
    puzzle=st.sampled_from(sample_puzzles(8, seed=44, max_target=60)),
    data=st.data(),
)
def test_a_single_step_is_priced_to_the_bit_as_its_batch(
    name: str, puzzle: Puzzle, data: st.DataObject
) -> None:
    # The environment prices one step on plain numbers; the exact dynamic program prices whole
    # batches: the two must agree exactly, subgoals (exact or passed) and every outcome included.
    scheme = make_reward(name)
    prev = data.draw(st.integers(puzzle.start, puzzle.target - 1))
    x = prev + data.draw(st.sampled_from(puzzle.actions))
    step = data.draw(st.integers(1, puzzle.max_steps))
    t = Transition(
        puzzle=puzzle,
        prev=prev,
        x=x,
        step=step,
        status=puzzle.status_after(x, step),
        goal=data.draw(st.integers(prev + 1, puzzle.target)),
        exact=data.draw(st.booleans()),
    )
    assert isinstance(scheme, BatchRewardScheme)
    assert scheme(t) == float(scheme.batch(TransitionBatch.of(t)))


def test_bad_names_constants_and_statuses_are_refused() -> None:
    with pytest.raises(ConfigError, match="legacy, ordered"):
        make_reward("shaped")
    with pytest.raises(ConfigError, match="step_cost"):
        OrderedReward(step_cost=0.0)
    with pytest.raises(ConfigError, match="success"):
        OrderedReward(success=0.5, failure=0.0, step_cost=1.0)
    with pytest.raises(ConfigError, match="progress"):
        LegacyReward(progress=float("nan"))
    with pytest.raises(ConfigError, match="numbers"):
        StepsReward(numbers=1.0)
    with pytest.raises(ValueError, match="UNSOLVABLE"):
        make_reward("ordered")(tr(0, 3, 1, Status.UNSOLVABLE))
    with pytest.raises(TypeError):
        OrderedReward(2.0)  # type: ignore[call-arg]  # keyword-only
    with pytest.raises(dataclasses.FrozenInstanceError):
        OrderedReward().success = 3.0  # type: ignore[misc]


def test_ordered_constants_at_the_bound_still_order() -> None:
    # S - F == c (1 + b) is the edge the proof allows: success >= P + S - c > P + F - c/N + b c
    # >= failure. Without subgoals (b = 0) the edge is S - F == c.
    puzzles = sample_puzzles(15, seed=3, max_target=30)
    for scheme in (
        OrderedReward(success=0.5, failure=-0.5, step_cost=1.0, subgoal=0.0),
        OrderedReward(success=0.75, failure=-0.75, step_cost=1.0, subgoal=0.5),
    ):
        assert all(check_ordering(p, scheme) is None for p in puzzles)
    with pytest.raises(ConfigError, match="subgoal"):
        OrderedReward(subgoal=1.0)  # a step that reaches a subgoal would pay for itself
    with pytest.raises(ConfigError, match="1 \\+ subgoal"):
        OrderedReward(success=0.5, failure=-0.5, step_cost=1.0)


def test_the_subgoal_term_cannot_lift_a_failure_over_a_success() -> None:
    # The worst case by hand: a failure that reaches a subgoal on every step but its last.
    scheme, n = OrderedReward(), P10.max_steps
    failure = sum(scheme(tr(x, x + 1, x + 1, Status.IN_PROGRESS, goal=x + 1)) for x in range(7))
    failure += scheme(tr(7, 8, 8, Status.MAX_STEPS, goal=9))
    slow_success = sum(scheme(tr(x, x + 1, x + 1, Status.IN_PROGRESS)) for x in range(7))
    slow_success += scheme(tr(7, 10, 8, Status.SUCCESS))
    assert failure == pytest.approx(8 / 5 - 1 + 7 * 0.5 / n - 2)
    assert slow_success - failure >= 2 - (-2) - 1 * (1 + 0.5) > 0


# --- the checks themselves ----------------------------------------------------------------------
PUZZLES = sample_puzzles(25, seed=11, max_target=40)


def test_sampled_puzzles_are_solvable_and_seeded() -> None:
    assert all(optimal_steps(p) is not None for p in PUZZLES)
    assert {p.actions for p in PUZZLES} == {(1, 3, 5), (2, 3), (1, 4, 7)}
    assert sample_puzzles(5, seed=11, max_target=40) == PUZZLES[:5]
    with pytest.raises(ConfigError, match="max_target"):
        sample_puzzles(3, seed=0, max_target=4)


def test_legacy_ordering_counterexamples_are_real() -> None:
    scheme = make_reward("legacy")
    found = [c for c in (check_ordering(p, scheme) for p in PUZZLES) if c is not None]
    assert found
    for c in found:
        # Replay both episodes from scratch: a failure that scores at least a success.
        failure = path_return(c.puzzle, scheme, c.winner.path)
        success = path_return(c.puzzle, scheme, c.loser.path)
        assert failure.status.failed
        assert success.status is Status.SUCCESS
        assert failure.ret >= success.ret
        assert (failure.ret, success.ret) == (c.winner.ret, c.loser.ret)
        assert "returns" in c.describe()


def test_legacy_dawdling_counterexamples_are_real() -> None:
    scheme = make_reward("legacy")
    found = [c for c in (check_no_dawdling(p, scheme) for p in PUZZLES) if c is not None]
    assert found
    for c in found:
        best = path_return(c.puzzle, scheme, c.winner.path)
        shortest = path_return(c.puzzle, scheme, c.loser.path)
        assert shortest.status is Status.SUCCESS
        assert shortest.steps == optimal_steps(c.puzzle)
        assert best.ret > shortest.ret
        assert best.steps > shortest.steps


@pytest.mark.parametrize("gamma", [1.0, 0.99])
def test_ordered_passes_both_checks(gamma: float) -> None:
    scheme = make_reward("ordered")
    assert [p.id for p in PUZZLES if check_no_dawdling(p, scheme, gamma) is not None] == []
    assert [p.id for p in PUZZLES if check_ordering(p, scheme) is not None] == []
