"""n-step returns: fold each env's last ``n`` one-step transitions into one before replay.

For env ``i`` the collector keeps its last transitions ``(s_t, a_t, r_t)`` of the running
episode; the transition stored for ``(s_t, a_t)`` is::

    R = r_t + gamma r_{t+1} + ... + gamma^(k-1) r_{t+k-1},   next = s_{t+k},   discount = gamma^k

with ``k = n`` while the episode runs. When it ends after fewer than ``n`` more steps, every
pending transition is flushed with its own ``k``: a *termination* stores ``terminated=True`` (no
bootstrap), a *truncation* (time limit) stores ``terminated=False`` and bootstraps from the final
observation with ``gamma^k``, so the two stay apart exactly as in one-step DQN. Prioritized
replay needs nothing special: priorities belong to the folded transitions.

``n = 1`` is :class:`OneStep`, which passes transitions through untouched (and stores no
discounts), so one-step runs are what they were before n-step existed.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np


@dataclass(frozen=True)
class Transitions:
    """A batch of transitions ready for the replay (``discounts`` None for one-step)."""

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_obs: np.ndarray
    terminated: np.ndarray
    discounts: np.ndarray | None = None

    def finite(self) -> np.ndarray:
        """Which transitions have finite observations (before and after) and a finite reward."""
        n = len(self.rewards)
        if not n:  # n-step returns may hold every transition back
            return np.ones(0, dtype=bool)
        return (
            np.isfinite(self.obs.reshape(n, -1)).all(axis=1)
            & np.isfinite(self.next_obs.reshape(n, -1)).all(axis=1)
            & np.isfinite(self.rewards)
        )

    def select(self, rows: np.ndarray) -> Transitions:
        """The transitions of ``rows`` (a boolean mask or indices), in order."""
        return Transitions(
            obs=self.obs[rows],
            actions=self.actions[rows],
            rewards=self.rewards[rows],
            next_obs=self.next_obs[rows],
            terminated=self.terminated[rows],
            discounts=None if self.discounts is None else self.discounts[rows],
        )


class ReturnFolder(Protocol):
    """Turns the transitions of one vector step into the transitions to store."""

    @property
    def stores_discounts(self) -> bool: ...

    def fold(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_obs: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
    ) -> Transitions: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class OneStep:
    """``n = 1``: every transition is stored as it came."""

    stores_discounts = False

    def fold(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_obs: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
    ) -> Transitions:
        return Transitions(obs, actions, rewards, next_obs, terminated)

    def state_dict(self) -> dict[str, Any]:
        return {"n": 1}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class NStepReturns:
    """``n > 1``: each env's pending transitions, folded as the module doc says."""

    stores_discounts = True

    def __init__(self, *, n: int, gamma: float, num_envs: int) -> None:
        if n < 2:
            raise ValueError(f"n={n!r} is invalid: n-step returns need n >= 2 (use OneStep)")
        self.n, self.gamma = n, gamma
        self.pending: list[deque[tuple[np.ndarray, int, float]]] = [
            deque() for _ in range(num_envs)
        ]

    def fold(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_obs: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
    ) -> Transitions:
        out_obs, out_act, out_ret, out_next, out_term, out_disc = [], [], [], [], [], []
        for i, queue in enumerate(self.pending):
            queue.append((np.array(obs[i]), int(actions[i]), float(rewards[i])))
            ended = bool(terminated[i] or truncated[i])
            ready = len(queue) if ended else int(len(queue) == self.n)
            for _ in range(ready):
                ret = sum(self.gamma**j * r for j, (_, _, r) in enumerate(queue))
                first_obs, first_action, _ = queue.popleft()
                out_obs.append(first_obs)
                out_act.append(first_action)
                out_ret.append(ret)
                out_next.append(next_obs[i])
                out_term.append(bool(terminated[i]))
                out_disc.append(self.gamma ** (len(queue) + 1))
        dim = obs.shape[1]
        return Transitions(
            obs=np.asarray(out_obs, dtype=obs.dtype).reshape(-1, dim),
            actions=np.asarray(out_act, dtype=np.int64),
            rewards=np.asarray(out_ret, dtype=np.float32),
            next_obs=np.asarray(out_next, dtype=next_obs.dtype).reshape(-1, dim),
            terminated=np.asarray(out_term, dtype=np.bool_),
            discounts=np.asarray(out_disc, dtype=np.float32),
        )

    def state_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "pending": [
                {
                    "obs": np.asarray([o for o, _, _ in q]),
                    "actions": [a for _, a, _ in q],
                    "rewards": [r for _, _, r in q],
                }
                for q in self.pending
            ],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if int(state["n"]) != self.n or len(state["pending"]) != len(self.pending):
            raise ValueError(
                f"saved n-step state has n={state['n']} for {len(state['pending'])} envs, this "
                f"one n={self.n} for {len(self.pending)}: build it with the saved config"
            )
        for queue, saved in zip(self.pending, state["pending"], strict=True):
            queue.clear()
            for o, a, r in zip(saved["obs"], saved["actions"], saved["rewards"], strict=True):
                queue.append((np.array(o), int(a), float(r)))


def make_return_folder(*, n: int, gamma: float, num_envs: int) -> ReturnFolder:
    """One-step pass-through for ``n = 1``, n-step returns otherwise."""
    return OneStep() if n == 1 else NStepReturns(n=n, gamma=gamma, num_envs=num_envs)
