"""The training loop, as named phases: collect, learn, sync, evaluate, log, checkpoint.

One iteration of :meth:`Trainer.run` is one *vector step*: ``num_envs`` environments advance by
one action each, chosen in one batched forward pass; finished episodes are replaced at once by
the task, so the batch never drains. Every random choice draws from generators seeded from
``train.seed`` (:class:`numpy.random.SeedSequence` children), and a checkpoint holds every one of
them, so the same seed and config give bit-identical weights on the CPU, resumed or not.

Every checkpoint is taken between two vector steps, and so is a stop on request
(:class:`~hrrl.engine.stop.StopRequest`: a signal, in ``hrrl train``): the step in flight
finishes, the state at that boundary is saved, and a run resumed from it replays exactly what
the uninterrupted run would have done.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hrrl.config import save_yaml, to_dict
from hrrl.engine.agent import DQNAgent, LearnStats
from hrrl.engine.callbacks import CALLBACK_STOP, Callback
from hrrl.engine.config import EngineConfig, check_device, log_interval
from hrrl.engine.exploration import make_exploration
from hrrl.engine.guard import make_guard
from hrrl.engine.networks import is_frame_stack
from hrrl.engine.nstep import ReturnFolder, Transitions, make_return_folder
from hrrl.engine.replay.buffer import make_replay
from hrrl.engine.run_state import Counters, RunSeeds, TrainResult
from hrrl.engine.stop import StopRequest, stop_reason
from hrrl.engine.task import EpisodeEnd, Task, TaskStepError, check_score, greedy_actions
from hrrl.engine.trainer_state import load_trainer_state, trainer_state
from hrrl.monitoring.health import HealthMonitor
from hrrl.monitoring.logger import Logger
from hrrl.persistence.payload import CheckpointPayload, payload_from_state
from hrrl.persistence.schedule import CheckpointManager

#: ``TrainResult.stop_reason`` of a run ended by a :class:`StopRequest` (not finished).
STOP_REQUESTED = "stop_requested"


class Trainer:
    """Builds the engine's components from the config's engine sections and runs the loop.

    ``task`` is the domain, built by the application (:func:`hrrl.run.make_task`, seeded with
    ``RunSeeds.of(train.seed).task``); any :class:`~hrrl.engine.task.Task` works. With a
    ``run_dir`` the trainer itself writes only checkpoints there (every
    ``checkpoint.every_steps`` environment steps, whenever the evaluation improves, which moves
    ``best``, and at the end). ``config.yaml`` is written when the caller calls
    :meth:`write_config` (``hrrl train`` and ``hrrl.train`` do, before the first step), and
    metrics go to the ``logger`` given (``make_logger(run_dir, ...)`` writes ``metrics.jsonl``;
    the default logger writes nothing).
    """

    def __init__(
        self,
        config: EngineConfig,
        *,
        task: Task,
        run_dir: Path | None = None,
        logger: Logger | None = None,
    ) -> None:
        self.config = config
        self.run_dir = run_dir
        self.logger = logger or Logger([])
        tc = config.train
        check_device(tc.device)
        torch.set_num_threads(tc.threads)
        seeds = RunSeeds.of(tc.seed)
        self.task = task
        self.guard = make_guard(config.guard)  # guard.enabled: a Guard, or a NullGuard
        self.agent = DQNAgent(
            obs_dim=task.obs_dim,
            obs_shape=task.obs_shape,
            n_actions=task.n_actions,
            config=config.agent,
            seed=seeds.agent,
            device=tc.device,
            guard=self.guard,
        )
        self.returns = self._return_folder()
        self.obs = task.reset()
        # uint8 stacks of image frames (Atari's (4, 84, 84)): each frame stored once.
        frames = self.obs.dtype == np.uint8 and is_frame_stack(task.obs_shape)
        self.replay = make_replay(
            config.replay,
            obs_dim=task.obs_dim,
            seed=seeds.replay,
            discounts=self.returns.stores_discounts,
            frames=task.obs_shape if frames else None,
        )
        self.exploration = make_exploration(config.exploration)
        self.health = HealthMonitor(config.health, logger=self.logger)
        self.checkpoints = (
            CheckpointManager(run_dir, config.checkpoint) if run_dir is not None else None
        )
        self.counters = Counters(next_eval=tc.eval_every, next_log=log_interval(0, tc.log_every))
        self.best_metrics: dict[str, float] = {}
        self.last_metrics: dict[str, float] = {}
        self.history: list[dict[str, float]] = []
        self._status_counts: Counter[str] = Counter()
        self._rollbacks_logged = 0
        self._screened_logged = 0  # the guard's screened transitions up to the last dump
        self._rate_window = (self.logger.elapsed, 0, 0)
        self._stage = task.stage
        self._save_failing = False
        # Seconds since the last dump spent evaluating and saving checkpoints: pauses of the
        # loop, left out of its throughput.
        self._paused = {"eval": 0.0, "save": 0.0}
        self._nonfinite = 0  # transitions left out of replay since the last dump
        self._new_episodes = False  # an env failed: a checkpoint now resumes with new episodes
        self._callbacks: Sequence[Callback] = ()  # those of the run in progress
        self._callback_stop = False  # one of them asked to stop

    def _return_folder(self) -> ReturnFolder:
        agent = self.config.agent
        return make_return_folder(n=agent.n_step, gamma=agent.gamma, num_envs=self.task.num_envs)

    # --- phases --------------------------------------------------------------------------------
    def collect(self) -> None:
        """One vector step: act, step every env, store transitions, account finished episodes."""
        epsilon = self.exploration.epsilon
        rng = self.agent.rng.bit_generator.state
        actions = self.agent.act(self.obs, epsilon)
        try:
            out = self.task.step(actions)
        except Exception as exc:
            self.agent.rng.bit_generator.state = rng  # the failed step leaves no trace
            raise TaskStepError(self.counters.env_steps, exc, during="training") from exc
        # Truncation (MAX_STEPS) is not termination: the target still bootstraps from next_obs.
        ready = self.returns.fold(
            self.obs, actions, out.rewards, out.next_obs, out.terminated, out.truncated
        )
        self.store(ready)
        self.logger.record("rollout/epsilon", epsilon)
        self.account(vector_steps=1, env_steps=self.task.num_envs, ended=out.ended)
        self.obs = out.obs

    def store(self, ready: Transitions, priorities: np.ndarray | None = None) -> None:
        """Transitions into the replay (with their initial ``priorities``, else the maximum);
        with the guard on, non-finite data never enters it."""
        if self.config.guard.enabled:
            keep = ready.finite()
            if not keep.all():
                self._nonfinite += int((~keep).sum())
                ready = ready.select(keep)
                priorities = None if priorities is None else priorities[keep]
        slots = self.replay.add(
            ready.obs,
            ready.actions,
            ready.rewards,
            ready.next_obs,
            ready.terminated,
            ready.discounts,
        )
        if priorities is not None:
            scored = np.isfinite(priorities)  # the rest keep the maximum
            self.replay.update_priorities(slots[scored], priorities[scored])

    def account(self, *, vector_steps: int, env_steps: int, ended: Sequence[EpisodeEnd]) -> None:
        """Advance the counters and the exploration schedule; record the finished episodes."""
        self.counters.env_steps += env_steps
        self.counters.vector_steps += vector_steps
        self.exploration.on_env_steps(env_steps)
        for end in ended:
            self._end_episode(end)

    def _end_episode(self, end: EpisodeEnd) -> None:
        self.counters.episodes += 1
        log = self.logger
        if end.success is not None:  # a task without a notion of success records none
            log.record_mean("rollout/success_rate", float(end.success))
            log.record_mean(f"rollout/stage_{end.stage}/success_rate", float(end.success))
        log.record_mean("rollout/episode_return", end.episode_return)
        log.record_mean("rollout/episode_length", end.length)
        for name, value in end.metrics.items():
            log.record_mean(name, value)
        self._status_counts[end.status] += 1
        self.exploration.on_episode_end(success=bool(end.success), stage=end.stage)
        if self.task.stage != end.stage:
            self.exploration.on_stage_change(self.task.stage)
        if self.task.stage != self._stage:  # once per change, at the step it happened
            message = f"curriculum stage {self._stage} -> {self.task.stage}"
            self.logger.log_event("stage", message, self.counters.env_steps)
            self._stage = self.task.stage

    def learn(self) -> None:
        """``train.updates_per_train`` updates every ``train.train_every`` vector steps, once
        the replay holds ``train.learning_starts`` steps and a batch."""
        if not self.learning_started():
            return
        if self.counters.vector_steps % self.config.train.train_every:
            return
        self.update(self.config.train.updates_per_train)

    def learning_started(self) -> bool:
        tc, batch_size = self.config.train, self.config.agent.batch_size
        if self.counters.env_steps < max(tc.learning_starts, batch_size):
            return False
        return len(self.replay) >= batch_size  # n-step returns hold the newest transitions back

    def update(self, count: int) -> None:
        """``count`` gradient steps on replayed batches, each followed by the target sync's
        tick; priorities follow the new TD errors."""
        tc, batch_size = self.config.train, self.config.agent.batch_size
        if self.config.agent.lr_end is not None:
            lr = self.agent.anneal_lr(self.counters.env_steps / tc.total_env_steps)
            self.logger.record("train/lr", lr)
        for _ in range(count):
            batch = self.replay.sample(batch_size)
            stats = self.agent.learn(batch)
            if batch.indices is not None and stats.applied:
                self.replay.update_priorities(batch.indices, stats.td_errors)
            self.sync_target()
            self.counters.updates += 1
            self._record_learn(stats)

    def sync_target(self) -> None:
        """One tick of the target-sync clock: every ``agent.target_update_interval`` updates, a
        hard copy of the online net or one Polyak step towards it."""
        self.agent.after_update()

    def _record_learn(self, stats: LearnStats) -> None:
        log = self.logger
        if stats.applied:
            log.record_mean("train/loss", stats.loss)
            log.record_mean("train/td_error", float(np.mean(stats.td_errors)))
            log.record_mean("train/q_mean", stats.q_mean)
            log.record_mean("train/q_max", stats.q_max)
        if math.isfinite(stats.grad_norm):
            log.record_mean("train/grad_norm", stats.grad_norm)
        log.record_mean("health/anomalies", float(stats.anomaly is not None))

    def greedy(self, obs: np.ndarray) -> np.ndarray:
        """The greedy policy (argmax Q), for evaluation; draws no random numbers."""
        return greedy_actions(self.agent.q_values(obs))

    def evaluate(self) -> bool:
        """The task's held-out evaluation of the current Q-function (greedy play, and whatever
        else the domain can measure); returns whether the task scores it a new best."""
        began = self.logger.elapsed
        try:
            metrics = self.task.evaluate(self.agent.q_values)
        except Exception as exc:
            raise TaskStepError(self.counters.env_steps, exc, during="evaluation") from exc
        self._paused["eval"] += self.logger.elapsed - began
        c = self.counters
        c.evaluations += 1
        c.last_eval_step = c.env_steps
        c.solved_in_row = c.solved_in_row + 1 if self.task.solved(metrics) else 0
        score = check_score(self.task.score(metrics))
        best = None if c.best_score is None else tuple(c.best_score)
        # A tie goes to the later policy (trained longer; the one a stop rule accepts), as in
        # the checkpoint store; only a higher score resets an early stop's patience.
        improved = best is None or score >= best
        if improved:
            c.best_score = list(score)
            c.best_wall_seconds = self.logger.elapsed
            self.best_metrics = dict(metrics)
        if best is None or score > best:
            c.evals_without_improvement = 0
        else:
            c.evals_without_improvement += 1
        self.last_metrics = metrics
        self.history.append({"env_steps": c.env_steps, "wall": self.logger.elapsed, **metrics})
        for key, value in metrics.items():
            if math.isfinite(value):
                self.logger.record(key, value)
        self._notify("on_evaluation", metrics)
        return improved

    def _notify(self, event: str, *args: object) -> None:
        """Tell every callback of ``event``; one that answers False stops the run."""
        for callback in self._callbacks:
            if getattr(callback, event)(self, *args) is False:
                self._callback_stop = True

    def checkpoint(self, *, improved: bool, force: bool = False) -> Path | None:
        """Save when due, on a new best evaluation, or when forced (end of training).

        A save that fails (full or read-only disk) is an ``alert/checkpoint`` event and training
        goes on; the next save that succeeds ends it with ``recovered/checkpoint``.
        """
        if self.checkpoints is None:
            return None
        manager, c = self.checkpoints, self.counters
        step, failures = c.env_steps, len(manager.failures)
        evaluated = c.last_eval_step == step
        metrics = self.last_metrics if evaluated else {}
        score = check_score(self.task.score(metrics)) if evaluated else None
        began = self.logger.elapsed
        if improved or force:
            path = manager.save(step, self.payload, metrics, score)
        else:
            path = manager.maybe_save(step, self.payload, metrics, score)
        self._paused["save"] += self.logger.elapsed - began
        if len(manager.failures) > failures:
            self._save_failing = True
            self.logger.log_event(
                "alert/checkpoint",
                f"checkpoint at step {step} failed, training goes on and the next save is "
                f"tried again: {manager.failures[-1].error}",
                step,
            )
        elif path is not None and self._save_failing:
            self._save_failing = False
            self.logger.log_event("recovered/checkpoint", f"checkpoint saved: {path.name}", step)
        if path is not None:
            self._notify("on_checkpoint", path)
        return path

    def checkpoint_now(self) -> Path | None:
        """The checkpoint of the current state: the one saved at this step already, or a new one."""
        if self.checkpoints is None:
            return None
        if self.checkpoints.last_saved_step == self.counters.env_steps:
            return self.checkpoints.last_saved
        return self.checkpoint(improved=False, force=True)

    def log(self) -> None:
        """Throughput, gauges and health, then one dump to every sink.

        Throughput is over the interval's collection and learning time: its pauses for
        evaluation and checkpoint saves are ``perf/eval_seconds`` and ``perf/save_seconds``, so
        neither is a throughput cliff."""
        elapsed = self.logger.elapsed
        t0, steps0, updates0 = self._rate_window
        c, log = self.counters, self.logger
        dt = max(elapsed - t0 - sum(self._paused.values()), 1e-9)
        if c.env_steps > steps0:  # the closing dump can follow a regular one at the same step
            log.record("perf/env_steps_per_s", (c.env_steps - steps0) / dt)
            log.record("perf/updates_per_s", (c.updates - updates0) / dt)
        for pause, seconds in self._paused.items():
            if seconds:
                log.record(f"perf/{pause}_seconds", seconds)
        log.record("perf/replay_size", len(self.replay))
        log.record("rollout/stage", self.task.stage)
        log.record("rollout/episodes", c.episodes)
        log.record("train/updates", c.updates)
        for status, count in self._status_counts.items():
            log.record(f"rollout/status/{status}", count)
        self._status_counts.clear()
        log.record("health/nonfinite_transitions", self._nonfinite)
        if self._nonfinite:
            self.logger.log_event(
                "alert/nonfinite_data",
                f"{self._nonfinite} transitions with a non-finite observation or reward were "
                "left out of replay this interval",
                c.env_steps,
            )
            self._nonfinite = 0
        total = self.guard.n_restored  # 0 for the no-op guard of an unguarded run
        log.record("health/rollbacks", total - self._rollbacks_logged)
        log.record("health/rollbacks_total", total)
        self._rollbacks_logged = total
        screened = self.guard.n_screened  # transitions the guard kept out of a batch's loss
        log.record("health/screened", screened - self._screened_logged)
        self._screened_logged = screened
        self.health.update(log.values(), c.env_steps)
        log.dump(c.env_steps)
        self._rate_window = (elapsed, c.env_steps, c.updates)
        self._paused = dict.fromkeys(self._paused, 0.0)

    def stop_reason(self) -> str | None:
        """Why training should stop now, or None."""
        return stop_reason(self.config.train, self.counters, elapsed=self.logger.elapsed)

    # --- the loop ------------------------------------------------------------------------------
    def run(
        self,
        progress: Callable[[int], object] | None = None,
        stop: StopRequest | None = None,
        callbacks: Sequence[Callback] = (),
    ) -> TrainResult:
        """Train until a stop condition; ``progress(n)`` hears of every ``n`` new env steps,
        ``callbacks`` of each step, evaluation and checkpoint (:mod:`hrrl.engine.callbacks`: one
        that answers False ends the run as a stop request does, ``stop_reason`` "callback").

        ``stop`` is polled once per vector step, between two steps: once it is requested the run
        ends there with a checkpoint of that state (:meth:`checkpoint_now`) and without the
        closing evaluation and log of a finished run, so that resuming it continues the very
        sequence of steps, evaluations and log rows (``stop_reason`` is ``STOP_REQUESTED``).
        """
        self._callbacks, self._callback_stop = tuple(callbacks), False
        try:
            return self._run(progress, stop or StopRequest())  # no stop: run to the end
        except TaskStepError as exc:
            exc.checkpoint = self._save_after_env_failure(exc)
            raise
        finally:
            self._callbacks = ()

    def _run(self, progress: Callable[[int], object] | None, request: StopRequest) -> TrainResult:
        tc, c = self.config.train, self.counters
        while (reason := self.stop_reason()) is None:
            if request.requested:
                return self._result(STOP_REQUESTED, self.checkpoint_now())
            if self._callback_stop:
                return self._result(CALLBACK_STOP, self.checkpoint_now())
            self.collect()
            self.learn()
            improved = False
            scheduled = c.env_steps >= c.next_eval
            if scheduled or self.task.evaluation_due(self.last_metrics, self.task.stage):
                improved = self.evaluate()
                if scheduled:  # after it: a failed evaluation is done again
                    c.next_eval += tc.eval_every
            # Log before the checkpoint: a save on a logging boundary then holds an empty
            # interval and the advanced next_log, so a resumed run logs the same rows.
            if c.env_steps >= c.next_log:
                c.next_log += log_interval(c.next_log, tc.log_every)
                self.log()
            self.checkpoint(improved=improved)
            if progress is not None:
                progress(self.task.num_envs)
            self._notify("on_step")
        # Every finished run scores its final policy; the closing log before the closing save
        # (one save, the evaluation's): the final checkpoint then holds the state after the last
        # row, and a run extended from it starts a fresh interval.
        improved = self.evaluate() if c.last_eval_step != c.env_steps else False
        self.log()
        return self._result(reason, self.checkpoint(improved=improved, force=True))

    def _save_after_env_failure(self, error: TaskStepError) -> Path | None:
        """An ``error/env`` event, then the checkpoint of the last whole step. When a training
        environment failed, the episodes in flight die with its state: their pending n-step
        transitions are dropped, and a run resumed from this checkpoint starts new ones."""
        self.logger.log_event("error/env", f"the environment raised {error}", error.env_step)
        if error.during == "training":
            self.returns = self._return_folder()
            self._new_episodes = True
        return self.checkpoint_now()

    def _result(self, stop_reason: str, checkpoint: Path | None) -> TrainResult:
        return TrainResult(
            counters=self.counters,
            best_metrics=self.best_metrics,
            last_metrics=self.last_metrics,
            stop_reason=stop_reason,
            wall_seconds=self.logger.elapsed,
            history=self.history,
            checkpoint=checkpoint,
        )

    def write_config(self) -> None:
        """``config.yaml`` in the run directory, before the first step, and to the logger."""
        if self.run_dir is not None:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            save_yaml(self.config, self.run_dir / "config.yaml")
        self.logger.log_config(to_dict(self.config))

    # --- state ---------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything the run needs to continue bit-identically (tensors and arrays included;
        :func:`hrrl.engine.trainer_state.trainer_state`)."""
        return trainer_state(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        load_trainer_state(self, state)

    def payload(self) -> CheckpointPayload:
        """The checkpoint of this moment (:func:`hrrl.persistence.payload.payload_from_state`)."""
        return payload_from_state(self.state_dict())
