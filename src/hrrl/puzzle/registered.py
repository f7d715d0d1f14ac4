"""``gym.make("hrrl/NumberPuzzle-v0")``: the number puzzle as a ready-made Gymnasium task.

:class:`~hrrl.puzzle.env.PuzzleEnv` is the bare rule (a puzzle must be handed to each reset);
:class:`NumberPuzzleEnv` is what another RL library needs: puzzles drawn for it, and an
observation it can learn from. Inside, it is the training stack of the ``default`` preset
(:func:`hrrl.puzzle.stack.make_env`)::

    puzzle source (curriculum | family) ──> PuzzleEnv ──> HierarchyWrapper ──> EncodedObservation
         draws from self.np_random                           (planner subgoals)  (relational)

The registration turns off Gymnasium's passive checker and order enforcer (the class checks
``reset`` before ``step`` itself and passes ``check_env``), so ``gym.make`` returns this class
itself, unwrapped, and ``check_env(gym.make(ENV_ID))`` runs without the wrapper warning.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from hrrl.errors import ConfigError, PuzzleError, field_error
from hrrl.puzzle.config import PuzzleConfig
from hrrl.puzzle.core import DEFAULT_ACTIONS, Puzzle, Status
from hrrl.puzzle.curriculum import Curriculum
from hrrl.puzzle.encoders import make_encoder
from hrrl.puzzle.env import PuzzleEnv
from hrrl.puzzle.families import FAMILIES
from hrrl.puzzle.generate import check_families
from hrrl.puzzle.stack import make_env

#: The observations ``obs=`` chooses: the relational encoder's vector, or PuzzleEnv's raw numbers.
#: (The prototype's 12 paper features are unbounded, so their Box would fail ``check_env``.)
OBSERVATIONS: tuple[str, ...] = ("relational", "raw")


class NumberPuzzleEnv(gym.Env[np.ndarray, np.int64]):
    """Reach the target exactly by adding actions, never landing on a forbidden number; a new
    puzzle every episode.

    **Puzzles.** ``family=None`` (default): the training distribution of the ``default``
    preset, its gated curriculum (:class:`~hrrl.puzzle.curriculum.CurriculumConfig`: targets
    5-10 first, up to 100 with dense forbidden sets last), which moves to the next stage once
    the rolling success rate of its last 100 episodes reaches 0.9; a family name
    (:data:`hrrl.puzzle.families.FAMILIES`: ``scale``, ``trap``, ...) draws every puzzle from
    that family instead. Either way every draw comes from ``self.np_random``, so
    ``reset(seed=s)`` fixes the sequence (the curriculum's stage is progress, kept across
    seeds). ``reset(options={"puzzle": p})`` plays ``p`` instead (not counted by the
    curriculum).

    **Action space.** ``Discrete(len(actions))``: action ``i`` adds ``actions[i]`` (default
    ``(1, 3, 5)``; the families use that set only).

    **Observation space.** ``obs="relational"`` (default): the relational encoder's
    ``Box(float32, (dim,))``: scale-free, action-relative features of a bounded window ahead
    (what each action lands on: forbidden, overshoot, exact hit, dead end) and the planner's
    subgoal. ``obs="raw"``: PuzzleEnv's
    ``Box(int64, (4,))`` ``[current, target, step, max_steps]``, which does not show the
    forbidden numbers (and no subgoals are planned).

    **Reward.** ``reward="ordered"`` (default; every success beats every failure, the best
    return is the optimal path) or ``"legacy"`` (the prototype's), measured against the active
    subgoal (:class:`~hrrl.puzzle.hierarchy.HierarchyWrapper`); with ``obs="raw"``, against
    the target.

    **Episode end.** ``SUCCESS``, ``FORBIDDEN`` and ``OVERSHOOT`` terminate; ``MAX_STEPS`` (the
    puzzle's budget, ``max(2 * optimal, optimal + 20)`` for drawn puzzles) truncates.

    **Info.** ``status``, ``current``, ``step`` (and ``subgoal`` unless ``obs="raw"``), and
    ``stage``, the curriculum stage the puzzle came from (``-1`` for a family or a given
    puzzle).
    """

    metadata: dict[str, Any] = PuzzleEnv.metadata

    def __init__(
        self,
        *,
        family: str | None = None,
        actions: Sequence[int] = DEFAULT_ACTIONS,
        obs: str = "relational",
        reward: str = "ordered",
        render_mode: str | None = None,
    ) -> None:
        if obs not in OBSERVATIONS:
            raise field_error(ConfigError, "obs", obs, f"choose one of {', '.join(OBSERVATIONS)}")
        if render_mode is not None and render_mode not in PuzzleEnv.metadata["render_modes"]:
            raise field_error(ConfigError, "render_mode", render_mode, "use 'ansi' or 'rgb_array'")
        actions = tuple(actions)
        if family is not None:
            check_families([family])
        self._env: gym.Env[np.ndarray, np.int64] = (
            PuzzleEnv(reward=reward, actions=actions)
            if obs == "raw"
            else make_env(
                encoder=make_encoder(obs, actions=actions), reward=reward, actions=actions
            )
        )
        self.family = family
        self.render_mode = render_mode
        self.base.render_mode = render_mode  # the bare puzzle draws itself (hrrl.puzzle.render)
        self.curriculum = Curriculum(PuzzleConfig().curriculum, actions=self.base.actions)
        self.action_space = self._env.action_space
        self.observation_space = self._env.observation_space
        self._stage = -1
        self._counted = False

    @property
    def base(self) -> PuzzleEnv:
        """The bare puzzle environment inside (its ``puzzle``, ``current``, ``steps``)."""
        base = self._env.unwrapped
        assert isinstance(base, PuzzleEnv)
        return base

    @property
    def puzzle(self) -> Puzzle | None:
        """The puzzle of the current episode (None before the first reset)."""
        return self.base.puzzle

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        options = dict(options or {})
        given = options.pop("puzzle", None)
        if options:
            raise ValueError(
                f"reset options {sorted(options)} are unknown: the only option is 'puzzle'"
            )
        if given is not None:
            puzzle, self._stage, self._counted = given, -1, False
        elif self.family is not None:
            puzzle = FAMILIES[self.family](self.np_random, self.base.actions)
            self._stage, self._counted = -1, False
        else:
            self._stage, self._counted = self.curriculum.stage, True
            puzzle = self.curriculum.sample(self.np_random)
        if not isinstance(puzzle, Puzzle):
            raise field_error(
                PuzzleError, "puzzle", type(puzzle).__name__, "pass a hrrl.Puzzle in options"
            )
        obs, info = self._env.reset(options={"puzzle": puzzle})
        return obs, {**info, "stage": self._stage}

    def step(
        self, action: int | np.integer
    ) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self._env.step(np.int64(action))
        if (terminated or truncated) and self._counted:
            self.curriculum.on_episode_end(info["status"] == Status.SUCCESS.value)
            self._counted = False
        return obs, float(reward), terminated, truncated, {**info, "stage": self._stage}

    def render(self) -> str | np.ndarray | None:
        """The window around the current number (``render_mode`` "ansi" or "rgb_array")."""
        return self.base.render()

    def close(self) -> None:
        self._env.close()
        super().close()
