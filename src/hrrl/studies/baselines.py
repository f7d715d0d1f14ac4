"""Baselines the agent is scored against, on the same suites and by the same rules.

| baseline      | what it sees                      | how it chooses                                       |
| ------------- | --------------------------------- | ---------------------------------------------------- |
| random        | nothing                           | a uniformly random action every step                 |
| greedy        | the puzzle (forbidden, target)    | the largest action that lands neither on a forbidden |
|               |                                   | number nor past the target (else the largest)        |
| tabular Q     | the raw pair (current, target)    | one-step Q-learning on a table, epsilon-greedy       |
| flat DQN      | raw [current, target, step,       | a standard DQN (vanilla target, uniform replay, no   |
|               | max_steps] / 100                  | clipping, fixed epsilon decay), no hierarchy         |
| exact         | everything                        | an optimal path (breadth-first search)               |

The two learners are trained the way the paper trained its baselines, on the paper's last
curriculum stage (targets 5-100, 2-5 forbidden numbers), and see what a naive engineer would
feed them: the raw numbers of :class:`~hrrl.puzzle.env.PuzzleEnv`. The raw view holds no forbidden
numbers at all, so a forbidden number can only be avoided by memorising states; the flat DQN's
inputs are divided by a constant (:data:`RAW_SCALE`, the largest training target), so a target of
10,000 reaches the network as 100, far outside anything it was trained on. Both are trained on
the ordered reward by default (the fixed reward; what differs is the representation and the
algorithm).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from hrrl.config import apply_overrides, check_choice, check_range
from hrrl.engine.task import PolicyFn
from hrrl.experiment import ExperimentConfig, preset, puzzle_section
from hrrl.puzzle.core import DEFAULT_ACTIONS, Puzzle, PuzzleView, Status
from hrrl.puzzle.curriculum import Stage
from hrrl.puzzle.env import PuzzleEnv
from hrrl.puzzle.player import BatchPlayer
from hrrl.puzzle.sampling import greedy_rollout, sample_puzzle
from hrrl.puzzle.solver import optimal_path, optimal_steps
from hrrl.puzzle.stack import fixed_adapter
from hrrl.puzzle.suite import Result
from hrrl.puzzle.task import PuzzleTask
from hrrl.run import puzzle_task

#: The flat DQN divides every raw number by this (the largest target of its training stage).
RAW_SCALE = 100.0
#: The paper's last curriculum stage: what the tabular and flat learners train on.
TRAIN_STAGE = Stage(targets=(5, 100), forbidden=(2, 5))

EnvFactory = Callable[[], gym.Env[Any, Any]]


# --- the raw-number view ------------------------------------------------------------------------
class RawScaled(gym.ObservationWrapper[np.ndarray, Any, Any]):
    """``[current, target, step, max_steps] / scale`` as float32: the naive input scaling."""

    def __init__(self, env: gym.Env[Any, Any], scale: float = RAW_SCALE) -> None:
        super().__init__(env)
        self.scale = float(scale)
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(4,), dtype=np.float32)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return (np.asarray(observation, dtype=np.float64) / self.scale).astype(np.float32)


class RawView:
    """What :class:`RawScaled` shows, for the player: ``[current, target, step, max_steps]``
    divided by ``scale`` (1: the bare numbers of :class:`~hrrl.puzzle.env.PuzzleEnv`)."""

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = float(scale)

    def encode(self, view: PuzzleView) -> np.ndarray:
        p = view.puzzle
        numbers = np.array([view.current, p.target, view.step, p.max_steps], dtype=np.float64)
        return (numbers / self.scale).astype(np.float32)


def play_raw(
    greedy: PolicyFn,
    puzzles: Sequence[Puzzle],
    *,
    scale: float = 1.0,
    actions: Sequence[int] = DEFAULT_ACTIONS,
    why: str = "one output per action",
) -> list[Result]:
    """A policy that reads the raw numbers (:class:`RawView`), played by the player every score
    goes through; no hierarchy, one action set."""
    player = BatchPlayer(encoder=RawView(scale), planner="none", greedy=greedy)
    return player.play(puzzles, adapt=fixed_adapter(actions, why))


def raw_env_factory(
    *, reward: str = "ordered", scale: float | None = None, actions: Sequence[int] = DEFAULT_ACTIONS
) -> EnvFactory:
    """Bare :class:`PuzzleEnv` (raw numbers, no hierarchy), scaled when ``scale`` is given."""

    def factory() -> gym.Env[Any, Any]:
        env: gym.Env[Any, Any] = PuzzleEnv(reward=reward, actions=tuple(actions))
        return env if scale is None else RawScaled(env, scale)

    return factory


# --- policies without learning ------------------------------------------------------------------
def _played(
    puzzles: Sequence[Puzzle], rollout: Callable[[Puzzle], tuple[list[int], Status]]
) -> list[Result]:
    """Each solvable puzzle played by ``rollout`` (its path and last status); UNSOLVABLE puzzles
    are reported before any step, as every player reports them."""
    out = []
    for p in puzzles:
        best = optimal_steps(p)
        if best is None:
            out.append(Result.unsolvable(p))
            continue
        path, status = rollout(p)
        out.append(Result.from_path(p, path, status, best))
    return out


def random_results(puzzles: Sequence[Puzzle], *, seed: int) -> list[Result]:
    """Uniformly random actions of each puzzle's own set."""
    rng = np.random.default_rng(seed)

    def rollout(p: Puzzle) -> tuple[list[int], Status]:
        x, path, status = p.start, [p.start], Status.IN_PROGRESS
        while status is Status.IN_PROGRESS:
            x += p.actions[int(rng.integers(len(p.actions)))]
            path.append(x)
            status = p.status_after(x, len(path) - 1)
        return path, status

    return _played(puzzles, rollout)


