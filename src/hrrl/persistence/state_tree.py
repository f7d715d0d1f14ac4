"""Split a nested state (dicts, lists, scalars, NumPy arrays, tensors) into JSON and blobs.

A checkpoint stores tensors in safetensors, arrays in ``.npz`` and everything else in JSON
(design §4). :func:`split` walks a ``state_dict()`` tree and replaces each array or tensor by a
reference ``{"__array__": key}`` / ``{"__tensor__": key}``; :func:`join` puts them back. Keys are
the dotted paths of the leaves, so a checkpoint file can be read by a person.

NumPy scalars become Python numbers; tuples become lists (JSON has no tuples).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

ARRAY_REF = "__array__"
TENSOR_REF = "__tensor__"


def split(tree: Any) -> tuple[Any, dict[str, torch.Tensor], dict[str, np.ndarray]]:
    """``(json_tree, tensors, arrays)`` for a nested state."""
    tensors: dict[str, torch.Tensor] = {}
    arrays: dict[str, np.ndarray] = {}

    def walk(node: Any, path: str) -> Any:
        if isinstance(node, (torch.Tensor, np.ndarray)) and (path in tensors or path in arrays):
            # {"a.b": x} next to {"a": {"b": y}}: one would silently replace the other.
            raise ValueError(f"state key {path!r} names two leaves: rename one of them")
        if isinstance(node, torch.Tensor):
            tensors[path] = node.detach().cpu().contiguous()
            return {TENSOR_REF: path}
        if isinstance(node, np.ndarray):
            arrays[path] = np.ascontiguousarray(node)
            return {ARRAY_REF: path}
        if isinstance(node, np.generic):
            return node.item()
        if isinstance(node, dict):
            return {str(k): walk(v, f"{path}.{k}" if path else str(k)) for k, v in node.items()}
        if isinstance(node, (list, tuple)):
            return [walk(v, f"{path}.{i}" if path else str(i)) for i, v in enumerate(node)]
        return node

    return walk(tree, ""), tensors, arrays


def join(tree: Any, tensors: dict[str, torch.Tensor], arrays: dict[str, np.ndarray]) -> Any:
    """Inverse of :func:`split` (up to tuples, which come back as lists)."""
    if isinstance(tree, dict):
        if set(tree) == {TENSOR_REF}:
            return tensors[tree[TENSOR_REF]]
        if set(tree) == {ARRAY_REF}:
            return arrays[tree[ARRAY_REF]]
        return {k: join(v, tensors, arrays) for k, v in tree.items()}
    if isinstance(tree, list):
        return [join(v, tensors, arrays) for v in tree]
    return tree
