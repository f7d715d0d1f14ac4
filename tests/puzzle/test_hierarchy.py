"""HierarchyWrapper: planning at reset, advancing past subgoals, reward against the old subgoal."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from hrrl.errors import ConfigError
from hrrl.puzzle.core import Puzzle, PuzzleView, Status
from hrrl.puzzle.env import PuzzleEnv
from hrrl.puzzle.hierarchy import HierarchyWrapper
from hrrl.puzzle.rewards import Transition


class Recorder:
    """A tiny reward scheme that records what it was asked: +1 success, -1 failure, else progress."""

    def __init__(self) -> None:
        self.seen: list[Transition] = []

    def __call__(self, t: Transition) -> float:
        self.seen.append(t)
        if t.status.terminal:
            return 1.0 if t.status is Status.SUCCESS else -1.0
        return (t.x - t.prev) / 10


def small_puzzles(rng: np.random.Generator) -> Puzzle:
    target = int(rng.integers(10, 200))
    forbidden = rng.choice(np.arange(1, target), size=5, replace=False)
    return Puzzle.create(target=target, forbidden=[int(f) for f in forbidden], max_steps=target)


def wrapped(planner: str = "paper", actions: tuple[int, ...] = (1, 3, 5)) -> HierarchyWrapper:
    return HierarchyWrapper(PuzzleEnv(reward=Recorder(), actions=actions), planner=planner)


def P(target: int, forbidden: tuple[int, ...] = (), actions: tuple[int, ...] = (1, 3, 5)) -> Puzzle:
    return Puzzle.create(target=target, forbidden=forbidden, actions=actions, max_steps=500)


def test_plans_at_reset_and_advances_one_waypoint_at_a_time() -> None:
    env = wrapped("paper")
    _, info = env.reset(options={"puzzle": P(300)})
    assert env.waypoints == [60, 120, 180, 240, 300]
    assert info["subgoal"] == env.subgoal == 60
    subgoals = []
    for _ in range(13):  # 0 -> 65 in steps of 5
        *_, info = env.step(2)
        subgoals.append(info["subgoal"])
    # 5, 10, ..., 55 aim at 60; landing on 60 (step 12) passes it; 65 aims at 120.
    assert subgoals == [60] * 11 + [120, 120]
    assert env.view() == PuzzleView(puzzle=env.puzzle_env.puzzle, current=65, subgoal=120, step=13)


def test_one_step_can_pass_several_subgoals_and_reward_uses_the_old_one() -> None:
    env = wrapped("paper", actions=(1, 50))
    scheme = env.puzzle_env.reward_scheme
    assert isinstance(scheme, Recorder)
    env.reset(options={"puzzle": P(51, actions=(1, 50))})
    assert env.waypoints == [17, 34, 51]
    _, reward, terminated, _, info = env.step(1)  # 0 -> 50 passes 17 and 34
    assert info["subgoal"] == env.subgoal == 51 and not terminated
    # The env's own call used goal=target; the wrapper's call used the subgoal before the step.
    assert [t.goal for t in scheme.seen] == [51, 17]
    assert reward == pytest.approx(5.0)
    _, _, terminated, _, info = env.step(0)  # 50 -> 51
    assert terminated and info["status"] == "SUCCESS" and info["subgoal"] == 51
    assert scheme.seen[-1].goal == 51


def test_target_is_never_passed_by_overshooting() -> None:
    env = wrapped("none")
    _, info = env.reset(options={"puzzle": P(12)})
    assert env.waypoints == [12] and info["subgoal"] == 12
    env.step(2)
    env.step(2)
    *_, info = env.step(2)  # 15 > 12: overshoot; the subgoal stays the target
    assert info["status"] == "OVERSHOOT" and info["subgoal"] == 12


def test_constraint_planner_is_the_default_and_avoids_forbidden_waypoints() -> None:
    env = HierarchyWrapper(PuzzleEnv(reward=Recorder()))
    env.reset(options={"puzzle": P(300, forbidden=(60, 120))})
    assert env.planner == "constraint" and env.waypoints == [59, 119, 180, 240, 300]


def test_legacy_reward_follows_the_subgoal() -> None:
    # Legacy pays +10 for progress towards the goal, -1 otherwise; with the subgoal as goal a step
    # that passes it (getting farther from it) is not progress, towards the target it would be.
    env = HierarchyWrapper(PuzzleEnv(reward="legacy"), planner="paper")
    env.reset(options={"puzzle": P(300)})
    rewards = [env.step(2)[1] for _ in range(12)]  # 0 -> 60, all closer to 60
    assert rewards == [10.0] * 12
    env.reset(options={"puzzle": P(300)})
    for _ in range(11):
        env.step(2)  # at 55
    env.step(1)  # 58
    _, reward, *_ = env.step(2)  # 58 -> 63: |60-63| = 3 > |60-58| = 2, not progress towards 60
    assert reward == -1.0


def test_refusals_and_reset_needed() -> None:
    with pytest.raises(ConfigError, match="planner='oracle'"):
        HierarchyWrapper(PuzzleEnv(reward=Recorder()), planner="oracle")
    with pytest.raises(ConfigError, match="window=0"):
        HierarchyWrapper(PuzzleEnv(reward=Recorder()), window=0)
    with pytest.raises(TypeError, match="PuzzleEnv"):
        HierarchyWrapper(gym.make("CartPole-v1"))  # type: ignore[arg-type]
    env = wrapped()
    with pytest.raises(gym.error.ResetNeeded):
        _ = env.subgoal
    with pytest.raises(gym.error.ResetNeeded):
        env.view()


def test_state_dict_round_trip() -> None:
    env = wrapped("paper")
    env.reset(options={"puzzle": P(300)})
    for _ in range(13):
        env.step(2)
    clone = wrapped("paper")
    clone.env.unwrapped.load_state_dict(env.env.unwrapped.state_dict())  # type: ignore[attr-defined]
    clone.load_state_dict(env.state_dict())
    assert clone.waypoints == env.waypoints and clone.subgoal == env.subgoal == 120
    assert clone.step(2)[4] == env.step(2)[4]
    with pytest.raises(ValueError, match="planner"):
        wrapped("none").load_state_dict(env.state_dict())


def test_check_env_on_the_wrapper_reports_only_the_wrapper_notice() -> None:
    env = HierarchyWrapper(PuzzleEnv(reward=Recorder(), generator=small_puzzles))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env, skip_render_check=True)
    assert [str(w.message) for w in caught if "unwrapped" not in str(w.message)] == []
    assert Status.IN_PROGRESS.value == env.reset(seed=1)[1]["status"]


def lane_puzzle() -> Puzzle:
    """{1,3,5}: lanes 1 (passes) and 4 (dies 150 in) over [100, 400); target 500."""
    from hrrl.puzzle.lanes import LanePlan, region_forbidden

    plan = LanePlan(stride=5, passing=1, dying=(4,), deaths=(150,))
    return Puzzle.create(target=500, forbidden=sorted(region_forbidden(100, 400, plan)))


def test_horizon_planner_asks_for_an_exact_waypoint_and_scores_it() -> None:
    env = HierarchyWrapper(PuzzleEnv(reward=Recorder()), planner="horizon")
    _, info = env.reset(options={"puzzle": lane_puzzle()})
    assert env.goals.exact is None and info["subgoal_successes"] == 0  # the region is out of view
    for _ in range(8):  # +5 to 40: the window (40, 120] now shows both lanes
        _, _, _, _, info = env.step(np.int64(2))
    goal = env.subgoal
    assert env.goals.exact == goal and goal % 5 == 1 and env.view().exact
    passed = info["subgoal_successes"]  # the constraint waypoints passed on the way
    env.step(np.int64(0))  # +1 to 41, residue 1: the passing lane
    for _ in range((goal - 41) // 5):
        env.step(np.int64(2))
    assert env.puzzle_env.current == goal
    assert env.goals.successes >= passed + 1 and env.goals.failures == 0
    assert env.goals.exact != goal  # re-planned at the waypoint
    rec = env.puzzle_env.reward_scheme
    assert isinstance(rec, Recorder) and rec.seen[-1].exact and rec.seen[-1].goal == goal


def test_an_episode_ending_before_its_exact_waypoint_fails_it_and_the_target() -> None:
    env = HierarchyWrapper(PuzzleEnv(reward=Recorder()), planner="horizon")
    env.reset(options={"puzzle": lane_puzzle()})
    for _ in range(8):
        env.step(np.int64(2))
    state = env.state_dict()
    again = HierarchyWrapper(PuzzleEnv(reward=Recorder()), planner="horizon")
    again.reset(options={"puzzle": lane_puzzle()})
    again.load_state_dict(state)
    assert (again.goals.exact, again.goals.successes, again.goals.failures) == (
        env.goals.exact,
        env.goals.successes,
        0,
    )
    assert env.goals.exact == 116
    term = False
    while not term:  # +5 along residue 0 runs into 100 (not a lane)
        _, _, term, _, info = env.step(np.int64(2))
    assert info["status"] == "FORBIDDEN" and env.puzzle_env.current == 100
    assert info["subgoal_failures"] == 2  # the exact waypoint 116 and the target


def test_subgoal_metrics_are_the_share_reached_as_asked() -> None:
    from hrrl.puzzle.task import subgoal_metrics

    assert subgoal_metrics({"subgoal_successes": 3, "subgoal_failures": 1}) == {
        "rollout/subgoal_success_rate": 0.75
    }
    assert subgoal_metrics({"status": "SUCCESS"}) == {}
