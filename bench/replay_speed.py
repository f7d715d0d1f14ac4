"""Prioritized replay at capacity 10^6: hrrl against cpprb (C++) and a per-item Python sum tree.

Three buffers hold the same transitions (float32 observations of ``--obs-dim``, int64 actions,
float32 rewards, a done flag) and are timed side by side in one process:

* **hrrl**: ``make_replay(ReplayConfig(kind="prioritized"))`` (storage + ``PrioritizedSampler`` on
  the vectorised :class:`~hrrl.engine.replay.sum_tree.SumTree`); ``sample`` returns the typed torch ``Batch``;
* **cpprb**: ``cpprb.PrioritizedReplayBuffer`` (C++ segment tree), ``sample`` returns NumPy arrays;
* **python**: :class:`PyPrioritizedReplay` below, the classic per-item ``SumTree`` of the original
  prototype and most tutorials (recursive ``_propagate`` / ``_retrieve``, a Python loop over the
  batch), on the same NumPy storage as hrrl.

Phases: **fill** (capacity transitions added in batches of ``--add-batch``, the trainer's
``num_envs``), then ``--repeats`` rounds of **sample(B)** and **update(B)** (priorities from random
TD errors), with B = ``--batch``, then ``--repeats`` training-like **cycles** (add a chunk, sample,
update). The arms run interleaved call by call, so a busy machine slows them alike. The per-item tree's fill takes about a minute
at 10^6; ``--python-fill`` fills only that many of its slots (the rest time per item is constant,
and the table then says "extrapolated").

Usage::

    python bench/replay_speed.py                      # capacity 10^6, batch 256, obs_dim 16
    python bench/replay_speed.py --capacity 100000 --obs-dim 183 --repeats 500
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import _common  # noqa: F401  (puts src/ on sys.path)
from _common import machine, table
from hrrl.engine.replay.buffer import ReplayConfig, make_replay


# --- the reference: a per-item Python sum tree, as in the prototype ------------------------------
class PySumTree:
    """The classic array sum tree with one Python call chain per item.

    Node 0 is the root, node ``k`` has children ``2k + 1`` and ``2k + 2``, leaf ``i`` is node
    ``capacity - 1 + i``. ``update`` walks up with ``_propagate`` adding the change; ``get``
    walks down with ``_retrieve``.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.tree = np.zeros(2 * capacity - 1, dtype=np.float64)

    def _propagate(self, idx: int, change: float) -> None:
        parent = (idx - 1) // 2
        self.tree[parent] += change
        if parent != 0:
            self._propagate(parent, change)

    def _retrieve(self, idx: int, s: float) -> int:
        left = 2 * idx + 1
        right = left + 1
        if left >= len(self.tree):
            return idx
        if s <= self.tree[left]:
            return self._retrieve(left, s)
        return self._retrieve(right, s - self.tree[left])

    def total(self) -> float:
        return float(self.tree[0])

    def update(self, idx: int, p: float) -> None:
        change = p - self.tree[idx]
        self.tree[idx] = p
        self._propagate(idx, change)

    def get(self, s: float) -> tuple[int, float]:
        idx = self._retrieve(0, s)
        return idx, float(self.tree[idx])


class PyPrioritizedReplay:
    """Proportional PER on :class:`PySumTree`: per-item add, stratified per-item sample."""

    def __init__(self, capacity: int, obs_dim: int, *, alpha: float, eps: float, seed: int) -> None:
        self.tree = PySumTree(capacity)
        self.capacity = capacity
        self.alpha, self.eps = alpha, eps
        self.obs = np.zeros((capacity, obs_dim), dtype=np.float32)
        self.next_obs = np.zeros((capacity, obs_dim), dtype=np.float32)
        self.actions = np.zeros(capacity, dtype=np.int64)
        self.rewards = np.zeros(capacity, dtype=np.float32)
        self.dones = np.zeros(capacity, dtype=np.bool_)
        self.write = 0
        self.size = 0
        self.max_priority = 1.0
        self.rng = np.random.default_rng(seed)

    def add(
        self, obs: np.ndarray, act: np.ndarray, rew: np.ndarray, nxt: np.ndarray, done: Any
    ) -> None:
        for j in range(obs.shape[0]):
            i = self.write
            self.obs[i], self.actions[i], self.rewards[i] = obs[j], act[j], rew[j]
            self.next_obs[i], self.dones[i] = nxt[j], done[j]
            self.tree.update(i + self.capacity - 1, self.max_priority)
            self.write = (i + 1) % self.capacity
            self.size = min(self.size + 1, self.capacity)

    def sample(self, n: int, beta: float) -> dict[str, np.ndarray]:
        segment = self.tree.total() / n
        idxs = np.empty(n, dtype=np.int64)
        pri = np.empty(n, dtype=np.float64)
        for j in range(n):
            s = self.rng.uniform(segment * j, segment * (j + 1))
            idx, p = self.tree.get(s)
            idxs[j], pri[j] = idx, p
        data = idxs - (self.capacity - 1)
        probs = pri / self.tree.total()
        weights = (self.size * probs) ** -beta
        weights /= weights.max()
        return {
            "obs": self.obs[data],
            "act": self.actions[data],
            "rew": self.rewards[data],
            "next_obs": self.next_obs[data],
            "done": self.dones[data],
            "weights": weights,
            "indexes": idxs,
        }

    def update_priorities(self, idxs: np.ndarray, td: np.ndarray) -> None:
        for idx, d in zip(idxs.tolist(), np.abs(td).tolist(), strict=True):
            p = (d + self.eps) ** self.alpha
            self.max_priority = max(self.max_priority, p)
            self.tree.update(idx, p)


