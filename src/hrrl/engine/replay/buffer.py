"""Experience replay: a ring-buffer storage plus a sampler, composed (not subclassed).

::

    ReplayBuffer ──> ArrayStorage        preallocated NumPy arrays, written as a ring
                 └─> UniformSampler      every stored transition equally likely
                     PrioritizedSampler  P(i) = p_i / sum_j p_j, p_i = (|delta_i| + eps)^alpha,
                                         backed by a :class:`~hrrl.engine.replay.sum_tree.SumTree`

The buffer knows nothing about the environment: it stores float32 observation vectors, int64
actions, float32 rewards and a ``terminated`` flag (true termination only: a time-limit
truncation is stored as ``terminated=False`` so the target still bootstraps through it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np
import torch

from hrrl.config import check_choice, check_range
from hrrl.engine.replay.sum_tree import MAX_CAPACITY, SumTree
from hrrl.errors import ConfigError, field_error

#: Version of the layout :meth:`ReplayBuffer.state_dict` returns.
STATE_VERSION = 1


@dataclass(frozen=True, kw_only=True)
class ReplayConfig:
    """Which replay and its knobs."""

    kind: Literal["uniform", "prioritized"] = "prioritized"
    """Sampling rule: "uniform" (every transition equally likely) or "prioritized" (by TD error)."""
    capacity: int = 100_000
    """Transitions kept; the oldest is overwritten first."""
    alpha: float = 0.6
    """Prioritization strength: P(i) ~ (|delta_i| + eps)^alpha; 0 = uniform."""
    beta_start: float = 0.4
    """Importance-sampling exponent at the first sample, annealed linearly to 1."""
    beta_steps: int = 100_000
    """Number of sample() calls (learning steps) over which beta reaches 1."""
    eps: float = 1e-6
    """Added to |delta| so that no transition's priority is ever 0."""

    def __post_init__(self) -> None:
        check_choice("replay.kind", self.kind, ("uniform", "prioritized"))
        _check_int("replay.capacity", self.capacity, 1, MAX_CAPACITY)
        check_range("replay.alpha", self.alpha, low=0.0, high=1.0)
        check_range("replay.beta_start", self.beta_start, low=0.0, high=1.0)
        _check_int("replay.beta_steps", self.beta_steps, 1, None)
        check_range("replay.eps", self.eps, low=0.0, high=1.0, low_open=True)


def _check_int(name: str, value: object, low: int, high: int | None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise field_error(ConfigError, name, value, "it must be an integer")
    check_range(name, value, low=low, high=high)


@dataclass(frozen=True)
class Batch:
    """A batch of transitions as tensors on the learner's device.

    ``terminated`` is float32 (1.0 = the episode truly ended, no bootstrap). ``indices`` and
    ``weights`` come from prioritized replay (the slots sampled, to update their priorities, and
    the importance-sampling weights); both are ``None`` for uniform replay.
    """

    obs: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    next_obs: torch.Tensor
    terminated: torch.Tensor
    indices: np.ndarray | None = None
    weights: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.actions.shape[0])


