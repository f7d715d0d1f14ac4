"""Guard: the reasons it gives, its snapshot and rollback, the regime reset, its state."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from hrrl.engine.guard import Guard, GuardConfig
from hrrl.errors import ConfigError


def parts() -> tuple[nn.Module, nn.Module, torch.optim.Optimizer]:
    gen = torch.Generator().manual_seed(0)
    model = nn.Linear(3, 2)
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-1, 1, generator=gen)
    target = nn.Linear(3, 2)
    target.load_state_dict(model.state_dict())
    return model, target, torch.optim.Adam(model.parameters(), lr=0.1)


def step(model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
    optimizer.zero_grad()
    model(torch.ones(4, 3)).pow(2).sum().backward()
    optimizer.step()


def test_nonfinite_values_are_refused() -> None:
    guard = Guard(GuardConfig())
    assert guard.check_loss(1.0, 1.0) is None
    assert guard.check_loss(math.nan, 1.0) == "nonfinite_loss"
    assert guard.check_loss(math.inf, 1.0) == "nonfinite_loss"
    assert guard.check_loss(1.0, math.nan) == "nonfinite_grad"
    model, _, _ = parts()
    assert guard.check_params(model) is None
    with torch.no_grad():
        model.weight[0, 0] = math.nan
    assert guard.check_params(model) == "nonfinite_params"


def test_loss_spike_uses_the_median_after_min_history() -> None:
    guard = Guard(GuardConfig(spike_factor=10.0, window=5, min_history=3))
    model, target, opt = parts()
    assert guard.check_loss(1e9, 1.0) is None  # no history yet: nothing to compare with
    for loss in (1.0, 2.0, 100.0):  # median 2.0; the 100 does not move the bar much
        guard.accept(loss, model, target, opt)
    assert guard.check_loss(20.0, 1.0) is None  # 20 = 10 x median: not above
    assert guard.check_loss(20.1, 1.0) == "loss_spike"


def test_disabled_guard_lets_everything_through() -> None:
    guard = Guard(GuardConfig(enabled=False))
    model, _, _ = parts()
    with torch.no_grad():
        model.weight.fill_(math.nan)
    assert guard.check_loss(math.nan, math.nan) is None
    assert guard.check_params(model) is None


def test_restore_brings_back_the_snapshot_including_optimizer() -> None:
    guard = Guard(GuardConfig(snapshot_interval=2))
    model, target, opt = parts()
    step(model, opt)
    guard.accept(1.0, model, target, opt)
    step(model, opt)
    guard.accept(1.0, model, target, opt)  # second good update: snapshot
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    saved_moment = opt.state_dict()["state"][0]["exp_avg"].clone()
    for _ in range(3):
        step(model, opt)
    guard.reject("loss_spike", step=6, loss=5.0, model=model, target=target, optimizer=opt)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in saved.items())
    assert torch.equal(opt.state_dict()["state"][0]["exp_avg"], saved_moment)
    # Adam's in-place moment updates after a restore must not leak into the snapshot
    step(model, opt)
    guard.restore(model, target, opt)
    assert torch.equal(opt.state_dict()["state"][0]["exp_avg"], saved_moment)
    assert guard.events[0] == {"step": 6, "reason": "loss_spike", "loss": 5.0}
    assert guard.counts["loss_spike"] == 1 and guard.n_skipped == 1 and guard.n_restored == 2


def test_persistent_spikes_become_a_new_regime() -> None:
    guard = Guard(GuardConfig(window=4, min_history=2, spike_patience=3))
    model, target, opt = parts()
    guard.snapshot(model, target, opt)
    for _ in range(2):
        guard.accept(1.0, model, target, opt)
    for i in range(2):
        assert guard.check_loss(100.0, 1.0, step=i) == "loss_spike"
        guard.reject("loss_spike", step=i, loss=100.0, model=model, target=target, optimizer=opt)
    assert guard.check_loss(100.0, 1.0, step=2) is None  # the third in a row goes through
    assert guard.counts["regime_reset"] == 1
    assert len(guard.losses) == 0  # history forgotten: the new level becomes the reference


def test_restore_without_snapshot_is_an_error() -> None:
    model, target, opt = parts()
    with pytest.raises(RuntimeError, match="snapshot"):
        Guard(GuardConfig()).restore(model, target, opt)


def test_state_dict_round_trip() -> None:
    guard = Guard(GuardConfig(window=4, min_history=2))
    model, target, opt = parts()
    guard.snapshot(model, target, opt)
    for loss in (1.0, 2.0, 3.0):
        guard.accept(loss, model, target, opt)
    guard.reject("nonfinite_loss", step=4, loss=math.nan, model=model, target=target, optimizer=opt)
    guard.consecutive_full_screens = 2
    other = Guard(GuardConfig(window=4, min_history=2))
    other.load_state_dict(guard.state_dict())
    assert other.consecutive_full_screens == 2
    assert list(other.losses) == [1.0, 2.0, 3.0]
    assert other.counts == guard.counts and other.n_good == 3 and len(other.events) == 1


def test_config_is_validated() -> None:
    with pytest.raises(ConfigError, match="spike_factor"):
        GuardConfig(spike_factor=1.0)
    with pytest.raises(ConfigError, match="min_history"):
        GuardConfig(window=10, min_history=20)
    with pytest.raises(ConfigError, match="snapshot_interval"):
        GuardConfig(snapshot_interval=0)


def test_new_target_forgets_the_loss_and_td_scales() -> None:
    guard = Guard(GuardConfig(window=4, min_history=2))
    model, target, opt = parts()
    for loss in (1e-6, 1e-6):
        guard.accept(loss, model, target, opt)
        guard.record_td(torch.tensor([1e-3]), torch.tensor([1e-3]))
    assert guard.check_loss(1.0, 1.0) == "loss_spike"
    assert guard.screen(torch.tensor([1.0, 1e-4])) is not None
    guard.new_target()
    assert guard.check_loss(1.0, 1.0) is None  # the new target's loss level is learnt anew
    assert guard.screen(torch.tensor([1.0, 1e-4])) is None


def test_a_scale_every_batch_exceeds_is_forgotten_after_patience() -> None:
    guard = Guard(GuardConfig(window=4, min_history=2, spike_patience=3, screen_factor=10.0))
    for _ in range(2):
        guard.record_td(torch.tensor([0.01]), torch.tensor([0.0]))
    td = torch.tensor([1.0, 2.0, math.nan])
    for _ in range(2):  # whole batches above the scale: screened (and nothing recorded)
        keep = guard.screen(td)
        assert keep is not None and not bool(keep.any())
    keep = guard.screen(td)  # the third in a row: the scale was stale, not the data
    assert keep is not None and keep.tolist() == [True, True, False]  # NaN stays out
    assert guard.counts["regime_reset"] == 1 and len(guard.td_peaks) == 0
    # one outlier in an otherwise normal batch is still screened, and resets the count
    for _ in range(2):
        guard.record_td(torch.tensor([0.01]), torch.tensor([0.0]))
    keep = guard.screen(torch.tensor([0.01, 5.0]))
    assert keep is not None and keep.tolist() == [True, False]
    assert guard.consecutive_full_screens == 0


def test_a_td_error_the_size_of_the_values_is_learning_not_poison() -> None:
    # Values near -45 and TD errors of a few hundredths (MountainCar-v0 before the flag): the
    # first transition into the goal corrects Q by about 44 and must be learnt from; a reward
    # of 5000 is still screened.
    guard = Guard(GuardConfig(window=4, min_history=2))
    for _ in range(2):
        guard.record_td(torch.tensor([0.02, 0.01]), torch.tensor([-45.0, -44.0]))
    assert guard.screen(torch.tensor([44.0, 0.01])) is None
    keep = guard.screen(torch.tensor([5000.0, 0.01]))
    assert keep is not None and keep.tolist() == [False, True]
