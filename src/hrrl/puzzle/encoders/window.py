"""The window picture both action-relative encoders share: cost-to-go over a bounded window.

Offsets are counted from the current number ``x``; the window holds offsets ``1..W`` and the edge
cells ``W+1 .. W+A`` (``A`` the largest action) stand for "somewhere further on"::

    edge cell (offset > W):  cost 0 when the target lies beyond the window, else dead
    offset o <= W:           dead if x+o is forbidden or past the target
                             cost 0 if x+o is the target
                             cost(o) = 1 + min_a cost(o + a)   (dead when every term is)

It never looks past the window, so it is what a person sees at a glance, not a search to the
target. The recurrence runs on exact integers, ``value = A * cost`` (a graded edge cell ``W + j``
is worth ``A - j``, see :func:`window_values`), written once in :func:`_relax`;
:func:`cost_of` turns a value back into the float cost the encoders have always seen, and
:class:`SlidingWindow` gets the values of the landings ``1..A`` alone from a memo of runs of free
cells (the same recurrence, a few dictionary look-ups instead of ``W * len(actions)`` steps).
"""

from __future__ import annotations

import functools
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from typing import Final

#: Cost (and value) of a dead cell (no way on to the target or the window edge).
DEAD: Final = 1 << 30
#: Distinct ``(actions, frontier, run)`` moves :func:`_run` remembers.
RUN_CACHE_SIZE: Final = 1 << 16
#: Chains between forbidden numbers a :class:`SlidingWindow` remembers before it starts afresh.
CHAIN_CACHE_SIZE: Final = 1 << 14


def _relax(
    values: list[int], top: int, actions: Sequence[int], unit: int, blocked: Sequence[bool]
) -> None:
    """``values[o] = unit + min_a values[o + a]`` for ``o = top .. 0`` (down), in place.

    A ``blocked`` cell, or one with every term dead, keeps the ``DEAD`` it starts with."""
    for o in range(top, -1, -1):
        if blocked[o]:
            continue
        best = DEAD
        for a in actions:  # a plain loop: cheaper than min() over a generator
            c = values[o + a]
            if c < best:
                best = c
        if best < DEAD:
            values[o] = best + unit


def _edge(amax: int, graded: bool) -> list[int]:
    """Values of the edge cells ``W + 1 .. W + A`` when the target lies beyond the window."""
    return [amax - j if graded else 0 for j in range(1, amax + 1)]


def window_values(
    actions: Sequence[int],
    forbidden_offsets: Sequence[int],
    target_offset: int,
    window: int,
    *,
    graded: bool = False,
    dead_edge: Sequence[int] = (),
) -> list[int]:
    """``A * cost[o]`` for offsets ``0..W+A`` (entry 0 unused), ``DEAD`` where no way on exists.

    ``target_offset`` is ``target - x`` clipped to ``[0, W + 1]`` (0: at or past the target,
    ``W + 1``: beyond the window); ``forbidden_offsets`` lie in ``1..W``.

    ``graded``: edge cell ``W + j`` costs ``(A - j) / A`` (value ``A - j``) instead of 0, the
    share of a full stride it falls short of ``W + A``. Two landings that cross the edge in as
    many steps then differ by how far past it they get, so "as many steps" no longer ties a
    short stride with a long one. ``dead_edge``: offsets ``j`` (``1..A``) of edge cells
    ``W + j`` known dead beyond the window (the levels above the horizon,
    :mod:`hrrl.puzzle.levels`). One backward pass, ``O(W * len(actions))``.
    """
    amax, t = max(actions), target_offset
    size = window + amax + 1
    blocked = [False] * size
    for o in forbidden_offsets:
        blocked[o] = True
    values = [DEAD] * size
    if t > window:
        values[window + 1 :] = _edge(amax, graded)  # "further on", assumed passable
        for j in dead_edge:
            values[window + j] = DEAD
        top = window
    elif t >= 1:
        values[t] = 0  # cells past the target stay dead
        top = t - 1
    else:
        return values
    blocked[0] = True  # offset 0 is x itself, not a landing
    _relax(values, top, actions, amax, blocked)
    return values


@functools.lru_cache(maxsize=1 << 14)
def cost_of(amax: int, value: int) -> float:
    """The float cost of ``value`` exactly as the float recurrence computed it: the edge's
    ``r / A``, then ``+ 1`` per step (``r / A + k`` rounds differently for some ``A``, ``k``)."""
    if value >= DEAD:
        return DEAD
    steps, rest = divmod(value, amax)
    cost = rest / amax
    for _ in range(steps):
        cost += 1
    return cost


def window_costs(
    actions: Sequence[int],
    forbidden_offsets: Sequence[int],
    target_offset: int,
    window: int,
    *,
    graded: bool = False,
    dead_edge: Sequence[int] = (),
) -> list[float]:
    """``cost[o]`` for offsets ``0..W+A`` (entry 0 unused), as :func:`window_values` in steps."""
    amax = max(actions)
    values = window_values(
        actions, forbidden_offsets, target_offset, window, graded=graded, dead_edge=dead_edge
    )
    return [cost_of(amax, v) for v in values]


