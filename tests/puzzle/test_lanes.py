"""Lane regions (deep_trap, maze, abyss): every lane but one dies beyond the low-level window."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

from hrrl.puzzle import SCALE_FAMILY_NAMES
from hrrl.puzzle.core import MAX_STEPS_LIMIT, Puzzle, Status
from hrrl.puzzle.families import (
    ABYSS_DEPTHS,
    SCALE_FAMILIES,
    abyss_puzzle,
    is_complete,
    low_level_window,
    trap_depths,
)
from hrrl.puzzle.generate import generate_suite, iter_family
from hrrl.puzzle.lanes import LanePlan, lane_closure, pick_lanes, region_forbidden
from hrrl.puzzle.planner import reachable_in_window
from hrrl.puzzle.sampling import greedy_rollout
from hrrl.puzzle.solver import optimal_steps

SETS = [(1, 3, 5), (1, 2, 7), (2, 5), (3, 4), (1, 4, 6, 9), (1, 5, 11)]


def _from(puzzle: Puzzle, cell: int) -> Puzzle:
    return dataclasses.replace(puzzle, start=cell, max_steps=MAX_STEPS_LIMIT)


def test_region_forbidden_by_hand() -> None:
    # stride 5, lanes 1 (passes) and 4 (dies 12 in): region [10, 30).
    plan = LanePlan(stride=5, passing=1, dying=(4,), deaths=(12,))
    allowed = set(range(10, 30)) - region_forbidden(10, 30, plan)
    assert allowed == {11, 14, 16, 19, 21, 26}
    assert lane_closure((1, 3, 5), [1, 4], [4]) == {4}  # 4+1=0, 4+3=2: no way to lane 1
    assert lane_closure((1, 3, 5), [1, 4], [1]) == {1, 4}  # 1+3=4: the passing lane can leave


@pytest.mark.parametrize("actions", SETS)
def test_no_switch_leads_from_a_dying_lane_to_the_passing_one(actions: tuple[int, ...]) -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        passing, dying = pick_lanes(rng, actions, avoid=0)
        assert dying, "a set that is not complete has at least one dying lane"
        assert passing not in lane_closure(actions, [passing, *dying], dying)
        assert passing != 0


@pytest.mark.parametrize("family", ["deep_trap", "maze"])
@pytest.mark.parametrize("actions", SETS)
def test_every_lane_but_one_dies_beyond_the_window(family: str, actions: tuple[int, ...]) -> None:
    window = low_level_window(actions)
    lo, hi = trap_depths(actions)
    assert lo > window
    for p in iter_family(family, 6, seed=3, actions=actions):
        assert optimal_steps(p) == p.extra["optimal_steps"] is not None
        assert greedy_rollout(p, lookahead=1).status is not Status.SUCCESS
        if family == "maze":
            regions = p.extra["regions"]
            assert len(regions) >= 2
            # Junctions of at most one stride: the lane left in decides the lanes reachable next.
            assert all(1 <= b - e <= max(actions) for (_, e), (b, _) in itertools.pairwise(regions))
        for (begin, _end), lanes, deaths in zip(
            p.extra["regions"], p.extra["lanes"], p.extra["deaths"], strict=True
        ):
            assert len(lanes) >= 2 and all(lo <= d <= hi for d in deaths)
            stride = max(actions)
            for k, residue in enumerate(lanes):
                cell = begin + (residue - begin) % stride  # the lane's first cell
                assert cell not in p.forbidden
                # Up close every lane looks alive: it reaches the edge of the window ...
                assert reachable_in_window(p, cell, window)[0]
                if k > 0:  # ... but a dying lane never gets out of the region.
                    assert optimal_steps(_from(p, cell)) is None
            if len(p.extra["regions"]) == 1:
                passing = begin + (lanes[0] - begin) % max(actions)
                assert optimal_steps(_from(p, passing)) is not None


@pytest.mark.parametrize("actions", [(2, 4, 6), (1, 2)])
def test_complete_sets_get_a_single_lane_corridor(actions: tuple[int, ...]) -> None:
    assert is_complete(actions)
    for p in iter_family("deep_trap", 4, seed=1, actions=actions):
        assert p.extra["corridor"] and p.extra["lanes"] == [p.extra["lanes"][0][:1]]
        assert optimal_steps(p) is not None


@pytest.mark.parametrize("actions", SETS)
@pytest.mark.parametrize("depth", [1_000, 30_000])
def test_an_abyss_kills_its_dying_lanes_at_its_depth(actions: tuple[int, ...], depth: int) -> None:
    rng = np.random.default_rng(depth)
    for _ in range(2):
        p = abyss_puzzle(rng, actions, depth)
        assert p.extra["depth"] == depth and optimal_steps(p) == p.extra["optimal_steps"]
        assert greedy_rollout(p, lookahead=1).status is not Status.SUCCESS
        ((begin, _end),), (lanes,), (deaths,) = (p.extra[k] for k in ("regions", "lanes", "deaths"))
        assert 2 <= len(lanes) <= 4 and all(depth <= d <= round(1.2 * depth) for d in deaths)
        stride = max(actions)
        cells = [begin + (residue - begin) % stride for residue in lanes]
        assert optimal_steps(_from(p, cells[0])) is not None  # the passing lane
        for cell, death in zip(cells[1:], deaths, strict=True):
            # Open far past today's horizon (8 windows), closed at its depth.
            assert all(n not in p.forbidden for n in range(cell, begin + death, stride))
            assert optimal_steps(_from(p, cell)) is None


def test_abyss_is_generated_by_name_and_left_out_of_all() -> None:
    (p,) = iter_family("abyss", 1, seed=0)
    assert p.id == "abyss-0000" and ABYSS_DEPTHS[0] <= p.extra["depth"] <= ABYSS_DEPTHS[1]
    assert "abyss" not in {q.extra["family"] for q in generate_suite(["all"], 1, seed=0)}
    assert tuple(SCALE_FAMILIES) == SCALE_FAMILY_NAMES
