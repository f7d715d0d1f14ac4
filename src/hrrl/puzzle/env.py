"""The number puzzle as a Gymnasium environment (design §1), and batched collection built on it.

:class:`PuzzleEnv` is the one place an episode moves: it asks :meth:`Puzzle.status_after` (the
single step rule in ``puzzle.py``) what a landing means and asks the reward scheme what it is
worth. :class:`PuzzleVecEnv` steps N such environments (wrapped however the caller likes) through the
engine's batched loop, without Gymnasium's auto-reset, so the trainer decides which puzzle comes
next.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from hrrl.engine.vec_env import EnvBatch
from hrrl.errors import PuzzleError, field_error
from hrrl.puzzle import render
from hrrl.puzzle.core import DEFAULT_ACTIONS, MAX_NUMBER, MAX_STEPS_LIMIT, Puzzle, Status
from hrrl.puzzle.rewards import RewardScheme, Transition, make_reward

#: Draws a puzzle from the environment's own generator (``self.np_random``).
PuzzleGenerator = Callable[[np.random.Generator], Puzzle]


class PuzzleEnv(gym.Env[np.ndarray, np.int64]):
    """Reach ``target`` exactly by adding actions, never landing on a forbidden number.

    **Puzzles.** Each episode plays one :class:`~hrrl.puzzle.core.Puzzle`, given by
    ``reset(options={"puzzle": p})`` or drawn as ``generator(self.np_random)``. Either the action
    set is fixed when the environment is built (``actions``, default ``(1, 3, 5)``; a puzzle with a
    different action set, other values or another order, is refused with a ``PuzzleError``), or,
    with ``slots=K``, every puzzle plays its own set of at most ``K`` actions (more is refused).

    **Action space.** ``Discrete(len(actions))``: action ``i`` adds ``actions[i]``. With
    ``slots=K``: ``Discrete(K)``, and slot ``k`` adds ``puzzle.actions[k % n]`` for a puzzle of
    ``n`` actions (repeated slots are the same move).

    **Observation space.** ``Box(int64, shape=(4,))``, the raw numbers
    ``[current, target, step, max_steps]``, where ``step`` counts the steps taken so far::

        low  = [-MAX_NUMBER,              -MAX_NUMBER, 0,               1              ]
        high = [ MAX_NUMBER + max_action,  MAX_NUMBER, MAX_STEPS_LIMIT, MAX_STEPS_LIMIT]

    (``current`` may end up to ``max_action - 1`` past the target on an overshoot.)

    **Reward.** ``reward_scheme(Transition(puzzle, prev, x, step, status, goal=target))``, where
    the scheme is ``make_reward(reward)`` for a name (``"ordered"`` by default, ``"legacy"``) or
    the given :class:`~hrrl.puzzle.rewards.RewardScheme`. A hierarchy wrapper recomputes it with its own
    subgoal through ``env.unwrapped.reward_scheme``.

    **Episode end.** After each step, in this order (``Puzzle.status_after``): ``SUCCESS`` (hit the
    target), ``FORBIDDEN``, ``OVERSHOOT`` end the episode with ``terminated=True``; ``MAX_STEPS``
    (the step budget is spent) ends it with ``truncated=True, terminated=False``. Stepping an
    ended episode raises ``gymnasium.error.ResetNeeded``.

    **Info.** ``{"status": Status value (str), "current": int, "step": int}``.
    """

    metadata: dict[str, Any] = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}  # noqa: RUF012

    def __init__(
        self,
        *,
        reward: str | RewardScheme = "ordered",
        generator: PuzzleGenerator | None = None,
        actions: Iterable[int] = DEFAULT_ACTIONS,
        slots: int | None = None,
        render_mode: str | None = None,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise field_error(
                PuzzleError, "render_mode", render_mode, "use 'ansi', 'rgb_array' or None"
            )
        self.render_mode = render_mode
        # Validate the action set exactly as a puzzle would (positive, distinct integers).
        self.actions: tuple[int, ...] = Puzzle(
            target=1, forbidden=frozenset(), actions=tuple(actions), max_steps=1
        ).actions
        """The action set being played (with ``slots``: the current puzzle's)."""
        if slots is not None and (
            isinstance(slots, bool) or not isinstance(slots, int) or slots < 1
        ):
            raise field_error(PuzzleError, "slots", slots, "give an integer >= 1 (or None)")
        self.slots = slots
        self.reward_scheme: RewardScheme = (
            make_reward(reward) if isinstance(reward, str) else reward
        )
        self.generator = generator
        self._n_slots = len(self.actions) if slots is None else slots
        self.action_space = spaces.Discrete(self._n_slots)
        high_current = MAX_NUMBER + max(self.actions) if slots is None else 2 * MAX_NUMBER
        self.observation_space = spaces.Box(
            low=np.array([-MAX_NUMBER, -MAX_NUMBER, 0, 1], dtype=np.int64),
            high=np.array(
                [high_current, MAX_NUMBER, MAX_STEPS_LIMIT, MAX_STEPS_LIMIT], dtype=np.int64
            ),
            dtype=np.int64,
        )
        self.puzzle: Puzzle | None = None
        self.current = 0
        self.steps = 0
        self.status = Status.IN_PROGRESS
        self._visited: set[int] = set()  # the numbers this episode has been on (for render)

    # --- Gymnasium API ----------------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        options = dict(options or {})
        puzzle = options.pop("puzzle", None)
        if options:
            raise ValueError(
                f"reset options {sorted(options)} are unknown: the only option is 'puzzle'"
            )
        if puzzle is None:
            if self.generator is None:
                raise PuzzleError(
                    "reset() needs a puzzle: pass options={'puzzle': Puzzle(...)} or build "
                    "PuzzleEnv(generator=...)"
                )
            puzzle = self.generator(self.np_random)
        self.puzzle = self._accept(puzzle)
        self.current = self.puzzle.start
        self.steps = 0
        self.status = Status.IN_PROGRESS
        self._visited = {self.current}
        return self._obs(), self._info()

    def render(self) -> str | np.ndarray | None:
        """The window around the current number (:mod:`hrrl.puzzle.render`): text for
        ``render_mode="ansi"``, a picture for ``"rgb_array"``, nothing without a mode."""
        if self.render_mode is None or self.puzzle is None:
            return None
        if self.render_mode == "ansi":
            return render.ansi(
                self.puzzle, self.current, self.steps, self.status.value, self._visited
            )
        return render.rgb_array(self.puzzle, self.current, self._visited)

    def step(
        self, action: int | np.integer
    ) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self.puzzle is None:
            raise gym.error.ResetNeeded("step() before reset(): call reset() first")
        if self.status.terminal:
            raise gym.error.ResetNeeded(
                f"step() after the episode ended with {self.status.value}: call reset() first"
            )
        # A plain range check: Discrete.contains was an eighth of greedy play's time.
        if (
            isinstance(action, bool)
            or not isinstance(action, (int, np.integer))
            or not 0 <= action < self._n_slots
        ):
            raise ValueError(
                f"action={action!r} is invalid: give an integer in [0, {self._n_slots - 1}]"
            )
        prev = self.current
        self.current = prev + self.actions[int(action) % len(self.actions)]
        if self.render_mode is not None:
            self._visited.add(self.current)
        self.steps += 1
        self.status = self.puzzle.status_after(self.current, self.steps)
        reward = self.reward_scheme(
            Transition(
                puzzle=self.puzzle,
                prev=prev,
                x=self.current,
                step=self.steps,
                status=self.status,
                goal=self.puzzle.target,
            )
        )
        truncated = self.status is Status.MAX_STEPS
        terminated = self.status.terminal and not truncated
        return self._obs(), float(reward), terminated, truncated, self._info()

    # --- checkpointing ----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The episode in progress and the RNG, as plain data."""
        return {
            "puzzle": None if self.puzzle is None else self.puzzle.to_dict(),
            "current": self.current,
            "steps": self.steps,
            "status": self.status.value,
            "rng": self.np_random.bit_generator.state,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        puzzle = state["puzzle"]
        self.puzzle = None if puzzle is None else self._accept(Puzzle.from_dict(puzzle))
        self.current = int(state["current"])
        self.steps = int(state["steps"])
        self.status = Status(state["status"])
        self._visited = {self.current}
        rng_state = dict(state["rng"])
        bit_generator = getattr(np.random, rng_state["bit_generator"])()
        bit_generator.state = rng_state
        self.np_random = np.random.Generator(bit_generator)

    # --- helpers ----------------------------------------------------------------------------------
    def _accept(self, puzzle: object) -> Puzzle:
        if not isinstance(puzzle, Puzzle):
            raise field_error(
                PuzzleError, "puzzle", type(puzzle).__name__, "pass a hrrl.puzzle.core.Puzzle"
            )
        if self.slots is not None:
            if len(puzzle.actions) > self.slots:
                raise field_error(
                    PuzzleError,
                    "actions",
                    list(puzzle.actions),
                    f"this environment has {self.slots} action slots: give at most "
                    f"{self.slots} actions",
                )
            self.actions = puzzle.actions
            return puzzle
        if puzzle.actions != self.actions:
            raise field_error(
                PuzzleError,
                "actions",
                list(puzzle.actions),
                f"this environment plays actions {list(self.actions)} (same order); build a "
                f"PuzzleEnv(actions={list(puzzle.actions)}) for this puzzle",
            )
        return puzzle

    def _obs(self) -> np.ndarray:
        assert self.puzzle is not None
        p = self.puzzle
        return np.array([self.current, p.target, self.steps, p.max_steps], dtype=np.int64)

    def _info(self) -> dict[str, Any]:
        return {"status": self.status.value, "current": self.current, "step": self.steps}


class PuzzleVecEnv:
    """N puzzle environments stepped in one call: the engine's :class:`EnvBatch` with puzzles.

    Each env is any ``gymnasium.Env`` (typically a ``PuzzleEnv`` under a hierarchy wrapper and an
    encoder), so the rules exist once. As in the engine's batch there is no auto-reset: when env
    ``i`` ends, ``step`` returns its *final* observation and env ``i`` stays finished until
    ``reset_one(i, puzzle)``. ``step(actions, active=mask)`` steps only the masked envs (the
    others report their last observation, reward 0, both flags False and an empty info).
    """

    def __init__(self, env_fns: Sequence[Callable[[], gym.Env[Any, Any]]]) -> None:
        if not env_fns:
            raise ValueError("env_fns=[] is invalid: give at least one environment factory")
        envs: list[gym.Env[Any, Any]] = [fn() for fn in env_fns]
        self.envs = envs
        self.num_envs = len(envs)
        dim = int(np.prod(envs[0].observation_space.shape or (1,)))
        self.batch = EnvBatch(envs, obs_dim=dim)
        self._started = np.zeros(self.num_envs, dtype=bool)

    @property
    def running(self) -> np.ndarray:
        return self.batch.running

    def reset(
        self, puzzles: Sequence[Puzzle | None] | None = None, *, seed: int | None = None
    ) -> tuple[np.ndarray, list[dict[str, Any]]]:
        """Reset every env, env ``i`` with ``puzzles[i]`` (None: its generator) and seed ``seed+i``."""
        if puzzles is not None and len(puzzles) != self.num_envs:
            raise ValueError(
                f"puzzles has {len(puzzles)} entries: give one per env ({self.num_envs})"
            )
        infos = []
        for i in range(self.num_envs):
            puzzle = None if puzzles is None else puzzles[i]
            _, info = self.reset_one(i, puzzle, seed=None if seed is None else seed + i)
            infos.append(info)
        return self.batch.obs.copy(), infos

    def reset_one(
        self, i: int, puzzle: Puzzle | None = None, *, seed: int | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start env ``i`` on ``puzzle`` (None: its generator); returns its first observation."""
        options = None if puzzle is None else {"puzzle": puzzle}
        self._started[i] = True
        obs, info = self.batch.start(i, seed=seed, options=options)
        return obs.copy(), info

    def step(
        self, actions: np.ndarray | Sequence[int], *, active: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        """Step the envs: ``(obs[N], rewards[N], terminated[N], truncated[N], infos)``."""
        if not self._started.all():
            raise gym.error.ResetNeeded("some envs were never reset: call reset() first")
        try:
            out = self.batch.step(np.asarray(actions), active=active)
        except RuntimeError as exc:  # a finished env asked to step
            raise gym.error.ResetNeeded(str(exc)) from exc
        return out.obs, out.rewards, out.terminated, out.truncated, out.infos

    def close(self) -> None:
        self.batch.close()

    # --- checkpointing ----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Each env's layers that can be saved (outermost first), the running mask, the last obs."""
        return {
            "envs": [[layer.state_dict() for layer in _saveable_layers(e)] for e in self.envs],
            "running": self.running.copy(),
            "obs": [row.copy() for row in self.batch.obs],
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if len(state["envs"]) != self.num_envs:
            raise ValueError(
                f"state holds {len(state['envs'])} envs: this PuzzleVecEnv has {self.num_envs}"
            )
        for env, layer_states in zip(self.envs, state["envs"], strict=True):
            for layer, layer_state in zip(_saveable_layers(env), layer_states, strict=True):
                layer.load_state_dict(layer_state)
        self.batch.running[:] = np.asarray(state["running"], dtype=bool)
        for i, row in enumerate(state["obs"]):
            self._started[i] = row is not None
            if row is not None:
                self.batch.obs[i] = np.asarray(row, dtype=np.float32).reshape(self.batch.obs_dim)


def _saveable_layers(env: gym.Env[Any, Any]) -> list[Any]:
    """The wrapper chain from ``env`` down to the base env, keeping layers with ``state_dict``."""
    layers: list[Any] = []
    layer: Any = env
    while True:
        if callable(getattr(type(layer), "state_dict", None)):
            layers.append(layer)
        if not isinstance(layer, gym.Wrapper):
            return layers
        layer = layer.env
