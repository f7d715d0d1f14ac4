"""Training collection through ``gymnasium.vector``: the sub-environments, seeded and saved.

::

    make_env(id) x N ──> SavedEnv (index i) ──> SyncVectorEnv   (gym.vector = "sync", default)
                                            └─> AsyncVectorEnv  (gym.vector = "async": one
                                                                 process per sub-environment)
        autoreset_mode = SAME_STEP: when sub-env i ends, step() returns the first observation of
        its next episode in obs[i] and the true last one in info["final_obs"][i]

* **Autoreset.** ``SAME_STEP`` is the mode whose step is one transition per sub-environment:
  Gymnasium's default ``NEXT_STEP`` spends the step after an ending on the reset (its action is
  ignored, its reward 0), which the replay would have to skip; ``SAME_STEP`` resets inside the
  ending step and hands the final observation over in ``info["final_obs"]``, the one a
  truncated transition bootstraps from.
* **Seeding.** ``reset(seed=[s_0, ..., s_{N-1}])`` seeds sub-env ``i`` with its own ``s_i``
  (:class:`numpy.random.SeedSequence` children of the task seed); every later episode is an
  autoreset ``reset()`` without a seed, drawing from that sub-env's own ``np_random``: the same
  RNG stream a loop over ``N`` separate environments draws, so sync and async (and the
  separate-environment loop of hrrl 0.x) collect the same transitions from the same seed.
* **State.** A sub-process's environment is not reachable from the trainer, so each sub-env is
  wrapped in :class:`SavedEnv`, whose methods :meth:`VectorEnv.call` runs where the env lives:
  ``hrrl_env_state`` returns :func:`hrrl.gym.state.env_state` of the env inside it (the wrapper
  itself is not a layer of the saved state), ``hrrl_load_env_state`` puts one back.
* **Failures.** An environment that raises in a worker reaches the trainer as its own
  exception, with the worker's traceback as a note and no log output of Gymnasium's
  (:class:`WorkerErrors`): the command line says it in one line, the run directory keeps the
  traceback.
* **Signals.** The training process owns SIGINT and SIGTERM (a stop at a checkpoint, which
  reads the workers' envs), but ``fork`` hands its Python handlers to every worker. Workers
  therefore ignore SIGINT (Ctrl-C reaches the whole foreground process group) and take SIGTERM's
  default action: the parent's exit terminates them quietly. A SIGTERM sent to the whole
  process group (``kill -TERM -PGID``) also ends the workers, so that stop cannot save the
  step in flight: the run resumes from the checkpoint before.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import gymnasium
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv
from gymnasium.vector.async_vector_env import AsyncState, _async_worker

from hrrl.errors import ConfigError
from hrrl.gym.config import VECTOR_MODES
from hrrl.gym.state import env_state, load_env_state, restored_rng


class SavedEnv(gymnasium.Wrapper[Any, Any, Any, Any]):
    """Sub-environment ``index`` of a vector env, with its state reachable through ``call``."""

    def __init__(self, env: gymnasium.Env[Any, Any], index: int) -> None:
        super().__init__(env)
        self.hrrl_index = index

    def hrrl_env_state(self) -> dict[str, Any]:
        """:func:`~hrrl.gym.state.env_state` of the wrapped env."""
        return env_state(self.env)

    def hrrl_load_env_state(self, states: Sequence[dict[str, Any]], seeds: Sequence[int]) -> bool:
        """Load this sub-env's entry of ``states`` (every sub-env is sent all of them: ``call``
        passes one argument list to all); returns whether it resumed mid-episode.

        A state that is not ``exact`` (a Box2D world) restores the RNG only and starts a new
        episode: the env is reset with its seed, then given the saved generator."""
        saved = states[self.hrrl_index]
        if saved["exact"]:
            load_env_state(self.env, saved)
            return True
        self.env.reset(seed=int(seeds[self.hrrl_index]))
        if saved["rng"] is not None:
            self.env.unwrapped._np_random = restored_rng(saved["rng"])
        return False


def _saved_env(make: Callable[[], gymnasium.Env[Any, Any]], index: int) -> SavedEnv:
    return SavedEnv(make(), index)


def _worker(*args: Any) -> None:
    """Gymnasium's own async worker, with the signal handling of the module doc."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _async_worker(*args)


