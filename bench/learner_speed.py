"""Learner throughput: DQNAgent.learn updates per second on the CPU, and faster paths tried.

The agent is the default preset's (phase-adaptive network, 256 hidden units, Double DQN, Huber,
gradient clipping, the guard attached) with ``obs_dim`` = the relational encoder's dimension and
3 actions. Every arm learns from the same pre-made batches (random 0/1 observations, random
rewards, importance weights as prioritized replay gives them), interleaved round by round in one
process, so background load hits every arm alike. Arms:

* ``baseline``: the agent as the trainer builds it, ``torch.set_num_threads(1)`` (train.threads);
* ``threads=2``: the same with two intra-op threads;
* ``adam foreach``: ``torch.optim.Adam(..., foreach=True)`` (one multi-tensor kernel per Adam
  step instead of a Python loop over the 12 parameters; PyTorch picks it on CUDA only);
* ``adam fused``: ``torch.optim.Adam(..., fused=True)`` (CPU fused kernel);
* ``foreach guard``: the guard's "every parameter finite" check done as one
  ``torch._foreach_norm`` over all parameters instead of ``isfinite(p).all()`` per parameter;
* ``fused heads``: the phase-adaptive network's three Q heads and the phase classifier computed
  by one ``Linear(hidden, 3 * A + 3)`` (same function, same weights: fewer small ops);
* the last two rows combine the changes (fused Adam + foreach guard, + fused heads);
* ``torch.compile`` (``--compile``): the network compiled with the default inductor backend;
  compile time is reported apart (it is paid once per run and per batch size).

Usage::

    python bench/learner_speed.py                      # batch 64 and 256
    python bench/learner_speed.py --batches 64 --seconds 2 --rounds 7 --compile
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

import _common  # noqa: F401  (puts src/ on sys.path)
from _common import fmt_rate, machine, table
from hrrl.engine.agent import AgentConfig, DQNAgent
from hrrl.engine.guard import Guard
from hrrl.engine.networks import PHASES, PhaseAdaptiveQNetwork, QOutput
from hrrl.engine.replay.buffer import Batch
from hrrl.experiment import preset
from hrrl.puzzle.encoders import make_encoder


class ForeachGuard(Guard):
    """The guard with its parameter check as one multi-tensor norm (same verdict: a norm is
    finite iff every entry is)."""

    def _params_finite(self) -> bool:
        norms = torch._foreach_norm([p.detach() for p in self._modules().params])
        return bool(torch.isfinite(torch.stack(norms)).all())


class FusedHeadsQNetwork(nn.Module):
    """:class:`PhaseAdaptiveQNetwork`'s function with its 3 heads and phase classifier in one
    linear layer (weights copied from ``source``)."""

    def __init__(self, source: PhaseAdaptiveQNetwork) -> None:
        super().__init__()
        self.trunk = source.trunk
        heads = [h for h in source.heads if isinstance(h, nn.Linear)]
        self.n_actions = heads[0].out_features
        self.out = nn.Linear(heads[0].in_features, len(PHASES) * (self.n_actions + 1))
        with torch.no_grad():
            weights = [h.weight.detach() for h in [*heads, source.phase]]
            self.out.weight.copy_(torch.cat(weights))
            biases = [h.bias.detach() for h in [*heads, source.phase]]
            self.out.bias.copy_(torch.cat(biases))

    def forward(self, obs: torch.Tensor) -> QOutput:
        y = self.out(self.trunk(obs))
        k, a = len(PHASES), self.n_actions
        heads = y[:, : k * a].view(-1, k, a)
        probs = torch.softmax(y[:, k * a :], dim=-1)
        return QOutput(torch.einsum("bk,bka->ba", probs, heads), probs)


def make_batches(n: int, batch: int, obs_dim: int, seed: int) -> list[Batch]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        w = torch.rand(batch, generator=g) * 0.9 + 0.1
        out.append(
            Batch(
                obs=(torch.rand(batch, obs_dim, generator=g) < 0.2).float(),
                actions=torch.randint(0, 3, (batch,), generator=g),
                rewards=torch.randn(batch, generator=g) * 0.3,
                next_obs=(torch.rand(batch, obs_dim, generator=g) < 0.2).float(),
                terminated=(torch.rand(batch, generator=g) < 0.05).float(),
                indices=np.arange(batch),
                weights=w / w.max(),
            )
        )
    return out


#: Arm name -> the faster paths it turns on (cumulative ladder after the single changes).
ARMS: dict[str, frozenset[str]] = {
    "baseline": frozenset(),
    "adam foreach": frozenset({"foreach"}),
    "adam fused": frozenset({"fused"}),
    "foreach guard": frozenset({"guard"}),
    "fused heads": frozenset({"heads"}),
    "fused adam + guard": frozenset({"fused", "guard"}),
    "fused adam + guard + heads": frozenset({"fused", "guard", "heads"}),
    "threads=2": frozenset({"threads2"}),  # last: see the pause in main()
}


def build_agent(obs_dim: int, config: AgentConfig, features: frozenset[str], seed: int) -> DQNAgent:
    guard_config = preset("default").guard
    guard = ForeachGuard(guard_config) if "guard" in features else Guard(guard_config)
    agent = DQNAgent(obs_dim=obs_dim, n_actions=3, config=config, seed=seed, guard=guard)
    if "heads" in features:
        assert isinstance(agent.online, PhaseAdaptiveQNetwork)
        assert isinstance(agent.target, PhaseAdaptiveQNetwork)
        agent.online = FusedHeadsQNetwork(agent.online)
        agent.target = FusedHeadsQNetwork(agent.target).requires_grad_(False)
    if "compile" in features:
        agent.online = torch.compile(agent.online)  # type: ignore[assignment]
        agent.target = torch.compile(agent.target)  # type: ignore[assignment]
    params = list(agent.online.parameters())
    if "foreach" in features:
        agent.optimizer = torch.optim.Adam(params, lr=config.lr, foreach=True)
    elif "fused" in features:
        agent.optimizer = torch.optim.Adam(params, lr=config.lr, fused=True)
    elif features & {"heads", "compile"}:
        agent.optimizer = torch.optim.Adam(params, lr=config.lr)  # the new parameters
    guard.attach(agent.online, agent.target, agent.optimizer)  # the replaced modules
    return agent


def check_fused_heads(obs_dim: int, config: AgentConfig) -> float:
    """Largest |Q| difference between the phase-adaptive network and its fused-heads copy."""
    net = PhaseAdaptiveQNetwork(
        obs_dim, 3, config.hidden, generator=torch.Generator().manual_seed(0)
    )
    fused = FusedHeadsQNetwork(net)
    x = torch.rand(512, obs_dim)
    with torch.no_grad():
        return float((net(x).q - fused(x).q).abs().max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--batches", type=int, nargs="+", default=[64, 256], help="batch sizes")
    parser.add_argument("--seconds", type=float, default=1.0, help="time per arm per round")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (median)")
    parser.add_argument("--compile", action="store_true", help="add a torch.compile arm")
    parser.add_argument("--seed", type=int, default=0, help="seed of weights and batches")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(machine())
    obs_dim = make_encoder("relational").dim
    config = dataclasses.replace(preset("default").agent)
    arms = dict(ARMS)
    if args.compile:
        arms["compile"] = frozenset({"compile"})
    threads = {arm: 2 if "threads2" in features else 1 for arm, features in arms.items()}
    print(
        f"DQNAgent.learn, default preset agent (phase_adaptive, hidden {config.hidden}, "
        f"double, clip {config.max_grad_norm}, guard), obs_dim {obs_dim}, 3 actions; "
        f"fused-heads max |dQ| vs original {check_fused_heads(obs_dim, config):.1e}"
    )
    rows = []
    for batch_size in args.batches:
        cfg = dataclasses.replace(config, batch_size=batch_size)
        batches = make_batches(32, batch_size, obs_dim, args.seed)
        agents = {arm: build_agent(obs_dim, cfg, f, args.seed) for arm, f in arms.items()}
        warmup: dict[str, float] = {}
        for arm, agent in agents.items():  # warm-up (and compile) outside the timed rounds
            torch.set_num_threads(threads[arm])
            began = time.perf_counter()
            for b in batches[:3]:
                agent.learn(b)
            warmup[arm] = time.perf_counter() - began
        rates: dict[str, list[float]] = {arm: [] for arm in arms}
        for _ in range(args.rounds):
            for arm, agent in agents.items():
                torch.set_num_threads(threads[arm])
                learn: Callable[[Batch], object] = agent.learn
                began = time.perf_counter()
                k = 0
                while k < 3 or time.perf_counter() - began < args.seconds:
                    learn(batches[k % len(batches)])
                    agent.after_update()
                    k += 1
                rates[arm].append(k / (time.perf_counter() - began))
                if threads[arm] > 1:
                    # Let the spinning intra-op worker threads go idle before the next arm.
                    torch.set_num_threads(1)
                    time.sleep(0.5)
        torch.set_num_threads(1)
        base = float(np.median(rates["baseline"]))
        for arm in arms:
            rate = float(np.median(rates[arm]))
            note = f"compile + 3 updates {warmup[arm]:.1f} s" if arm == "compile" else ""
            finite = all(
                math.isfinite(float(p.detach().sum())) for p in agents[arm].online.parameters()
            )
            rows.append(
                [
                    str(batch_size),
                    arm,
                    fmt_rate(rate),
                    f"{1e3 / rate:.2f}",
                    f"{rate / base:.2f}x",
                    note if finite else "NON-FINITE PARAMS",
                ]
            )
    print(table(["batch", "arm", "updates/s", "ms/update", "vs baseline", "note"], rows))


if __name__ == "__main__":
    main()
