"""Any Gymnasium environment with discrete actions and Box observations as a training task.

::

    gymnasium.vector.{Sync,Async}VectorEnv of make(env_id) x num_envs   (gym.vector; hrrl.gym.vector)
          step(actions) ──> StepOutcome
          env i ends (terminated | truncated) ──> next_obs[i] = info["final_obs"][i], its true
                                                                last observation
                                                  obs[i]      = first obs of its next episode
                                                                (autoreset in the same step)

* **Termination vs truncation.** ``terminated`` (the pole fell, the car reached the flag) ends the
  return; ``truncated`` (the ``TimeLimit``) does not: the trainer stores it as not-terminated so
  the TD target still bootstraps from the final observation.
* **Success** of an episode: its return reaches the environment spec's ``reward_threshold``
  (CartPole-v1 475, Acrobot-v1 -100, MountainCar-v0 -110). An environment without a threshold
  has no successes (``eval/success_rate`` is NaN; the best checkpoint then follows the return).
* **Evaluation**: ``gym.eval_episodes`` greedy episodes seeded ``gym.eval_seed + k`` (fixed, so
  every evaluation plays the same starts), all played at once in one batched forward pass per
  step, on environments apart from the training ones. Metrics: ``eval/mean_return``,
  ``eval/return_std``, ``eval/mean_length``, ``eval/success_rate`` (fraction of episodes at or
  above the threshold) and ``eval/efficiency``, the mean return normalised to the range of
  possible episode returns, ``(R - R_min) / (R_max - R_min)`` (:data:`RETURN_RANGES`: 0 to 500
  for CartPole-v1, -500 to 0 for Acrobot-v1, -200 to 0 for MountainCar-v0; the raw mean return
  for an id outside that table), for the ablation's charts.
* **Ranking and stopping**: an evaluation scores its mean return (:meth:`GymTask.score`: the
  trainer's best, the early stop's patience and the checkpoint store's ``best`` read it); a run
  stops early once the mean return reaches ``gym.stop_return``, when one is set
  (:meth:`GymTask.solved`).
* **Exact resume**: :meth:`GymTask.state_dict` holds each environment's RNG and every
  plain-data attribute of the env and its wrappers (:mod:`hrrl.gym.state`, read inside the
  sub-process for ``async``): the whole state of the classic-control and toy-text environments,
  so a resumed run continues mid-episode bit-identically, sync or async. The vector env itself
  holds nothing between steps in the same-step autoreset mode. An env holding other objects (Box2D, MuJoCo) is marked ``exact: False``;
  loading then restores its RNG and starts a new episode (resume at an episode boundary), and
  the trainer's first transition for that env after the load pairs the saved observation with
  the new episode.
* **A failing environment**: when a sub-env raises, its state (and an async worker) is lost;
  :meth:`GymTask.state_dict` then saves no env state and fresh seeds, so a run resumed from the
  checkpoint of its last whole step starts new episodes (:class:`~hrrl.engine.task.TaskStepError`).
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import math
from collections.abc import Mapping
from functools import partial
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

from hrrl.engine.networks import is_frame_stack
from hrrl.engine.task import (
    EpisodeEnd,
    PolicyFn,
    QFunction,
    Score,
    StepOutcome,
    greedy_policy,
)
from hrrl.engine.vec_env import EnvBatch, EpisodeStart, play_episodes
from hrrl.errors import CheckpointError, EnvironmentMismatchError
from hrrl.gym.config import ATARI_PREFIX, is_atari
from hrrl.gym.vector import make_vector_env

#: Version of the layout :meth:`GymTask.state_dict` returns.
STATE_VERSION = 1

#: The metric an evaluation is ranked by.
RETURN_METRIC = "eval/mean_return"
#: The score of an evaluation without a finite mean return: below any real one.
MISSING_RETURN = 1e300

#: (lowest, highest) return of one episode, for ``eval/efficiency``.
RETURN_RANGES: dict[str, tuple[float, float]] = {
    "CartPole-v1": (0.0, 500.0),
    "Acrobot-v1": (-500.0, 0.0),
    "MountainCar-v0": (-200.0, 0.0),
}


def check_env_spaces(env_id: str, env: gymnasium.Env[Any, Any]) -> tuple[int, int, int]:
    """``(obs_dim, n_actions, action_start)``, or :class:`EnvironmentMismatchError` saying what
    the engine needs: a ``Discrete`` action space and a ``Box`` observation space."""
    need = "hrrl's DQN engine needs a Discrete action space and a Box observation space"
    act, obs = env.action_space, env.observation_space
    if not isinstance(act, spaces.Discrete):
        raise EnvironmentMismatchError(
            f"env {env_id!r} has action space {act} ({type(act).__name__}): {need}; "
            "continuous or multi-part actions need a different algorithm (or a discretising "
            "wrapper registered as a new id)"
        )
    if not isinstance(obs, spaces.Box) or obs.dtype is None or obs.dtype.kind not in "biuf":
        raise EnvironmentMismatchError(
            f"env {env_id!r} has observation space {obs} ({type(obs).__name__}): {need}; "
            "flatten dict/tuple observations into one numeric vector first "
            "(e.g. gymnasium.wrappers.FlattenObservation, registered as a new id)"
        )
    return int(np.prod(obs.shape)), int(act.n), int(act.start)


#: Id prefixes whose package registers them on demand: its module, the function of it that
#: registers them (None: importing it does), and the extra that installs it.
ON_DEMAND = {
    "MinAtar/": ("minatar.gym", "register_envs", "minatar"),
    ATARI_PREFIX: ("ale_py", None, "atari"),
}
#: Frames in an Atari observation's stack.
ATARI_STACK = 4
#: The chance that a frame repeats the previous frame's action (Machado et al. 2018; the -v5
#: ids' own value).
STICKY_ACTIONS = 0.25


def atari_preprocessing(
    env: gymnasium.Env[Any, Any], *, terminal_on_life_loss: bool = False
) -> gymnasium.Env[Any, Any]:
    """The standard Atari preprocessing (Machado et al. 2018 as Gymnasium gives it) on an ALE env
    made with ``frameskip=1`` and no sticky actions of its own: sticky actions per frame
    (:data:`STICKY_ACTIONS`, Gymnasium's ``StickyAction``: ALE keeps the action it repeats
    outside the state it clones, so a game restored from a checkpoint would repeat another
    action; here it is plain state, and a resumed game continues exactly), up to 30 no-ops at
    reset, 4 frames per action (the last two max-pooled), 84 x 84 greyscale, then the last 4 of
    those stacked channels-first (the first stack of an episode repeats its reset frame): uint8
    ``(4, 84, 84)``. ``terminal_on_life_loss``: a lost life ends the episode."""
    env = gymnasium.wrappers.StickyAction(env, repeat_action_probability=STICKY_ACTIONS)
    env = gymnasium.wrappers.AtariPreprocessing(
        env,
        noop_max=30,
        frame_skip=4,
        screen_size=84,
        terminal_on_life_loss=terminal_on_life_loss,
        grayscale_obs=True,
        scale_obs=False,
    )
    return gymnasium.wrappers.FrameStackObservation(env, ATARI_STACK)


#: The fields of an EnvSpec that ``gymnasium.register`` takes back.
_SPEC_FIELDS = [
    f
    for f in dataclasses.fields(gymnasium.envs.registration.EnvSpec)
    if f.init and f.name in inspect.signature(gymnasium.register).parameters
]


def registered_spec(env_id: str) -> gymnasium.envs.registration.EnvSpec | None:
    """The spec this process registered ``env_id`` under (None: unknown here), for a process
    that has not (an Ape-X actor: :func:`register_spec` there)."""
    return gymnasium.registry.get(env_id)


def register_spec(spec: gymnasium.envs.registration.EnvSpec | None) -> None:
    """Register ``spec`` in this process unless its id is registered already."""
    if spec is not None and spec.id not in gymnasium.registry:
        gymnasium.register(**{f.name: getattr(spec, f.name) for f in _SPEC_FIELDS})


def make_env(
    env_id: str, *, render_mode: str | None = None, terminal_on_life_loss: bool = False
) -> gymnasium.Env[Any, Any]:
    """``gymnasium.make(env_id, render_mode=...)``, with an unknown id turned into a clear error.
    MinAtar's and ALE's ids are registered on first use (their packages register them only when
    imported or asked); an Atari game gets :func:`atari_preprocessing`."""
    for prefix, (module, register, extra) in ON_DEMAND.items():
        if env_id.startswith(prefix) and env_id not in gymnasium.registry:
            try:
                imported = importlib.import_module(module)
            except ImportError as exc:
                raise EnvironmentMismatchError(
                    f"env {env_id!r} needs the {extra} package: pip install 'hrrl[{extra}]'"
                ) from exc
            if register is not None:
                getattr(imported, register)()
    # render_mode only when asked: Gymnasium hands an explicit one, None too, to the env's
    # constructor, which an env of your own need not take.
    kwargs: dict[str, Any] = {} if render_mode is None else {"render_mode": render_mode}
    if is_atari(env_id):
        kwargs["frameskip"] = 1  # the preprocessing skips frames (and max-pools the last two)
        kwargs["repeat_action_probability"] = 0.0  # sticky actions in a wrapper (see there)
    try:
        env = gymnasium.make(env_id, **kwargs)
    except gymnasium.error.Error as exc:
        raise EnvironmentMismatchError(
            f"env.env_id={env_id!r} cannot be made: {exc} (give a registered Gymnasium id, "
            "e.g. CartPole-v1)"
        ) from exc
    except ImportError as exc:  # ``module:Id``: Gymnasium imports the module, which registers Id
        module = env_id.partition(":")[0]
        raise EnvironmentMismatchError(
            f"env {env_id!r}: its module {module!r} cannot be imported ({exc}); a module:Id env "
            "needs that module on the Python path (the current directory, or PYTHONPATH)"
        ) from exc
    if is_atari(env_id):
        return atari_preprocessing(env, terminal_on_life_loss=terminal_on_life_loss)
    return one_hot_discrete(env)


def one_hot_discrete(env: gymnasium.Env[Any, Any]) -> gymnasium.Env[Any, Any]:
    """``env`` with a ``Discrete(n)`` observation given as a one-hot vector of ``n`` floats
    (what Stable-Baselines3 does for Taxi-v4 and FrozenLake-v1); any other space unchanged."""
    space = env.observation_space
    if not isinstance(space, spaces.Discrete):
        return env
    n, start = int(space.n), int(space.start)
    return gymnasium.wrappers.TransformObservation(
        env, partial(one_hot, n=n, start=start), spaces.Box(0.0, 1.0, (n,), np.float32)
    )


def one_hot(obs: Any, *, n: int, start: int = 0) -> np.ndarray:
    """``Discrete(n, start)`` observations as one-hot float32 rows: one integer gives ``(n,)``,
    an array of them ``(B, n)``."""
    cells = np.asarray(obs, dtype=np.int64) - start
    rows = np.zeros((*cells.shape, n), dtype=np.float32)
    np.put_along_axis(rows, cells[..., None], 1.0, axis=-1)
    return rows


class ReturnRule:
    """A Gymnasium evaluation ranks by its mean return and, with ``stop_return`` set, ends
    training once the mean return reaches it."""

    def __init__(self, stop_return: float | None = None) -> None:
        self.stop_return = stop_return

    @staticmethod
    def score(metrics: Mapping[str, float]) -> Score:
        """The mean evaluation return (below any real one when it is missing)."""
        value = metrics.get(RETURN_METRIC, math.nan)
        return (float(value) if math.isfinite(value) else -MISSING_RETURN,)

    def solved(self, metrics: Mapping[str, float]) -> bool:
        """Whether the mean evaluation return reached ``stop_return`` (never without one)."""
        value = metrics.get(RETURN_METRIC, math.nan)
        return self.stop_return is not None and math.isfinite(value) and value >= self.stop_return

    @staticmethod
    def evaluation_due(last: Mapping[str, float], stage: int) -> bool:
        """Never: a Gymnasium task is evaluated on the ``train.eval_every`` cadence alone."""
        return False


class GymTask:
    """``num_envs`` copies of ``gymnasium.make(env_id)`` in one ``gymnasium.vector`` env
    (``vector``: ``sync``, or ``async`` for a process per copy; both collect the same data).

    Env ``i``'s first episode is seeded from ``seed`` (a :class:`numpy.random.SeedSequence`
    child); later episodes draw from that env's own ``np_random``, as Gymnasium intends.
    """

    def __init__(
        self,
        env_id: str,
        *,
        num_envs: int,
        seed: int,
        eval_episodes: int = 10,
        eval_seed: int = 0,
        vector: str = "sync",
        stop_return: float | None = None,
        clip_rewards: bool = False,
        terminal_on_life_loss: bool = False,
        eval_epsilon: float = 0.0,
    ) -> None:
        """``stop_return``: the mean evaluation return that ends training (None: none does);
        ``eval_epsilon``: the chance of a uniformly random action at each evaluation step;
        ``clip_rewards``: learn from each reward's sign (episode returns, evaluation included,
        stay raw); ``terminal_on_life_loss``: an Atari game's training episodes end at a lost
        life (evaluation plays whole games)."""
        if num_envs < 1:
            raise ValueError(f"num_envs={num_envs!r} is invalid: it must be >= 1")
        if eval_episodes < 0:
            raise ValueError(f"eval_episodes={eval_episodes!r} is invalid: it must be >= 0")
        self.env_id = env_id
        probe = make_env(env_id)
        self.obs_dim, self.n_actions, self._action_start = check_env_spaces(env_id, probe)
        self.obs_shape: tuple[int, ...] = tuple(probe.observation_space.shape or (self.obs_dim,))
        # Stacks of image frames stay uint8 (the replay stores each frame once); the rest float32.
        self.obs_dtype = np.dtype(np.uint8 if is_frame_stack(self.obs_shape) else np.float32)
        spec = probe.spec
        self.reward_threshold: float | None = (
            None if spec is None or spec.reward_threshold is None else float(spec.reward_threshold)
        )
        probe.close()
        self.num_envs = num_envs
        self.vector = vector
        self.rule = ReturnRule(stop_return)
        self.clip_rewards = clip_rewards
        make = partial(make_env, env_id, terminal_on_life_loss=terminal_on_life_loss)
        self.vec = make_vector_env(make, num_envs, vector)
        self.env_seeds = [
            int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(num_envs)
        ]
        self.eval_episodes = eval_episodes
        self.eval_seed = eval_seed
        self.eval_epsilon = eval_epsilon
        self._eval_envs: list[gymnasium.Env[Any, Any]] = []
        self._returns = np.zeros(num_envs)
        self._lengths = np.zeros(num_envs, dtype=np.int64)
        self._failed = False  # a sub-env raised: their states are lost (an async worker is gone)

    @property
    def stage(self) -> int:
        return 0

    def success(self, episode_return: float) -> bool:
        """Whether an episode's return reaches the spec's threshold."""
        return self.reward_threshold is not None and episode_return >= self.reward_threshold

    def reset(self) -> np.ndarray:
        obs, _ = self.vec.reset(seed=list(self.env_seeds))
        self._returns[:] = 0.0
        self._lengths[:] = 0
        return self._rows(obs)

    def step(self, actions: np.ndarray) -> StepOutcome:
        actions = np.asarray(actions, dtype=np.int64).reshape(self.num_envs)
        try:
            raw, rewards, terminated, truncated, infos = self.vec.step(actions + self._action_start)
        except Exception:
            self._failed = True
            raise
        obs = self._rows(raw)
        next_obs = obs.copy()
        done = terminated | truncated
        self._returns += rewards
        self._lengths += 1
        ended: list[EpisodeEnd] = []
        for i in map(int, np.flatnonzero(done)):
            # The true last observation (what a truncated transition bootstraps from), not the
            # first one of the next episode that obs[i] now holds.
            next_obs[i] = np.asarray(infos["final_obs"][i], dtype=self.obs_dtype).reshape(-1)
            ret = float(self._returns[i])
            ended.append(
                EpisodeEnd(
                    env_index=i,
                    success=None if self.reward_threshold is None else self.success(ret),
                    episode_return=ret,
                    length=int(self._lengths[i]),
                    status="terminated" if terminated[i] else "truncated",
                    stage=0,
                )
            )
            self._returns[i], self._lengths[i] = 0.0, 0
        return StepOutcome(
            obs=obs,
            next_obs=next_obs,
            rewards=(np.sign(rewards) if self.clip_rewards else rewards).astype(np.float32),
            terminated=terminated.astype(bool),
            truncated=truncated.astype(bool),
            ended=ended,
        )

    def _rows(self, obs: Any) -> np.ndarray:
        """A batch of observations as ``(num_envs, obs_dim)`` rows (float32, or uint8 frames)."""
        return np.asarray(obs, dtype=self.obs_dtype).reshape(self.num_envs, self.obs_dim)

    # --- evaluation ----------------------------------------------------------------------------
    def evaluate(self, q_values: QFunction) -> dict[str, float]:
        """The greedy policy of ``q_values`` on the evaluation episodes."""
        return self.evaluate_policy(greedy_policy(q_values))

    def score(self, metrics: Mapping[str, float]) -> Score:
        return self.rule.score(metrics)

    def solved(self, metrics: Mapping[str, float]) -> bool:
        return self.rule.solved(metrics)

    def evaluation_due(self, last: Mapping[str, float], stage: int) -> bool:
        return self.rule.evaluation_due(last, stage)

    def evaluate_policy(self, policy: PolicyFn) -> dict[str, float]:
        """Greedy (or ``eval_epsilon``-greedy) episodes seeded ``eval_seed + k``, played
        together (see the module doc)."""
        if self.eval_episodes == 0:
            return {}
        returns, lengths = self.evaluation_episodes(policy)
        return episode_metrics(self.env_id, returns, lengths, self.reward_threshold)

    def evaluation_episodes(self, policy: PolicyFn) -> tuple[np.ndarray, np.ndarray]:
        """(return, length) of each evaluation episode ``k`` (seeded ``eval_seed + k``)."""
        while len(self._eval_envs) < self.eval_episodes:
            self._eval_envs.append(make_env(self.env_id))
        batch = EnvBatch(
            self._eval_envs[: self.eval_episodes],
            obs_dim=self.obs_dim,
            action_offset=self._action_start,
        )
        starts = [EpisodeStart(seed=self.eval_seed + k) for k in range(self.eval_episodes)]
        if self.eval_epsilon > 0:
            policy = epsilon_greedy(policy, self.eval_epsilon, self.n_actions, self.eval_seed)
        returns = np.zeros(self.eval_episodes)
        lengths = np.zeros(self.eval_episodes, dtype=np.int64)
        for played in play_episodes(policy, batch, starts):
            returns[played.index], lengths[played.index] = played.episode_return, played.length
        return returns, lengths

    # --- state ---------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        if self._failed:  # nothing of the envs is kept: new episodes, from seeds not used yet
            seeds = np.random.SeedSequence(self.env_seeds).generate_state(self.num_envs)
            return {
                "version": STATE_VERSION,
                "env_id": self.env_id,
                "env_seeds": [int(s) for s in seeds],
                "returns": [0.0] * self.num_envs,
                "lengths": [0] * self.num_envs,
                "envs": [{"exact": False, "rng": None}] * self.num_envs,
            }
        return {
            "version": STATE_VERSION,
            "env_id": self.env_id,
            "env_seeds": list(self.env_seeds),
            "returns": self._returns.tolist(),
            "lengths": self._lengths.tolist(),
            "envs": list(self.vec.call("hrrl_env_state")),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if int(state.get("version", -1)) != STATE_VERSION:
            raise CheckpointError(
                f"gym task state version {state.get('version')!r}: this hrrl reads {STATE_VERSION}"
            )
        if state["env_id"] != self.env_id or len(state["envs"]) != self.num_envs:
            raise CheckpointError(
                f"saved task is {len(state['envs'])} x {state['env_id']!r}, this one "
                f"{self.num_envs} x {self.env_id!r}: build it with the saved config"
            )
        self.env_seeds = [int(s) for s in state["env_seeds"]]
        self._returns = np.asarray(state["returns"], dtype=np.float64)
        self._lengths = np.asarray(state["lengths"], dtype=np.int64)
        exact = self.vec.call("hrrl_load_env_state", list(state["envs"]), self.env_seeds)
        for i, mid_episode in enumerate(exact):
            if not mid_episode:  # episode-boundary resume: the RNG continues, the episode restarts
                self._returns[i], self._lengths[i] = 0.0, 0

    def close(self) -> None:
        self.vec.close()
        for env in self._eval_envs:
            env.close()


def episode_metrics(
    env_id: str, returns: np.ndarray, lengths: np.ndarray, threshold: float | None
) -> dict[str, float]:
    """``eval/*`` metrics of finished greedy episodes (definitions in the module doc)."""
    mean = float(np.mean(returns))
    low, high = RETURN_RANGES.get(env_id, (math.nan, math.nan))
    efficiency = (mean - low) / (high - low) if math.isfinite(low) else mean
    return {
        RETURN_METRIC: mean,
        "eval/return_std": float(np.std(returns)),
        "eval/mean_length": float(np.mean(lengths)),
        "eval/success_rate": (
            math.nan if threshold is None else float(np.mean(returns >= threshold))
        ),
        "eval/efficiency": efficiency,
    }


#: Mixed into an evaluation's seed for its exploring actions (``gym.eval_epsilon``).
EVAL_EPSILON_STREAM = 0xE5A1


def epsilon_greedy(policy: PolicyFn, epsilon: float, n_actions: int, seed: int) -> PolicyFn:
    """``policy`` with each action replaced, with chance ``epsilon``, by a uniformly random one,
    drawn from a generator seeded by ``seed`` (so every evaluation from a seed draws the same)."""
    rng = np.random.default_rng([seed, EVAL_EPSILON_STREAM])

    def act(obs: np.ndarray) -> np.ndarray:
        actions = np.asarray(policy(obs))
        explore = rng.random(len(actions)) < epsilon
        return np.where(explore, rng.integers(n_actions, size=len(actions)), actions)

    return act


def evaluate_env(
    env_id: str, policy: PolicyFn, *, episodes: int, seed: int = 0, epsilon: float = 0.0
) -> dict[str, float]:
    """Play ``episodes`` episodes of ``env_id`` seeded ``seed + k`` (greedy, or epsilon-greedy
    with ``epsilon``); ``eval/*`` metrics."""
    task = GymTask(
        env_id, num_envs=1, seed=seed, eval_episodes=episodes, eval_seed=seed, eval_epsilon=epsilon
    )
    try:
        return task.evaluate_policy(policy)
    finally:
        task.close()
