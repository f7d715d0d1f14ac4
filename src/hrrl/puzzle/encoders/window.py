"""The window picture both action-relative encoders share: cost-to-go over a bounded window.

Offsets are counted from the current number ``x``; the window holds offsets ``1..W`` and the edge
cells ``W+1 .. W+A`` (``A`` the largest action) stand for "somewhere further on"::

    edge cell (offset > W):  cost 0 when the target lies beyond the window, else dead
    offset o <= W:           dead if x+o is forbidden or past the target
                             cost 0 if x+o is the target
                             cost(o) = 1 + min_a cost(o + a)   (dead when every term is)

One backward pass, ``O(W * len(actions))``. It never looks past the window, so it is what a
person sees at a glance, not a search to the target.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

#: Cost of a dead cell (no way on to the target or the window edge).
DEAD: Final = 1 << 30


def window_costs(
    actions: Sequence[int],
    forbidden_offsets: Sequence[int],
    target_offset: int,
    window: int,
    *,
    graded: bool = False,
) -> list[float]:
    """``cost[o]`` for offsets ``0..W+A`` (entry 0 unused); ``DEAD`` where no way on exists.

    ``target_offset`` is ``target - x`` clipped to ``[0, W + 1]`` (0: at or past the target,
    ``W + 1``: beyond the window); ``forbidden_offsets`` lie in ``1..W``.

    ``graded``: edge cell ``W + j`` costs ``(A - j) / A`` instead of 0, the share of a full stride
    it falls short of ``W + A``. Two landings that cross the edge in as many steps then differ by
    how far past it they get, so "as many steps" no longer ties a short stride with a long one.
    """
    amax, t = max(actions), target_offset
    size = window + amax + 1
    forbidden = [False] * size
    for o in forbidden_offsets:
        forbidden[o] = True
    cost: list[float] = [DEAD] * size
    if t > window:
        # Edge cells: "further on", assumed passable.
        cost[window + 1 :] = [(amax - j) / amax if graded else 0 for j in range(1, amax + 1)]
    # Cells past the target stay dead, so the backward pass starts at min(t, W).
    for o in range(min(t, window), 0, -1):
        if forbidden[o]:
            continue
        if o == t:
            cost[o] = 0
            continue
        best: float = DEAD
        for a in actions:  # a plain loop: cheaper than min() over a generator
            c = cost[o + a]
            if c < best:
                best = c
        if best < DEAD:
            cost[o] = best + 1
    return cost
