"""Levels of bounded views above the horizon (issue 27): traps at any depth."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from hrrl.errors import ConfigError
from hrrl.puzzle.core import Puzzle, Status
from hrrl.puzzle.evaluate import PlayHooks
from hrrl.puzzle.families import abyss_puzzle
from hrrl.puzzle.generate import iter_family
from hrrl.puzzle.horizon import HORIZON_WINDOWS, dead_cells, deep_dead, window_of
from hrrl.puzzle.levels import BRANCHING, MAX_LEVELS, Levels, check_levels
from hrrl.puzzle.player import BatchPlayer
from hrrl.puzzle.rewards import Unscored
from hrrl.puzzle.stack import make_stack, play_through_stack

SETS = [(1, 3, 5), (1, 2, 7), (2, 5), (2, 4, 6), (3, 4), (1, 5, 11)]


def reaches_target(puzzle: Puzzle) -> list[bool]:
    """The oracle: ``out[y]`` is whether ``y`` has a path to the target (one backward pass)."""
    target, forbidden = puzzle.target, puzzle.forbidden
    out = [False] * (target + puzzle.max_action + 1)
    out[target] = True
    for y in range(target - 1, -1, -1):
        if y not in forbidden:
            out[y] = any(out[y + a] for a in puzzle.actions if y + a <= target)
    return out


def lane_puzzles(actions: tuple[int, ...]) -> list[Puzzle]:
    rng = np.random.default_rng(len(actions) * 100 + max(actions))
    return [
        abyss_puzzle(rng, actions, 1_000),
        abyss_puzzle(rng, actions, 5_000),
        *iter_family("maze", 1, seed=3, actions=actions),
        *iter_family("dense", 2, seed=3, actions=actions),
    ]


@pytest.mark.parametrize("actions", SETS, ids=str)
def test_with_every_level_a_number_is_dead_exactly_when_no_path_reaches_the_target(
    actions: tuple[int, ...],
) -> None:
    """The transfer matrices compose exactly: what the levels read off their bounded views is
    the oracle's reachability, boundary by boundary and number by number."""
    for puzzle in lane_puzzles(actions):
        truth = reaches_target(puzzle)
        levels = Levels(puzzle, MAX_LEVELS)
        w, stride = levels.window, levels.stride
        for y in range(1, puzzle.target + 1):
            if y not in puzzle.forbidden:
                assert levels.dead(y) == (not truth[y]), (puzzle.id, y)
        for block in range(puzzle.target // w + 2):
            expected = sum(
                1 << q
                for q in range(stride)
                if block * w + q <= puzzle.target
                and block * w + q not in puzzle.forbidden
                and truth[block * w + q]
            )
            assert levels.live_at(block) == expected, (puzzle.id, block)


@pytest.mark.parametrize("actions", SETS, ids=str)
def test_where_the_levels_see_the_target_the_glance_reads_their_dead_numbers_off(
    actions: tuple[int, ...],
) -> None:
    """``deep_dead`` takes the levels' cached dead numbers where their views reach the target;
    what it finds is what the horizon works out with their dead numbers past its edge, at every
    number of every lane, maze and dense puzzle."""
    for puzzle in lane_puzzles(actions):
        levels = Levels(puzzle, MAX_LEVELS)
        w = window_of(puzzle)
        assert levels.sees_target(0)  # every view reaches these targets: the fast path is taken
        for x in range(0, puzzle.target, max(1, puzzle.target // 400)):
            if puzzle.target - x <= w:
                continue
            worked_out = {
                c for c in dead_cells(puzzle, x, HORIZON_WINDOWS * w, MAX_LEVELS) if c <= x + w
            }
            expected = worked_out - dead_cells(puzzle, x, w) if worked_out else set()
            assert deep_dead(puzzle, x, HORIZON_WINDOWS, MAX_LEVELS) == expected, (puzzle.id, x)


def test_a_view_reaches_branching_to_the_levels_windows_and_no_further() -> None:
    """Capped levels see a dead end inside their view and not past it: a wall of A forbidden
    numbers (nothing crosses it) 100 windows in is seen from B**levels windows before it."""
    w = 16 * 5
    wall = 100 * w
    puzzle = Puzzle.create(target=200 * w, forbidden=range(wall, wall + 5), max_steps=10**6)
    assert Levels(puzzle, MAX_LEVELS).live_at(0) == 0  # the view reaches the target
    for levels in (1, 2):
        capped, reach = Levels(puzzle, levels), BRANCHING**levels
        assert capped.live_at(100 - reach) == 0 and capped.live_at(99 - reach) != 0
    with pytest.raises(ConfigError, match="levels"):
        check_levels(MAX_LEVELS + 1)


@pytest.mark.parametrize("actions", [(1, 3, 5), (1, 2, 7), (2, 5)], ids=str)
def test_the_levels_play_abysses_the_single_horizon_walks_into(actions: tuple[int, ...]) -> None:
    """Red team (issue 27): on the same abyss puzzles and the same greedy policy, the single
    horizon (levels=1, before) walks into the lane it arrives in and dies; the levels put an
    exact waypoint on the passing lane and every puzzle is solved."""
    encoder, _ = make_stack(
        encoder_name="slots", reward=Unscored(), planner="horizon", actions=actions
    )
    rng = np.random.default_rng(27)
    puzzles = [abyss_puzzle(rng, actions, depth) for depth in (1_000, 3_000, 10_000)]

    def cheapest(obs: np.ndarray) -> np.ndarray:
        blocks = obs.reshape(len(obs), -1, 13)
        score = blocks[:, :, 4] + blocks[:, :, 5] + 10 * (blocks[:, :, 0] + blocks[:, :, 3])
        return np.argmin(score - 0.01 * blocks[:, :, 6], axis=1)

    def play(levels: int) -> list[Status]:
        player = BatchPlayer(encoder=encoder, planner="horizon", greedy=cheapest, levels=levels)
        return [r.status for r in player.play(puzzles)]

    assert play(1) == [Status.FORBIDDEN] * len(puzzles)
    assert play(MAX_LEVELS) == [Status.SUCCESS] * len(puzzles)


def test_the_player_and_the_gymnasium_stack_play_the_levels_alike() -> None:
    actions = (1, 2, 7)
    encoder, factory = make_stack(
        encoder_name="slots", reward=Unscored(), planner="horizon", actions=actions
    )
    rng = np.random.default_rng(5)
    puzzles = [dataclasses.replace(abyss_puzzle(rng, actions, 2_000), id=f"a{i}") for i in range(3)]
    rows = np.random.default_rng(0).normal(size=(13,)).astype(np.float32)

    def linear(obs: np.ndarray) -> np.ndarray:
        return np.argmax(obs.reshape(len(obs), -1, 13) @ rows, axis=1)

    fast = BatchPlayer(encoder=encoder, planner="horizon", greedy=linear).play(puzzles)
    assert fast == play_through_stack(linear, puzzles, factory)


def cheapest(obs: np.ndarray) -> np.ndarray:
    """The cost-greedy reading of the slot features (a stand-in for a trained policy)."""
    blocks = obs.reshape(len(obs), -1, 13)
    score = blocks[:, :, 4] + blocks[:, :, 5] + 10 * (blocks[:, :, 0] + blocks[:, :, 3])
    return np.argmin(score - 0.01 * blocks[:, :, 6], axis=1)


def test_the_levels_a_trap_needs_grow_with_its_depth() -> None:
    """A trap 10x deeper needs one level more (B = 8; the horizon sees 640 numbers at {1,3,5}):
    each abyss is lost with one level fewer than it needs and solved with it."""
    actions = (1, 3, 5)
    encoder, _ = make_stack(
        encoder_name="slots", reward=Unscored(), planner="horizon", actions=actions
    )
    rng = np.random.default_rng(27)
    for depth, needed in ((1_000, 2), (10_000, 3), (100_000, 4)):
        puzzle = abyss_puzzle(rng, actions, depth)
        statuses = [
            BatchPlayer(encoder=encoder, planner="horizon", greedy=cheapest, levels=levels)
            .play([puzzle])[0]
            .status
            for levels in (needed - 1, needed)
        ]
        assert statuses == [Status.FORBIDDEN, Status.SUCCESS], depth


def test_the_exact_solver_is_never_called_once_play_has_started(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The solver is the oracle for the up-front UNSOLVABLE check and the optimum a result is
    scored against; from the first puzzle's start on, every function of the solver and of the
    exact DP raises, and the abysses and mazes are still solved by the levels' bounded views."""
    import hrrl.puzzle.exact as exact
    import hrrl.puzzle.solver as solver

    playing = False

    def guarded(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            if playing:
                raise AssertionError(f"{name} was called during play")
            return fn(*args, **kwargs)

        return call

    for module in (solver, exact):
        for name, fn in list(vars(module).items()):
            if inspect.isfunction(fn) and fn.__module__ == module.__name__:
                monkeypatch.setattr(module, name, guarded(f"{module.__name__}.{name}", fn))

    def started(_: Puzzle) -> None:
        nonlocal playing
        playing = True

    actions = (1, 2, 7)
    encoder, _ = make_stack(
        encoder_name="slots", reward=Unscored(), planner="horizon", actions=actions
    )
    rng = np.random.default_rng(3)
    puzzles = [abyss_puzzle(rng, actions, d) for d in (2_000, 20_000)]
    puzzles += list(iter_family("maze", 2, seed=4, actions=actions))
    player = BatchPlayer(encoder=encoder, planner="horizon", greedy=cheapest)
    results = player.play(puzzles, hooks=PlayHooks(started=started))
    assert playing and [r.status for r in results] == [Status.SUCCESS] * len(puzzles)
