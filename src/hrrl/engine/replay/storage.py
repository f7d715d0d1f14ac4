"""Replay storage: the transitions themselves, in preallocated NumPy arrays written as a ring."""

from __future__ import annotations

from typing import Any

import numpy as np

from hrrl.config import check_int
from hrrl.engine.replay.sum_tree import MAX_CAPACITY


class ArrayStorage:
    """Preallocated ring buffer of transitions in NumPy arrays.

    ``add`` writes a batch at the cursor and wraps around; once full, the oldest rows are
    overwritten first. ``get(indices)`` gathers rows.
    """

    kind = "arrays"

    def __init__(
        self,
        capacity: int,
        obs_dim: int,
        *,
        discounts: bool = False,
        dtype: np.dtype[Any] | type = np.float32,
    ) -> None:
        """``discounts``: also keep each transition's bootstrap discount (n-step returns, where
        an episode's last transitions bootstrap over fewer than n steps); ``dtype``: of the
        observation rows (the frame replay keeps frame ids here)."""
        check_int("capacity", capacity, low=1, high=MAX_CAPACITY)
        check_int("obs_dim", obs_dim, low=1)
        self.capacity = capacity
        self.obs_dim = obs_dim
        self.obs_shape: tuple[int, ...] = (obs_dim,)
        self.obs_dtype = np.dtype(dtype)
        self.obs = np.zeros((capacity, obs_dim), dtype=self.obs_dtype)
        self.next_obs = np.zeros((capacity, obs_dim), dtype=self.obs_dtype)
        self.actions = np.zeros(capacity, dtype=np.int64)
        self.rewards = np.zeros(capacity, dtype=np.float32)
        self.terminated = np.zeros(capacity, dtype=np.bool_)
        self.discounts: np.ndarray | None = np.zeros(capacity, np.float32) if discounts else None
        self._fields = self._FIELDS + (("discounts",) if discounts else ())
        self.cursor = 0
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def add(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_obs: np.ndarray,
        terminated: np.ndarray,
        discounts: np.ndarray | None = None,
    ) -> np.ndarray:
        """Write ``n`` transitions (leading batch dimension); returns the slots written."""
        self.check_discounts(discounts)
        obs, actions, rewards, next_obs, terminated, discounts = self.newest(
            obs, actions, rewards, next_obs, terminated, discounts
        )
        n = obs.shape[0]
        start = self.cursor
        if start + n <= self.capacity:  # one contiguous run: slice writes, no index arrays
            rows: slice | np.ndarray = slice(start, start + n)
            slots = np.arange(start, start + n)
        else:
            slots = (start + np.arange(n)) % self.capacity
            rows = slots
        self.obs[rows] = obs
        self.next_obs[rows] = next_obs
        self.actions[rows] = actions
        self.rewards[rows] = rewards
        self.terminated[rows] = terminated
        if self.discounts is not None:
            self.discounts[rows] = discounts
        self.cursor = int((self.cursor + n) % self.capacity)
        self.size = min(self.size + n, self.capacity)
        return slots

    def check_discounts(self, discounts: np.ndarray | None) -> None:
        if (discounts is None) != (self.discounts is None):
            raise ValueError(
                "discounts must be given exactly when the storage keeps them (n-step returns)"
            )

    def newest(self, *arrays: np.ndarray | None) -> tuple[Any, ...]:
        """Each array's newest ``capacity`` rows (None stays None): of a batch larger than the
        ring, only those would survive anyway."""
        n = len(arrays[0]) if arrays[0] is not None else 0
        keep = slice(max(n - self.capacity, 0), n)
        return tuple(None if a is None else a[keep] for a in arrays)

    def slots_ahead(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The slots the next ``n`` rows go to, and those of them that hold a row now."""
        slots = (self.cursor + np.arange(n)) % self.capacity
        return slots, slots[slots < self.size]

    def get(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        return {name: getattr(self, name)[indices] for name in self._fields}

    _FIELDS = ("obs", "next_obs", "actions", "rewards", "terminated")

    def state_dict(self) -> dict[str, Any]:
        """Filled rows as read-only views (no copy: valid until the next ``add``)."""
        state: dict[str, Any] = {
            "capacity": self.capacity,
            "obs_dim": self.obs_dim,
            "cursor": self.cursor,
            "size": self.size,
        }
        for name in self._fields:
            view = getattr(self, name)[: self.size].view()
            view.flags.writeable = False
            state[name] = view
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if int(state["capacity"]) != self.capacity or int(state["obs_dim"]) != self.obs_dim:
            raise ValueError(
                f"saved replay has capacity {state['capacity']} and obs_dim {state['obs_dim']}, "
                f"this one {self.capacity} and {self.obs_dim}: build it with the saved sizes"
            )
        size = int(state["size"])
        for name in self._fields:
            array = np.asarray(state[name])
            if array.shape[0] != size:
                raise ValueError(f"saved replay field {name} has {array.shape[0]} rows, not {size}")
            getattr(self, name)[:size] = array
        self.size = size
        self.cursor = int(state["cursor"])
