"""Lane regions: long forbidden stretches crossed by lanes that look alike up close (issue 15).

A *lane region* ``[begin, end)`` forbids every number except the *lanes*, residue classes modulo
the largest action ``A``: inside it, ``n`` is allowed only when ``n mod A`` is one of the lane
residues and the lane has not died yet::

    residue   begin                                   end
    p         .    .    .    .    .    .    .    .    .   the passing lane: open to the end
    d1        .    .    .    .    .    X X X X X X X X X   dies at begin + depth(d1) (> window)
    d2        .    .    .    .    .    .    .    X X X X   dies deeper still

Inside a region the only moves are ``+A`` (stay in the lane) and the steps ``+a`` with
``(r + a) mod A`` another lane residue ``r'`` (switch lanes). The dying lanes are chosen so that
no chain of switches leads from one of them to the passing lane (:func:`lane_closure`), so a
walker that enters a dying lane is lost, however well it plays afterwards; and every death lies
deeper than the low-level window, so from the entrance every lane looks alive within the window
(the same picture of cells that all reach the window's edge). The passing lane is a different
residue from the one a largest-stride walker arrives in, so it is entered at its own point.

*Complete* sets (every multiple of the divisor up to ``A``, such as {2, 4, 6}) have no such
regions: a dead cell ``c`` means every cell in ``(c, c + A]`` is forbidden or dead, and every
path from below must land there, so a dead end is never deeper than one stride. There the region
is a single lane, a corridor entered at one residue.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LanePlan:
    """The lanes of one region: residues modulo ``stride`` and where the dying ones die."""

    stride: int
    passing: int
    dying: tuple[int, ...]
    deaths: tuple[int, ...]
    """Depth of each dying lane's death, counted from the region's first number."""

    @property
    def residues(self) -> tuple[int, ...]:
        return (self.passing, *self.dying)


def lane_closure(actions: Sequence[int], residues: Sequence[int], seeds: Sequence[int]) -> set[int]:
    """The lane residues reachable from ``seeds`` by switches inside a region of ``residues``."""
    stride, lanes = max(actions), set(residues)
    seen, todo = set(seeds), list(seeds)
    while todo:
        r = todo.pop()
        for a in actions:
            s = (r + a) % stride
            if s in lanes and s not in seen:
                seen.add(s)
                todo.append(s)
    return seen


def pick_lanes(
    rng: np.random.Generator, actions: Sequence[int], avoid: int, max_dying: int = 2
) -> tuple[int, tuple[int, ...]]:
    """A passing residue (not ``avoid``, when another exists) and 0-``max_dying`` dying residues
    from which no switch leads to it; all in the residue class the actions reach (multiples of
    their divisor). No dying residue exists for complete sets (the module docstring)."""
    stride, g = max(actions), math.gcd(*actions)
    reachable = [r for r in range(0, stride, g)]
    order = [reachable[i] for i in rng.permutation(len(reachable))]
    passing = next((r for r in order if r != avoid % stride), order[0])
    dying: list[int] = []
    for d in order:
        if len(dying) == max_dying:
            break
        if d == passing:
            continue
        lanes = [passing, *dying, d]
        if passing not in lane_closure(actions, lanes, [*dying, d]):
            dying.append(d)
    # The residue a largest-stride walker arrives in should be a dying lane when it can be.
    if avoid % stride in dying:
        dying.remove(avoid % stride)
        dying.insert(0, avoid % stride)
    return passing, tuple(dying)


def region_forbidden(begin: int, end: int, plan: LanePlan) -> set[int]:
    """Every number of ``[begin, end)`` that is not an open lane cell."""
    open_until = {plan.passing: end}
    open_until.update({d: begin + depth for d, depth in zip(plan.dying, plan.deaths, strict=True)})
    return {n for n in range(begin, end) if not (n < open_until.get(n % plan.stride, begin))}