def greedy_results(puzzles: Sequence[Puzzle]) -> list[Result]:
    """The greedy heuristic: largest action landing neither forbidden nor past the target."""

    def rollout(p: Puzzle) -> tuple[list[int], Status]:
        roll = greedy_rollout(p, lookahead=0)
        return list(roll.path), roll.status

    return _played(puzzles, rollout)


def exact_results(puzzles: Sequence[Puzzle]) -> list[Result]:
    """The exact optimum: an optimal path for every solvable puzzle."""
    out = []
    for p in puzzles:
        path = optimal_path(p)
        if path is None:
            out.append(Result.unsolvable(p))
        else:
            out.append(Result.from_path(p, path, Status.SUCCESS, len(path) - 1))
    return out


# --- tabular Q-learning -------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class TabularQConfig:
    """One-step Q-learning on a table keyed by the raw pair (current, target)."""

    lr: float = 0.1
    """Step size of the update Q <- Q + lr (y - Q)."""
    gamma: float = 0.99
    """Discount factor."""
    epsilon_start: float = 1.0
    """Exploration at the first episode."""
    epsilon_end: float = 0.05
    """Exploration floor."""
    epsilon_decay: float = 0.999
    """Per-episode multiplicative decay of epsilon."""
    reward: str = "ordered"
    """Reward scheme of the training environment ('ordered' or 'legacy')."""

    def __post_init__(self) -> None:
        check_range("tabular.lr", self.lr, low=0.0, high=1.0, low_open=True)
        check_range("tabular.gamma", self.gamma, low=0.0, high=1.0)
        check_range("tabular.epsilon_start", self.epsilon_start, low=0.0, high=1.0)
        check_range("tabular.epsilon_end", self.epsilon_end, low=0.0, high=self.epsilon_start)
        check_range("tabular.epsilon_decay", self.epsilon_decay, low=0.0, high=1.0, low_open=True)
        check_choice("tabular.reward", self.reward, ("ordered", "legacy"))


