"""An Ape-X actor: its own copies of the task and the Q-network, collecting for the learner.

An :class:`Actor` runs in its own process (a Ray actor, :mod:`hrrl.engine.distributed.learner`),
though nothing here imports Ray: it is a plain class the learner wraps. Each request
(:meth:`Actor.collect`) plays ``steps`` vector steps epsilon-greedily with the newest weights the
learner broadcast, folds n-step returns as the single-process trainer does, and scores every
transition's initial priority ``|Q(s, a) - y|`` with its copy of the network (one batched pass
per request), so the learner's replay samples new experience by its surprise from the start,
not at the maximum priority.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from hrrl.engine.agent import AgentConfig, DQNAgent
from hrrl.engine.dqn import td_targets
from hrrl.engine.nstep import Transitions, make_return_folder
from hrrl.engine.replay.buffer import Batch
from hrrl.engine.task import EpisodeEnd, Task

#: Builds the task of one actor from its seed (``functools.partial(hrrl.run.make_task, config)``).
TaskFactory = Callable[..., Task]


@dataclass(frozen=True)
class Chunk:
    """What one request collected: transitions ready for the replay with their priorities."""

    actor: int
    transitions: Transitions
    priorities: np.ndarray | None
    """``|Q(s, a) - y|`` per transition from the actor's copy of the network (finite or not:
    the learner keeps non-finite data out of the replay); None when the actor does not score
    (``distributed.priorities=max``)."""
    ended: list[EpisodeEnd]
    vector_steps: int
    env_steps: int
    weights_version: int
    """The version of the weights of its last step."""
    epsilon: float


class Actor:
    """Its copies of the task (its share of the run's envs,
    :func:`~hrrl.engine.distributed.config.actor_envs`, as its factory's ``train.num_envs``), an
    epsilon-greedy copy of the online network and an n-step folder, all seeded from ``seed``;
    ``epsilon`` fixes its exploration rate (None: each request gives it), ``score`` has it score
    initial priorities."""

    def __init__(
        self,
        make_task: TaskFactory,
        agent_config: AgentConfig,
        *,
        index: int,
        seed: int,
        epsilon: float | None,
        weights: dict[str, np.ndarray],
        version: int,
        score: bool = True,
    ) -> None:
        torch.set_num_threads(1)  # one core per actor: the learner and its peers share the rest
        task_seed, agent_seed = np.random.SeedSequence(seed).generate_state(2)
        self.index = index
        self.task = make_task(seed=int(task_seed))
        self.agent = DQNAgent(
            obs_dim=self.task.obs_dim,
            obs_shape=self.task.obs_shape,
            n_actions=self.task.n_actions,
            config=agent_config,
            seed=int(agent_seed),
        )
        self.agent.online.requires_grad_(False)
        self.returns = make_return_folder(
            n=agent_config.n_step, gamma=agent_config.gamma, num_envs=self.task.num_envs
        )
        self.epsilon = epsilon
        self.score = score
        self.version = -1
        self._newest = (version, weights)
        self._load_newest()
        self.obs = self.task.reset()

    def pid(self) -> int:
        """The process id (a fault test kills it)."""
        return os.getpid()

    def set_weights(self, version: int, weights: dict[str, np.ndarray]) -> None:
        """The learner's newest online weights, taken at the start of the next request (the
        actor is single-threaded: they queue behind the requests sent before them)."""
        self._newest = (version, weights)

    def _load_newest(self) -> None:
        version, weights = self._newest
        if version != self.version:
            tensors = {k: torch.as_tensor(np.array(v)) for k, v in weights.items()}
            self.agent.online.load_state_dict(tensors)
            self.agent.target.load_state_dict(tensors)
            self.version = version

    def collect(self, steps: int, base_epsilon: float) -> Chunk:
        """``steps`` vector steps with the newest weights the learner sent (:meth:`set_weights`),
        at the actor's epsilon (``base_epsilon`` when it was given none)."""
        epsilon = base_epsilon if self.epsilon is None else self.epsilon
        self._load_newest()
        parts: list[Transitions] = []
        ended: list[EpisodeEnd] = []
        for _ in range(steps):
            actions = self.agent.act(self.obs, epsilon)
            out = self.task.step(actions)
            parts.append(
                self.returns.fold(
                    self.obs, actions, out.rewards, out.next_obs, out.terminated, out.truncated
                )
            )
            ended.extend(out.ended)
            self.obs = out.obs
        transitions = _concatenate(parts)
        return Chunk(
            actor=self.index,
            transitions=transitions,
            priorities=self._priorities(transitions) if self.score else None,
            ended=ended,
            vector_steps=steps,
            env_steps=steps * self.task.num_envs,
            weights_version=self.version,
            epsilon=epsilon,
        )

    def _priorities(self, t: Transitions) -> np.ndarray:
        """``|Q(s, a) - y|`` with the actor's network as both the online and the target net."""
        if not len(t.rewards):
            return np.zeros(0, dtype=np.float32)
        agent = self.agent
        tensor = agent._obs_tensor  # flat float32 rows, as the learner's batches
        batch = Batch(
            obs=tensor(t.obs.reshape(len(t.rewards), -1)),
            actions=torch.from_numpy(t.actions),
            rewards=torch.from_numpy(t.rewards),
            next_obs=tensor(t.next_obs.reshape(len(t.rewards), -1)),
            terminated=torch.from_numpy(t.terminated.astype(np.float32)),
            discounts=None if t.discounts is None else torch.from_numpy(t.discounts),
        )
        with torch.inference_mode():
            q_sa = agent.online(batch.obs).q.gather(1, batch.actions.unsqueeze(1)).squeeze(1)
            y = td_targets(
                batch,
                agent.online,
                agent.target,
                gamma=agent.config.gamma,
                double=agent.config.double,
            )
            return (q_sa - y).abs().float().numpy()

    def close(self) -> None:
        close = getattr(self.task, "close", None)
        if close is not None:
            close()


def _concatenate(parts: list[Transitions]) -> Transitions:
    first = parts[0]
    return Transitions(
        obs=np.concatenate([p.obs for p in parts]),
        actions=np.concatenate([p.actions for p in parts]),
        rewards=np.concatenate([p.rewards for p in parts]),
        next_obs=np.concatenate([p.next_obs for p in parts]),
        terminated=np.concatenate([p.terminated for p in parts]),
        discounts=None
        if first.discounts is None
        else np.concatenate([p.discounts for p in parts if p.discounts is not None]),
    )