# --- the three arms behind one interface ------------------------------------------------------------
Arm = tuple[
    Callable[[dict[str, np.ndarray]], None],  # add(chunk)
    Callable[[], Any],  # sample() -> handle for update
    Callable[[Any, np.ndarray], None],  # update(handle, td_errors)
]


def hrrl_arm(capacity: int, obs_dim: int, batch: int, seed: int) -> Arm:
    buf = make_replay(
        ReplayConfig(kind="prioritized", capacity=capacity, alpha=0.6, eps=1e-6),
        obs_dim=obs_dim,
        seed=seed,
    )

    def add(c: dict[str, np.ndarray]) -> None:
        buf.add(c["obs"], c["act"], c["rew"], c["next_obs"], c["done"])

    def sample() -> Any:
        return buf.sample(batch).indices

    def update(indices: Any, td: np.ndarray) -> None:
        buf.update_priorities(indices, td)

    return add, sample, update


def cpprb_arm(capacity: int, obs_dim: int, batch: int, seed: int) -> Arm | None:
    try:
        import cpprb
    except ImportError:
        return None
    buf = cpprb.PrioritizedReplayBuffer(
        capacity,
        {
            "obs": {"shape": obs_dim, "dtype": np.float32},
            "act": {"dtype": np.int64},
            "rew": {"dtype": np.float32},
            "next_obs": {"shape": obs_dim, "dtype": np.float32},
            "done": {"dtype": np.float32},
        },
        alpha=0.6,
        eps=1e-6,
    )

    def add(c: dict[str, np.ndarray]) -> None:
        buf.add(**c)

    def sample() -> Any:
        return buf.sample(batch, beta=0.4)["indexes"]

    def update(indexes: Any, td: np.ndarray) -> None:
        buf.update_priorities(indexes, np.abs(td))  # cpprb applies (p + eps)^alpha itself

    return add, sample, update


def python_arm(capacity: int, obs_dim: int, batch: int, seed: int) -> Arm:
    buf = PyPrioritizedReplay(capacity, obs_dim, alpha=0.6, eps=1e-6, seed=seed)

    def add(c: dict[str, np.ndarray]) -> None:
        buf.add(c["obs"], c["act"], c["rew"], c["next_obs"], c["done"])

    def sample() -> Any:
        return buf.sample(batch, beta=0.4)["indexes"]

    def update(idxs: Any, td: np.ndarray) -> None:
        buf.update_priorities(idxs, td)

    return add, sample, update


def chunks(n_total: int, size: int, obs_dim: int, seed: int) -> list[dict[str, np.ndarray]]:
    """A pool of pre-made transition batches (reused cyclically, so making data is not timed)."""
    rng = np.random.default_rng(seed)
    pool: list[dict[str, np.ndarray]] = []
    for _ in range(min(64, math.ceil(n_total / size))):
        pool.append(
            {
                "obs": rng.standard_normal((size, obs_dim), dtype=np.float32),
                "act": rng.integers(0, 3, size=size, dtype=np.int64),
                "rew": rng.standard_normal(size, dtype=np.float32),
                "next_obs": rng.standard_normal((size, obs_dim), dtype=np.float32),
                "done": (rng.random(size) < 0.05).astype(np.float32),
            }
        )
    return pool


