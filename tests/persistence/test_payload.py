"""A trainer state as a checkpoint payload and back: optimizer tensors filed apart, keys kept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from hrrl.persistence.formats import check_safetensors
from hrrl.persistence.layout import MODEL_FILE, OPTIMIZER_FILE
from hrrl.persistence.payload import TENSOR_KEYS, payload_from_state, state_from_checkpoint
from hrrl.persistence.store import load_checkpoint, save_checkpoint


def _state() -> dict[str, Any]:
    """The shape of ``Trainer.state_dict()``, four leaves deep at most."""
    return {
        "agent": {
            "tensors": {
                "online.0.weight": torch.arange(6.0).reshape(2, 3),
                "optim.0.exp_avg": torch.ones(2, 3),
            },
            "meta": {"obs_dim": 3, "n_actions": 2},
        },
        "replay": {"obs": np.arange(8, dtype=np.float32).reshape(4, 2)},
        "counters": {"env_steps": np.int64(16)},
    }


def test_optimizer_tensors_get_the_prefix_and_the_map_back() -> None:
    p = payload_from_state(_state())
    assert set(p.tensors) == {
        "agent.tensors.online.0.weight",
        "optimizer.agent.tensors.optim.0.exp_avg",
    }
    assert set(p.arrays) == {"replay.obs"}
    assert p.state[TENSOR_KEYS] == {
        "agent.tensors.online.0.weight": "agent.tensors.online.0.weight",
        "optimizer.agent.tensors.optim.0.exp_avg": "agent.tensors.optim.0.exp_avg",
    }
    assert p.state["counters"] == {"env_steps": 16} and p.state["agent"]["meta"]["obs_dim"] == 3


def test_state_from_checkpoint_inverts_payload_from_state() -> None:
    p = payload_from_state(_state())
    back = state_from_checkpoint(p.state, p.tensors, p.arrays)
    assert TENSOR_KEYS not in back and TENSOR_KEYS in p.state  # the payload is left as it was
    want = _state()
    for key in ("online.0.weight", "optim.0.exp_avg"):
        assert torch.equal(back["agent"]["tensors"][key], want["agent"]["tensors"][key])
    assert np.array_equal(back["replay"]["obs"], want["replay"]["obs"])
    assert back["counters"] == {"env_steps": 16}


def test_each_tensor_lands_in_its_file_and_loads_back(tmp_path: Path) -> None:
    p = payload_from_state(_state())
    path = save_checkpoint(
        tmp_path, 16, tensors=p.tensors, arrays=p.arrays, state=p.state, metrics={}
    )
    assert set(check_safetensors(path / MODEL_FILE)) == {
        "__metadata__",
        "agent.tensors.online.0.weight",
    }
    assert set(check_safetensors(path / OPTIMIZER_FILE)) == {
        "__metadata__",
        "optimizer.agent.tensors.optim.0.exp_avg",
    }
    ck = load_checkpoint(path)
    back = state_from_checkpoint(ck.state, ck.tensors, ck.arrays)
    assert torch.equal(back["agent"]["tensors"]["optim.0.exp_avg"], torch.ones(2, 3))
