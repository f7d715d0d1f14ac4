"""A sum tree (with a parallel max tree) over a fixed number of non-negative priorities.

Prioritized replay draws index ``i`` with probability ``p_i / sum_j p_j``. The tree answers the two
questions that needs in O(log n): the total ``sum_j p_j`` (the root) and, for a value ``v`` in
``[0, total)``, the leaf whose prefix-sum interval contains ``v``. A parallel max tree gives the
largest stored priority, at which new transitions enter.

Layout: the capacity is rounded up to a power of two ``P``; node ``k`` has children ``2k`` and
``2k + 1``, leaf ``i`` is node ``P + i`` (slot 0 unused). Each node's sum and max sit side by side
in one ``(2P, 2)`` float64 array (``_sum`` and ``_max`` are its two column views). Four leaves
with priorities 1, 3, 4, 5::

                 [1] 13                 level 0: the root holds the total
               /        \\
          [2] 4          [3] 9          level 1
          /   \\          /   \\
      [4] 1  [5] 3   [6] 4  [7] 5       leaves: node P + i, i = 0..3

    prefix-sum intervals:  leaf 0: [0, 1)  leaf 1: [1, 4)  leaf 2: [4, 8)  leaf 3: [8, 13)

Both operations run on whole batches; the only Python loop is over the ``log2 P`` levels, never
over the items, and each level costs a handful of NumPy calls (the per-call overhead, not the
arithmetic, is what a batch of 256 pays for):

* node ``k``'s two children are rows ``2k, 2k + 1``, adjacent: a ``(P, 2, 2)`` view of the
  array (``_children[k]`` = both children's sum and max) fetches all four numbers with one gather;
* an update recomputes the lower levels at the touched parents only, and a whole upper level at
  once (strided slices, no gather) once the level is small (:data:`FULL_LEVEL_NODES`); a
  contiguous run of leaves (what a ring buffer writes) takes the slice path at every level
  (:meth:`SumTree.update_range`), and new transitions may defer that pass to the next read, so
  the adds between two samples share one pass;
* a query descends with in-place operations and no clamping; the rare value that rounding walks
  into a zero-priority leaf is redone with the clamped descent (see :meth:`SumTree.query`).

Parents are always recomputed from their children (never adjusted by a delta), so rounding
errors do not accumulate however long the tree lives.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hrrl.errors import ConfigError, field_error

#: Largest capacity accepted (two float64 arrays of 2 * 2^27 entries = 4 GiB).
MAX_CAPACITY = 2**27
#: An update rebuilds a whole level (strided slices) rather than gathering its touched nodes
#: once the level has at most ``max(FULL_LEVEL_FACTOR * batch, FULL_LEVEL_NODES)`` nodes: a
#: strided add over a few thousand contiguous nodes costs less than gathering a few hundred.
FULL_LEVEL_NODES = 4096
FULL_LEVEL_FACTOR = 16


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
        # Node k's sum and max side by side; `_sum` and `_max` are (strided) views of it.
        self._nodes = np.zeros((2 * self.n_leaves, 2), dtype=np.float64)
        self._sum = self._nodes[:, 0]
        self._max = self._nodes[:, 1]
        # `_children[k]` = rows 2k and 2k + 1 = both children's (sum, max): one gather.
        self._children = self._nodes.reshape(self.n_leaves, 2, 2)
        # A deferred run of leaves [start, stop) whose ancestors are not yet recomputed.
        self._pending: tuple[int, int] | None = None
        self._pending_max = 0.0

    # --- reading ------------------------------------------------------------------------------
    @property
    def total(self) -> float:
        """Sum of all priorities."""
        self._flush()
        return float(self._sum[1])

    @property
    def max(self) -> float:
        """Largest priority stored (0 when all are 0)."""
        if self._pending is not None:
            return self._pending_max  # >= every leaf, and written to at least one
        return float(self._max[1])

    def get(self, indices: np.ndarray) -> np.ndarray:
        """Priorities of the leaves ``indices`` (float64 copy)."""
        idx = self._check_indices(indices)
        return self._sum[self.n_leaves + idx]

    # --- writing ------------------------------------------------------------------------------
    def update(self, indices: np.ndarray, priorities: np.ndarray) -> None:
        """Set ``priority[indices[j]] = priorities[j]`` for all ``j``; the last write wins.

        NumPy does not promise an order for repeated fancy-index assignment, so the written
        leaves are read back: if any differs from what was asked (a repeated index with different
        values), the duplicates are resolved explicitly and written again. Parents are then
        recomputed level by level; a parent set may contain duplicates, each writing the same
        value, which is harmless.
        """
        idx = self._check_indices(indices)
        pri = np.asarray(priorities, dtype=np.float64).reshape(-1)
        if pri.shape != idx.shape:
            raise ValueError(
                f"priorities has {pri.size} entries but indices has {idx.size}: pass one each"
            )
        if idx.size == 0:
            return
        _check_priorities(pri)
        self._flush()
        nodes = idx + self.n_leaves
        self._sum[nodes] = pri
        if idx.size > 1 and np.any(self._sum[nodes] != pri):
            # Keep the last occurrence of each index: first occurrence in the reversed arrays.
            _, first_in_reversed = np.unique(idx[::-1], return_index=True)
            keep = idx.size - 1 - first_in_reversed
            nodes, pri = nodes[keep], pri[keep]
            self._sum[nodes] = pri
        self._max[nodes] = pri
        self._propagate(nodes)

    def update_range(
        self, start: int, priorities: np.ndarray | float, count: int = 1, *, defer: bool = False
    ) -> None:
        """Set the leaves ``start, start + 1, ...`` (no wrap-around) to ``priorities``.

        ``priorities`` is an array (one per leaf) or a scalar written to ``count`` leaves. The
        same result as :meth:`update` with ``np.arange(start, start + n)``, cheaper: every level
        is a contiguous run of parents, recomputed with strided slices instead of gathers.

        ``defer=True`` takes a scalar at least :attr:`max` (what a prioritized buffer writes for
        new transitions): the leaves are written now, their ancestors only when something reads
        the tree (``total``, a query, an update). Consecutive deferred runs coalesce, so filling
        a buffer before the first sample costs one pass over the tree, not one per ``add``.
        ``max`` stays exact meanwhile: no leaf exceeds the value written.
        """
        pri = np.asarray(priorities, dtype=np.float64).reshape(-1)
        n = count if pri.size == 1 else pri.size
        if start < 0 or start + n > self.capacity:
            raise IndexError(f"leaves {start}..{start + n - 1} are not all in [0, {self.capacity})")
        if n == 0:
            return
        _check_priorities(pri)
        if defer and (pri.size != 1 or pri[0] < self.max):
            raise ValueError("update_range(defer=True) needs one priority >= the current max")
        pending = self._pending
        if pending is not None and not (defer and start == pending[1]):
            self._flush()
            pending = None
        lo = self.n_leaves + start
        hi = lo + n
        self._sum[lo:hi] = pri
        self._max[lo:hi] = pri
        if not defer:
            self._propagate_range(lo, hi)
        elif pending is None:
            self._pending = (start, start + n)
            self._pending_max = float(pri[0])
        else:
            self._pending = (pending[0], start + n)
            self._pending_max = max(self._pending_max, float(pri[0]))

    def _flush(self) -> None:
        """Recompute the ancestors of the deferred run of leaves, if any."""
        if self._pending is not None:
            start, stop = self._pending
            self._pending = None
            self._propagate_range(self.n_leaves + start, self.n_leaves + stop)

    def _propagate_range(self, lo: int, hi: int) -> None:
        """Recompute the ancestors of the (already written) nodes ``[lo, hi)`` of one level.

        Each level's parents are again a contiguous run: strided slices while it is wide, plain
        scalar arithmetic once it is one or two nodes (cheaper than a NumPy call per level).
        """
        s, m = self._sum, self._max
        while lo > 1:
            lo, hi = lo >> 1, ((hi - 1) >> 1) + 1  # parents of [lo, hi)
            if hi - lo > 2:
                np.add(s[2 * lo : 2 * hi : 2], s[2 * lo + 1 : 2 * hi : 2], out=s[lo:hi])
                np.maximum(m[2 * lo : 2 * hi : 2], m[2 * lo + 1 : 2 * hi : 2], out=m[lo:hi])
            else:
                for k in range(lo, hi):
                    s[k] = s[2 * k] + s[2 * k + 1]
                    m[k] = max(m[2 * k], m[2 * k + 1])

    def _propagate(self, nodes: np.ndarray) -> None:
        """Recompute every ancestor of the (already written) leaf ``nodes``, bottom-up."""
        s, m, t, kids = self._sum, self._max, self._nodes, self._children
        full_below = max(FULL_LEVEL_FACTOR * nodes.size, FULL_LEVEL_NODES)
        level = self.depth - 1  # level l holds nodes [2^l, 2^(l+1))
        parents = nodes
        while level >= 0 and (1 << level) > full_below:
            parents = parents >> 1
            pair = kids[parents]  # (n, child, sum|max)
            t[parents, 0] = pair[:, 0, 0] + pair[:, 1, 0]
            t[parents, 1] = np.maximum(pair[:, 0, 1], pair[:, 1, 1])
            level -= 1
        while level >= 0:  # small levels: rebuild the whole level from the one below
            lo, hi = 1 << level, 2 << level
            np.add(s[2 * lo : 2 * hi : 2], s[2 * lo + 1 : 2 * hi : 2], out=s[lo:hi])
            np.maximum(m[2 * lo : 2 * hi : 2], m[2 * lo + 1 : 2 * hi : 2], out=m[lo:hi])
            level -= 1

    # --- querying -----------------------------------------------------------------------------
    def find_prefix_sum(self, values: np.ndarray) -> np.ndarray:
        """Leaf index for each value: the smallest ``i`` with ``v < p_0 + ... + p_i``.

        Values must lie in ``[0, total]``; a value equal to ``total`` (or a hair above it from
        rounding) is treated as the largest float below ``total``. A zero-priority leaf is never
        returned.
        """
        return self.query(values)[0]

    def query(self, values: np.ndarray, *, check: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """``(leaves, priorities)`` for each value: :meth:`find_prefix_sum` and the leaves'
        priorities, read on the way down. ``check=False`` skips the input checks, for callers
        whose values lie in ``[0, total)`` by construction (a sampler).

        The fast descent keeps ``v`` relative to the current node: going right it subtracts the
        left child's sum, in place. Rounding can leave ``v`` a hair above the right child's sum,
        and then the descent keeps going right; if that ends on a zero-priority leaf, the value
        is redone with the clamped descent (:meth:`_query_clamped`), which never leaves the
        interval ``[0, sum(node))`` and so never reaches an empty leaf.
        """
        total = self.total
        if total <= 0.0:
            raise ValueError("cannot sample from a sum tree whose priorities are all 0")
        v = np.asarray(values, dtype=np.float64).reshape(-1)
        if check and v.size and not (v.min() >= 0.0 and v.max() < np.inf):
            raise ValueError("prefix-sum values must be finite and >= 0")
        v = np.minimum(v, np.nextafter(total, 0.0))  # a fresh array: modified in place below
        nodes = np.ones(v.shape, dtype=np.int64)
        kids = self._children
        for _ in range(self.depth):
            left = kids[nodes, 0, 0]
            go_right = v >= left
            np.subtract(v, left, out=v, where=go_right)
            nodes <<= 1
            nodes += go_right
        priorities = self._sum[nodes]
        empty = priorities <= 0.0
        if empty.any():
            redo = np.flatnonzero(empty)
            nodes[redo] = self._query_clamped(np.asarray(values, np.float64).reshape(-1)[redo])
            priorities[redo] = self._sum[nodes[redo]]
        return nodes - self.n_leaves, priorities

    def _query_clamped(self, values: np.ndarray) -> np.ndarray:
        """The careful descent: node indices, keeping the invariant ``v < sum(node)``.

        Going right takes ``v - left`` but never more than the largest float below the right
        child's sum, so rounding cannot walk it into an empty subtree.
        """
        v = np.minimum(values, np.nextafter(self._sum[1], 0.0))
        nodes = np.ones(v.shape, dtype=np.int64)
        for _ in range(self.depth):
            left = nodes << 1
            left_sum = self._sum[left]
            go_right = v >= left_sum
            right_sum = self._sum[left + 1]
            v = np.where(go_right, np.minimum(v - left_sum, np.nextafter(right_sum, 0.0)), v)
            nodes = left + go_right
        return nodes

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
        self._pending = None
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


def _check_priorities(pri: np.ndarray) -> None:
    """Refuse NaN, infinite and negative priorities (``min`` is NaN when any entry is)."""
    if not (pri.min() >= 0.0 and pri.max() < np.inf):
        raise ValueError("priorities must be finite and >= 0")
