"""The number puzzle as a training task: curriculum puzzles in, held-out suite evaluation out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from hrrl.engine.task import EpisodeEnd, PolicyFn, StepOutcome
from hrrl.experiment import ExperimentConfig
from hrrl.puzzle.core import Puzzle, Status
from hrrl.puzzle.curriculum import Curriculum
from hrrl.puzzle.env import PuzzleVecEnv
from hrrl.puzzle.evaluate import eval_metrics, make_stack, play
from hrrl.puzzle.exact import optimal_values
from hrrl.puzzle.generate import generate_suite
from hrrl.puzzle.rewards import make_reward

#: Largest target of a puzzle used to measure Q-bias (its exact DP table stays small).
Q_BIAS_MAX_TARGET = 100


class PuzzleTask:
    """``num_envs`` puzzles at once, drawn from the curriculum, replaced as they finish.

    Episode accounting (the curriculum's success gate) happens here, so the stage an episode
    reports is the stage it was played in.
    """

    def __init__(self, config: ExperimentConfig, *, seed: int) -> None:
        env_cfg, tc = config.env, config.train
        self.encoder, self.env_factory = make_stack(
            encoder_name=env_cfg.encoder,
            reward=env_cfg.reward,
            planner=env_cfg.planner,
            actions=env_cfg.actions,
        )
        self.obs_dim = self.encoder.dim
        self.n_actions = len(env_cfg.actions)
        self.num_envs = tc.num_envs
        self.vec = PuzzleVecEnv([self.env_factory] * tc.num_envs)
        self.curriculum = Curriculum(config.curriculum)
        self.rng = np.random.default_rng(seed)
        self.env_seed = int(self.rng.integers(2**31))
        self.eval_puzzles: list[Puzzle] = (
            generate_suite(tc.eval_families, tc.eval_count, tc.eval_seed) if tc.eval_count else []
        )
        self._returns = np.zeros(tc.num_envs)
        self._reward = make_reward(env_cfg.reward)
        self._gamma = config.agent.gamma
        self._probes = [p for p in self.eval_puzzles if p.target - p.start <= Q_BIAS_MAX_TARGET]

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

    def evaluate(self, policy: PolicyFn) -> dict[str, float]:
        if not self.eval_puzzles:
            return {}
        results = play(policy, self.eval_puzzles, self.env_factory)
        metrics, _ = eval_metrics(results, self.eval_puzzles)
        return metrics

    def q_bias(self, q_values: Callable[[np.ndarray], np.ndarray]) -> float:
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
        for puzzle in self._probes:
            table = optimal_values(puzzle, self._reward, self._gamma)
            obs, _ = env.reset(options={"puzzle": puzzle})
            done = False
            while not done:
                q = q_values(np.asarray(obs, dtype=np.float32)[None])[0]
                action = int(np.argmax(q))
                x, t = env.get_wrapper_attr("current"), env.get_wrapper_attr("steps")
                diffs.append(float(q[action] - table.q_at(x, t)[action]))
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
