"""The training loop, as named phases: collect, learn, sync, evaluate, checkpoint, log.

One iteration of :meth:`Trainer.run` is one *vector step*: ``num_envs`` puzzles advance by one
action each, chosen in one batched forward pass. Finished puzzles are replaced at once by fresh
ones from the curriculum, so the batch never drains. Every random choice draws from generators
seeded from ``train.seed`` (:class:`numpy.random.SeedSequence` children), so the same seed and
config give bit-identical weights on the CPU.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hrrl.agent import DQNAgent, LearnStats
from hrrl.config import save_yaml, to_dict
from hrrl.curriculum import Curriculum
from hrrl.env import PuzzleVecEnv
from hrrl.evaluate import eval_metrics, make_stack, play
from hrrl.experiment import ExperimentConfig
from hrrl.exploration import make_exploration
from hrrl.generate import generate_suite
from hrrl.guard import Guard
from hrrl.logger import Logger
from hrrl.puzzle import Puzzle, Status
from hrrl.replay import make_replay


@dataclass
class Counters:
    """Progress of the run; part of every checkpoint."""

    env_steps: int = 0
    vector_steps: int = 0
    episodes: int = 0
    updates: int = 0
    evaluations: int = 0
    evals_without_improvement: int = 0
    best_success: float = -1.0
    best_efficiency: float = -1.0


@dataclass
class TrainResult:
    """What a finished run reports."""

    counters: Counters
    best_metrics: dict[str, float]
    last_metrics: dict[str, float]
    stop_reason: str
    wall_seconds: float
    best_wall_seconds: float | None = None
    history: list[dict[str, float]] = field(default_factory=list)


def _seeds(seed: int, n: int) -> list[int]:
    return [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(n)]


class Trainer:
    """Builds every component from an :class:`ExperimentConfig` and runs the loop.

    ``on_evaluation(trainer, metrics, improved)`` is the checkpoint hook: it runs after each
    evaluation (the checkpoint manager saves there, ``best`` on improvement).
    """

    def __init__(
        self,
        config: ExperimentConfig,
        *,
        run_dir: Path | None = None,
        logger: Logger | None = None,
        on_evaluation: Callable[[Trainer, dict[str, float], bool], None] | None = None,
    ) -> None:
        self.config = config
        self.run_dir = run_dir
        self.logger = logger or Logger([])
        self.on_evaluation = on_evaluation
        tc = config.train
        torch.set_num_threads(tc.threads)
        s_agent, s_replay, s_curr, s_env = _seeds(tc.seed, 4)
        env_cfg = config.env
        self.encoder, self.env_factory = make_stack(
            encoder_name=env_cfg.encoder,
            reward=env_cfg.reward,
            planner=env_cfg.planner,
            actions=env_cfg.actions,
        )
        self.vec = PuzzleVecEnv([self.env_factory] * tc.num_envs)
        self.guard = Guard(config.guard) if config.guard.enabled else None
        self.agent = DQNAgent(
            obs_dim=self.encoder.dim,
            n_actions=len(env_cfg.actions),
            config=config.agent,
            seed=s_agent,
            device=tc.device,
            guard=self.guard,
        )
        self.replay = make_replay(config.replay, obs_dim=self.encoder.dim, seed=s_replay)
        self.exploration = make_exploration(config.exploration)
        self.curriculum = Curriculum(config.curriculum)
        self.rng = np.random.default_rng(s_curr)
        self.env_seed = s_env
        self.counters = Counters()
        self.eval_puzzles: list[Puzzle] = (
            generate_suite(tc.eval_families, tc.eval_count, tc.eval_seed) if tc.eval_count else []
        )
        self.obs = self._reset_all()
        self._episode_returns = np.zeros(tc.num_envs)
        self._episode_stage = np.zeros(tc.num_envs, dtype=np.int64)
        self.best_metrics: dict[str, float] = {}
        self.last_metrics: dict[str, float] = {}
        self.history: list[dict[str, float]] = []
        self._status_counts: Counter[str] = Counter()
        self._best_wall: float | None = None

    # --- phases --------------------------------------------------------------------------------
    def _reset_all(self) -> np.ndarray:
        puzzles = [self.curriculum.sample(self.rng) for _ in range(self.vec.num_envs)]
        obs, _ = self.vec.reset(puzzles, seed=self.env_seed)
        return obs.astype(np.float32)

    def collect(self) -> None:
        """One vector step: act, step every env, store transitions, replace finished puzzles."""
        epsilon = self.exploration.epsilon
        actions = self.agent.act(self.obs, epsilon)
        next_obs, rewards, terminated, truncated, infos = self.vec.step(actions)
        next_obs = next_obs.astype(np.float32)
        # Truncation (MAX_STEPS) is not termination: the target still bootstraps from next_obs.
        self.replay.add(self.obs, actions, rewards.astype(np.float32), next_obs, terminated)
        self._episode_returns += rewards
        n = self.vec.num_envs
        self.counters.env_steps += n
        self.counters.vector_steps += 1
        self.logger.record("rollout/epsilon", epsilon)
        for i in np.flatnonzero(terminated | truncated):
            self._end_episode(int(i), Status(infos[i]["status"]), next_obs)
        self.obs = next_obs

    def _end_episode(self, i: int, status: Status, next_obs: np.ndarray) -> None:
        success = status is Status.SUCCESS
        stage = self.curriculum.stage
        self.counters.episodes += 1
        self.logger.record_mean("rollout/success_rate", float(success))
        self.logger.record_mean(f"rollout/stage_{stage}/success_rate", float(success))
        self.logger.record_mean("rollout/episode_return", self._episode_returns[i])
        self.logger.record_mean("rollout/episode_length", self.vec.envs[i].get_wrapper_attr("steps"))
        self._status_counts[status.value] += 1
        self._episode_returns[i] = 0.0
        self.exploration.on_episode_end(success=success, stage=stage)
        if self.curriculum.on_episode_end(success):
            self.exploration.on_stage_change(self.curriculum.stage)
        obs, _ = self.vec.reset_one(i, self.curriculum.sample(self.rng))
        next_obs[i] = obs

    def learn(self) -> None:
        """Gradient steps on replayed batches; priorities follow the new TD errors."""
        tc = self.config.train
        if self.counters.env_steps < max(tc.learning_starts, self.config.agent.batch_size):
            return
        if self.counters.vector_steps % tc.train_every:
            return
        for _ in range(tc.updates_per_train):
            batch = self.replay.sample(self.config.agent.batch_size)
            stats = self.agent.learn(batch)
            self.agent.after_update()  # sync: hard copy or Polyak step on its own clock
            if batch.indices is not None and stats.applied:
                self.replay.update_priorities(batch.indices, stats.td_errors)
            self.counters.updates += 1
            self._record_learn(stats)

    def _record_learn(self, stats: LearnStats) -> None:
        log = self.logger
        if stats.applied:
            log.record_mean("train/loss", stats.loss)
            log.record_mean("train/td_error", float(np.mean(stats.td_errors)))
            log.record_mean("train/q_mean", stats.q_mean)
            log.record_mean("train/q_max", stats.q_max)
        if math.isfinite(stats.grad_norm):
            log.record_mean("train/grad_norm", stats.grad_norm)
        if stats.anomaly is not None:
            log.record_mean("health/anomalies", 1.0)

    def evaluate(self) -> dict[str, float]:
        """Greedy play of the fixed held-out suite; returns ``eval/...`` metrics."""
        results = play(self.greedy, self.eval_puzzles, self.env_factory)
        metrics, _ = eval_metrics(results, self.eval_puzzles)
        self.counters.evaluations += 1
        return metrics

    def greedy(self, obs: np.ndarray) -> np.ndarray:
        """The greedy policy (argmax Q), for evaluation; draws no random numbers."""
        return np.asarray(self.agent.q_values(obs).argmax(axis=1), dtype=np.int64)

    def _after_evaluation(self, metrics: dict[str, float], elapsed: float) -> bool:
        success = _finite(metrics.get("eval/success_rate"), 0.0)
        efficiency = _finite(metrics.get("eval/efficiency"), 0.0)
        c = self.counters
        improved = (success, efficiency) > (c.best_success, c.best_efficiency)
        if improved:
            c.best_success, c.best_efficiency = success, efficiency
            c.evals_without_improvement = 0
            self.best_metrics = dict(metrics)
            self._best_wall = elapsed
        else:
            c.evals_without_improvement += 1
        self.last_metrics = metrics
        self.history.append({"env_steps": c.env_steps, "wall": elapsed, **metrics})
        for key, value in metrics.items():
            if math.isfinite(value):
                self.logger.record(key, value)
        if self.on_evaluation is not None:
            self.on_evaluation(self, metrics, improved)
        return improved

    def _stop_reason(self, elapsed: float) -> str | None:
        tc, c = self.config.train, self.counters
        if c.env_steps >= tc.total_env_steps:
            return "total_env_steps"
        if tc.total_episodes is not None and c.episodes >= tc.total_episodes:
            return "total_episodes"
        if tc.max_wall_seconds is not None and elapsed >= tc.max_wall_seconds:
            return "max_wall_seconds"
        if self.last_metrics and tc.early_stop_success is not None:
            success = _finite(self.last_metrics.get("eval/success_rate"), 0.0)
            eff = _finite(self.last_metrics.get("eval/efficiency"), 0.0)
            if success >= tc.early_stop_success and eff >= tc.early_stop_efficiency:
                return "early_stop_success"
        if (
            tc.early_stop_patience is not None
            and c.evals_without_improvement >= tc.early_stop_patience
        ):
            return "early_stop_patience"
        return None

    def _log(self, elapsed: float, window: tuple[float, int, int]) -> None:
        t0, steps0, updates0 = window
        dt = max(elapsed - t0, 1e-9)
        log = self.logger
        log.record("perf/env_steps_per_s", (self.counters.env_steps - steps0) / dt)
        log.record("perf/updates_per_s", (self.counters.updates - updates0) / dt)
        log.record("rollout/stage", self.curriculum.stage)
        log.record("rollout/episodes", self.counters.episodes)
        log.record("train/updates", self.counters.updates)
        log.record("perf/replay_size", len(self.replay))
        for status, count in self._status_counts.items():
            log.record(f"rollout/status/{status}", count)
        self._status_counts.clear()
        if self.guard is not None:
            log.record("health/rollbacks", len(self.guard.events))
        log.dump(self.counters.env_steps)

    # --- the loop ------------------------------------------------------------------------------
    def run(self, progress: Callable[[int], None] | None = None) -> TrainResult:
        """Train until a stop condition; returns the best and last evaluation metrics."""
        tc = self.config.train
        start = time.perf_counter()
        next_eval = tc.eval_every
        next_log = tc.log_every
        window = (0.0, 0, 0)
        stop: str | None = None
        while stop is None:
            self.collect()
            self.learn()
            elapsed = time.perf_counter() - start
            if progress is not None:
                progress(self.vec.num_envs)
            if self.eval_puzzles and self.counters.env_steps >= next_eval:
                next_eval += tc.eval_every
                self._after_evaluation(self.evaluate(), time.perf_counter() - start)
            if self.counters.env_steps >= next_log:
                next_log += tc.log_every
                self._log(elapsed, window)
                window = (elapsed, self.counters.env_steps, self.counters.updates)
            stop = self._stop_reason(time.perf_counter() - start)
        if self.eval_puzzles and not self.last_metrics:
            self._after_evaluation(self.evaluate(), time.perf_counter() - start)
        self._log(time.perf_counter() - start, window)
        return TrainResult(
            counters=self.counters,
            best_metrics=self.best_metrics,
            last_metrics=self.last_metrics,
            stop_reason=stop,
            wall_seconds=time.perf_counter() - start,
            best_wall_seconds=self._best_wall,
            history=self.history,
        )

    def write_config(self) -> None:
        """``config.yaml`` in the run directory, before the first step, and to the logger."""
        if self.run_dir is not None:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            save_yaml(self.config, self.run_dir / "config.yaml")
        self.logger.log_config(to_dict(self.config))


def _finite(value: float | None, default: float) -> float:
    return default if value is None or not math.isfinite(value) else float(value)


def config_dict(config: ExperimentConfig) -> dict[str, Any]:
    return to_dict(config)
