"""The hierarchy as a wrapper: waypoints from the planner, one active subgoal at a time (DESIGN §2).

::

    start ──── w1 ──── w2 ──── w3 ──── target
               ^ active subgoal until current >= w1, then w2, ...

The wrapper plans at ``reset`` (from the start, with the configured rule), tracks which waypoint
is active, puts it in ``info["subgoal"]`` and under :attr:`HierarchyWrapper.subgoal`, and
recomputes the reward against the subgoal that was active *before* the step. A waypoint is passed
when ``current >= waypoint`` (one step may pass several); only the target must be hit exactly. The
agent never sees puzzles, only the observation the encoder builds from :meth:`view`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from hrrl.errors import ConfigError, field_error
from hrrl.puzzle.core import PuzzleView, Status
from hrrl.puzzle.env import PuzzleEnv
from hrrl.puzzle.planner import DEFAULT_WINDOW, PLANNER_RULES, decompose
from hrrl.puzzle.rewards import Transition


class HierarchyWrapper(gym.Wrapper[np.ndarray, np.int64, np.ndarray, np.int64]):
    """Adds subgoals to a :class:`~hrrl.puzzle.env.PuzzleEnv` (possibly already wrapped).

    Observations, spaces and episode ends are the wrapped env's; the reward becomes
    ``reward_scheme(Transition(puzzle, prev, x, step, status, goal=subgoal_before_step))`` and
    ``info`` gains ``"subgoal"`` (the subgoal active *after* the step, i.e. the next one to aim
    at). ``planner`` is ``"constraint"`` (default), ``"paper"`` or ``"none"`` (the target only).
    """

    def __init__(
        self,
        env: gym.Env[np.ndarray, np.int64],
        *,
        planner: str = "constraint",
        window: int = DEFAULT_WINDOW,
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
        self.waypoints: list[int] = []
        self._index = 0

    @property
    def puzzle_env(self) -> PuzzleEnv:
        base = self.env.unwrapped
        assert isinstance(base, PuzzleEnv)
        return base

    @property
    def subgoal(self) -> int:
        """The waypoint the agent should reach next (the target once every waypoint is passed)."""
        if not self.waypoints:
            raise gym.error.ResetNeeded("no subgoal before reset(): call reset() first")
        return self.waypoints[self._index]

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        base = self.puzzle_env
        assert base.puzzle is not None
        self.waypoints = decompose(base.puzzle, base.current, rule=self.planner, window=self.window)
        self._index = 0
        self._advance(base.current)
        return obs, {**info, "subgoal": self.subgoal}

    def step(self, action: np.int64) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        base = self.puzzle_env
        goal, prev = self.subgoal, base.current
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
            )
        )
        self._advance(base.current)
        return obs, float(reward), terminated, truncated, {**info, "subgoal": self.subgoal}

    def view(self) -> PuzzleView:
        """What an encoder sees now: the puzzle, the current number, the subgoal, steps taken."""
        base = self.puzzle_env
        if base.puzzle is None:
            raise gym.error.ResetNeeded("no view before reset(): call reset() first")
        return PuzzleView(
            puzzle=base.puzzle, current=base.current, subgoal=self.subgoal, step=base.steps
        )

    # --- checkpointing ----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Only this layer's state (the waypoints and which is active); the env saves its own."""
        return {"planner": self.planner, "waypoints": list(self.waypoints), "index": self._index}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if state["planner"] != self.planner:
            raise ValueError(
                f"state was saved with planner={state['planner']!r}; this wrapper uses "
                f"{self.planner!r}: build it with the same planner"
            )
        self.waypoints = [int(w) for w in state["waypoints"]]
        self._index = int(state["index"])

    def _advance(self, current: int) -> None:
        self._index = active_waypoint(self.waypoints, self._index, current)


def active_waypoint(waypoints: Sequence[int], index: int, current: int) -> int:
    """The active waypoint's index once ``current`` is reached, from ``index``: every waypoint at
    or below ``current`` is passed, but never the last (the target must be hit exactly)."""
    last = len(waypoints) - 1
    while index < last and current >= waypoints[index]:
        index += 1
    return index
