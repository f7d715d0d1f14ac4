"""A sum tree (with a parallel max tree) over a fixed number of non-negative priorities.

Prioritized replay draws index ``i`` with probability ``p_i / sum_j p_j``. The tree answers the two
questions that needs in O(log n): the total ``sum_j p_j`` (the root) and, for a value ``v`` in
``[0, total)``, the leaf whose prefix-sum interval contains ``v``. A parallel max tree gives the
largest stored priority, at which new transitions enter.

Layout: the capacity is rounded up to a power of two ``P``; the nodes live in one flat array of
``2P`` float64 (slot 0 unused), node ``k`` has children ``2k`` and ``2k + 1``, leaf ``i`` is node
``P + i``. Four leaves with priorities 1, 3, 4, 5::

                 [1] 13                 level 0: the root holds the total
               /        \\
          [2] 4          [3] 9          level 1
          /   \\          /   \\
      [4] 1  [5] 3   [6] 4  [7] 5       leaves: node P + i, i = 0..3

    prefix-sum intervals:  leaf 0: [0, 1)  leaf 1: [1, 4)  leaf 2: [4, 8)  leaf 3: [8, 13)

Both operations run on whole batches: an update writes all leaves at once and then recomputes
the parents one level at a time; a query descends all values one level at a time. The only Python
loop is over the ``log2 P`` levels, never over the items.

Parents are always recomputed from their children (never adjusted by a delta), so rounding
errors do not accumulate however long the tree lives.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hrrl.errors import ConfigError, field_error

#: Largest capacity accepted (two float64 arrays of 2 * 2^27 entries = 4 GiB).
MAX_CAPACITY = 2**27


class SumTree:
    """Sum and max over ``capacity`` leaves, all starting at priority 0.

    ``update(indices, priorities)`` sets leaves, ``find_prefix_sum(values)`` maps values in
    ``[0, total)`` to leaf indices, ``total``/``max`` read the roots, ``get(indices)`` reads
    leaves. A leaf with priority 0 is never returned by a query.
    """

    def __init__(self, capacity: int) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int):
            raise field_error(ConfigError, "capacity", capacity, "it must be an integer")
        if not 1 <= capacity <= MAX_CAPACITY:
            raise field_error(
                ConfigError, "capacity", capacity, f"it must be in [1, {MAX_CAPACITY}]"
            )
        self.capacity = capacity
        self.depth = max(0, (capacity - 1).bit_length())
        self.n_leaves = 1 << self.depth
        self._sum = np.zeros(2 * self.n_leaves, dtype=np.float64)
        self._max = np.zeros(2 * self.n_leaves, dtype=np.float64)

    # --- reading ------------------------------------------------------------------------------
    @property
    def total(self) -> float:
        """Sum of all priorities."""
        return float(self._sum[1])

    @property
    def max(self) -> float:
        """Largest priority stored (0 when all are 0)."""
        return float(self._max[1])

    def get(self, indices: np.ndarray) -> np.ndarray:
        """Priorities of the leaves ``indices`` (float64 copy)."""
        idx = self._check_indices(indices)
        return self._sum[self.n_leaves + idx]

    # --- writing ------------------------------------------------------------------------------
    def update(self, indices: np.ndarray, priorities: np.ndarray) -> None:
        """Set ``priority[indices[j]] = priorities[j]`` for all ``j``; the last write wins.

        Duplicate indices are resolved before writing (NumPy does not promise an order for
        repeated fancy-index assignment), then parents are recomputed level by level. A parent
        set may contain duplicates: each writes the same value, so that is harmless.
        """
        idx = self._check_indices(indices)
        pri = np.asarray(priorities, dtype=np.float64).reshape(-1)
        if pri.shape != idx.shape:
            raise ValueError(
                f"priorities has {pri.size} entries but indices has {idx.size}: pass one each"
            )
        if not np.all(np.isfinite(pri)) or np.any(pri < 0):
            raise ValueError("priorities must be finite and >= 0")
        if idx.size == 0:
            return
        if idx.size > 1 and np.unique(idx).size != idx.size:
            # Keep the last occurrence of each index: first occurrence in the reversed arrays.
            _, first_in_reversed = np.unique(idx[::-1], return_index=True)
            keep = idx.size - 1 - first_in_reversed
            idx, pri = idx[keep], pri[keep]
        nodes = idx + self.n_leaves
        self._sum[nodes] = pri
        self._max[nodes] = pri
        for _ in range(self.depth):
            nodes = nodes >> 1
            left = nodes << 1
            self._sum[nodes] = self._sum[left] + self._sum[left + 1]
            self._max[nodes] = np.maximum(self._max[left], self._max[left + 1])

    def find_prefix_sum(self, values: np.ndarray) -> np.ndarray:
        """Leaf index for each value: the smallest ``i`` with ``v < p_0 + ... + p_i``.

        Values must lie in ``[0, total]``; a value equal to ``total`` (or a hair above it from
        rounding) is treated as the largest float below ``total``. The descent keeps the
        invariant ``v < sum(node)``: going right it takes ``v - left`` but never more than the
        largest float below the right child's sum, so rounding cannot walk it into an empty
        subtree and a zero-priority leaf is never returned.
        """
        total = self._sum[1]
        if total <= 0.0:
            raise ValueError("cannot sample from a sum tree whose priorities are all 0")
        v = np.asarray(values, dtype=np.float64).reshape(-1)
        if not np.all(np.isfinite(v)) or np.any(v < 0):
            raise ValueError("prefix-sum values must be finite and >= 0")
        v = np.minimum(v, np.nextafter(total, 0.0))
        nodes = np.ones(v.shape, dtype=np.int64)
        for _ in range(self.depth):
            left = nodes << 1
            left_sum = self._sum[left]
            go_right = v >= left_sum
            right_sum = self._sum[left + 1]
            v = np.where(go_right, np.minimum(v - left_sum, np.nextafter(right_sum, 0.0)), v)
            nodes = left + go_right
        return nodes - self.n_leaves

    # --- state --------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Capacity and the leaf priorities (the inner nodes are rebuilt on load)."""
        return {"capacity": self.capacity, "leaves": self._sum[self.n_leaves :].copy()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if int(state["capacity"]) != self.capacity:
            raise ValueError(
                f"sum tree capacity {state['capacity']} in the state does not match "
                f"this tree's {self.capacity}: build the tree with the saved capacity"
            )
        leaves = np.asarray(state["leaves"], dtype=np.float64)
        if leaves.shape != (self.n_leaves,):
            raise ValueError(f"leaves has shape {leaves.shape}, expected ({self.n_leaves},)")
        if not np.all(np.isfinite(leaves)) or np.any(leaves < 0):
            raise ValueError("saved priorities must be finite and >= 0")
        self._sum[self.n_leaves :] = leaves
        self._max[self.n_leaves :] = leaves
        self._rebuild()

    def _rebuild(self) -> None:
        """Recompute every inner node from the leaves, one whole level per step."""
        lo = self.n_leaves
        while lo > 1:
            hi, lo = lo, lo >> 1
            self._sum[lo:hi] = self._sum[2 * lo : 2 * hi : 2] + self._sum[2 * lo + 1 : 2 * hi : 2]
            self._max[lo:hi] = np.maximum(
                self._max[2 * lo : 2 * hi : 2], self._max[2 * lo + 1 : 2 * hi : 2]
            )

    def _check_indices(self, indices: np.ndarray) -> np.ndarray:
        idx = np.asarray(indices).reshape(-1)
        if idx.size and not np.issubdtype(idx.dtype, np.integer):
            raise ValueError(f"indices must be integers, got dtype {idx.dtype}")
        idx = idx.astype(np.int64, copy=False)
        if idx.size and (idx.min() < 0 or idx.max() >= self.capacity):
            raise IndexError(
                f"indices must lie in [0, {self.capacity}), got {idx.min()}..{idx.max()}"
            )
        return idx