class SlidingWindow:
    """``window_values(...)[a]`` for each action ``a`` as one puzzle's window slides along its
    numbers, without filling the window.

    The backward pass only ever needs the last ``A`` values (the *frontier*); between two
    forbidden numbers it runs over free cells, and what a run of ``L`` free cells makes of a
    frontier depends on the frontier's shape (its values less their minimum), not on where the
    run lies (:func:`_run`, cached). The runs between the forbidden numbers in view do not
    depend on ``x`` either: only the first (from the window's top) and the last (down to ``x``)
    do, so the chain in between is remembered by which forbidden numbers it spans and the shape
    it starts from::

        top (edge W+1, or the target) ─run─> f_k ═chain═> f_1 ─run─> frontier at x+1 = v(1..A)
    """

    def __init__(
        self,
        actions: tuple[int, ...],
        forbidden: Sequence[int],
        window: int,
        *,
        graded: bool = False,
        capacity: int = CHAIN_CACHE_SIZE,
    ) -> None:
        """``forbidden``: the puzzle's forbidden numbers in ascending order."""
        self.actions, self.window, self.graded = actions, window, graded
        self._ordered = forbidden
        self._amax = max(actions)
        self._capacity = capacity
        self._chains: dict[tuple[int, int, tuple[int, ...]], tuple[int, tuple[int, ...]]] = {}

    def values(self, x: int, target_offset: int) -> tuple[int, ...]:
        """The value (``A * cost``) of each landing ``x + a`` with the window ``(x, x + W]`` and
        ``target_offset`` clipped to ``[0, W + 1]`` (0: at or past the target, ``W + 1``:
        beyond the window). Forbidden numbers at or past the target offset do not matter."""
        actions, t = self.actions, target_offset
        if t > self.window:
            (base, shape), top = _edge_shape(self._amax, self.graded), x + self.window + 1
        elif t >= 1:
            base, shape, top = 0, (0, *(DEAD,) * (self._amax - 1)), x + t
        else:
            return (DEAD,) * len(actions)
        ordered = self._ordered
        lo = bisect_right(ordered, x)
        hi = bisect_left(ordered, top, lo)
        low = top
        if hi > lo:
            shift, shape = _run(actions, shape, top - 1 - ordered[hi - 1], True)
            base += shift
            if hi - 1 > lo:
                shift, shape = self._chain(lo, hi, shape)
                base += shift
            low = ordered[lo]
        shift, shape = _run(actions, shape, low - 1 - x, False)
        base += shift
        return tuple([DEAD if shape[a - 1] >= DEAD else shape[a - 1] + base for a in actions])

    def _chain(self, lo: int, hi: int, shape: tuple[int, ...]) -> tuple[int, tuple[int, ...]]:
        """``(shift, shape)`` from just below forbidden ``ordered[hi - 1]`` down through
        ``ordered[lo]`` (cached)."""
        key = (lo, hi, shape)
        found = self._chains.get(key)
        if found is not None:
            return found
        ordered, base = self._ordered, 0
        for k in range(hi - 2, lo - 1, -1):
            shift, shape = _run(self.actions, shape, ordered[k + 1] - 1 - ordered[k], True)
            base += shift
        if len(self._chains) >= self._capacity:
            self._chains.clear()  # the window slides on: what it left behind is not asked again
        self._chains[key] = out = (base, shape)
        return out


@functools.cache
def _edge_shape(amax: int, graded: bool) -> tuple[int, tuple[int, ...]]:
    return _normal(tuple(_edge(amax, graded)))


def _normal(frontier: tuple[int, ...]) -> tuple[int, tuple[int, ...]]:
    """``(m, frontier - m)`` with ``m`` its smallest live value (dead cells stay ``DEAD``)."""
    m = min(frontier)
    if m >= DEAD or m == 0:
        return 0, frontier
    return m, tuple(v - m if v < DEAD else DEAD for v in frontier)


@functools.lru_cache(maxsize=RUN_CACHE_SIZE)
def _run(
    actions: tuple[int, ...], shape: tuple[int, ...], length: int, then_blocked: bool
) -> tuple[int, tuple[int, ...]]:
    """The frontier ``length`` free cells further down (then one forbidden cell, when asked),
    normalised: ``(shift, shape)`` with the true values ``shape + shift`` (+ the input's base)."""
    amax = len(shape)
    extra = 1 if then_blocked else 0
    cells = [DEAD] * length + list(shape)
    blocked = [False] * length
    _relax(cells, length - 1, actions, amax, blocked)
    new = tuple(([DEAD] if then_blocked else []) + cells[: amax - extra])
    return _normal(new)
