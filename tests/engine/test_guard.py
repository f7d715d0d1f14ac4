"""Guard: the reasons it gives, its snapshot and rollback, the regime reset, its state; the
NullGuard that stands in when it is off."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from hrrl.engine.guard import Guard, GuardConfig, NullGuard, RollingWindow, make_guard
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


def attached(config: GuardConfig) -> tuple[Guard, nn.Module, nn.Module, torch.optim.Optimizer]:
    guard = Guard(config)
    model, target, opt = parts()
    guard.attach(model, target, opt)
    return guard, model, target, opt


def step(model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
    optimizer.zero_grad()
    model(torch.ones(4, 3)).pow(2).sum().backward()
    optimizer.step()


def good(guard: Guard, loss: float, td: float = 1e-3, q: float = 1e-3) -> None:
    """One accepted update of ``loss`` whose batch scale is ``max(td, |q|)``."""
    assert guard.check_step(loss, max(td, abs(q))) is None


def test_nonfinite_values_are_refused() -> None:
    guard, model, _, _ = attached(GuardConfig())
    assert guard.check_update(1.0, 1.0) is None
    assert guard.check_update(math.nan, 1.0) == "nonfinite_loss"
    assert guard.check_update(math.inf, 1.0) == "nonfinite_loss"
    assert guard.check_update(1.0, math.nan) == "nonfinite_grad"
    assert guard.check_params() is None
    with torch.no_grad():
        model.weight[0, 0] = math.nan
    assert guard.check_params() == "nonfinite_params"
    assert bool(torch.isfinite(model.weight).all())  # rolled back to the attach-time snapshot
    assert guard.n_restored == 4 and guard.n_good == 0  # every refusal rolled back


def test_loss_spike_uses_the_window_max_after_min_history() -> None:
    guard, _, _, _ = attached(GuardConfig(spike_factor=10.0, window=5, min_history=3))
    assert guard.check_update(1e9, 1.0) is None  # no history yet: nothing to compare with
    for loss in (1.0, 2.0, 100.0):  # the 100 (a batch that held a rare reward) sets the bar
        good(guard, loss)
    assert guard.check_update(1000.0, 1.0) is None  # 10 x the largest: not above
    assert guard.check_update(1000.1, 1.0) == "loss_spike"
    for _ in range(5):  # the 100 leaves the window
        good(guard, 1.0)
    assert guard.check_update(10.1, 1.0) == "loss_spike"


def test_make_guard_is_the_one_switch() -> None:
    assert isinstance(make_guard(GuardConfig()), Guard)
    assert isinstance(make_guard(GuardConfig(enabled=False)), NullGuard)


def test_null_guard_lets_everything_through() -> None:
    guard = make_guard(GuardConfig(enabled=False))
    model, target, opt = parts()
    guard.attach(model, target, opt)
    with torch.no_grad():
        model.weight.fill_(math.nan)
    nan = torch.tensor([math.nan, 5000.0])
    assert guard.screen(nan) is None
    assert guard.check_update(math.nan, math.nan) is None
    assert guard.check_step(math.nan, math.nan) is None
    assert guard.check_params() is None
    guard.snapshot()
    guard.new_target()
    assert bool(torch.isnan(model.weight).all())  # nothing restored, nothing touched
    assert guard.state_dict() is None and guard.n_restored == 0 and guard.counts == {}
    guard.load_state_dict(Guard(GuardConfig()).state_dict())  # a guarded run's state: ignored
    assert guard.state_dict() is None


def test_rollback_brings_back_the_snapshot_including_optimizer() -> None:
    config = GuardConfig(snapshot_interval=2, min_history=2, spike_factor=4.0)
    guard, model, _, opt = attached(config)
    step(model, opt)
    good(guard, 1.0)
    step(model, opt)
    good(guard, 1.0)  # second good update: snapshot
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    saved_moment = opt.state_dict()["state"][0]["exp_avg"].clone()
    for _ in range(3):
        step(model, opt)
    assert guard.check_update(5.0, 1.0, step=6) == "loss_spike"  # 5 > 4 x median 1
    assert all(torch.equal(model.state_dict()[k], v) for k, v in saved.items())
    assert torch.equal(opt.state_dict()["state"][0]["exp_avg"], saved_moment)
    assert all(p.grad is None for p in model.parameters())  # the refused gradients dropped
    # Adam's in-place moment updates after a rollback must not leak into the snapshot
    step(model, opt)
    assert guard.check_update(math.nan, 1.0, step=7) == "nonfinite_loss"
    assert torch.equal(opt.state_dict()["state"][0]["exp_avg"], saved_moment)
    assert guard.events[0] == {"step": 6, "reason": "loss_spike", "loss": 5.0}
    assert guard.counts["loss_spike"] == 1 and guard.n_skipped == 2 and guard.n_restored == 2


def test_persistent_spikes_become_a_new_regime() -> None:
    guard, _, _, _ = attached(GuardConfig(window=4, min_history=2, spike_patience=3))
    for _ in range(2):
        good(guard, 1.0)
    for i in range(2):
        assert guard.check_update(100.0, 1.0, step=i) == "loss_spike"  # refused, rolled back
    assert guard.check_update(100.0, 1.0, step=2) is None  # the third in a row goes through
    assert guard.counts["regime_reset"] == 1 and guard.n_restored == 2
    assert len(guard.losses) == 0  # history forgotten: the new level becomes the reference


def test_spikes_between_good_updates_also_become_a_new_regime() -> None:
    # A rare reward: one batch in five holds it, so the spikes never come in a row. Counted
    # within the window they still reach the patience, and the reward level is learnt.
    guard, _, _, _ = attached(GuardConfig(window=20, min_history=2, spike_patience=3))
    for _ in range(4):
        good(guard, 1e-6)
    for i in range(2):
        assert guard.check_update(1.0, 1.0, step=i) == "loss_spike"
        for _ in range(4):
            good(guard, 1e-6)
    assert guard.check_update(1.0, 1.0, step=2) is None  # the third within the window
    assert guard.counts["regime_reset"] == 1
    # Spikes a window apart are accidents, each refused on its own.
    guard, _, _, _ = attached(GuardConfig(window=4, min_history=2, spike_patience=2))
    for _ in range(3):
        for _ in range(4):
            good(guard, 1e-6)
        assert guard.check_update(1.0, 1.0) == "loss_spike"
    assert guard.counts["regime_reset"] == 0


def test_rollback_without_snapshot_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="attach"):
        Guard(GuardConfig()).check_update(math.nan, 1.0)


def test_state_dict_round_trip() -> None:
    guard, _, _, _ = attached(GuardConfig(window=4, min_history=2))
    for loss in (1.0, 2.0, 3.0):
        good(guard, loss)
    assert guard.check_update(math.nan, 1.0, step=4) == "nonfinite_loss"
    guard.consecutive_full_screens = 2
    other = Guard(GuardConfig(window=4, min_history=2))
    other.load_state_dict(guard.state_dict())
    assert other.consecutive_full_screens == 2
    assert list(other.losses) == [1.0, 2.0, 3.0] and list(other.td_peaks) == list(guard.td_peaks)
    assert other.counts == guard.counts and other.n_good == 3 and len(other.events) == 1


def test_config_is_validated() -> None:
    with pytest.raises(ConfigError, match="spike_factor"):
        GuardConfig(spike_factor=1.0)
    with pytest.raises(ConfigError, match="min_history"):
        GuardConfig(window=10, min_history=20)
    with pytest.raises(ConfigError, match="snapshot_interval"):
        GuardConfig(snapshot_interval=0)


def test_new_target_forgets_the_loss_and_td_scales() -> None:
    guard, _, _, _ = attached(GuardConfig(window=4, min_history=2))
    for loss in (1e-6, 1e-6):
        good(guard, loss, td=1e-3, q=1e-3)
    assert guard.check_update(1.0, 1.0) == "loss_spike"
    assert guard.screen(torch.tensor([1.0, 1e-4])) is not None
    guard.new_target()
    assert guard.check_update(1.0, 1.0) is None  # the new target's loss level is learnt anew
    assert guard.screen(torch.tensor([1.0, 1e-4])) is None


def test_a_scale_every_batch_exceeds_is_forgotten_after_patience() -> None:
    config = GuardConfig(window=4, min_history=2, spike_patience=3, screen_factor=10.0)
    guard, _, _, _ = attached(config)
    for _ in range(2):
        good(guard, 1.0, td=0.01, q=0.0)
    td = torch.tensor([1.0, 2.0, math.nan])
    for _ in range(2):  # whole batches above the scale: screened (and nothing recorded)
        keep = guard.screen(td)
        assert keep is not None and not bool(keep.any())
    keep = guard.screen(td)  # the third in a row: the scale was stale, not the data
    assert keep is not None and keep.tolist() == [True, True, False]  # NaN stays out
    assert guard.counts["regime_reset"] == 1 and len(guard.td_peaks) == 0
    # one outlier in an otherwise normal batch is still screened, and resets the count
    for _ in range(2):
        good(guard, 1.0, td=0.01, q=0.0)
    keep = guard.screen(torch.tensor([0.01, 5.0]))
    assert keep is not None and keep.tolist() == [True, False]
    assert guard.consecutive_full_screens == 0


def test_a_td_error_the_size_of_the_values_is_learning_not_poison() -> None:
    # Values near -45 and TD errors of a few hundredths (MountainCar-v0 before the flag): the
    # first transition into the goal corrects Q by about 44 and must be learnt from; a reward
    # of 5000 is still screened.
    guard, _, _, _ = attached(GuardConfig(window=4, min_history=2))
    for _ in range(2):
        good(guard, 1.0, td=0.02, q=-44.5)  # the batch scale: max(0.02, mean |Q| = 44.5)
    assert guard.screen(torch.tensor([44.0, 0.01])) is None
    keep = guard.screen(torch.tensor([5000.0, 0.01]))
    assert keep is not None and keep.tolist() == [False, True]


@pytest.mark.parametrize("window", [1, 2, 7, 200])
def test_rolling_median_is_numpys_median_of_the_window_to_the_bit(window: int) -> None:
    rng = np.random.default_rng(window)
    # Repeated values too: eviction must remove one copy of the oldest, not another.
    values = np.concatenate([rng.lognormal(size=500), rng.integers(0, 4, size=300).astype(float)])
    rolling = RollingWindow(window)
    for i, value in enumerate(values):
        rolling.append(float(value))
        recent = values[max(0, i + 1 - window) : i + 1]
        assert rolling.median() == float(np.median(recent))
        assert list(rolling) == recent.tolist()
    rolling.clear()
    assert len(rolling) == 0
    with pytest.raises(ValueError, match="empty"):
        rolling.median()