class WorkerErrors(AsyncVectorEnv):
    """Gymnasium's ``AsyncVectorEnv``, raising a worker's exception with the worker's traceback
    and index as notes instead of logging them (Gymnasium writes each as a warning, several
    lines of them); like Gymnasium, the failed workers' pipes are closed."""

    def _raise_if_errors(self, successes: Iterable[bool]) -> None:
        failed = self.num_envs - sum(bool(ok) for ok in successes)
        if not failed:
            return
        errors = [self.error_queue.get() for _ in range(failed)]
        pipes: list[Any] = self.parent_pipes  # Gymnasium marks a closed worker's pipe None
        for index, *_ in errors:
            pipes[index].close()
            pipes[index] = None
        self._state = AsyncState.DEFAULT
        index, exctype, value, trace = errors[-1]
        error = exctype(value)
        error.add_note(f"in sub-environment {index} (of {self.num_envs}), whose traceback was:")
        error.add_note(trace.rstrip())
        raise error


def make_vector_env(
    make: Callable[[], gymnasium.Env[Any, Any]], num_envs: int, mode: str
) -> SyncVectorEnv[Any, Any] | AsyncVectorEnv:
    """``num_envs`` sub-environments from ``make`` (picklable for ``async``), autoreset in the
    same step (see the module doc)."""
    if mode not in VECTOR_MODES:
        raise ValueError(f"gym.vector={mode!r} is invalid: give one of {list(VECTOR_MODES)}")
    fns = [partial(_saved_env, make, i) for i in range(num_envs)]
    if mode == "async":
        return WorkerErrors(fns, autoreset_mode=AutoresetMode.SAME_STEP, worker=_worker)
    return SyncVectorEnv(fns, autoreset_mode=AutoresetMode.SAME_STEP)


@dataclass(frozen=True)
class VectorSource:
    """What a user's ``gymnasium.vector`` env says about the copies hrrl should train."""

    env: str | Callable[[], gymnasium.Env[Any, Any]]
    """A registered id, or a function making one sub-environment (to register)."""
    name: str
    """The name to register ``env`` under, when it is a function."""
    num_envs: int
    mode: str
    """``sync`` or ``async``, as the instance collects."""


#: ``gymnasium.make_vec`` keywords that say how to vectorise, not how to build one env.
_VECTOR_KWARGS = frozenset({"num_envs", "vectorization_mode", "vector_kwargs"})


def vector_source(vec: gymnasium.vector.VectorEnv[Any, Any, Any]) -> VectorSource:
    """How to rebuild ``vec`` as hrrl's own vector env: the same sub-environment, as many copies,
    sync or async as it was. hrrl seeds and checkpoints each copy itself (:class:`SavedEnv`), so
    it builds its own from the instance's recipe and leaves the instance to its owner.

    The recipe is the ``gymnasium.make_vec`` id when its keywords hold nothing else, otherwise
    the instance's first sub-environment maker (``env_fns``, the wrappers included). Refused in
    one line: vector-level wrappers (they would be dropped) and a vector env with no maker per
    copy (one that steps all its copies in one array, such as ``CartPoleVectorEnv``, built with
    environment keywords)."""
    kind = type(vec).__name__
    if isinstance(vec, gymnasium.vector.VectorWrapper):
        raise ConfigError(
            f"env={kind}(...) is invalid: hrrl rebuilds the vector env to seed and checkpoint "
            "each copy, which would drop vector-level wrappers: wrap each environment in the "
            "function that makes it, and pass that function"
        )
    mode = "async" if isinstance(vec, AsyncVectorEnv) else "sync"
    spec = vec.spec
    if spec is not None and spec.id in gymnasium.registry:
        extra = {k: v for k, v in spec.kwargs.items() if k not in _VECTOR_KWARGS}
        if extra.get("max_episode_steps") == spec.max_episode_steps:
            extra.pop("max_episode_steps", None)
        if not extra:
            return VectorSource(spec.id, spec.id, vec.num_envs, mode)
    fns = getattr(vec, "env_fns", None)
    if not isinstance(vec, SyncVectorEnv | AsyncVectorEnv) or not fns:
        raise ConfigError(
            f"env={kind} is invalid: it steps its copies together, so hrrl cannot seed and "
            "checkpoint each one; give the id with train.num_envs, a function that makes one "
            "environment, or gymnasium.make_vec(..., vectorization_mode='sync')"
        )
    name = spec.name if spec is not None else getattr(fns[0], "__name__", "env")
    return VectorSource(fns[0], name, vec.num_envs, mode)
