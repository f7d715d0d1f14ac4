"""n-step returns worked by hand: a truncation inside the window, a termination, resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hrrl.engine.dqn import td_targets
from hrrl.engine.nstep import NStepReturns, OneStep, make_return_folder
from hrrl.engine.replay.buffer import Batch, ReplayConfig, make_replay

GAMMA = 0.5


def step(folder: NStepReturns, x: float, reward: float, *, term: bool = False, trunc: bool = False):
    """One env, observation = [x], action = int(x), next observation = [x + 1]."""
    return folder.fold(
        np.array([[x]], dtype=np.float32),
        np.array([int(x)]),
        np.array([reward], dtype=np.float32),
        np.array([[x + 1]], dtype=np.float32),
        np.array([term]),
        np.array([trunc]),
    )


def test_three_step_returns_with_a_truncation_inside() -> None:
    folder = NStepReturns(n=3, gamma=GAMMA, num_envs=1)
    assert len(step(folder, 0, 1.0).actions) == 0  # nothing is 3 steps old yet
    assert len(step(folder, 1, 2.0).actions) == 0
    out = step(folder, 2, 4.0)  # (s0, a0): 1 + 0.5*2 + 0.25*4 = 3, next s3, gamma^3
    assert out.obs.tolist() == [[0.0]] and out.actions.tolist() == [0]
    assert out.rewards.tolist() == [3.0] and out.next_obs.tolist() == [[3.0]]
    assert out.discounts is not None and out.discounts.tolist() == [0.125]
    assert out.terminated.tolist() == [False]
    # The time limit ends the episode at s4: s2 and s3 bootstrap from s4 over 2 and 1 steps.
    out = step(folder, 3, 8.0, trunc=True)
    assert out.actions.tolist() == [1, 2, 3]
    assert out.rewards.tolist() == [2 + 0.5 * 4 + 0.25 * 8, 4 + 0.5 * 8, 8.0]
    assert out.next_obs.tolist() == [[4.0]] * 3
    assert out.discounts is not None and out.discounts.tolist() == [0.125, 0.25, 0.5]
    assert out.terminated.tolist() == [False, False, False]  # truncation still bootstraps
    assert len(step(folder, 10, 1.0).actions) == 0  # a fresh episode starts empty


def test_a_termination_flushes_without_bootstrap() -> None:
    folder = NStepReturns(n=3, gamma=GAMMA, num_envs=1)
    step(folder, 0, 1.0)
    out = step(folder, 1, 2.0, term=True)
    assert out.rewards.tolist() == [1 + 0.5 * 2, 2.0]
    assert out.terminated.tolist() == [True, True]


def test_the_target_uses_each_transitions_discount() -> None:
    class Constant(torch.nn.Module):
        def forward(self, obs: torch.Tensor):
            return type("Out", (), {"q": torch.full((len(obs), 2), 10.0)})()

    batch = Batch(
        obs=torch.zeros(2, 1),
        actions=torch.zeros(2, dtype=torch.int64),
        rewards=torch.tensor([3.0, 8.0]),
        next_obs=torch.zeros(2, 1),
        terminated=torch.tensor([0.0, 1.0]),
        discounts=torch.tensor([0.125, 0.5]),
    )
    y = td_targets(batch, Constant(), Constant(), gamma=0.99, double=True)
    assert y.tolist() == [3.0 + 0.125 * 10.0, 8.0]  # gamma^k replaces gamma; terminal: no bootstrap


@pytest.mark.parametrize("kind", ["uniform", "prioritized"])
def test_replay_keeps_discounts_and_resume_continues_the_fold(kind: str) -> None:
    replay = make_replay(ReplayConfig(kind=kind, capacity=8), obs_dim=1, seed=0, discounts=True)
    folder = NStepReturns(n=2, gamma=GAMMA, num_envs=1)
    step(folder, 0, 1.0)
    saved = folder.state_dict()
    out = step(folder, 1, 2.0, trunc=True)
    replay.add(out.obs, out.actions, out.rewards, out.next_obs, out.terminated, out.discounts)
    batch = replay.sample(4)
    assert batch.discounts is not None and set(batch.discounts.tolist()) <= {0.25, 0.5}
    again = NStepReturns(n=2, gamma=GAMMA, num_envs=1)
    again.load_state_dict(saved)
    repeat = step(again, 1, 2.0, trunc=True)
    assert repeat.rewards.tolist() == out.rewards.tolist()
    assert repeat.actions.tolist() == out.actions.tolist()
    with pytest.raises(ValueError, match="discounts must be given"):
        replay.add(out.obs, out.actions, out.rewards, out.next_obs, out.terminated)


def test_one_step_passes_transitions_through() -> None:
    assert isinstance(make_return_folder(n=1, gamma=0.9, num_envs=4), OneStep)
    obs = np.zeros((2, 3), dtype=np.float32)
    out = OneStep().fold(obs, np.zeros(2), np.ones(2), obs, np.zeros(2, bool), np.ones(2, bool))
    assert out.obs is obs and out.discounts is None
