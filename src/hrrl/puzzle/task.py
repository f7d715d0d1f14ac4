"""The number puzzle as a training task: curriculum puzzles in, held-out suite evaluation out."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hrrl.engine.task import EpisodeEnd, PolicyFn, QFunction, Score, StepOutcome, greedy_policy
from hrrl.puzzle.config import PuzzleConfig
from hrrl.puzzle.core import Puzzle, Status
from hrrl.puzzle.curriculum import Curriculum
from hrrl.puzzle.env import PuzzleVecEnv
from hrrl.puzzle.evaluate import eval_metrics, metric_key
from hrrl.puzzle.exact import QTable, optimal_values
from hrrl.puzzle.generate import generate_suite
from hrrl.puzzle.player import BatchPlayer, Encodes
from hrrl.puzzle.rewards import make_reward
from hrrl.puzzle.stack import n_actions_of, stack_adapter, stack_of
from hrrl.puzzle.suite import Result

#: The figures a puzzle evaluation is ranked by: success first, efficiency breaks ties.
SUCCESS_METRIC, EFFICIENCY_METRIC = "eval/success_rate", "eval/efficiency"
#: The curriculum stage the evaluated policy was trained up to.
STAGE_METRIC = "eval/stage"
#: Largest target of a puzzle used to measure Q-bias (its exact DP table stays small).
Q_BIAS_MAX_TARGET = 100


def subgoal_metrics(info: Mapping[str, Any]) -> dict[str, float]:
    """``rollout/subgoal_success_rate``: the share of an episode's subgoals (waypoints and the
    target) reached as asked, from the hierarchy's counts (none without a hierarchy)."""
    done = info.get("subgoal_successes", 0) + info.get("subgoal_failures", 0)
    if not done:
        return {}
    return {"rollout/subgoal_success_rate": info["subgoal_successes"] / done}


class PuzzleRule:
    """What a better puzzle evaluation is, and when training is done: the curriculum has reached
    its last stage (the distribution it trains for; a policy that solves the suite from an easier
    stage generalises less), the suite's success meets ``puzzle.stop_success`` and every family's
    efficiency ``puzzle.stop_efficiency`` (a family the mean hides is the one the held-out
    benches find)."""

    def __init__(self, config: PuzzleConfig) -> None:
        self.stop_success, self.stop_efficiency = config.stop_success, config.stop_efficiency
        self.last_stage = len(config.curriculum.stages) - 1
        self.families = tuple(config.eval_families)

    @staticmethod
    def score(metrics: Mapping[str, float]) -> Score:
        """``(success rate, efficiency)`` of the suite: every success beats every saved step; a
        missing figure (no solvable puzzle, no success) counts 0."""
        return (_finite(metrics.get(SUCCESS_METRIC)), _finite(metrics.get(EFFICIENCY_METRIC)))

    def solved(self, metrics: Mapping[str, float]) -> bool:
        """In the last stage, success reached ``puzzle.stop_success`` and the efficiency of the
        suite and of each family with a success ``puzzle.stop_efficiency``."""
        if self.stop_success is None or metrics.get(STAGE_METRIC, -1) < self.last_stage:
            return False
        success, efficiency = self.score(metrics)
        families = (metrics.get(metric_key(name, "efficiency")) for name in self.families)
        worst = min((e for e in families if e is not None and math.isfinite(e)), default=1.0)
        return success >= self.stop_success and min(efficiency, worst) >= self.stop_efficiency

    def evaluation_due(self, last: Mapping[str, float], stage: int) -> bool:
        """The curriculum has entered its last stage since the last evaluation, which the stop
        rule waits for: evaluating there, not at the next ``train.eval_every``, ends a run whose
        policy already met the rule in the stage before (the default preset's runs reach the
        last stage 1,000-6,000 env steps after their first evaluation)."""
        return (
            self.stop_success is not None
            and stage == self.last_stage > 0  # one stage: nothing is entered
            and last.get(STAGE_METRIC, -1) < self.last_stage
        )


