"""Replay: ring storage, uniform and prioritized sampling (frequencies, IS weights), state."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hrrl.engine.replay.buffer import ReplayBuffer, ReplayConfig, make_replay
from hrrl.engine.replay.samplers import PrioritizedSampler, UniformSampler
from hrrl.engine.replay.storage import ArrayStorage
from hrrl.errors import ConfigError

# Upper critical values of the chi-square distribution at significance 0.001 (any standard
# table, e.g. NIST/SEMATECH e-Handbook of Statistical Methods, section 1.3.6.7.4).
CHI2_CRIT_001 = {7: 24.322, 9: 27.877}
N_DRAWS = 100_000


def fill(buffer: ReplayBuffer, n: int, obs_dim: int = 3, start: int = 0) -> np.ndarray:
    """Add n transitions whose obs[:, 0] and reward record their serial number; their slots."""
    serial = np.arange(start, start + n, dtype=np.float32)
    obs = np.repeat(serial[:, None], obs_dim, axis=1)
    return buffer.add(obs, np.arange(n) % 2, serial, obs + 1, serial % 5 == 0)


def prioritized(capacity: int = 8, **kw: float) -> ReplayBuffer:
    return make_replay(ReplayConfig(kind="prioritized", capacity=capacity, **kw), obs_dim=3, seed=0)


@pytest.mark.parametrize("kind", ["uniform", "prioritized"])
def test_batch_types_and_contents(kind: str) -> None:
    buffer = make_replay(ReplayConfig(kind=kind, capacity=16), obs_dim=3, seed=1)
    fill(buffer, 10)
    batch = buffer.sample(32)
    assert len(batch) == 32
    assert batch.obs.dtype == torch.float32 and batch.obs.shape == (32, 3)
    assert batch.actions.dtype == torch.int64
    assert batch.terminated.dtype == torch.float32
    # each row is one stored transition, fields kept together
    serial = batch.obs[:, 0]
    assert torch.equal(batch.rewards, serial)
    assert torch.equal(batch.next_obs, batch.obs + 1)
    assert torch.equal(batch.terminated, (serial % 5 == 0).float())
    if kind == "uniform":
        assert batch.indices is None and batch.weights is None
    else:
        assert batch.indices is not None and batch.weights is not None
        assert batch.weights.shape == (32,)


def test_ring_buffer_overwrites_oldest() -> None:
    buffer = make_replay(ReplayConfig(kind="uniform", capacity=4), obs_dim=3, seed=0)
    fill(buffer, 3)
    slots = buffer.add(
        np.full((3, 3), 9.0), np.zeros(3, int), np.full(3, 9.0), np.zeros((3, 3)), np.zeros(3, bool)
    )
    assert slots.tolist() == [3, 0, 1]
    assert len(buffer) == 4
    assert buffer.storage.rewards.tolist() == [9.0, 9.0, 2.0, 9.0]
    # a batch larger than the capacity keeps its newest rows
    fill(buffer, 6, start=100)
    assert sorted(buffer.storage.rewards.tolist()) == [102.0, 103.0, 104.0, 105.0]


def test_add_checks_shapes() -> None:
    buffer = make_replay(ReplayConfig(kind="uniform", capacity=4), obs_dim=3, seed=0)
    with pytest.raises(ValueError, match="leading batch"):
        buffer.add(np.zeros(3), np.zeros(1, int), np.zeros(1), np.zeros(3), np.zeros(1, bool))
    with pytest.raises(ValueError, match="rewards"):
        buffer.add(
            np.zeros((2, 3)), np.zeros(2, int), np.zeros(3), np.zeros((2, 3)), np.zeros(2, bool)
        )
    with pytest.raises(ValueError, match="integers"):
        buffer.add(np.zeros((1, 3)), np.zeros(1), np.zeros(1), np.zeros((1, 3)), np.zeros(1, bool))
    with pytest.raises(ValueError, match="empty"):
        buffer.sample(4)


def test_config_is_validated() -> None:
    with pytest.raises(ConfigError, match=r"replay\.kind"):
        ReplayConfig(kind="rank")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"replay.alpha=1.5.*\[0.0, 1.0\]"):
        ReplayConfig(alpha=1.5)
    with pytest.raises(ConfigError, match=r"replay\.capacity"):
        ReplayConfig(capacity=0)
    with pytest.raises(ConfigError, match=r"replay\.eps"):
        ReplayConfig(eps=0.0)
    with pytest.raises(ConfigError, match=r"replay\.beta_steps"):
        ReplayConfig(beta_steps=2.5)  # type: ignore[arg-type]


def chi_square(counts: np.ndarray, probs: np.ndarray) -> float:
    expected = counts.sum() * probs
    return float(((counts - expected) ** 2 / expected).sum())


def test_prioritized_frequencies_follow_priority_to_the_alpha() -> None:
    alpha = 0.6
    buffer = prioritized(capacity=8, alpha=alpha, eps=1e-6)
    fill(buffer, 8)
    td = np.array([0.1, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 0.0])
    buffer.update_priorities(np.arange(8), td)
    counts = np.zeros(8)
    for _ in range(N_DRAWS // 250):
        batch = buffer.sample(250)
        assert batch.indices is not None
        counts += np.bincount(batch.indices, minlength=8)
    assert counts.sum() == N_DRAWS
    p = (td + 1e-6) ** alpha
    stat = chi_square(counts, p / p.sum())
    assert stat < CHI2_CRIT_001[7]  # df = 8 slots - 1
    # power check: the same counts are far from priority^1 (alpha ignored)
    q = td + 1e-6
    assert chi_square(counts, q / q.sum()) > 100 * CHI2_CRIT_001[7]


def test_uniform_frequencies_are_uniform() -> None:
    buffer = make_replay(ReplayConfig(kind="uniform", capacity=16), obs_dim=3, seed=3)
    fill(buffer, 10)
    serials = torch.cat([buffer.sample(250).obs[:, 0] for _ in range(N_DRAWS // 250)])
    counts = np.bincount(serials.long().numpy(), minlength=10)
    assert chi_square(counts, np.full(10, 0.1)) < CHI2_CRIT_001[9]  # df = 10 - 1


def test_importance_weights_follow_the_formula() -> None:
    buffer = prioritized(capacity=8, alpha=0.5, beta_start=0.4, beta_steps=4, eps=0.0 + 1e-6)
    fill(buffer, 6)
    td = np.array([1.0, 4.0, 9.0, 0.25, 16.0, 2.0])
    buffer.update_priorities(np.arange(6), td)
    sampler = buffer.sampler
    assert isinstance(sampler, PrioritizedSampler)
    p = (td + 1e-6) ** 0.5
    for beta in (0.4, 0.55, 0.7, 0.85, 1.0, 1.0):
        assert sampler.beta == pytest.approx(beta)
        batch = buffer.sample(16)
        assert batch.indices is not None and batch.weights is not None
        prob = p[batch.indices] / p.sum()
        w = (6 * prob) ** -beta  # N = 6 stored transitions
        assert batch.weights.numpy() == pytest.approx(w / w.max(), rel=1e-5)
        assert batch.weights.max().item() == pytest.approx(1.0)


def test_new_transitions_enter_at_max_priority() -> None:
    buffer = prioritized(capacity=8, alpha=1.0, eps=1e-6)
    sampler = buffer.sampler
    assert isinstance(sampler, PrioritizedSampler)
    fill(buffer, 2)
    assert sampler.tree.get(np.array([0, 1])).tolist() == [1.0, 1.0]  # empty buffer: 1.0
    buffer.update_priorities(np.array([0, 1]), np.array([3.0, 0.5]))
    slots = fill(buffer, 3, start=2)
    assert slots.tolist() == [2, 3, 4]
    assert sampler.tree.get(slots).tolist() == pytest.approx([3.0 + 1e-6] * 3)
    buffer.update_priorities(np.arange(5), np.full(5, 0.2))
    fill(buffer, 1, start=5)
    assert sampler.tree.get(np.array([5]))[0] == pytest.approx(0.2 + 1e-6)  # the current max


def test_priorities_refuse_nan() -> None:
    buffer = prioritized()
    fill(buffer, 4)
    with pytest.raises(ValueError, match="applied"):
        buffer.update_priorities(np.arange(2), np.array([1.0, np.nan]))


def test_uniform_ignores_priority_updates() -> None:
    # Same seed, same data: the draws with priority updates between them are the draws without.
    draws = []
    for update in (False, True):
        buffer = make_replay(ReplayConfig(kind="uniform", capacity=8), obs_dim=3, seed=0)
        fill(buffer, 4)
        serials = []
        for _ in range(5):
            serials.append(buffer.sample(16).obs[:, 0])
            if update:  # no error, no effect: slot 1 would dominate a prioritized draw
                buffer.update_priorities(np.arange(2), np.array([1e-6, 1e3]))
        draws.append(torch.cat(serials))
    assert torch.equal(draws[0], draws[1])
    assert set(draws[0].tolist()) == {0.0, 1.0, 2.0, 3.0}  # still every slot, uniformly


@pytest.mark.parametrize("kind", ["uniform", "prioritized"])
def test_state_dict_round_trip_continues_identically(kind: str) -> None:
    config = ReplayConfig(kind=kind, capacity=8)
    a = make_replay(config, obs_dim=3, seed=5)
    fill(a, 11)
    first = a.sample(4)
    if first.indices is not None:
        a.update_priorities(first.indices, np.arange(4.0))
    b = make_replay(config, obs_dim=3, seed=99)
    b.load_state_dict(a.state_dict())
    assert len(b) == len(a) == 8
    for _ in range(3):
        x, y = a.sample(6), b.sample(6)
        assert torch.equal(x.obs, y.obs)
        assert (x.weights is None) == (y.weights is None)
        if x.weights is not None and y.weights is not None:
            assert torch.equal(x.weights, y.weights)
    fill(a, 2, start=50)
    fill(b, 2, start=50)
    assert np.array_equal(a.storage.obs, b.storage.obs)


def test_state_dict_refuses_other_kind_or_size() -> None:
    a = make_replay(ReplayConfig(kind="uniform", capacity=8), obs_dim=3, seed=0)
    with pytest.raises(ValueError, match=r"replay\.kind"):
        make_replay(
            ReplayConfig(kind="prioritized", capacity=8), obs_dim=3, seed=0
        ).load_state_dict(a.state_dict())
    with pytest.raises(ValueError, match="capacity"):
        make_replay(ReplayConfig(kind="uniform", capacity=9), obs_dim=3, seed=0).load_state_dict(
            a.state_dict()
        )


def test_composition_by_hand() -> None:
    buffer = ReplayBuffer(storage=ArrayStorage(4, 2), sampler=UniformSampler(seed=0))
    buffer.add(np.ones((2, 2)), np.array([0, 1]), np.zeros(2), np.ones((2, 2)), np.zeros(2, bool))
    assert len(buffer) == 2 and buffer.capacity == 4
