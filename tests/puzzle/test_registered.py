"""gym.make("hrrl/NumberPuzzle-v0") out of the box: puzzles drawn for it, an observation to learn
from, check_env clean, kwargs for family, action set and observation."""

from __future__ import annotations

import dataclasses
import itertools
import re
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import hrrl  # noqa: F401  (registers the env id)
from hrrl.errors import ConfigError, PuzzleError
from hrrl.experiment import preset
from hrrl.puzzle import ENV_ID
from hrrl.puzzle.core import Puzzle
from hrrl.puzzle.registered import NumberPuzzleEnv
from hrrl.puzzle.solver import optimal_path


def _targets(env: gym.Env, seed: int, n: int = 6) -> list[int]:
    out = []
    for i in range(n):
        env.reset(seed=seed if i == 0 else None)
        out.append(env.unwrapped.puzzle.target)
    return out


@pytest.mark.parametrize(
    "kwargs", [{}, {"obs": "raw"}, {"family": "trap"}, {"actions": [2, 3]}], ids=str
)
def test_check_env_passes_on_the_made_env_and_unwrapped_without_warnings(kwargs: dict) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        made = gym.make(ENV_ID, **kwargs)
        check_env(made)
        check_env(made.unwrapped)


def test_the_default_draws_from_the_default_presets_curriculum_and_encodes_relationally() -> None:
    env = gym.make(ENV_ID)
    obs, info = env.reset(seed=0)
    assert isinstance(env.unwrapped, NumberPuzzleEnv)
    # Its stages and gates; one action set throughout (a Gymnasium env has one action space).
    trained = dataclasses.replace(preset("default").puzzle.curriculum, action_sets="fixed")
    assert env.unwrapped.curriculum.config == trained
    assert env.observation_space.dtype == np.float32 and env.observation_space.contains(obs)
    assert obs.shape[0] > 4  # the encoded view, not the raw numbers
    assert info["stage"] == 0 and info["status"] == "IN_PROGRESS"
    lo, hi = preset("default").puzzle.curriculum.stages[0].targets
    assert all(lo <= t <= hi for t in _targets(env, seed=0, n=20))


def test_seeding_fixes_the_puzzles_through_np_random() -> None:
    env = gym.make(ENV_ID, family="scale")
    first = _targets(env, seed=5)
    assert _targets(env, seed=5) == first
    assert _targets(env, seed=6) != first
    assert all(100 <= t <= 10_000 for t in first)  # the scale family's targets


def test_raw_observation_and_another_action_set() -> None:
    raw = gym.make(ENV_ID, obs="raw")
    obs, _ = raw.reset(seed=1)
    puzzle = raw.unwrapped.puzzle
    assert obs.dtype == np.int64 and obs.tolist() == [0, puzzle.target, 0, puzzle.max_steps]
    two = gym.make(ENV_ID, actions=[2, 3])
    two.reset(seed=0)
    assert two.action_space == gym.spaces.Discrete(2)
    assert two.unwrapped.puzzle.actions == (2, 3)


def test_a_given_puzzle_is_played_and_bad_kwargs_are_refused() -> None:
    env = gym.make(ENV_ID)
    p = Puzzle(target=9, forbidden=frozenset({4}), actions=(1, 3, 5), max_steps=4)
    _, info = env.reset(options={"puzzle": p})
    assert env.unwrapped.puzzle == p and info["stage"] == -1
    *_, terminated, truncated, info = env.step(1)  # +3
    *_, terminated, truncated, info = env.step(1)  # +3 -> 6
    *_, terminated, truncated, info = env.step(1)  # +3 -> 9
    assert (terminated, truncated, info["status"]) == (True, False, "SUCCESS")
    with pytest.raises(gym.error.ResetNeeded):
        env.step(0)
    with pytest.raises(ConfigError, match="obs='pixels'"):
        gym.make(ENV_ID, obs="pixels")
    with pytest.raises(PuzzleError, match="family='nope'"):
        gym.make(ENV_ID, family="nope")
    trap = gym.make(ENV_ID, family="trap", actions=[2, 3])  # every family is defined for any set
    trap.reset(seed=0)
    assert trap.unwrapped.puzzle.actions == (2, 3)


def test_the_curriculum_moves_on_when_its_episodes_succeed() -> None:
    """An oracle playing the optimal path succeeds every time: after the gate window (100
    episodes at 0.9) the next stage's targets are drawn."""
    env = gym.make(ENV_ID)
    env.reset(seed=0)
    for _ in range(100):
        puzzle = env.unwrapped.puzzle
        path = optimal_path(puzzle)
        assert path is not None
        for here, there in itertools.pairwise(path):
            *_, info = env.step(puzzle.actions.index(there - here))
        assert info["status"] == "SUCCESS"
        _, info = env.reset()
    assert info["stage"] == 1
    lo, hi = preset("default").puzzle.curriculum.stages[1].targets
    assert lo <= env.unwrapped.puzzle.target <= hi


def test_the_readme_example_runs() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### The puzzle as a Gymnasium environment", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None
    namespace: dict[str, object] = {}
    exec(compile(match.group(1), "README.md", "exec"), namespace)
    assert namespace["env"].unwrapped.family == "trap"  # type: ignore[attr-defined]
