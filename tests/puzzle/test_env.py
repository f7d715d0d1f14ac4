"""PuzzleEnv: the step rule's order, Gymnasium's API, refusals; PuzzleVecEnv against scalar envs."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from hrrl.errors import PuzzleError
from hrrl.puzzle.core import MAX_NUMBER, Puzzle, Status
from hrrl.puzzle.env import PuzzleEnv, PuzzleVecEnv
from hrrl.puzzle.exact import path_return, return_extremes
from hrrl.puzzle.hierarchy import HierarchyWrapper
from hrrl.puzzle.rewards import RewardScheme, Transition, make_reward

A1, A3, A5 = 0, 1, 2  # action indices for the default actions (1, 3, 5)


@dataclass
class Recorder:
    """A tiny reward scheme that records what it was asked: +1 success, -1 failure, else progress."""

    seen: list[Transition] = field(default_factory=list)

    def __call__(self, t: Transition) -> float:
        self.seen.append(t)
        if t.status is Status.SUCCESS:
            return 1.0
        if t.status.failed:
            return -1.0
        return (t.x - t.prev) / 10


def small_puzzles(rng: np.random.Generator) -> Puzzle:
    """Targets 10..39 with three forbidden numbers; the budget is generous (never 1)."""
    target = int(rng.integers(10, 40))
    forbidden = rng.choice(np.arange(1, target), size=3, replace=False)
    return Puzzle.create(target=target, forbidden=[int(f) for f in forbidden], max_steps=target)


def puzzle(target: int = 10, forbidden: tuple[int, ...] = (4, 12), max_steps: int = 10) -> Puzzle:
    return Puzzle.create(target=target, forbidden=forbidden, max_steps=max_steps)


def play(env: gym.Env, p: Puzzle, actions: list[int]) -> list[tuple]:
    env.reset(options={"puzzle": p})
    out = []
    for a in actions:
        obs, _, terminated, truncated, info = env.step(a)
        out.append((int(obs[0]), info["status"], terminated, truncated))
    return out


# --- the step rule, worked by hand ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("actions", "expected"),
    [
        # 0 -> 5 -> 10: the target.
        ([A5, A5], [(5, "IN_PROGRESS", False, False), (10, "SUCCESS", True, False)]),
        # 0 -> 3 -> 4: forbidden.
        ([A3, A1], [(3, "IN_PROGRESS", False, False), (4, "FORBIDDEN", True, False)]),
        # 0 -> 5 -> 8 -> 11: past the target, 11 is allowed: overshoot.
        (
            [A5, A3, A3],
            [
                (5, "IN_PROGRESS", False, False),
                (8, "IN_PROGRESS", False, False),
                (11, "OVERSHOOT", True, False),
            ],
        ),
        # 0 -> 5 -> 8 -> 9 -> 12: 12 is past the target AND forbidden: FORBIDDEN comes first.
        (
            [A5, A3, A1, A3],
            [
                (5, "IN_PROGRESS", False, False),
                (8, "IN_PROGRESS", False, False),
                (9, "IN_PROGRESS", False, False),
                (12, "FORBIDDEN", True, False),
            ],
        ),
    ],
)
def test_status_sequences_by_hand(actions: list[int], expected: list[tuple]) -> None:
    assert play(PuzzleEnv(reward=Recorder()), puzzle(), actions) == expected


def test_max_steps_is_a_truncation_and_only_when_nothing_else_happened() -> None:
    env = PuzzleEnv(reward=Recorder())
    # Three steps of 1 with a budget of 3: truncated, not terminated.
    assert play(env, puzzle(max_steps=3), [A1, A1, A1])[-1] == (3, "MAX_STEPS", False, True)
    # Landing on the target with the last step of the budget is a success.
    assert play(env, puzzle(max_steps=2), [A5, A5])[-1] == (10, "SUCCESS", True, False)
    # Landing on a forbidden number with the last step is FORBIDDEN, not MAX_STEPS.
    assert play(env, puzzle(max_steps=2), [A3, A1])[-1] == (4, "FORBIDDEN", True, False)
    # Overshooting with the last step is OVERSHOOT.
    assert play(env, puzzle(max_steps=3), [A5, A3, A3])[-1] == (11, "OVERSHOOT", True, False)


def test_observation_info_and_reward_transition() -> None:
    scheme = Recorder()
    env = PuzzleEnv(reward=scheme)
    obs, info = env.reset(options={"puzzle": puzzle(max_steps=7)})
    assert obs.dtype == np.int64 and obs.tolist() == [0, 10, 0, 7]
    assert info == {"status": "IN_PROGRESS", "current": 0, "step": 0}
    obs, reward, *_, info = env.step(np.int64(A3))
    assert obs.tolist() == [3, 10, 1, 7] and reward == pytest.approx(0.3)
    assert info == {"status": "IN_PROGRESS", "current": 3, "step": 1}
    assert (env.current, env.steps) == (3, 1)
    t = scheme.seen[-1]
    assert (t.prev, t.x, t.step, t.status, t.goal) == (0, 3, 1, Status.IN_PROGRESS, 10)
    assert t.puzzle == env.puzzle


def test_start_other_than_zero() -> None:
    p = Puzzle.create(target=15, forbidden=[12], start=7, max_steps=5)
    assert play(PuzzleEnv(reward=Recorder()), p, [A3, A5]) == [
        (10, "IN_PROGRESS", False, False),
        (15, "SUCCESS", True, False),
    ]


# --- Gymnasium API ---------------------------------------------------------------------------------
def test_check_env_passes_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env = PuzzleEnv(reward=Recorder(), generator=small_puzzles)
        check_env(env, skip_render_check=True)


def test_reset_with_seed_is_deterministic_and_draws_from_np_random() -> None:
    env = PuzzleEnv(reward=Recorder(), generator=small_puzzles)
    first = [env.reset(seed=11)[0].tolist()] + [env.reset()[0].tolist() for _ in range(5)]
    again = [env.reset(seed=11)[0].tolist()] + [env.reset()[0].tolist() for _ in range(5)]
    assert first == again
    assert len({tuple(o) for o in first}) > 1  # the generator is really drawing
    other = [env.reset(seed=12)[0].tolist()] + [env.reset()[0].tolist() for _ in range(5)]
    assert other != first


def test_reset_needs_a_puzzle_or_a_generator() -> None:
    env = PuzzleEnv(reward=Recorder())
    with pytest.raises(PuzzleError, match="generator"):
        env.reset()
    with pytest.raises(ValueError, match="'colour'"):
        env.reset(options={"puzzle": puzzle(), "colour": "red"})
    with pytest.raises(PuzzleError, match="puzzle"):
        env.reset(options={"puzzle": {"target": 10, "forbidden": []}})


def test_refuses_a_puzzle_with_another_action_set() -> None:
    env = PuzzleEnv(reward=Recorder())
    for actions in [(1, 5, 3), (1, 3), (2, 4, 6)]:
        p = Puzzle.create(target=20, actions=actions, max_steps=20)
        with pytest.raises(PuzzleError, match=r"actions=.*PuzzleEnv\(actions="):
            env.reset(options={"puzzle": p})
    two = PuzzleEnv(reward=Recorder(), actions=(2, 7))
    assert two.action_space == gym.spaces.Discrete(2)
    p = Puzzle.create(target=9, actions=(2, 7), max_steps=3)
    assert play(two, p, [0, 1]) == [(2, "IN_PROGRESS", False, False), (9, "SUCCESS", True, False)]


def test_refuses_a_bad_action_set_at_construction() -> None:
    for actions in [(), (1, 1), (0, 3), (-1,)]:
        with pytest.raises(PuzzleError, match="actions"):
            PuzzleEnv(reward=Recorder(), actions=actions)


def test_step_before_reset_after_the_end_and_with_a_bad_action() -> None:
    env = PuzzleEnv(reward=Recorder())
    with pytest.raises(gym.error.ResetNeeded, match="reset"):
        env.step(A1)
    play(env, puzzle(), [A5, A5])
    with pytest.raises(gym.error.ResetNeeded, match="SUCCESS"):
        env.step(A1)
    env.reset(options={"puzzle": puzzle()})
    for bad in [3, -1, True, 1.0]:
        with pytest.raises(ValueError, match="action"):
            env.step(bad)  # type: ignore[arg-type]


def test_observation_space_bounds() -> None:
    env = PuzzleEnv(reward=Recorder())
    p = Puzzle.create(target=MAX_NUMBER, start=MAX_NUMBER - 2, max_steps=3)
    obs, _ = env.reset(options={"puzzle": p})
    obs, *_ = env.step(A5)  # one past the top target
    assert obs in env.observation_space
    p = Puzzle.create(target=-MAX_NUMBER + 1, start=-MAX_NUMBER, max_steps=1)
    assert env.reset(options={"puzzle": p})[0] in env.observation_space


def test_state_dict_round_trip_continues_the_same_episode() -> None:
    env = PuzzleEnv(reward=Recorder(), generator=small_puzzles)
    env.reset(seed=3)
    env.step(A1)
    state = env.state_dict()
    rest = [env.step(A1)[0].tolist() for _ in range(2)] + [env.reset()[0].tolist()]
    clone = PuzzleEnv(reward=Recorder(), generator=small_puzzles)
    clone.load_state_dict(state)
    assert [clone.step(A1)[0].tolist() for _ in range(2)] + [clone.reset()[0].tolist()] == rest


def test_default_reward_scheme_is_ordered() -> None:
    # The scheme a PuzzleEnv pays by default, checked over every episode of a small puzzle by
    # exact DP (what ``hrrl check-reward`` runs): the best failure scores below the worst success.
    env, p = PuzzleEnv(), puzzle(target=20, max_steps=20)
    env.reset(options={"puzzle": p})
    _, reward, *_ = env.step(A5)
    assert isinstance(reward, float)
    assert reward == path_return(p, env.reward_scheme, [p.start, p.start + 5]).ret

    def best_failure_and_worst_success(scheme: RewardScheme) -> tuple[float, float]:
        ext = return_extremes(p, scheme)
        return float(np.nanmax(ext.best_failure)), float(np.nanmin(ext.worst_success))

    best_failure, worst_success = best_failure_and_worst_success(env.reward_scheme)
    assert best_failure < worst_success
    # The legacy scheme breaks it on this very puzzle (a long failure outscores a short success).
    best_failure, worst_success = best_failure_and_worst_success(make_reward("legacy"))
    assert best_failure > worst_success


# --- PuzzleVecEnv ----------------------------------------------------------------------------------
def _make(planner: str) -> gym.Env:
    return HierarchyWrapper(PuzzleEnv(reward=Recorder(), generator=small_puzzles), planner=planner)


def test_vec_env_matches_scalar_envs_stepped_alone() -> None:
    n, rng = 4, np.random.default_rng(0)
    puzzles = [small_puzzles(rng) for _ in range(12)]
    queue = list(puzzles)
    vec = PuzzleVecEnv([lambda: _make("paper")] * n)
    obs, _ = vec.reset([queue.pop(0) for _ in range(n)])
    trajectories: dict[int, list] = {i: [] for i in range(n)}
    current = list(range(n))  # which puzzle env i plays
    done_log: list[tuple[int, list]] = []
    next_id = n
    actions_rng = np.random.default_rng(1)
    while vec.running.any():
        actions = actions_rng.integers(0, 3, size=n)
        active = vec.running.copy()
        obs, rewards, terminated, truncated, infos = vec.step(actions, active=active)
        for i in np.flatnonzero(active):
            trajectories[i].append(
                (
                    int(actions[i]),
                    obs[i].tolist(),
                    rewards[i],
                    terminated[i],
                    truncated[i],
                    infos[i]["status"],
                    infos[i]["subgoal"],
                )
            )
            if terminated[i] or truncated[i]:
                assert obs[i][0] == infos[i]["current"]  # the final observation, not a reset one
                done_log.append((current[i], trajectories[i]))
                trajectories[i] = []
                if queue:
                    vec.reset_one(i, queue.pop(0))
                    current[i] = next_id
                    next_id += 1
    assert sorted(pid for pid, _ in done_log) == list(range(12))
    for pid, traj in done_log:
        alone = _make("paper")
        alone.reset(options={"puzzle": puzzles[pid]})
        replay = []
        for a, *_ in traj:
            o, r, te, tr, info = alone.step(a)
            replay.append((a, o.tolist(), r, te, tr, info["status"], info["subgoal"]))
        assert replay == traj


def test_vec_env_refuses_to_step_a_finished_env_and_checks_shapes() -> None:
    vec = PuzzleVecEnv([lambda: PuzzleEnv(reward=Recorder())] * 2)
    obs, infos = vec.reset([puzzle(), puzzle(target=20)])
    assert obs.shape == (2, 4) and [i["step"] for i in infos] == [0, 0]
    vec.step(np.array([A5, A5]))
    obs, _, terminated, _, _ = vec.step(np.array([A5, A5]))
    assert terminated.tolist() == [True, False] and obs[:, 0].tolist() == [10, 10]
    with pytest.raises(gym.error.ResetNeeded, match="env 0"):
        vec.step(np.array([A1, A1]))
    obs, rewards, terminated, _, infos = vec.step(
        np.array([A1, A5]), active=np.array([False, True])
    )
    assert obs[:, 0].tolist() == [10, 15] and rewards[0] == 0.0 and infos[0] == {}
    with pytest.raises(ValueError, match="one action per env"):
        vec.step(np.array([A1]))
    vec.reset_one(0, puzzle())
    assert vec.running.tolist() == [True, True]


def test_vec_env_seeded_reset_and_state_dict() -> None:
    vec = PuzzleVecEnv([lambda: _make("constraint")] * 3)
    obs_a, _ = vec.reset(seed=5)
    obs_b, _ = vec.reset(seed=5)
    np.testing.assert_array_equal(obs_a, obs_b)
    vec.step(np.zeros(3, dtype=np.int64), active=vec.running.copy())
    state = vec.state_dict()
    after = vec.step(np.ones(3, dtype=np.int64), active=vec.running.copy())
    other = PuzzleVecEnv([lambda: _make("constraint")] * 3)
    other.load_state_dict(state)
    again = other.step(np.ones(3, dtype=np.int64), active=other.running.copy())
    for x, y in zip(after[:4], again[:4], strict=True):
        np.testing.assert_array_equal(x, y)
    assert after[4] == again[4]
