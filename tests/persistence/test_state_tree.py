"""Splitting a nested state into JSON, tensors and arrays, and joining it back."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import torch

from hrrl.persistence import state_tree
from hrrl.persistence.state_tree import ARRAY_REF, TENSOR_REF


def _state() -> dict[str, Any]:
    return {
        "agent": {
            "tensors": {
                "online.0.weight": torch.arange(6.0).reshape(2, 3),
                "step": torch.tensor(4),
            },
            "meta": {"lr": 5e-4, "betas": (0.9, 0.999), "rng": {"state": 2**100, "inc": 7}},
        },
        "replay": {"obs": np.arange(12, dtype=np.float32).reshape(4, 3), "size": np.int64(4)},
        "envs": [{"obs": np.array([1, 2])}, None, {"current": 3}],
        "flag": True,
        "name": "x",
        "ratio": np.float32(0.5),
    }


def test_split_replaces_leaves_by_dotted_path() -> None:
    tree, tensors, arrays = state_tree.split(_state())
    assert set(tensors) == {"agent.tensors.online.0.weight", "agent.tensors.step"}
    assert set(arrays) == {"replay.obs", "envs.0.obs"}
    assert tree["agent"]["tensors"]["online.0.weight"] == {
        TENSOR_REF: "agent.tensors.online.0.weight"
    }
    assert tree["replay"]["obs"] == {ARRAY_REF: "replay.obs"}
    assert tree["envs"][0]["obs"] == {ARRAY_REF: "envs.0.obs"}
    # NumPy scalars become Python numbers, tuples lists: the tree is plain JSON.
    assert tree["replay"]["size"] == 4 and type(tree["replay"]["size"]) is int
    assert type(tree["ratio"]) is float
    assert tree["agent"]["meta"]["betas"] == [0.9, 0.999]
    assert json.loads(json.dumps(tree)) == tree


def test_join_inverts_split() -> None:
    state = _state()
    tree, tensors, arrays = state_tree.split(state)
    back = state_tree.join(json.loads(json.dumps(tree)), tensors, arrays)
    assert torch.equal(
        back["agent"]["tensors"]["online.0.weight"], state["agent"]["tensors"]["online.0.weight"]
    )
    assert torch.equal(back["agent"]["tensors"]["step"], torch.tensor(4))
    assert np.array_equal(back["replay"]["obs"], state["replay"]["obs"])
    assert back["replay"]["obs"].dtype == np.float32
    assert np.array_equal(back["envs"][0]["obs"], [1, 2])
    assert back["envs"][1:] == [None, {"current": 3}]
    assert back["agent"]["meta"] == {
        "lr": 5e-4,
        "betas": [0.9, 0.999],
        "rng": {"state": 2**100, "inc": 7},
    }
    assert (back["flag"], back["name"], back["ratio"]) == (True, "x", 0.5)


def test_split_makes_tensors_contiguous_cpu_without_grad() -> None:
    weight = torch.arange(6.0, requires_grad=True).reshape(2, 3)
    view = weight.t()
    assert not view.is_contiguous()
    _, tensors, _ = state_tree.split({"w": view, "a": np.arange(6).reshape(2, 3).T})
    assert tensors["w"].is_contiguous() and not tensors["w"].requires_grad
    assert torch.equal(tensors["w"], view.detach())
    _, _, arrays = state_tree.split({"a": np.arange(6).reshape(2, 3).T})
    assert arrays["a"].flags.c_contiguous


def test_colliding_paths_are_refused() -> None:
    # {"a.b": x} and {"a": {"b": y}} both map to "a.b": one must not silently replace the other.
    with pytest.raises(ValueError, match=r"'a\.b' names two leaves"):
        state_tree.split({"a.b": torch.zeros(1), "a": {"b": torch.ones(1)}})
    with pytest.raises(ValueError, match="names two leaves"):
        state_tree.split({"a.b": np.zeros(1), "a": {"b": np.ones(1)}})


def test_plain_tree_passes_through() -> None:
    plain = {"a": [1, 2.5, None, "s", {"b": False}]}
    tree, tensors, arrays = state_tree.split(plain)
    assert tree == plain and tensors == {} and arrays == {}
    assert state_tree.join(tree, {}, {}) == plain
