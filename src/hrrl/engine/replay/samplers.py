"""Replay samplers: which stored slots a batch replays (uniform, or prioritized by TD error)."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from hrrl.engine.replay.sum_tree import SumTree


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
