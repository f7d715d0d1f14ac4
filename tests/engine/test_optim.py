"""The lean gradient step equals PyTorch's own calls to the bit."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch
from torch import nn

from hrrl.engine.optim import adam_step, clip_grad_norm_


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 3))


def _backward(net: nn.Module, seed: int, scale: float) -> None:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(8, 5, generator=gen)
    net.zero_grad(set_to_none=True)
    (net(x).pow(2).sum() * scale).backward()


@pytest.mark.parametrize("max_norm", [None, 0.1, 1e6])
def test_clip_matches_clip_grad_norm(max_norm: float | None) -> None:
    mine, theirs = _net(), _net()
    for net in (mine, theirs):
        _backward(net, seed=1, scale=10.0)
    norm = clip_grad_norm_([p.grad for p in mine.parameters()], max_norm)
    expected = nn.utils.clip_grad_norm_(theirs.parameters(), max_norm or float("inf"))
    assert torch.equal(norm, expected)
    for a, b in zip(mine.parameters(), theirs.parameters(), strict=True):
        assert torch.equal(a.grad, b.grad)
    if max_norm == 0.1:  # it did clip: the clipped norm is the bound
        clipped = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in mine.parameters()]))
        assert clipped == pytest.approx(0.1, rel=1e-4)


@pytest.mark.parametrize("options", [{"fused": True}, {"foreach": True}, {"amsgrad": True}])
def test_adam_step_matches_optimizer_step(options: dict[str, Any]) -> None:
    # Five steps from fresh moments (the first one creates them), then a rate change and a
    # reload of the state, as the agent's annealing and the guard's rollback do.
    mine = _net()
    theirs = copy.deepcopy(mine)
    opt_mine = torch.optim.Adam(mine.parameters(), lr=1e-2, **options)
    opt_theirs = torch.optim.Adam(theirs.parameters(), lr=1e-2, **options)
    for step in range(8):
        if step == 5:
            for opt in (opt_mine, opt_theirs):
                opt.param_groups[0]["lr"] = 3e-3
                opt.load_state_dict(copy.deepcopy(opt.state_dict()))
        for net in (mine, theirs):
            _backward(net, seed=step, scale=1.0)
        adam_step(opt_mine)
        opt_theirs.step()
        for a, b in zip(mine.parameters(), theirs.parameters(), strict=True):
            assert torch.equal(a, b)


def test_the_fast_path_runs_on_the_pinned_torch_and_falls_back_elsewhere(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The private ``adam`` is called only on the releases the test above has run on; a
    release whose signature differs gets ``optimizer.step()``, with the same weights."""
    from hrrl.engine import optim

    pinned = ".".join(torch.__version__.split(".")[:2]) in optim.FAST_ADAM_TORCH
    assert optim._fast_adam == pinned

    def changed_signature(*args: Any, **kwargs: Any) -> None:
        raise TypeError("adam() got an unexpected keyword argument 'decoupled_weight_decay'")

    monkeypatch.setattr(optim, "adam", changed_signature)
    monkeypatch.setattr(optim, "_fast_adam", True)
    mine = _net()
    theirs = copy.deepcopy(mine)
    opt_mine = torch.optim.Adam(mine.parameters(), lr=1e-2)
    opt_theirs = torch.optim.Adam(theirs.parameters(), lr=1e-2)
    for step in range(3):
        for net in (mine, theirs):
            _backward(net, seed=step, scale=1.0)
        adam_step(opt_mine)
        opt_theirs.step()
    assert optim._fast_adam is False
    for a, b in zip(mine.parameters(), theirs.parameters(), strict=True):
        assert torch.equal(a, b)
