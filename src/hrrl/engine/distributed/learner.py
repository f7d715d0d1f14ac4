"""The Ape-X learner: the trainer, collecting from Ray actors instead of its own environments.

:class:`DistributedTrainer` is a :class:`~hrrl.engine.trainer.Trainer` whose *collect* phase
takes the next chunk any actor finished (:class:`ActorPool`) and stores it with the priorities
the actor scored; everything else (the replay, the updates, the guard, the target sync, the
evaluations on the learner's own task, checkpoints, logs, stop requests) is the trainer's, so a
distributed run writes the same run directory as a single-process one::

    actor 0 ────────────┐  chunk: n-step transitions, priorities, finished episodes
    actor 1 ────────────┼──> learner: replay.add, updates at the run's ratio ──> weights
    ...                 │                                                          │
    actor N-1 ──────────┘ <── Ray object store: one copy, every sync_every updates ┘
                              (sent to each actor, after its queued requests)

The learner keeps the run's updates per env step (``train.updates_per_train`` every
``train.train_every`` vector steps of ``train.num_envs``), so an N-actor run learns from as many
updates as the single-process run of the same budget. Each actor has ``distributed.in_flight``
requests at a time, so transitions in transit are bounded; a chunk is played with weights up
to ``in_flight`` chunks old and then waits for the learner, which is the policy lag that
``perf/actor_lag_updates`` logs.

A failed actor (its process killed, its environment raised) is replaced by a fresh one with a new
seed, and the run goes on (an ``error/actor`` event); after ``distributed.max_restarts`` failures
the run ends as when its own environment fails (a checkpoint of the last whole step). The
learner's checkpoint is exact; the actors' episodes in flight are not in it, so a resumed
distributed run starts new ones: it is not bit-identical to the uninterrupted run.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from hrrl.engine.callbacks import Callback
from hrrl.engine.config import EngineConfig
from hrrl.engine.distributed.actor import Actor, Chunk, TaskFactory
from hrrl.engine.distributed.config import DistributedConfig, actor_envs, ladder_epsilon
from hrrl.engine.distributed.ray_session import ray_session
from hrrl.engine.run_state import TrainResult
from hrrl.engine.stop import StopRequest
from hrrl.engine.task import Task, TaskStepError
from hrrl.engine.trainer import Trainer
from hrrl.monitoring.logger import Logger

_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # Ray colours its messages for a terminal

#: Mixed into every actor's seed, apart from the run's other streams.
ACTOR_STREAM = 0xA9E7


class DistributedEngineConfig(EngineConfig, Protocol):
    """The engine's sections and the ``distributed`` one."""

    @property
    def distributed(self) -> DistributedConfig: ...


class ActorFailure(Exception):
    """An actor's request failed: its process died or its environment raised."""


class ActorPool:
    """``config.actors`` Ray actors with ``config.in_flight`` requests queued on each.

    ``new_actor(index, generation)`` builds the remote actor of slot ``index`` (its
    ``generation``-th, counting replacements); ``request(index)`` gives the arguments of the
    slot's next :meth:`Actor.collect`, read when the request is queued.
    """

    def __init__(
        self,
        ray: Any,
        new_actor: Callable[[int, int], Any],
        request: Callable[[int], tuple[Any, ...]],
        config: DistributedConfig,
    ) -> None:
        self.ray = ray
        self.config = config
        self._new_actor = new_actor
        self._request = request
        self.generations = [0] * config.actors
        self.actors = [new_actor(i, 0) for i in range(config.actors)]
        self.pending: dict[Any, int] = {}
        for index in range(config.actors):
            for _ in range(config.in_flight):
                self._submit(index)

    def _submit(self, index: int) -> None:
        ref = self.actors[index].collect.remote(*self._request(index))
        self.pending[ref] = index

    def next_chunk(self) -> Chunk | tuple[int, ActorFailure]:
        """The next chunk any actor finished (and that actor's next request queued), or
        ``(index, failure)`` when actor ``index`` failed: it is replaced already."""
        ref = self._oldest_ready()
        index = self.pending.pop(ref)
        try:
            chunk: Chunk = self.ray.get(ref)
        except self.ray.exceptions.RayError as exc:
            failure = ActorFailure(_failure_text(exc))
            self.replace(index)
            return index, failure
        self._submit(index)
        return chunk

    def _oldest_ready(self) -> Any:
        """The earliest queued request that is done (waiting for one if none is): first come,
        first served, so a learner slower than its actors takes from every actor in turn
        (``ray.wait`` alone favours some and starves the others)."""
        refs = list(self.pending)  # in the order they were queued
        ready, _ = self.ray.wait(refs, num_returns=len(refs), timeout=0)
        if not ready:
            ready, _ = self.ray.wait(refs, num_returns=1)
        done = set(ready)
        return next(ref for ref in refs if ref in done)

    def replace(self, index: int) -> None:
        """Actor ``index`` killed (if it still lives) and replaced by a fresh one; its queued
        requests dropped and queued again on the new actor."""
        for ref in [r for r, i in self.pending.items() if i == index]:
            del self.pending[ref]
        self.ray.kill(self.actors[index], no_restart=True)
        self.generations[index] += 1
        self.actors[index] = self._new_actor(index, self.generations[index])
        for _ in range(self.config.in_flight):
            self._submit(index)

    def pids(self) -> list[int]:
        """The actors' process ids, in slot order."""
        return list(self.ray.get([actor.pid.remote() for actor in self.actors]))

    def close(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor, no_restart=True)
        self.actors, self.pending = [], {}


