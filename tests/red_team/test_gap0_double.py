"""GAP 0, overestimation: the vanilla DQN target ``max_a Q_target(s', a)`` is biased upwards by
noise in the estimates; the Double DQN target (online net picks, target net values) is less so.

Measured against the exact ``Q*(x, t, a)`` of each puzzle (dynamic programming, ``hrrl.puzzle.exact``),
not against another estimate. The setup isolates the target rule: one fixed dataset of
transitions collected once with a random policy from small puzzles (rewards with zero-mean
Gaussian noise added, so that ``E[r] `` and hence ``Q*`` are unchanged), and two agents built
with the same seed (same initial weights) that learn on the *same* batches in the same order;
only ``agent.double`` differs. The bias is ``mean (Q(s, a) - Q*(x, t, a))`` over every visited
state and every action. (The learner's Q is time-agnostic, its encoder sees ``t / max_steps``, so
both agents carry some approximation bias; what the test compares is the difference.)
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hrrl.engine.agent import AgentConfig, DQNAgent
from hrrl.engine.replay.buffer import Batch
from hrrl.puzzle.exact import optimal_values
from hrrl.puzzle.rewards import make_reward
from hrrl.puzzle.sampling import sample_puzzle
from hrrl.puzzle.stack import make_stack

SEEDS = (0, 1, 2)
GAMMA = 0.9
REWARD_NOISE = 2.0  # std of the zero-mean noise added to every stored reward
N_PUZZLES, N_TRANSITIONS, UPDATES, BATCH = 12, 2_000, 1_500, 64


def collect(seed: int) -> dict[str, np.ndarray]:
    """Random-policy transitions, with (puzzle, x, t) of each state and exact Q* there."""
    rng = np.random.default_rng(seed)
    encoder, factory = make_stack(
        encoder_name="relational", reward="ordered", planner="none", actions=(1, 3, 5)
    )
    env = factory()
    puzzles = [
        sample_puzzle(rng, target_range=(10, 25), forbidden_count=(2, 4)) for _ in range(N_PUZZLES)
    ]
    tables = [optimal_values(p, make_reward("ordered"), GAMMA) for p in puzzles]
    rows: dict[str, list[object]] = {k: [] for k in ("obs", "act", "rew", "next", "term", "qstar")}
    while len(rows["obs"]) < N_TRANSITIONS:
        k = int(rng.integers(N_PUZZLES))
        obs, _ = env.reset(options={"puzzle": puzzles[k]})
        done = False
        while not done:
            x, t = env.unwrapped.current, env.unwrapped.steps  # type: ignore[attr-defined]
            a = int(rng.integers(3))
            nxt, r, term, trunc, _ = env.step(a)
            for key, value in zip(rows, (obs, a, r, nxt, term, tables[k].q_at(x, t)), strict=True):
                rows[key].append(value)
            obs, done = nxt, term or trunc
    data = {k: np.asarray(v) for k, v in rows.items()}
    data["rew"] = data["rew"] + rng.normal(0.0, REWARD_NOISE, data["rew"].shape)
    data["dim"] = np.asarray(encoder.dim)
    return data


def bias(data: dict[str, np.ndarray], *, double: bool, seed: int) -> float:
    torch.set_num_threads(1)
    config = AgentConfig(
        network="mlp",
        hidden=64,
        lr=1e-3,
        gamma=GAMMA,
        double=double,
        target_update="hard",
        target_update_interval=100,
    )
    agent = DQNAgent(obs_dim=int(data["dim"]), n_actions=3, config=config, seed=seed)
    order = np.random.default_rng(seed + 1).integers(0, len(data["act"]), size=(UPDATES, BATCH))

    def t(x: np.ndarray, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return torch.as_tensor(x, dtype=dtype)

    for rows in order:  # the same batches, in the same order, for both target rules
        agent.learn(
            Batch(
                obs=t(data["obs"][rows]),
                actions=t(data["act"][rows], torch.int64),
                rewards=t(data["rew"][rows]),
                next_obs=t(data["next"][rows]),
                terminated=t(data["term"][rows]),
            )
        )
        agent.after_update()
    q = agent.q_values(data["obs"].astype(np.float32))
    return float(np.mean(q - data["qstar"]))


@pytest.mark.parametrize("seed", SEEDS)
def test_vanilla_overestimates_more_than_double(seed: int) -> None:
    data = collect(seed)
    vanilla, double = bias(data, double=False, seed=seed), bias(data, double=True, seed=seed)
    print(f"seed {seed}: mean(Q - Q*) vanilla {vanilla:+.3f}, double {double:+.3f}")
    assert vanilla > 0.0, "the vanilla target should overestimate Q* on noisy rewards"
    assert vanilla > double + 0.05, (vanilla, double)