class TabularQ:
    """``Q[(current, target)] -> (n_actions,)``; unseen keys read as zeros, so the greedy choice
    there is action 0 (ties go to the first action, as ``argmax`` does)::

        y = r + gamma * (1 - terminated) * max_a Q[(x', target)][a]
        Q[(x, target)][a] += lr * (y - Q[(x, target)][a])
    """

    def __init__(
        self, *, config: TabularQConfig, seed: int, actions: Sequence[int] = DEFAULT_ACTIONS
    ) -> None:
        self.config = config
        self.actions = tuple(actions)
        self.rng = np.random.default_rng(seed)
        self.table: dict[tuple[int, int], np.ndarray] = {}
        self.episodes = 0
        self.env_steps = 0

    def q(self, current: int, target: int) -> np.ndarray:
        return self.table.get((current, target), np.zeros(len(self.actions)))

    @property
    def epsilon(self) -> float:
        c = self.config
        return max(c.epsilon_end, c.epsilon_start * c.epsilon_decay**self.episodes)

    def train(self, env_steps: int, stage: Stage = TRAIN_STAGE) -> None:
        """Play training episodes (puzzles of ``stage``) until ``env_steps`` more steps."""
        c = self.config
        env = PuzzleEnv(reward=c.reward, actions=self.actions)
        stop = self.env_steps + env_steps
        while self.env_steps < stop:
            puzzle = sample_puzzle(
                self.rng, target_range=stage.targets, forbidden_count=stage.forbidden
            )
            obs, _ = env.reset(options={"puzzle": puzzle})
            done = False
            while not done and self.env_steps < stop:
                x, target = int(obs[0]), int(obs[1])
                q = self.table.setdefault((x, target), np.zeros(len(self.actions)))
                if self.rng.random() < self.epsilon:
                    a = int(self.rng.integers(len(self.actions)))
                else:
                    a = int(np.argmax(q))
                obs, reward, terminated, truncated, _ = env.step(a)
                bootstrap = (
                    0.0 if terminated else c.gamma * float(self.q(int(obs[0]), target).max())
                )
                q[a] += c.lr * (reward + bootstrap - q[a])
                self.env_steps += 1
                done = terminated or truncated
            self.episodes += 1

    def greedy(self, obs: np.ndarray) -> np.ndarray:
        """Greedy actions for a batch of raw observations ``[current, target, step, max_steps]``."""
        return np.array(
            [int(np.argmax(self.q(round(float(o[0])), round(float(o[1]))))) for o in obs],
            dtype=np.int64,
        )

    def play(self, puzzles: Sequence[Puzzle]) -> list[Result]:
        return play_raw(
            self.greedy, puzzles, actions=self.actions, why="a table of one value per action"
        )

    def state_dict(self) -> dict[str, Any]:
        keys = sorted(self.table)
        return {
            "keys": np.array(keys, dtype=np.int64).reshape(-1, 2),
            "values": np.array([self.table[k] for k in keys]).reshape(-1, len(self.actions)),
            "episodes": self.episodes,
            "env_steps": self.env_steps,
            "rng": self.rng.bit_generator.state,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        keys, values = np.asarray(state["keys"]), np.asarray(state["values"], dtype=np.float64)
        self.table = {(int(k[0]), int(k[1])): v.copy() for k, v in zip(keys, values, strict=True)}
        self.episodes = int(state["episodes"])
        self.env_steps = int(state["env_steps"])
        self.rng.bit_generator.state = state["rng"]


# --- flat DQN on raw numbers --------------------------------------------------------------------
#: A standard DQN of the paper's era on the paper's last stage: vanilla target, uniform replay,
#: no gradient clipping, no guard, fixed epsilon decay, a plain MLP, no curriculum gate.
FLAT_DQN_OVERRIDES: tuple[str, ...] = (
    "agent.network=mlp",
    "agent.hidden=128",
    "agent.double=false",
    "agent.max_grad_norm=null",
    "agent.target_update=hard",
    "agent.target_update_interval=500",
    "replay.kind=uniform",
    "replay.capacity=50000",
    "exploration.kind=decay",
    "exploration.decay=0.998",
    "exploration.end=0.05",
    "guard.enabled=false",
    "puzzle.planner=none",
    "puzzle.encoder=paper",
    "puzzle.curriculum.action_sets=fixed",
    "puzzle.eval_actions=[]",
    "puzzle.curriculum.mode=episodes",
    "puzzle.curriculum.stages=[{targets: [5, 100], forbidden: [2, 5]}]",
    "train.num_envs=8",
)


def flat_dqn_config(*, seed: int, env_steps: int, extra: Sequence[str] = ()) -> ExperimentConfig:
    """The flat DQN's experiment config (the default preset plus :data:`FLAT_DQN_OVERRIDES`)."""
    overrides = [*FLAT_DQN_OVERRIDES, f"train.seed={seed}", f"train.total_env_steps={env_steps}"]
    return apply_overrides(preset("default"), [*overrides, "checkpoint.enabled=false", *extra])


def raw_puzzle_task(config: ExperimentConfig, *, seed: int, scale: float = RAW_SCALE) -> PuzzleTask:
    """A :class:`PuzzleTask` (curriculum, episode accounting, evaluation) whose environments
    show the scaled raw numbers instead of the encoder's features."""
    task = puzzle_task(config, seed=seed)
    section = puzzle_section(config)
    factory = raw_env_factory(reward=section.reward, scale=scale, actions=section.actions)
    task.env_factory = factory
    task.view = RawView(scale)
    task.vec = type(task.vec)([factory] * task.num_envs)
    task.obs_dim = 4
    task.obs_shape = (4,)
    return task


def flat_policy(policy: PolicyFn, puzzles: Sequence[Puzzle]) -> list[Result]:
    """Play a policy that reads scaled raw observations (the flat DQN's)."""
    return play_raw(policy, puzzles, scale=RAW_SCALE)