def _failure_text(exc: BaseException) -> str:
    """One line on why a request failed: the environment's own exception for a task error."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException):
        exc = cause
    first = _ANSI.sub("", str(exc)).strip().splitlines()
    return f"{type(exc).__name__}: {first[0] if first else ''}"


class DistributedTrainer(Trainer):
    """The learner of an Ape-X run over ``config.distributed.actors`` actors, each building its
    task with ``make_task(seed=...)``; ``task`` is the learner's own (for its evaluations).
    Ray is started (or joined at ``ray_address``) on the first collection and left at the end
    of :meth:`run`."""

    def __init__(
        self,
        config: DistributedEngineConfig,
        *,
        task: Task,
        make_task: TaskFactory,
        run_dir: Path | None = None,
        logger: Logger | None = None,
        ray_address: str | None = None,
    ) -> None:
        super().__init__(config, task=task, run_dir=run_dir, logger=logger)
        self.apex = config.distributed
        self._make_task = make_task
        self._ray_address = ray_address
        self._session: contextlib.ExitStack | None = None
        self._ray: Any = None  # the ray module, once started
        self.pool: ActorPool | None = None
        self._weights: tuple[int, Any] | None = None  # (version, object ref)
        self.restarts = 0
        n = self.apex.actors
        self.actor_env_steps = np.zeros(n, dtype=np.int64)
        """Env steps each actor slot has collected in this process (replacements included)."""
        self._actor_steps_logged = np.zeros(n, dtype=np.int64)
        self._actor_epsilon = np.zeros(n)

    # --- the actors ----------------------------------------------------------------------------
    def _start_actors(self) -> ActorPool:
        session = contextlib.ExitStack()
        ray = session.enter_context(
            ray_session(workers=self.apex.actors, address=self._ray_address)
        )
        self._session, self._ray = session, ray
        # One thread per actor: new weights wait behind the requests queued before them.
        remote = ray.remote(num_cpus=1)(Actor)
        seed, first_step = self.config.train.seed, self.counters.env_steps
        n, ladder = self.apex.actors, self.apex.epsilon

        def new_actor(index: int, generation: int) -> Any:
            # A resumed run, and each replacement, draws new episodes.
            entropy = [seed, ACTOR_STREAM, index, generation, first_step]
            assert self._weights is not None
            version, weights = self._weights
            return remote.remote(
                self._make_task,
                self.config.agent,
                index=index,
                seed=int(np.random.SeedSequence(entropy).generate_state(1)[0]),
                epsilon=None,  # each request carries the actor's rung (_request)
                weights=weights,
                version=version,
                score=self.apex.priorities == "actor",
            )

        self._publish()
        self.pool = ActorPool(ray, new_actor, self._request, self.apex)
        base = "schedule" if ladder is None else f"{ladder:.4g}"
        exponents = ", ".join(f"{1 + self.apex.alpha * i / max(1, n - 1):.3g}" for i in range(n))
        epsilons = f"epsilon {base} ** ({exponents})"
        where = self._ray_address or "a local Ray"
        envs = actor_envs(self.apex, self.config.train.num_envs)
        message = f"{n} actors of {envs} envs collecting on {where}, {epsilons}"
        self.logger.log_event("actors", message, self.counters.env_steps)
        return self.pool

    def _publish(self) -> None:
        """The online network's weights into Ray's object store, one copy for every actor,
        and sent to each (taken after the requests queued on it before them)."""
        state = {k: v.detach().cpu().numpy() for k, v in self.agent.online.state_dict().items()}
        self._weights = version, ref = (self.counters.updates, self._ray.put(state))
        for actor in self.pool.actors if self.pool is not None else ():
            actor.set_weights.remote(version, ref)

    def _request(self, index: int) -> tuple[Any, ...]:
        """``Actor.collect``'s arguments: the chunk's steps and the actor's rung of the ladder
        on ``distributed.epsilon``, or on the run's schedule when that is null."""
        apex = self.apex
        base = self.exploration.epsilon if apex.epsilon is None else apex.epsilon
        return (apex.chunk_steps, ladder_epsilon(base, index, apex.actors, apex.alpha))

    def close_actors(self) -> None:
        """Stop the actors and leave Ray (shut down when this run started it)."""
        if self.pool is not None:
            self.pool.close()
            self.pool = None
        if self._session is not None:
            self._session.close()
            self._session = None

    # --- phases --------------------------------------------------------------------------------
    def collect(self) -> None:
        """The next chunk any actor finished, into the replay with the actor's priorities; a
        failed actor is replaced (an ``error/actor`` event) and the next chunk taken."""
        pool = self.pool or self._start_actors()
        while not isinstance(chunk := pool.next_chunk(), Chunk):
            index, failure = chunk
            self.restarts += 1
            step = self.counters.env_steps
            if self.restarts > self.apex.max_restarts:
                raise TaskStepError(step, failure, during="training")
            self.logger.log_event(
                "error/actor",
                f"actor {index} failed ({failure}); replaced by a fresh actor with a new seed "
                f"(failure {self.restarts} of at most {self.apex.max_restarts})",
                step,
            )
        self.store(chunk.transitions, chunk.priorities)  # None: at the maximum
        self.actor_env_steps[chunk.actor] += chunk.env_steps
        self._actor_epsilon[chunk.actor] = chunk.epsilon
        self.logger.record("rollout/epsilon", self.exploration.epsilon)
        # Policy lag: updates the learner made since the weights of the chunk's last step.
        self.logger.record_mean(
            "perf/actor_lag_updates", self.counters.updates - chunk.weights_version
        )
        self.account(vector_steps=chunk.vector_steps, env_steps=chunk.env_steps, ended=chunk.ended)

    def learn(self) -> None:
        """The updates the single-process run would have made by this env step, then a weight
        broadcast every ``distributed.sync_every`` updates."""
        if not self.learning_started():
            return
        tc, c = self.config.train, self.counters
        start = max(tc.learning_starts, self.config.agent.batch_size)
        per_step = tc.updates_per_train / (tc.train_every * self.task.num_envs)
        due = int((c.env_steps - start) * per_step) + tc.updates_per_train - c.updates
        if due > 0:
            self.update(due)
        if self._weights is not None and c.updates - self._weights[0] >= self.apex.sync_every:
            self._publish()

    def log(self) -> None:
        """The trainer's row, with the actor count, failures and each actor's rate."""
        elapsed = self.logger.elapsed
        dt = max(elapsed - self._rate_window[0], 1e-9)
        log = self.logger
        log.record("perf/actors", self.apex.actors)
        log.record("health/actor_failures_total", self.restarts)
        steps = self.actor_env_steps - self._actor_steps_logged
        for i in range(self.apex.actors):
            log.record(f"perf/actor_{i}/env_steps_per_s", float(steps[i]) / dt)
            log.record(f"rollout/actor_{i}/epsilon", float(self._actor_epsilon[i]))
        self._actor_steps_logged = self.actor_env_steps.copy()
        super().log()

    # --- the loop ------------------------------------------------------------------------------
    def run(
        self,
        progress: Callable[[int], object] | None = None,
        stop: StopRequest | None = None,
        callbacks: Sequence[Callback] = (),
    ) -> TrainResult:
        """:meth:`Trainer.run`; the actors are stopped however it ends."""
        try:
            return super().run(progress, stop, callbacks)
        finally:
            self.close_actors()
