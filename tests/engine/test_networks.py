"""Q-networks: shapes, the phase mixture, seeded initialisation that leaves global RNG alone."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from hrrl.engine import networks
from hrrl.engine.networks import (
    PHASES,
    MLPQNetwork,
    PhaseAdaptiveQNetwork,
    QOutput,
    make_network,
    resolve_conv_dtype,
)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("n_actions", [1, 2, 3, 7])
@pytest.mark.parametrize("batch", [1, 5])
def test_phase_adaptive_shapes_and_probabilities(n_actions: int, batch: int) -> None:
    net = PhaseAdaptiveQNetwork(6, n_actions, hidden=16, generator=gen())
    out = net(torch.randn(batch, 6, generator=gen(1)))
    assert isinstance(out, QOutput)
    assert out.q.shape == (batch, n_actions)
    assert out.phase_probs is not None and out.phase_probs.shape == (batch, len(PHASES))
    assert torch.allclose(out.phase_probs.sum(-1), torch.ones(batch))
    assert bool((out.phase_probs > 0).all())


def test_phase_adaptive_q_is_the_probability_weighted_mix_of_heads() -> None:
    net = PhaseAdaptiveQNetwork(4, 3, hidden=8, generator=gen())
    x = torch.randn(5, 4, generator=gen(2))
    out = net(x)
    z = net.trunk(x)
    heads = [head(z) for head in net.heads]
    assert out.phase_probs is not None
    mix = sum(out.phase_probs[:, k : k + 1] * heads[k] for k in range(3))
    assert torch.allclose(out.q, mix)  # type: ignore[arg-type]


@pytest.mark.parametrize("n_actions", [1, 4])
def test_mlp_shapes(n_actions: int) -> None:
    net = MLPQNetwork(3, n_actions, hidden=8, layers=3, generator=gen())
    out = net(torch.zeros(2, 3))
    assert out.q.shape == (2, n_actions) and out.phase_probs is None
    assert sum(isinstance(m, torch.nn.Linear) for m in net.modules()) == 4


@pytest.mark.parametrize(("kind", "obs_dim"), [("phase_adaptive", 5), ("mlp", 5), ("set", 6)])
def test_seeded_init_is_reproducible_and_leaves_global_rng_alone(kind: str, obs_dim: int) -> None:
    before = torch.random.get_rng_state().clone()
    a = make_network(kind, obs_dim=obs_dim, n_actions=3, hidden=16, generator=gen(7))
    b = make_network(kind, obs_dim=obs_dim, n_actions=3, hidden=16, generator=gen(7))
    c = make_network(kind, obs_dim=obs_dim, n_actions=3, hidden=16, generator=gen(8))
    assert torch.equal(torch.random.get_rng_state(), before)
    for pa, pb, pc in zip(a.parameters(), b.parameters(), c.parameters(), strict=True):
        assert torch.equal(pa, pb)
        assert not torch.equal(pa, pc)
        bound = 1 / pa.shape[-1] ** 0.5 if pa.ndim == 2 else 1.0
        assert float(pa.detach().abs().max()) <= bound  # PyTorch's default U(-1/sqrt(fan_in), ...)


def test_gradients_reach_every_parameter() -> None:
    net = PhaseAdaptiveQNetwork(4, 2, hidden=8, generator=gen())
    net(torch.randn(6, 4, generator=gen(3))).q.sum().backward()
    assert all(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in net.parameters())


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="network kind"):
        make_network("lstm", obs_dim=2, n_actions=2, generator=gen())
    with pytest.raises(ValueError, match="n_actions"):
        PhaseAdaptiveQNetwork(2, 0)


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_dueling_head_subtracts_the_mean_advantage(kind: str) -> None:
    net = make_network(
        kind, obs_dim=48, n_actions=4, hidden=8, dueling=True, obs_shape=(4, 4, 3),
        generator=torch.Generator().manual_seed(1),
    )  # fmt: skip
    assert isinstance(net.value, nn.Linear) and isinstance(net.head, nn.Linear)
    with torch.no_grad():
        net.value.weight.zero_()
        net.value.bias.fill_(5.0)  # V(s) = 5
        net.head.weight.zero_()
        net.head.bias.copy_(torch.tensor([1.0, 2.0, 3.0, 6.0]))  # A = (1, 2, 3, 6), mean 3
    q = net(torch.randn(2, 48)).q
    assert q.tolist() == [[3.0, 4.0, 5.0, 8.0]] * 2  # V + A - mean A
    assert q.argmax(dim=1).tolist() == [3, 3]  # the greedy action is the advantages' argmax


def test_dueling_is_for_the_mlp_and_cnn_and_off_by_default() -> None:
    plain = MLPQNetwork(3, 4, hidden=8, generator=torch.Generator().manual_seed(1))
    assert plain.value is None
    with pytest.raises(ValueError, match="dueling=True needs kind='mlp' or 'cnn'"):
        make_network("phase_adaptive", obs_dim=3, n_actions=4, dueling=True,
                     generator=torch.Generator())  # fmt: skip


def test_cnn_reads_flat_rows_as_grids() -> None:
    shape = (10, 10, 4)
    net = make_network(
        "cnn", obs_dim=400, n_actions=3, hidden=32, obs_shape=shape,
        generator=torch.Generator().manual_seed(0),
    )  # fmt: skip
    grids = torch.rand(5, *shape)
    q = net(grids.reshape(5, -1)).q
    assert q.shape == (5, 3)
    # Each row is one grid: the Q of a row does not depend on the others in the batch.
    assert torch.allclose(net(grids[2].reshape(1, -1)).q, q[2:3], atol=1e-6)
    with pytest.raises(ValueError, match="needs obs_shape with 400 elements"):
        make_network("cnn", obs_dim=400, n_actions=3, generator=torch.Generator())


def test_the_slot_network_scores_each_block_with_the_same_weights() -> None:
    from hrrl.engine.networks import SlotQNetwork

    net = SlotQNetwork(12, 4, hidden=8, generator=torch.Generator().manual_seed(0))
    block = torch.randn(3)
    other = torch.randn(3)
    obs = torch.cat([block, other, block, other]).unsqueeze(0)
    q = net(obs).q[0]
    assert q.shape == (4,) and q[0] == q[2] and q[1] == q[3]
    # The same weights score a task of two blocks.
    two = SlotQNetwork(6, 2, hidden=8, generator=torch.Generator().manual_seed(0))
    two.load_state_dict(net.state_dict())
    assert torch.allclose(two(torch.cat([block, other]).unsqueeze(0)).q[0], q[:2])
    with pytest.raises(ValueError, match="equal blocks"):
        SlotQNetwork(10, 4)
    # Built for 4 actions, it scores any number of blocks.
    wide = torch.randn(5, 3 * 9, generator=gen(4))
    assert net(wide).q.shape == (5, 9)


def _set_network(block: int = 3) -> nn.Module:
    return make_network("set", obs_dim=block * 4, n_actions=4, hidden=16, generator=gen(5))


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 32), seed=st.integers(0, 2**31 - 1), data=st.data())
def test_the_set_network_permutes_its_q_values_with_the_actions(
    n: int, seed: int, data: st.DataObject
) -> None:
    """One set of weights scores 1 to 32 actions; permuting the actions' blocks permutes the
    Q-values (and nothing else moves)."""
    net = _set_network()
    blocks = torch.randn(2, n, 3, generator=gen(seed))
    order = torch.tensor(data.draw(st.permutations(range(n))))
    q = net(blocks.reshape(2, -1)).q
    permuted = net(blocks[:, order].reshape(2, -1)).q
    assert q.shape == (2, n)
    assert torch.allclose(permuted, q[:, order], atol=1e-6)


def test_the_set_network_scores_each_action_beside_the_whole_set() -> None:
    """Unlike the slot network, an action's value depends on the others (the pooled summary);
    repeating an action (the env's k mod n slots) changes no value."""
    net = _set_network()
    a, b, c = (torch.randn(3, generator=gen(k)) for k in (1, 2, 3))
    q_ab = net(torch.cat([a, b]).unsqueeze(0)).q[0]
    q_ac = net(torch.cat([a, c]).unsqueeze(0)).q[0]
    assert not torch.allclose(q_ab[0], q_ac[0])  # a's value reads its company
    repeated = net(torch.cat([a, b, a, b, a]).unsqueeze(0)).q[0]
    assert torch.allclose(repeated[:2], q_ab, atol=1e-6)  # float rounding of another width
    assert torch.allclose(repeated[2:4], q_ab, atol=1e-6)
    net(torch.randn(4, 12, generator=gen(6))).q.sum().backward()
    assert all(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in net.parameters())
    with pytest.raises(ValueError, match="equal blocks"):
        make_network("set", obs_dim=10, n_actions=4, generator=gen())


@pytest.mark.parametrize("kind", ["mlp", "slots", "set", "phase_adaptive"])
def test_hooks_on_inner_layers_run_and_change_nothing(kind: str) -> None:
    """Issue 31, item 8: the fast forward skipped Module.__call__, so hooks never ran."""
    net = make_network(
        kind, obs_dim=12, n_actions=3, hidden=16, generator=torch.Generator().manual_seed(0)
    )
    x = torch.randn(5, 12, generator=torch.Generator().manual_seed(1))
    before = net(x).q
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    seen: list[tuple[int, ...]] = []
    handles = [
        m.register_forward_hook(lambda _m, _i, out: seen.append(tuple(out.shape))) for m in linears
    ]
    after = net(x).q
    for handle in handles:
        handle.remove()
    assert len(seen) == len(linears) and torch.equal(before, after)
    seen.clear()
    net(x)
    assert seen == []  # removed: the fast path again


@pytest.mark.parametrize("shape", [(4, 84, 84), (10, 10, 4)])
def test_bfloat16_convolutions_keep_float32_weights_q_values_and_gradients(
    shape: tuple[int, int, int],
) -> None:
    """``conv_dtype="bfloat16"``: the same weights as float32 (one generator draw), Q-values in
    float32 close to the float32 network's, and float32 gradients on every weight."""
    dim = shape[0] * shape[1] * shape[2]
    nets = {
        dtype: make_network(
            "cnn",
            obs_dim=dim,
            n_actions=3,
            hidden=32,
            obs_shape=shape,
            conv_dtype=dtype,
            generator=gen(3),
        )
        for dtype in ("float32", "bfloat16")
    }
    for (_, a), (_, b) in zip(
        nets["float32"].state_dict().items(), nets["bfloat16"].state_dict().items(), strict=True
    ):
        assert torch.equal(a, b)
    rows = torch.randint(0, 256, (6, dim), dtype=torch.uint8).float()
    q32, q16 = nets["float32"](rows).q, nets["bfloat16"](rows).q
    assert q16.dtype == torch.float32
    assert not torch.equal(q16, q32)  # the convolutions really ran in bfloat16 ...
    assert torch.allclose(q16, q32, rtol=0.05, atol=0.05 * q32.abs().max().item())  # ... closely
    q16.sum().backward()
    for name, p in nets["bfloat16"].named_parameters():
        assert p.dtype == torch.float32 and p.grad is not None, name
        assert p.grad.dtype == torch.float32 and p.grad.abs().sum() > 0, name


def test_bfloat16_is_for_the_convolutions_of_a_cnn() -> None:
    with pytest.raises(ValueError, match="conv_dtype='bfloat16' needs kind='cnn'"):
        make_network("mlp", obs_dim=3, n_actions=2, conv_dtype="bfloat16", generator=gen())
    with pytest.raises(ValueError, match="conv_dtype='float16' needs kind='cnn' and one of"):
        make_network("cnn", obs_dim=400, n_actions=2, obs_shape=(10, 10, 4),
                     conv_dtype="float16", generator=gen())  # fmt: skip


def test_auto_runs_the_convolutions_in_bfloat16_where_the_device_computes_in_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for fast, want in ((True, "bfloat16"), (False, "float32")):
        monkeypatch.setattr(networks, "_cpu_computes_bfloat16", lambda fast=fast: fast)
        assert resolve_conv_dtype("auto", "cpu") == want
        net = make_network("cnn", obs_dim=400, n_actions=2, obs_shape=(10, 10, 4),
                           conv_dtype="auto", generator=gen())  # fmt: skip
        assert net.conv_dtype == networks.CONV_DTYPES[want]
        assert resolve_conv_dtype("float32") == "float32"
        assert resolve_conv_dtype("bfloat16") == "bfloat16"
