"""Experience replay: a ring-buffer storage plus a sampler, composed (not subclassed).

::

    ReplayBuffer ──> ArrayStorage        preallocated NumPy arrays, written as a ring
                 └─> UniformSampler      every stored transition equally likely
                     PrioritizedSampler  P(i) = p_i / sum_j p_j, p_i = (|delta_i| + eps)^alpha,
                                         backed by a :class:`~hrrl.engine.replay.sum_tree.SumTree`

The buffer knows nothing about the environment: it stores float32 observation vectors (or, with
:class:`~hrrl.engine.replay.frames.FrameStorage`, stacks of uint8 image frames, each frame
once), int64 actions, float32 rewards and a ``terminated`` flag (true termination only: a
time-limit truncation is stored as ``terminated=False`` so the target still bootstraps through
it).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from hrrl.config import check_choice, check_int, check_range
from hrrl.engine.replay.frames import FrameStorage
from hrrl.engine.replay.samplers import PrioritizedSampler, Sampler, UniformSampler
from hrrl.engine.replay.storage import ArrayStorage
from hrrl.engine.replay.sum_tree import MAX_CAPACITY

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
        check_int("replay.capacity", self.capacity, low=1, high=MAX_CAPACITY)
        check_range("replay.alpha", self.alpha, low=0.0, high=1.0)
        check_range("replay.beta_start", self.beta_start, low=0.0, high=1.0)
        check_int("replay.beta_steps", self.beta_steps, low=1)
        check_range("replay.eps", self.eps, low=0.0, high=1.0, low_open=True)


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
    discounts: torch.Tensor | None = None
    """Per-transition bootstrap discount ``gamma^k`` of n-step returns (None: one-step, gamma)."""

    def __len__(self) -> int:
        return int(self.actions.shape[0])


class ReplayBuffer:
    """Storage plus sampler: ``add`` batches of transitions, ``sample`` typed batches."""

    def __init__(
        self,
        *,
        storage: ArrayStorage | FrameStorage,
        sampler: Sampler,
        device: str | torch.device = "cpu",
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
        discounts: np.ndarray | None = None,
    ) -> np.ndarray:
        """Store ``n`` transitions given with a leading batch dimension; returns their slots.

        ``obs`` and ``next_obs`` are ``(n, *storage.obs_shape)`` (``(n, obs_dim)`` float32, or
        ``(n, stack, H, W)`` uint8 frames, which may come as flat rows), the others ``(n,)``; ``discounts`` (the bootstrap
        discount of each n-step transition) exactly when the buffer keeps them.
        """
        dtype, shape = self.storage.obs_dtype, self.storage.obs_shape
        obs, next_obs = np.asarray(obs), np.asarray(next_obs)
        if dtype == np.uint8 and not (obs.dtype == next_obs.dtype == np.uint8):
            raise ValueError(
                f"frame replay stores uint8 frames, got {obs.dtype} and {next_obs.dtype}: "
                "add the frames as the environment gives them"
            )
        obs = obs.astype(dtype, copy=False)
        next_obs = next_obs.astype(dtype, copy=False)
        if len(shape) > 1 and obs.ndim == 2 and obs.shape[1] == math.prod(shape):
            obs = obs.reshape(len(obs), *shape)  # the engine's flat rows
            next_obs = next_obs.reshape(len(next_obs), *shape)
        actions = np.asarray(actions)
        rewards = np.asarray(rewards, dtype=np.float32)
        terminated = np.asarray(terminated, dtype=np.bool_)
        if obs.shape[1:] != shape or next_obs.shape != obs.shape:
            want = ", ".join(str(x) for x in shape)
            raise ValueError(
                f"obs and next_obs must both have shape (n, {want}), got {obs.shape} and "
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
        if discounts is not None:
            discounts = np.asarray(discounts, dtype=np.float32)
        slots = self.storage.add(obs, actions, rewards, next_obs, terminated, discounts)
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
            discounts=tensor(rows["discounts"]) if "discounts" in rows else None,
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
        saved_kind = state["storage"].get("kind", "arrays")
        if saved_kind != self.storage.kind:
            raise ValueError(
                f"saved replay stores {saved_kind}, this buffer {self.storage.kind}: build it "
                "for the saved task"
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
    config: ReplayConfig,
    *,
    obs_dim: int,
    seed: int,
    device: str | torch.device = "cpu",
    discounts: bool = False,
    frames: tuple[int, ...] | None = None,
) -> ReplayBuffer:
    """The buffer ``config`` describes, sampling with a generator seeded by ``seed``;
    ``discounts``: keep each transition's bootstrap discount (n-step returns); ``frames``:
    observations are stacks of ``(stack, H, W)`` uint8 frames, each frame stored once
    (:class:`~hrrl.engine.replay.frames.FrameStorage`; ``obs_dim`` is then their size)."""
    storage: ArrayStorage | FrameStorage
    if frames is None:
        storage = ArrayStorage(config.capacity, obs_dim, discounts=discounts)
    else:
        stack, height, width = frames
        storage = FrameStorage(config.capacity, stack, (height, width), discounts=discounts)
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
