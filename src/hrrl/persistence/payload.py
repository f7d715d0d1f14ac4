"""A trainer's ``state_dict()`` as a checkpoint's three parts, and back.

:func:`hrrl.persistence.state_tree.split` turns the nested state into JSON, tensors and arrays;
this module files the tensors the way :mod:`hrrl.persistence.layout` stores them::

    state_dict()                       CheckpointPayload
      agent.tensors.online.*   ──┐       tensors  "agent.tensors.online.*"  -> model.safetensors
      agent.tensors.optim.*    ──┼─>              "optimizer.agent.tensors.optim.*"
      replay.*, RNG arrays     ──┼─>     arrays   (as split named them)     -> replay.npz
      everything else          ──┘       state    JSON tree + "tensor_keys" -> state.json

``state["tensor_keys"]`` maps each stored tensor key to its key in the state tree, so
:func:`state_from_checkpoint` needs no rule to undo the renaming.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from hrrl.persistence import state_tree
from hrrl.persistence.layout import OPTIMIZER_PREFIX

#: State-tree path fragment of the optimizer's tensors (``DQNAgent.tensor_state``'s ``optim.*``).
_OPTIMIZER_PATH = ".tensors.optim."
TENSOR_KEYS = "tensor_keys"


@dataclass(frozen=True)
class CheckpointPayload:
    """What a checkpoint holds in memory: tensors, arrays and JSON state (see module doc)."""

    tensors: dict[str, torch.Tensor]
    arrays: dict[str, np.ndarray]
    state: dict[str, Any]


def payload_from_state(state: dict[str, Any]) -> CheckpointPayload:
    """The checkpoint of a ``state_dict()``: optimizer tensors apart, arrays to npz, rest JSON."""
    tree, tensors, arrays = state_tree.split(state)
    renamed = {(OPTIMIZER_PREFIX + k if _OPTIMIZER_PATH in k else k): v for k, v in tensors.items()}
    tree[TENSOR_KEYS] = {new: old for new, old in zip(renamed, tensors, strict=True)}
    return CheckpointPayload(tensors=renamed, arrays=arrays, state=tree)


def state_from_checkpoint(
    state: dict[str, Any], tensors: dict[str, torch.Tensor], arrays: dict[str, np.ndarray]
) -> dict[str, Any]:
    """Inverse of :func:`payload_from_state`: the ``state_dict()`` a checkpoint was made from."""
    tree = dict(state)
    keys = tree.pop(TENSOR_KEYS)
    original = {keys[k]: v for k, v in tensors.items()}
    out: dict[str, Any] = state_tree.join(tree, original, arrays)
    return out