class PuzzleTask:
    """``num_envs`` puzzles at once, drawn from the curriculum, replaced as they finish.

    Episode accounting (the curriculum's success gate) happens here, so the stage an episode
    reports is the stage it was played in.
    """

    def __init__(
        self,
        config: PuzzleConfig,
        *,
        num_envs: int,
        gamma: float,
        seed: int,
        width_free: bool = False,
    ) -> None:
        """``gamma`` is the learner's discount, for the exact ``Q*`` of the Q-bias measure;
        ``width_free``: the learner's network scores any number of actions, so the evaluation
        plays sets wider than the environment's slots as ``hrrl eval`` does (the ``wide``
        family)."""
        self.encoder, self.env_factory = stack_of(config)
        self.obs_dim = self.encoder.dim
        self.obs_shape: tuple[int, ...] = (self.obs_dim,)
        self.n_actions = n_actions_of(self.encoder)
        self.adapt = stack_adapter(self.encoder, width_free=width_free)
        self.view: Encodes = self.encoder
        """What the player shows the policy: the stack's encoder (a baseline's raw numbers are
        another view of the same play)."""
        self.planner, self.horizon, self.levels = config.planner, config.horizon, config.levels
        self.rule = PuzzleRule(config)
        self.num_envs = num_envs
        self.vec = PuzzleVecEnv([self.env_factory] * num_envs)
        self.curriculum = Curriculum(config.curriculum, actions=config.actions)
        self.rng = np.random.default_rng(seed)
        self.env_seed = int(self.rng.integers(2**31))
        suite = (
            generate_suite(
                config.eval_families,
                config.eval_count,
                config.eval_seed,
                actions=config.evaluation_sets,
            )
            if config.eval_count
            else []
        )
        cap = config.eval_max_target
        self.eval_puzzles: list[Puzzle] = [p for p in suite if cap is None or p.target <= cap]
        self._returns = np.zeros(num_envs)
        self._reward = make_reward(config.reward)
        self._gamma = gamma
        # Probed through the Gymnasium stack: a set wider than its slots is not one of them.
        stack_plays = stack_adapter(self.encoder)
        self._probes = [
            p
            for p in self.eval_puzzles
            if p.target - p.start <= Q_BIAS_MAX_TARGET and not isinstance(stack_plays(p), str)
        ]
        self._tables: list[QTable] = []

    @property
    def stage(self) -> int:
        return self.curriculum.stage

    def reset(self) -> np.ndarray:
        puzzles = [self.curriculum.sample(self.rng) for _ in range(self.num_envs)]
        obs, _ = self.vec.reset(puzzles, seed=self.env_seed)
        self._returns[:] = 0.0
        return obs.astype(np.float32)

    def step(self, actions: np.ndarray) -> StepOutcome:
        next_obs, rewards, terminated, truncated, infos = self.vec.step(actions)
        next_obs = next_obs.astype(np.float32)
        obs = next_obs.copy()
        self._returns += rewards
        ended: list[EpisodeEnd] = []
        for i in map(int, np.flatnonzero(terminated | truncated)):
            status = Status(infos[i]["status"])
            success = status is Status.SUCCESS
            ended.append(
                EpisodeEnd(
                    env_index=i,
                    success=success,
                    episode_return=float(self._returns[i]),
                    length=int(infos[i]["step"]),
                    status=status.value,
                    stage=self.curriculum.stage,
                    metrics=subgoal_metrics(infos[i]),
                )
            )
            self._returns[i] = 0.0
            self.curriculum.on_episode_end(success)
            obs[i], _ = self.vec.reset_one(i, self.curriculum.sample(self.rng))
        return StepOutcome(
            obs=obs,
            next_obs=next_obs,
            rewards=rewards.astype(np.float32),
            terminated=terminated,
            truncated=truncated,
            ended=ended,
        )

    def play(self, greedy: PolicyFn, puzzles: Sequence[Puzzle]) -> list[Result]:
        """``greedy`` (observations -> action indices) on ``puzzles`` through the player that
        ``hrrl eval`` and :meth:`hrrl.Policy.play` run, behind this task's view and planner."""
        player = BatchPlayer(
            encoder=self.view,
            planner=self.planner,
            greedy=greedy,
            horizon=self.horizon,
            levels=self.levels,
        )
        return player.play(puzzles, adapt=self.adapt)

    def evaluate(self, q_values: QFunction) -> dict[str, float]:
        """The greedy policy on the held-out suite (``eval/*``), the curriculum stage it was
        trained up to (``eval/stage``) and ``train/q_bias``."""
        metrics: dict[str, float] = {}
        if self.eval_puzzles:
            results = self.play(greedy_policy(q_values), self.eval_puzzles)
            metrics, _ = eval_metrics(results, self.eval_puzzles)
        metrics["train/q_bias"] = self.q_bias(q_values)
        metrics[STAGE_METRIC] = float(self.curriculum.stage)
        return metrics

    def score(self, metrics: Mapping[str, float]) -> Score:
        return self.rule.score(metrics)

    def solved(self, metrics: Mapping[str, float]) -> bool:
        return self.rule.solved(metrics)

    def evaluation_due(self, last: Mapping[str, float], stage: int) -> bool:
        return self.rule.evaluation_due(last, stage)

    def q_bias(self, q_values: QFunction) -> float:
        """Mean ``Q(s, a) - Q*(s, a)`` over the pairs the greedy policy visits on the small
        evaluation puzzles (NaN when there are none).

        ``Q*`` is exact: finite-horizon dynamic programming over (number, steps taken) under the
        run's reward scheme and gamma (:func:`hrrl.puzzle.exact.optimal_values`). The learner's Q does
        not see time, so the comparison is at the step each state was actually reached. Under
        the legacy reward with subgoals the reward also depends on the planner's subgoal; there
        ``Q*`` is that of the target-only reward, and the figure is indicative only.
        """
        diffs: list[float] = []
        env = self.env_factory()
        if len(self._tables) < len(self._probes):  # exact, so worked out once per run
            self._tables = [optimal_values(p, self._reward, self._gamma) for p in self._probes]
        for puzzle, table in zip(self._probes, self._tables, strict=True):
            obs, _ = env.reset(options={"puzzle": puzzle})
            done = False
            while not done:
                q = q_values(np.asarray(obs, dtype=np.float32)[None])[0]
                action = int(np.argmax(q))
                x, t = env.get_wrapper_attr("current"), env.get_wrapper_attr("steps")
                # Slot k plays action k mod n (the identity for a fixed-width network).
                exact = table.q_at(x, t)[action % len(puzzle.actions)]
                diffs.append(float(q[action] - exact))
                obs, _, terminated, truncated, _ = env.step(action)
                done = terminated or truncated
        env.close()
        return float(np.mean(diffs)) if diffs else float("nan")

    def state_dict(self) -> dict[str, Any]:
        return {
            "curriculum": self.curriculum.state_dict(),
            "rng": self.rng.bit_generator.state,
            "env_seed": self.env_seed,
            "returns": self._returns.tolist(),
            "vec": self.vec.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.curriculum.load_state_dict(state["curriculum"])
        self.rng.bit_generator.state = state["rng"]
        self.env_seed = int(state["env_seed"])
        self._returns = np.asarray(state["returns"], dtype=np.float64)
        self.vec.load_state_dict(state["vec"])


def _finite(value: float | None) -> float:
    return 0.0 if value is None or not math.isfinite(value) else float(value)
