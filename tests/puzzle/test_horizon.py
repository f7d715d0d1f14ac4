"""The high level's glance: bounded, blind to nothing inside its horizon, and never the solver."""

from __future__ import annotations

import numpy as np
import pytest

from hrrl.errors import ConfigError
from hrrl.puzzle.core import Puzzle, PuzzleView, Status
from hrrl.puzzle.encoders.slots import SlotEncoder
from hrrl.puzzle.env import PuzzleEnv
from hrrl.puzzle.generate import iter_family
from hrrl.puzzle.hierarchy import HierarchyWrapper
from hrrl.puzzle.horizon import (
    HORIZON_WINDOWS,
    dead_cells,
    deep_dead,
    exact_waypoint,
    glance,
    window_of,
)
from hrrl.puzzle.lanes import LanePlan, region_forbidden
from hrrl.puzzle.planner import reachable_in_window

SETS = [(1, 3, 5), (1, 2, 7), (2, 5), (3, 4)]


def lane_puzzle(depth: int = 150) -> Puzzle:
    """{1,3,5}: a region [100, 400) with lanes 1 (passes) and 4 (dies ``depth`` in; 4 + 1 and
    4 + 3 are residues 0 and 2, forbidden, so it cannot switch to lane 1)."""
    plan = LanePlan(stride=5, passing=1, dying=(4,), deaths=(depth,))
    return Puzzle.create(target=500, forbidden=sorted(region_forbidden(100, 400, plan)))


def test_dead_cells_agree_with_the_window_dp() -> None:
    rng = np.random.default_rng(0)
    for p in iter_family("dense", 20, seed=2):
        x = int(rng.integers(0, p.target - 1))
        for reach in (7, 40, 200):
            live = reachable_in_window(p, x, reach)
            expected = {
                x + i
                for i in range(1, reach + 1)
                if not live[i] and x + i not in p.forbidden and x + i <= p.target
            }
            assert dead_cells(p, x, reach) == expected


def test_the_dying_lane_is_deep_dead_and_the_waypoint_is_on_the_passing_lane() -> None:
    p = lane_puzzle()
    w = window_of(p)  # 80
    assert w == 80 and not deep_dead(p, 0)  # the region starts beyond the window
    dead = deep_dead(p, 40)
    assert dead and all(c % 5 == 4 for c in dead)  # the lane that dies at 250
    target = exact_waypoint(p, 40)
    assert target is not None and target % 5 == 1 and 40 + w - 5 < target <= 40 + w
    # The coarse view: from 40, only residue 1 is live at the boundaries inside the region
    # (120, 200, ..., 360; lane 4 still open at 120 and 200 but already dead), then free again.
    view = glance(p, 40)
    assert len(view.live) == HORIZON_WINDOWS and view.block == w
    assert view.live[:4] == (frozenset({1}),) * 4 and view.live[4] == frozenset(range(5))


def test_a_trap_deeper_than_the_horizon_is_not_seen() -> None:
    p = lane_puzzle(depth=290)  # the lane dies at 390
    assert deep_dead(p, 40, horizon=8)
    assert not deep_dead(p, 40, horizon=3)  # 3 windows = 240 numbers: 40 + 240 < 390
    assert exact_waypoint(p, 40, horizon=3) is None


def test_no_exact_waypoint_where_the_window_shows_everything() -> None:
    for family in ("scale", "trap", "wall", "endgame"):
        for p in iter_family(family, 5, seed=4):
            assert exact_waypoint(p, p.start) is None or deep_dead(p, p.start)


def test_horizon_is_checked() -> None:
    with pytest.raises(ConfigError, match="horizon"):
        glance(lane_puzzle(), 0, horizon=0)


def cost_greedy(obs: np.ndarray, n: int) -> int:
    """The low level's reading of its own features: the live action of least cost."""
    blocks = obs.reshape(8, -1)[:n]
    dead = blocks[:, 3] > 0
    cost = np.where(dead, 1e9, blocks[:, 4] - 1e-3 * blocks[:, 6])
    return int(np.argmin(cost))


def play(p: Puzzle, planner: str) -> tuple[Status, dict[str, int]]:
    enc = SlotEncoder()
    env = HierarchyWrapper(PuzzleEnv(actions=p.actions, slots=8), planner=planner)
    env.reset(options={"puzzle": p})
    while True:
        obs = enc.encode(env.view())
        _, _, term, trunc, info = env.step(np.int64(cost_greedy(obs, len(p.actions))))
        if term or trunc:
            return Status(info["status"]), info


@pytest.mark.parametrize("actions", SETS)
def test_the_horizon_planner_leads_a_window_bounded_player_through_every_lane_region(
    actions: tuple[int, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    puzzles = [*iter_family("deep_trap", 4, 9, actions), *iter_family("maze", 4, 9, actions)]

    def no_solver(*_: object, **__: object) -> None:
        raise AssertionError("the exact solver was called during play")

    import hrrl.puzzle.exact as exact
    import hrrl.puzzle.solver as solver

    for module in (solver, exact):
        for name in dir(module):
            if name.startswith(("optimal", "solve", "bfs")) and callable(getattr(module, name)):
                monkeypatch.setattr(module, name, no_solver)
    blind = [play(p, "none")[0] for p in puzzles]
    assert sum(s is Status.SUCCESS for s in blind) <= len(puzzles) // 2
    for p in puzzles:
        status, info = play(p, "horizon")
        assert status is Status.SUCCESS, p.id
        assert info["subgoal_failures"] == 0 and info["subgoal_successes"] >= 2


def test_an_exact_subgoal_reads_as_the_windows_target() -> None:
    p = lane_puzzle()
    enc = SlotEncoder()
    as_subgoal = enc.encode(PuzzleView(puzzle=p, current=40, subgoal=116, step=0, exact=True))
    short = Puzzle.create(target=116, forbidden=sorted(f for f in p.forbidden if f < 116))
    as_target = enc.encode(PuzzleView(puzzle=short, current=40, subgoal=116, step=0))
    np.testing.assert_array_equal(as_subgoal, as_target)
    blocks = as_subgoal.reshape(8, -1)
    assert not blocks[:, 7].any()  # no action lands on 116 from 40 in one step
    passing = enc.encode(PuzzleView(puzzle=p, current=113, subgoal=116, step=0))
    exact = enc.encode(PuzzleView(puzzle=p, current=113, subgoal=116, step=0, exact=True))
    # Slots 0..2 hold +1, +3, +5: only +3 lands on 116 as asked; passing it, +5 also does.
    assert passing.reshape(8, -1)[:3, 7].tolist() == [0, 1, 1]
    assert exact.reshape(8, -1)[:3, 7].tolist() == [0, 1, 0]