class ArrayStorage:
    """Preallocated ring buffer of transitions in NumPy arrays.

    ``add`` writes a batch at the cursor and wraps around; once full, the oldest rows are
    overwritten first. ``get(indices)`` gathers rows.
    """

    def __init__(self, capacity: int, obs_dim: int) -> None:
        _check_int("capacity", capacity, 1, MAX_CAPACITY)
        _check_int("obs_dim", obs_dim, 1, None)
        self.capacity = capacity
        self.obs_dim = obs_dim
        self.obs = np.zeros((capacity, obs_dim), dtype=np.float32)
        self.next_obs = np.zeros((capacity, obs_dim), dtype=np.float32)
        self.actions = np.zeros(capacity, dtype=np.int64)
        self.rewards = np.zeros(capacity, dtype=np.float32)
        self.terminated = np.zeros(capacity, dtype=np.bool_)
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
    ) -> np.ndarray:
        """Write ``n`` transitions (leading batch dimension); returns the slots written."""
        n = obs.shape[0]
        if n > self.capacity:  # only the newest `capacity` rows would survive anyway
            keep = slice(n - self.capacity, n)
            obs, actions, rewards = obs[keep], actions[keep], rewards[keep]
            next_obs, terminated = next_obs[keep], terminated[keep]
            n = self.capacity
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
        self.cursor = int((self.cursor + n) % self.capacity)
        self.size = min(self.size + n, self.capacity)
        return slots

    def get(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        return {
            "obs": self.obs[indices],
            "actions": self.actions[indices],
            "rewards": self.rewards[indices],
            "next_obs": self.next_obs[indices],
            "terminated": self.terminated[indices],
        }

    _FIELDS = ("obs", "next_obs", "actions", "rewards", "terminated")

    def state_dict(self) -> dict[str, Any]:
        """Filled rows as read-only views (no copy: valid until the next ``add``)."""
        state: dict[str, Any] = {
            "capacity": self.capacity,
            "obs_dim": self.obs_dim,
            "cursor": self.cursor,
            "size": self.size,
        }
        for name in self._FIELDS:
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
        for name in self._FIELDS:
            array = np.asarray(state[name])
            if array.shape[0] != size:
                raise ValueError(f"saved replay field {name} has {array.shape[0]} rows, not {size}")
            getattr(self, name)[:size] = array
        self.size = size
        self.cursor = int(state["cursor"])


class Sampler(Protocol):
    """Picks slots to replay; told about every write so it can track priorities."""

    def on_add(self, slots: np.ndarray) -> None: ...

    def sample(self, batch_size: int, size: int) -> tuple[np.ndarray, np.ndarray | None]: ...

    def update_priorities(self, indices: np.ndarray, td_errors: np.ndarray) -> None: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class UniformSampler:
    """Every stored slot equally likely, drawn with replacement; no weights."""

    def __init__(self, *, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def on_add(self, slots: np.ndarray) -> None:
        """Nothing to track."""

    def sample(self, batch_size: int, size: int) -> tuple[np.ndarray, np.ndarray | None]:
        return self.rng.integers(0, size, size=batch_size, dtype=np.int64), None

    def update_priorities(self, indices: np.ndarray, td_errors: np.ndarray) -> None:
        """Uniform replay has no priorities: accepted and ignored, so callers need no branch."""

    def state_dict(self) -> dict[str, Any]:
        return {"kind": "uniform", "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]


class PrioritizedSampler:
    """Proportional prioritized replay (Schaul et al. 2016), stratified.

    * stored priority ``p_i = (|delta_i| + eps)^alpha``; a new slot enters at the largest stored
      priority (1.0 while the buffer is empty), so every transition is replayed at least once soon;
    * ``P(i) = p_i / sum_j p_j``; a batch of ``B`` splits ``[0, total)`` into ``B`` equal
      segments and draws one value uniformly in each (stratified: lower variance, same marginal
      probabilities ``P(i)``);
    * importance-sampling weight ``w_i = (N * P(i))^-beta / max_{j in batch} (N * P(j))^-beta``
      with ``N`` the number of stored transitions. Normalised by the maximum over the batch (as
      Dopamine does), so weights lie in (0, 1]; Schaul et al. normalise by the maximum over the
      whole buffer, which needs a min tree and only rescales every weight of a batch by the same
      factor <= 1 (the same as a slightly smaller learning rate for that batch);
    * ``beta = beta_start + (1 - beta_start) * min(1, n / beta_steps)`` where ``n`` counts the
      ``sample`` calls made before this one.
    """

    def __init__(
        self,
        *,
        capacity: int,
        alpha: float,
        beta_start: float,
        beta_steps: int,
        eps: float,
        seed: int,
    ) -> None:
        self.tree = SumTree(capacity)
        self.alpha = alpha
        self.beta_start = beta_start
        self.beta_steps = beta_steps
        self.eps = eps
        self.rng = np.random.default_rng(seed)
        self.n_sampled = 0

    @property
    def beta(self) -> float:
        """Importance-sampling exponent the next ``sample`` call uses."""
        frac = min(1.0, self.n_sampled / self.beta_steps)
        return self.beta_start + (1.0 - self.beta_start) * frac

    def on_add(self, slots: np.ndarray) -> None:
        top = self.tree.max
        value = top if top > 0.0 else 1.0
        n = slots.size
        first = int(slots[0]) if n else 0
        if (
            n
            and int(slots[-1]) == first + n - 1
            and np.array_equal(slots, np.arange(first, first + n))
        ):
            # A ring buffer's run of slots, at the max: slice path, ancestors deferred to the
            # next read, so adds before the first sample share one pass over the tree.
            self.tree.update_range(first, value, n, defer=True)
        else:
            self.tree.update(slots, np.full(slots.shape, value))

    def sample(self, batch_size: int, size: int) -> tuple[np.ndarray, np.ndarray | None]:
        total = self.tree.total
        segment = total / batch_size
        values = (np.arange(batch_size) + self.rng.random(batch_size)) * segment
        indices, priorities = self.tree.query(values, check=False)  # values in [0, total)
        # w_i = (N P(i))^-beta / max_j (N P(j))^-beta = (min_j p_j / p_i)^beta: N and the total
        # cancel, and the ratio lies in (0, 1], so nothing can overflow.
        weights = (priorities.min() / priorities) ** self.beta
        self.n_sampled += 1
        return indices, weights.astype(np.float32)

    def update_priorities(self, indices: np.ndarray, td_errors: np.ndarray) -> None:
        """Set ``p_i = (|delta_i| + eps)^alpha``; refuses non-finite TD errors."""
        delta = np.abs(np.asarray(td_errors, dtype=np.float64).reshape(-1))
        if not np.all(np.isfinite(delta)):
            raise ValueError(
                "td_errors contains NaN or inf: skip update_priorities for an update the guard "
                "rejected (LearnStats.applied is False)"
            )
        self.tree.update(indices, (delta + self.eps) ** self.alpha)

    def state_dict(self) -> dict[str, Any]:
        return {
            "kind": "prioritized",
            "rng": self.rng.bit_generator.state,
            "n_sampled": self.n_sampled,
            "tree": self.tree.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]
        self.n_sampled = int(state["n_sampled"])
        self.tree.load_state_dict(state["tree"])


class ReplayBuffer:
    """Storage plus sampler: ``add`` batches of transitions, ``sample`` typed batches."""

    def __init__(
        self, *, storage: ArrayStorage, sampler: Sampler, device: str | torch.device = "cpu"
    ) -> None:
        self.storage = storage
        self.sampler = sampler
        self.device = torch.device(device)

    def __len__(self) -> int:
        return len(self.storage)

    @property
    def capacity(self) -> int:
        return self.storage.capacity

    def add(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_obs: np.ndarray,
        terminated: np.ndarray,
    ) -> np.ndarray:
        """Store ``n`` transitions given with a leading batch dimension; returns their slots.

        ``obs`` and ``next_obs`` are ``(n, obs_dim)``, the others ``(n,)``.
        """
        obs = np.asarray(obs, dtype=np.float32)
        next_obs = np.asarray(next_obs, dtype=np.float32)
        actions = np.asarray(actions)
        rewards = np.asarray(rewards, dtype=np.float32)
        terminated = np.asarray(terminated, dtype=np.bool_)
        d = self.storage.obs_dim
        if obs.ndim != 2 or obs.shape[1] != d or next_obs.shape != obs.shape:
            raise ValueError(
                f"obs and next_obs must both have shape (n, {d}), got {obs.shape} and "
                f"{next_obs.shape}: add transitions with a leading batch dimension"
            )
        n = obs.shape[0]
        for name, arr in (("actions", actions), ("rewards", rewards), ("terminated", terminated)):
            if arr.shape != (n,):
                raise ValueError(f"{name} must have shape ({n},), got {arr.shape}")
        if n and not np.issubdtype(actions.dtype, np.integer):
            raise ValueError(f"actions must be integers, got dtype {actions.dtype}")
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        slots = self.storage.add(obs, actions, rewards, next_obs, terminated)
        self.sampler.on_add(slots)
        return slots

    def sample(self, batch_size: int) -> Batch:
        if len(self) == 0:
            raise ValueError("cannot sample from an empty replay buffer: add transitions first")
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size} must be >= 1")
        indices, weights = self.sampler.sample(batch_size, len(self))
        rows = self.storage.get(indices)
        tensor = _tensor_on(self.device)
        return Batch(
            obs=tensor(rows["obs"]),
            actions=tensor(rows["actions"]),
            rewards=tensor(rows["rewards"]),
            next_obs=tensor(rows["next_obs"]),
            terminated=tensor(rows["terminated"].astype(np.float32)),
            indices=indices if weights is not None else None,
            weights=None if weights is None else tensor(weights),
        )

    def update_priorities(self, indices: np.ndarray, td_errors: np.ndarray) -> None:
        """Feed back |TD error| for the slots of a prioritized batch (no-op for uniform)."""
        self.sampler.update_priorities(indices, td_errors)

    def state_dict(self) -> dict[str, Any]:
        """Plain data: NumPy arrays (storage, priorities), scalars and the RNG state dict."""
        return {
            "version": STATE_VERSION,
            "storage": self.storage.state_dict(),
            "sampler": self.sampler.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if int(state.get("version", -1)) != STATE_VERSION:
            raise ValueError(
                f"replay state version {state.get('version')!r} is not {STATE_VERSION}: "
                "it was written by another hrrl version"
            )
        mine = self.sampler.state_dict()["kind"]
        if state["sampler"]["kind"] != mine:
            raise ValueError(
                f"saved replay is {state['sampler']['kind']!r} but this buffer is {mine!r}: "
                "build it with the saved replay.kind"
            )
        self.storage.load_state_dict(state["storage"])
        self.sampler.load_state_dict(state["sampler"])


def _tensor_on(device: torch.device) -> Callable[[np.ndarray], torch.Tensor]:
    """NumPy -> torch without a copy on the CPU (``from_numpy`` shares memory), else moved."""
    if device.type == "cpu":
        return torch.from_numpy
    return lambda array: torch.from_numpy(array).to(device)


def make_replay(
    config: ReplayConfig, *, obs_dim: int, seed: int, device: str | torch.device = "cpu"
) -> ReplayBuffer:
    """The buffer ``config`` describes, sampling with a generator seeded by ``seed``."""
    storage = ArrayStorage(config.capacity, obs_dim)
    sampler: Sampler
    if config.kind == "uniform":
        sampler = UniformSampler(seed=seed)
    else:
        sampler = PrioritizedSampler(
            capacity=config.capacity,
            alpha=config.alpha,
            beta_start=config.beta_start,
            beta_steps=config.beta_steps,
            eps=config.eps,
            seed=seed,
        )
    return ReplayBuffer(storage=storage, sampler=sampler, device=device)
