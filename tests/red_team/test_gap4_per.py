"""GAP 4, replay: the prototype samples uniformly; prioritized replay samples by TD error.

* ``P(i) = p_i / sum_j p_j`` with ``p_i = (|delta_i| + eps)^alpha`` (measured frequencies);
* ``w_i = (N P(i))^-beta / max_j (N P(j))^-beta`` exactly, with beta annealed towards 1;
* in a real learning loop (same data, same agent seed, TD errors fed back), the transitions with
  the largest TD error are replayed far more often than under uniform replay.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from hrrl.engine.agent import AgentConfig, DQNAgent
from hrrl.engine.replay.buffer import ReplayBuffer
from hrrl.engine.replay.samplers import PrioritizedSampler, Sampler, UniformSampler
from hrrl.engine.replay.storage import ArrayStorage
from hrrl.puzzle.sampling import sample_puzzle
from hrrl.puzzle.stack import make_stack

ALPHA, EPS = 0.6, 1e-6
CONFIG = AgentConfig(network="mlp", hidden=32)


def test_sampling_follows_priority_to_the_alpha() -> None:
    td = np.array([0.0, 0.1, 0.5, 1.0, 2.0, 4.0, 8.0, 0.25])
    n = len(td)
    sampler = PrioritizedSampler(
        capacity=n, alpha=ALPHA, beta_start=0.4, beta_steps=1000, eps=EPS, seed=0
    )
    sampler.on_add(np.arange(n))
    sampler.update_priorities(np.arange(n), td)
    counts = np.zeros(n)
    for _ in range(4000):
        idx, _ = sampler.sample(16, n)
        np.add.at(counts, idx, 1)
    expected = (td + EPS) ** ALPHA / np.sum((td + EPS) ** ALPHA)
    np.testing.assert_allclose(counts / counts.sum(), expected, atol=0.005)
    # The original (uniform) sampler ignores the TD errors entirely.
    uniform = UniformSampler(seed=0)
    counts[:] = 0
    for _ in range(4000):
        idx, _ = uniform.sample(16, n)
        np.add.at(counts, idx, 1)
    np.testing.assert_allclose(counts / counts.sum(), np.full(n, 1 / n), atol=0.005)


def test_importance_weights_follow_the_formula() -> None:
    rng = np.random.default_rng(1)
    n, batch = 50, 32
    sampler = PrioritizedSampler(
        capacity=64, alpha=ALPHA, beta_start=0.4, beta_steps=10, eps=EPS, seed=0
    )
    sampler.on_add(np.arange(n))
    td = rng.exponential(1.0, n)
    sampler.update_priorities(np.arange(n), td)
    p = (td + EPS) ** ALPHA
    for call in range(12):
        beta = 0.4 + 0.6 * min(1.0, call / 10)
        assert np.isclose(sampler.beta, beta)
        idx, w = sampler.sample(batch, n)
        assert w is not None
        raw = (n * p[idx] / p.sum()) ** -beta
        np.testing.assert_allclose(w, raw / raw.max(), rtol=1e-5)


def _transitions(n: int) -> tuple[np.ndarray, ...]:
    """Random-policy transitions of small puzzles (ordered reward: +-2 at the end)."""
    rng = np.random.default_rng(0)
    _, factory = make_stack(
        encoder_name="relational", reward="ordered", planner="none", actions=(1, 3, 5)
    )
    env = factory()
    rows: list[tuple[np.ndarray, int, float, np.ndarray, bool]] = []
    while len(rows) < n:
        puzzle = sample_puzzle(rng, target_range=(10, 30), forbidden_count=(2, 5))
        obs, _ = env.reset(options={"puzzle": puzzle})
        done = False
        while not done and len(rows) < n:
            a = int(rng.integers(3))
            nxt, r, term, trunc, _ = env.step(a)
            rows.append((obs, a, float(r), nxt, bool(term)))
            obs, done = nxt, term or trunc
    obs_, act, rew, nxt_, term_ = zip(*rows, strict=True)
    return (
        np.asarray(obs_, np.float32),
        np.asarray(act),
        np.asarray(rew, np.float32),
        np.asarray(nxt_, np.float32),
        np.asarray(term_),
    )


class CountingSampler:
    """Wraps a sampler and counts how often each slot is drawn (uniform batches carry no
    indices, so the count is taken here, below the buffer)."""

    def __init__(self, inner: Sampler, capacity: int) -> None:
        self.inner = inner
        self.counts = np.zeros(capacity)

    def on_add(self, slots: np.ndarray) -> None:
        self.inner.on_add(slots)

    def sample(self, batch_size: int, size: int) -> tuple[np.ndarray, np.ndarray | None]:
        idx, w = self.inner.sample(batch_size, size)
        np.add.at(self.counts, idx, 1)
        return idx, w

    def update_priorities(self, indices: np.ndarray, td_errors: np.ndarray) -> None:
        self.inner.update_priorities(indices, td_errors)

    def state_dict(self) -> dict[str, Any]:
        return self.inner.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.inner.load_state_dict(state)


def replay_counts(kind: str, data: tuple[np.ndarray, ...], updates: int) -> np.ndarray:
    """Train an agent from the full buffer for ``updates`` steps; how often each slot was drawn."""
    torch.set_num_threads(1)
    obs, act, rew, nxt, term = data
    n = len(act)
    inner: Sampler = (
        UniformSampler(seed=3)
        if kind == "uniform"
        else PrioritizedSampler(
            capacity=n, alpha=ALPHA, beta_start=0.4, beta_steps=10_000, eps=EPS, seed=3
        )
    )
    sampler = CountingSampler(inner, n)
    replay = ReplayBuffer(storage=ArrayStorage(n, obs.shape[1]), sampler=sampler)
    replay.add(obs, act, rew, nxt, term)
    agent = DQNAgent(obs_dim=obs.shape[1], n_actions=3, config=CONFIG, seed=3)
    for _ in range(updates):
        batch = replay.sample(32)
        stats = agent.learn(batch)  # the same learner; only the sampler differs
        if batch.indices is not None:
            replay.update_priorities(batch.indices, stats.td_errors)
        agent.after_update()
    return sampler.counts


def test_high_td_transitions_are_replayed_more() -> None:
    data = _transitions(1000)
    obs, act, rew, nxt, term = data
    # |TD| of each transition under the shared initial network (same seed for both runs).
    agent = DQNAgent(obs_dim=obs.shape[1], n_actions=3, config=CONFIG, seed=3)
    q = agent.q_values(obs)[np.arange(len(act)), act]
    y = rew + 0.99 * (1 - term) * agent.q_values(nxt).max(axis=1)
    top = np.argsort(-np.abs(q - y))[: len(act) // 20]  # the 5% largest TD errors
    per = replay_counts("prioritized", data, updates=300)
    uniform = replay_counts("uniform", data, updates=300)
    assert per.sum() == uniform.sum() == 300 * 32
    print(
        f"top-5% TD replays per transition: PER {per[top].mean():.1f}, uniform "
        f"{uniform[top].mean():.1f}, all transitions {per.mean():.1f}"
    )
    assert per[top].mean() > 1.5 * uniform[top].mean()  # measured: about 2x
    assert abs(uniform[top].mean() - uniform.mean()) < 0.5 * uniform.mean()  # uniform: blind
