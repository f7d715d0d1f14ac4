"""The ``distributed`` section: how many Ray actors collect, and how each one explores."""

from __future__ import annotations

from dataclasses import dataclass

from hrrl.config import check_choice, check_int, check_range

#: Ape-X's base exploration rate and ladder exponent (Horgan et al. 2018, section 4.1), made for
#: hundreds of actors: with 4, three of them play almost greedily (0.047, 0.0056, 0.00066) and
#: LunarLander-v3 trailed the single process (bench/apex_learning.py), so the
#: defaults put every actor on the run's own exploration schedule and these are one --set away.
APEX_EPSILON = 0.4
APEX_ALPHA = 7.0

#: Where a new transition's priority comes from (:attr:`DistributedConfig.priorities`).
PRIORITIES = ("actor", "max")


@dataclass(frozen=True, kw_only=True)
class DistributedConfig:
    """Ape-X (distributed prioritized experience replay): ``actors`` Ray actors, each running
    ``envs_per_actor`` copies of the task with its own epsilon, send n-step transitions with
    their initial priorities to the one learner, which owns the replay, the updates, the guard,
    the evaluations, the checkpoints and the logs."""

    actors: int = 0
    """Ray actors collecting; 0: the trainer collects in its own process (no Ray)."""
    envs_per_actor: int | None = None
    """Copies of the task each actor steps; null: the run's ``train.num_envs`` shared among the
    actors (``ceil(num_envs / actors)`` each), so the run has about as many episodes in play as
    the single process. LunarLander-v3's 4 envs at 4 actors of 4 each (16 in play) trailed the
    single process's return by about 30 (``bench/apex_learning.py``)."""
    epsilon: float | None = None
    """Base of the epsilon ladder, actor ``i`` of ``N`` exploring with
    ``epsilon ** (1 + alpha * i / (N - 1))`` (one actor: ``epsilon``); null: the run's
    exploration schedule's current value is the base (Ape-X's own: :data:`APEX_EPSILON`)."""
    alpha: float = 0.0
    """Exponent of the ladder (0, the default: every actor explores with the base, the run's
    schedule unless ``epsilon`` is set; Ape-X's own: :data:`APEX_ALPHA`)."""
    priorities: str = "actor"
    """A new transition's priority in the replay: ``actor``, ``|Q(s, a) - y|`` scored by the
    actor that played it with its copy of the network (Ape-X); ``max``, the replay's maximum,
    as the single process stores it (every new transition is replayed soon)."""
    chunk_steps: int = 32
    """Vector steps an actor collects per request (``chunk_steps * num_envs`` transitions):
    small, because a finished chunk waits for the learner with the weights it was played with
    (the policy lag, ``perf/actor_lag_updates``, grows with it)."""
    in_flight: int = 2
    """Requests queued on each actor: a bound on the transitions in transit (a fast actor
    waits for the learner instead of growing memory). 2 hides the round trip to the learner
    (with 1 an actor idles from the end of a chunk until the learner takes it: 4 actors made
    3.82x the single process's env steps/s in ``bench/apex_scaling.py``, against 4.64x and
    4.95x with 2); 1 keeps the policy lag smallest."""
    sync_every: int = 100
    """Learner updates between two weight broadcasts (through Ray's object store; an actor
    takes them at the start of its next request)."""
    max_restarts: int = 20
    """Actor failures (a killed process, an environment that raised) replaced by a fresh actor
    before the run ends with the last failure (counted per process: a resume starts afresh)."""

    def __post_init__(self) -> None:
        check_int("distributed.actors", self.actors, low=0, high=1024)
        if self.envs_per_actor is not None:
            check_int("distributed.envs_per_actor", self.envs_per_actor, low=1, high=4096)
        if self.epsilon is not None:
            check_range("distributed.epsilon", self.epsilon, low=0.0, high=1.0)
        check_range("distributed.alpha", self.alpha, low=0.0)
        check_choice("distributed.priorities", self.priorities, PRIORITIES)
        for name in ("chunk_steps", "in_flight", "sync_every"):
            check_int(f"distributed.{name}", getattr(self, name), low=1)
        check_int("distributed.max_restarts", self.max_restarts, low=0)


def ladder_epsilon(base: float, index: int, actors: int, alpha: float) -> float:
    """Actor ``index``'s exploration rate: ``base ** (1 + alpha * index / (actors - 1))``."""
    if actors <= 1:
        return base
    return float(base ** (1.0 + alpha * index / (actors - 1)))


def actor_envs(config: DistributedConfig, num_envs: int) -> int:
    """How many copies of the task each actor steps (:attr:`DistributedConfig.envs_per_actor`)."""
    if config.envs_per_actor is not None:
        return config.envs_per_actor
    return -(-num_envs // max(1, config.actors))