def bench_arms(
    arms: dict[str, Arm],
    fills: dict[str, int],
    pool: list[dict[str, np.ndarray]],
    batch: int,
    repeats: int,
) -> dict[str, dict[str, float]]:
    """Time every arm, interleaved call by call so that load from other processes hits all alike.

    Returns per arm: ``fill`` (seconds to add ``capacity`` transitions, extrapolated when
    ``fills`` says fewer), median ``sample``, ``update`` and ``cycle`` (one training-like step:
    add one chunk, sample a batch, update its priorities) in seconds.
    """
    chunk = pool[0]["obs"].shape[0]
    n_chunks = {name: math.ceil(fills[name] / chunk) for name in arms}
    fill_time = dict.fromkeys(arms, 0.0)
    for k in range(max(n_chunks.values())):
        for name, (add, _, _) in arms.items():
            if k < n_chunks[name]:
                began = time.perf_counter()
                add(pool[k % len(pool)])
                fill_time[name] += time.perf_counter() - began
    rng = np.random.default_rng(1)
    tds = [rng.exponential(1.0, size=batch) for _ in range(16)]
    times: dict[str, dict[str, list[float]]] = {
        name: {"sample": [], "update": [], "cycle": []} for name in arms
    }
    for r in range(repeats):
        for name, (_, sample, update) in arms.items():
            t0 = time.perf_counter()
            handle = sample()
            t1 = time.perf_counter()
            update(handle, tds[r % len(tds)])
            t2 = time.perf_counter()
            times[name]["sample"].append(t1 - t0)
            times[name]["update"].append(t2 - t1)
    for r in range(repeats):
        for name, (add, sample, update) in arms.items():
            t0 = time.perf_counter()
            add(pool[r % len(pool)])
            update(sample(), tds[r % len(tds)])
            times[name]["cycle"].append(time.perf_counter() - t0)
    out = {}
    for name in arms:
        capacity_scale = fills["capacity"] / (n_chunks[name] * chunk)
        out[name] = {"fill": fill_time[name] * capacity_scale}
        out[name].update({k: float(np.median(v)) for k, v in times[name].items()})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--capacity", type=int, default=10**6, help="buffer capacity")
    parser.add_argument("--obs-dim", type=int, default=16, help="observation floats")
    parser.add_argument("--batch", type=int, default=256, help="sample / update batch size")
    parser.add_argument("--add-batch", type=int, default=32, help="transitions per add call")
    parser.add_argument("--repeats", type=int, default=1000, help="sample+update rounds")
    parser.add_argument(
        "--python-fill",
        type=int,
        default=None,
        help="fill only this many slots of the per-item "
        "tree and extrapolate (default: the whole capacity)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of data and samplers")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    print(machine())
    cap, b = args.capacity, args.batch
    pool = chunks(cap, args.add_batch, args.obs_dim, args.seed)
    made = {
        "hrrl": hrrl_arm(cap, args.obs_dim, b, args.seed),
        "cpprb": cpprb_arm(cap, args.obs_dim, b, args.seed),
        "python": python_arm(cap, args.obs_dim, b, args.seed),
    }
    arms = {name: arm for name, arm in made.items() if arm is not None}
    notes = {name: "not installed" for name, arm in made.items() if arm is None}
    fills = dict.fromkeys(arms, cap) | {"capacity": cap}
    if args.python_fill is not None and args.python_fill < cap:
        fills["python"] = args.python_fill
        notes["python"] = f"fill extrapolated from {args.python_fill:,} slots"
    results = bench_arms(arms, fills, pool, b, args.repeats)
    print(
        f"prioritized replay, capacity {cap:,}, obs_dim {args.obs_dim}, add batches of "
        f"{args.add_batch}, sample/update batch {b}, median of {args.repeats} rounds, arms "
        "interleaved call by call"
    )
    print("cycle = one training-like step: add a chunk, sample a batch, update its priorities")
    ref = results.get("cpprb")
    rows = []
    for name, r in results.items():
        su = r["sample"] + r["update"]
        rows.append(
            [
                name,
                f"{r['fill']:.2f}",
                f"{cap / r['fill']:,.0f}",
                f"{r['sample'] * 1e3:.3f}",
                f"{r['update'] * 1e3:.3f}",
                f"{su * 1e3:.3f}",
                f"{r['cycle'] * 1e3:.3f}",
                "-" if ref is None else f"{r['fill'] / ref['fill']:.2f}x",
                "-" if ref is None else f"{su / (ref['sample'] + ref['update']):.2f}x",
                "-" if ref is None else f"{r['cycle'] / ref['cycle']:.2f}x",
                notes.get(name, ""),
            ]
        )
    for name, note in notes.items():
        if name not in results:
            rows.append([name, *["-"] * 9, note])
    header = [
        "buffer",
        "fill s",
        "adds/s",
        "sample ms",
        "update ms",
        "sample+update ms",
        "cycle ms",
        "fill vs cpprb",
        "s+u vs cpprb",
        "cycle vs cpprb",
        "note",
    ]
    print(table(header, rows))


if __name__ == "__main__":
    main()
