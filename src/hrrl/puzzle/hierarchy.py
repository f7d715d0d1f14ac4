"""The hierarchy as a wrapper: waypoints from the planner, one active subgoal at a time (design §2).

::

    start ──── w1 ──── w2 ──── w3 ──── target
               ^ active subgoal until current >= w1, then w2, ...

The wrapper plans at ``reset`` (from the start, with the configured rule), tracks which waypoint
is active, puts it in ``info["subgoal"]`` and under :attr:`HierarchyWrapper.subgoal`, and
recomputes the reward against the subgoal that was active *before* the step. A waypoint is passed
when ``current >= waypoint`` (one step may pass several); only the target must be hit exactly. The
agent never sees puzzles, only the observation the encoder builds from :meth:`view`.

With ``planner="horizon"`` the high level also glances :data:`~hrrl.puzzle.horizon.HORIZON_WINDOWS`
low-level windows ahead (:mod:`hrrl.puzzle.horizon`) at reset, at every waypoint and every half
window of progress; when the window holds numbers that look live but die within the horizon (or
at a level of bounded views above it, :mod:`hrrl.puzzle.levels`, up to ``levels`` of them) it
puts an *exact* waypoint in front (a number to land on, ``view().exact``), and re-plans once it is
reached or missed. Every subgoal ends as a success (an exact one landed on, a pass one passed)
or a failure (an exact one jumped over, or the episode ending before it); the counts are in
``info["subgoal_successes"]`` and ``info["subgoal_failures"]`` (this episode's, so far).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from hrrl.errors import ConfigError, field_error
from hrrl.puzzle.core import Puzzle, PuzzleView, Status
from hrrl.puzzle.env import PuzzleEnv
from hrrl.puzzle.horizon import HORIZON_WINDOWS, check_horizon, exact_waypoint, window_of
from hrrl.puzzle.levels import MAX_LEVELS, check_levels
from hrrl.puzzle.planner import DEFAULT_WINDOW, PLANNER_RULES, decompose
from hrrl.puzzle.rewards import Transition


class Subgoals:
    """One episode's subgoals: the planner's waypoints, the exact one in force, their tally.

    The rules both the wrapper and batched play (:mod:`hrrl.puzzle.player`) follow: a waypoint
    is passed when ``current >= waypoint`` (never the last, the target); under ``"horizon"`` a
    glance ahead may put an exact waypoint in front, scored when reached or jumped over.
    """

    def __init__(
        self, *, planner: str, window: int, horizon: int, levels: int = MAX_LEVELS
    ) -> None:
        self.planner = planner
        self.window = window
        self.horizon = horizon
        self.levels = levels
        self.waypoints: list[int] = []
        self.index = 0
        self.exact: int | None = None
        """The exact waypoint in force (it comes before ``waypoints[index]``), or None."""
        self.successes = 0
        self.failures = 0
        self.next_glance = 0

    def start(self, puzzle: Puzzle, current: int) -> None:
        """Plan from ``current`` (the constraint rule's waypoints under ``"horizon"``)."""
        rule = "constraint" if self.planner == "horizon" else self.planner
        self.waypoints = decompose(puzzle, current, rule=rule, window=self.window)
        self.index = 0
        self.exact = None
        self.successes = self.failures = 0
        self.next_glance = current
        self.advance(puzzle, current, ended=False)

    @property
    def subgoal(self) -> int:
        """The waypoint to reach next (the target once every waypoint is passed)."""
        return self.waypoints[self.index] if self.exact is None else self.exact

    def advance(self, puzzle: Puzzle, current: int, *, ended: bool) -> None:
        """Score and retire the subgoals ``current`` settled, then (horizon) glance ahead."""
        passed = False
        if self.exact is not None and (current >= self.exact or ended):
            landed = current == self.exact
            self.successes += landed
            self.failures += not landed
            self.exact, passed = None, True
        # Pass every waypoint at or below `current`, but never move past the target (the last).
        while self.index < len(self.waypoints) - 1 and current >= self.waypoints[self.index]:
            self.index += 1
            self.successes += 1
            passed = True
        if ended:
            target_hit = current == self.waypoints[-1]
            self.successes += target_hit
            self.failures += not target_hit
            return
        if (
            self.planner == "horizon"
            and self.exact is None
            and (passed or current >= self.next_glance)
        ):
            self.next_glance = current + max(1, window_of(puzzle) // 2)
            self.exact = exact_waypoint(puzzle, current, self.horizon, self.levels)

    def state_dict(self) -> dict[str, Any]:
        return {
            "planner": self.planner,
            "waypoints": list(self.waypoints),
            "index": self.index,
            "exact": self.exact,
            "successes": self.successes,
            "failures": self.failures,
            "next_glance": self.next_glance,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.waypoints = [int(w) for w in state["waypoints"]]
        self.index = int(state["index"])
        exact = state.get("exact")
        self.exact = None if exact is None else int(exact)
        self.successes = int(state.get("successes", 0))
        self.failures = int(state.get("failures", 0))
        self.next_glance = int(state.get("next_glance", 0))


class HierarchyWrapper(gym.Wrapper[np.ndarray, np.int64, np.ndarray, np.int64]):
    """Adds subgoals to a :class:`~hrrl.puzzle.env.PuzzleEnv` (possibly already wrapped).

    Observations, spaces and episode ends are the wrapped env's; the reward becomes
    ``reward_scheme(Transition(puzzle, prev, x, step, status, goal=subgoal_before_step))`` and
    ``info`` gains ``"subgoal"`` (the subgoal active *after* the step, i.e. the next one to aim
    at). ``planner`` is ``"constraint"`` (default), ``"horizon"`` (constraint waypoints plus
    exact ones from a glance ``horizon`` windows ahead and ``levels`` of views above it),
    ``"paper"`` or ``"none"`` (the target only). The subgoals themselves are a
    :class:`Subgoals`.
    """

    def __init__(
        self,
        env: gym.Env[np.ndarray, np.int64],
        *,
        planner: str = "constraint",
        window: int = DEFAULT_WINDOW,
        horizon: int = HORIZON_WINDOWS,
        levels: int = MAX_LEVELS,
    ) -> None:
        super().__init__(env)
        if planner not in PLANNER_RULES:
            raise field_error(
                ConfigError, "planner", planner, f"choose one of {', '.join(PLANNER_RULES)}"
            )
        if window < 1:
            raise field_error(ConfigError, "window", window, "look at least 1 number ahead")
        if not isinstance(env.unwrapped, PuzzleEnv):
            raise TypeError(
                f"HierarchyWrapper needs a PuzzleEnv underneath, got {type(env.unwrapped).__name__}"
            )
        self.planner = planner
        self.window = window
        self.horizon = check_horizon(horizon)
        self.levels = check_levels(levels)
        self.goals = Subgoals(
            planner=planner, window=window, horizon=self.horizon, levels=self.levels
        )

    @property
    def puzzle_env(self) -> PuzzleEnv:
        base = self.env.unwrapped
        assert isinstance(base, PuzzleEnv)
        return base

    @property
    def waypoints(self) -> list[int]:
        """The planner's waypoints of this episode (the target last)."""
        return self.goals.waypoints

    @property
    def subgoal(self) -> int:
        """The waypoint the agent should reach next (the target once every waypoint is passed)."""
        if not self.goals.waypoints:
            raise gym.error.ResetNeeded("no subgoal before reset(): call reset() first")
        return self.goals.subgoal

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        base = self.puzzle_env
        assert base.puzzle is not None
        self.goals.start(base.puzzle, base.current)
        return obs, {**info, **self._info()}

    def step(self, action: np.int64) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        base = self.puzzle_env
        goal, exact, prev = self.subgoal, self.goals.exact is not None, base.current
        obs, _, terminated, truncated, info = self.env.step(action)
        assert base.puzzle is not None
        reward = base.reward_scheme(
            Transition(
                puzzle=base.puzzle,
                prev=prev,
                x=base.current,
                step=base.steps,
                status=Status(info["status"]),
                goal=goal,
                exact=exact,
            )
        )
        self.goals.advance(base.puzzle, base.current, ended=terminated or truncated)
        return obs, float(reward), terminated, truncated, {**info, **self._info()}

    def _info(self) -> dict[str, Any]:
        return {
            "subgoal": self.subgoal,
            "subgoal_successes": self.goals.successes,
            "subgoal_failures": self.goals.failures,
        }

    def view(self) -> PuzzleView:
        """What an encoder sees now: the puzzle, the current number, the subgoal, steps taken."""
        base = self.puzzle_env
        if base.puzzle is None:
            raise gym.error.ResetNeeded("no view before reset(): call reset() first")
        return PuzzleView(
            puzzle=base.puzzle,
            current=base.current,
            subgoal=self.subgoal,
            step=base.steps,
            exact=self.goals.exact is not None,
        )

    # --- checkpointing ----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Only this layer's state (the subgoals and their tally); the env saves its own."""
        return self.goals.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if state["planner"] != self.planner:
            raise ValueError(
                f"state was saved with planner={state['planner']!r}; this wrapper uses "
                f"{self.planner!r}: build it with the same planner"
            )
        self.goals.load_state_dict(state)
