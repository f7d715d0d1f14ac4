"""The online Q-network of a training checkpoint, rebuilt for inference, and its greedy action.

A checkpoint holds what the network needs in three places::

    state["config"]["agent"]       network kind, hidden width      (the run config, saved)
    state["agent"]["meta"]         obs_dim, n_actions              (DQNAgent.meta_state)
    tensors "agent.tensors.online.*"  the weights, keys as in the network's state_dict

:func:`load_online_network` reads the three; :func:`build_network` is the step it shares with an
exported bundle, which carries the same parts in ``policy.json`` and ``policy.safetensors``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hrrl.engine.networks import make_network
from hrrl.errors import CheckpointError
from hrrl.persistence.store import LoadedCheckpoint

#: Tensor-key prefix of the online network inside a training checkpoint.
ONLINE_PREFIX = "agent.tensors.online."


def run_config(checkpoint: LoadedCheckpoint) -> dict[str, Any]:
    """The run config saved in ``checkpoint``; refuses a checkpoint hrrl training did not write."""
    config = checkpoint.state.get("config")
    if not isinstance(config, dict):
        raise CheckpointError(
            f"{checkpoint.path} holds no run config: it is not an hrrl training run"
        )
    return config


def online_weights(checkpoint: LoadedCheckpoint) -> dict[str, torch.Tensor]:
    """The online network's tensors, keyed as in its ``state_dict``."""
    weights = {
        k[len(ONLINE_PREFIX) :]: v
        for k, v in checkpoint.tensors.items()
        if k.startswith(ONLINE_PREFIX)
    }
    if not weights:
        raise CheckpointError(
            f"{checkpoint.path} holds no online network weights ({ONLINE_PREFIX}*)"
        )
    return weights


def build_network(
    agent: Mapping[str, Any],
    weights: Mapping[str, torch.Tensor],
    *,
    obs_dim: int,
    n_actions: int,
    source: Path,
    obs_shape: tuple[int, ...] | None = None,
) -> torch.nn.Module:
    """The network ``agent`` (a saved ``agent`` config section) names, holding ``weights``.

    In eval mode; weights that do not fit the config are a :class:`CheckpointError`.
    """
    network = make_network(
        agent["network"],
        obs_dim=obs_dim,
        n_actions=n_actions,
        hidden=int(agent["hidden"]),
        dueling=bool(agent.get("dueling", False)),
        conv_dtype=str(agent.get("conv_dtype", "float32")),
        obs_shape=obs_shape,
        generator=torch.Generator().manual_seed(0),
    )
    try:
        network.load_state_dict(dict(weights))
    except RuntimeError as exc:
        raise CheckpointError(f"{source}: the weights do not fit the saved config: {exc}") from exc
    return network.eval()


def load_online_network(checkpoint: LoadedCheckpoint) -> torch.nn.Module:
    """The online Q-network of a loaded training checkpoint, in eval mode."""
    agent, weights = run_config(checkpoint)["agent"], online_weights(checkpoint)
    meta = checkpoint.state["agent"]["meta"]
    return build_network(
        agent,
        weights,
        obs_dim=int(meta["obs_dim"]),
        n_actions=int(meta["n_actions"]),
        source=checkpoint.path,
        obs_shape=tuple(meta.get("obs_shape") or (int(meta["obs_dim"]),)),
    )


def observation_rows(obs: Any, obs_shape: tuple[int, ...]) -> tuple[np.ndarray, bool]:
    """``obs`` as a float32 batch of flat rows, and whether it was one observation: one in
    its own shape (or flat), or a batch with a leading axis (as Stable-Baselines3's
    ``predict`` reads them)."""
    x = np.asarray(obs, dtype=np.float32)
    dim = int(np.prod(obs_shape))
    if x.ndim in (len(obs_shape), 1) and x.size == dim:
        return x.reshape(1, dim), True
    if x.ndim >= 2 and x.shape[0] > 0 and x[0].size == dim:
        return x.reshape(len(x), dim), False
    raise ValueError(
        f"obs of shape {x.shape}: this policy reads observations of shape {obs_shape} "
        f"({dim} numbers), one at a time or as a batch (B, ...)"
    )


def q_table(network: torch.nn.Module, rows: np.ndarray) -> np.ndarray:
    """``Q(row, a)`` for every row and action, ``(B, n_actions)``."""
    with torch.inference_mode():
        return network(torch.from_numpy(rows)).q.cpu().numpy()


def greedy_actions(network: torch.nn.Module, obs: np.ndarray) -> np.ndarray:
    """``argmax_a Q(obs, a)`` for a batch of observations."""
    with torch.inference_mode():
        q = network(torch.as_tensor(obs, dtype=torch.float32)).q
    return q.argmax(dim=1).cpu().numpy().astype(np.int64)


#: Distinct observations a :class:`GreedyCache` remembers before it starts afresh.
GREEDY_CACHE_SIZE = 1 << 17
#: Batches up to this size go through the cache; larger ones straight to the network (at batch
#: 1024 hashing the rows made play 1.5x slower; at 64 it was level; at 1, 1.4x faster).
CACHED_BATCH = 32


class GreedyCache:
    """``greedy_actions`` memoised by observation: a greedy policy is a function of what it sees.

    Long puzzles show the same window picture again and again (a target of 10^6 at the paper's
    density: 92% of steps), so a small batch's forward pass covers only the observations not seen
    before; the answer is exactly what the network would say.
    """

    def __init__(self, network: torch.nn.Module, capacity: int = GREEDY_CACHE_SIZE) -> None:
        self.network = network
        self.capacity = capacity
        self._known: dict[bytes, int] = {}
        self.hits = 0
        self.misses = 0

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        obs = np.ascontiguousarray(obs, dtype=np.float32)
        if len(obs) > CACHED_BATCH:  # one forward pass is cheaper than hashing every row
            return greedy_actions(self.network, obs)
        keys = [row.tobytes() for row in obs]
        out = np.empty(len(keys), dtype=np.int64)
        known = self._known
        missing = []
        for i, key in enumerate(keys):
            action = known.get(key)
            if action is None:
                missing.append(i)
            else:
                out[i] = action
        self.hits += len(keys) - len(missing)
        self.misses += len(missing)
        if missing:
            if len(known) + len(missing) > self.capacity:
                known.clear()
            fresh = greedy_actions(self.network, obs[missing])
            for i, action in zip(missing, fresh.tolist(), strict=True):
                known[keys[i]] = action
                out[i] = action
        return out
