"""The high level's glance: a bounded horizon ahead, far beyond the low level's window (issue 15).

The low level (the slot encoder) sees ``W = 16 A`` numbers ahead (``A`` the largest action). A
trap deeper than that (a lane that looks alive for 150 numbers and then dies, :mod:`lanes`) is
invisible to it. The high level looks ``H = horizon * W`` numbers ahead (``horizon`` windows, a
config value, 8 by default) and sees there what a person sees at a glance::

    x ── W ──┬─────────── H = horizon * W ───────────┐
             │ block 1 │ block 2 │  ...  │ block h   │   per block boundary: the live residues
    deep dead: live up to the window's edge, dead before the horizon's edge

:func:`glance` summarises the view per block of ``W`` numbers: which residues (mod ``A``) are
still live at each block boundary, i.e. have a way on through allowed numbers to the target or
past the horizon's edge. :func:`exact_waypoint` is the rule the hierarchy plays: when the window
holds *deep dead* numbers (live as far as the window shows, dead within the horizon), the next
subgoal is an exact position on the window's last stride (every way across the window lands
there once), the one with the fewest steps from ``x`` plus steps on to the horizon's edge;
otherwise there is nothing to warn about (None) and the pass waypoints stand.

Both levels stay bounded: every computation here is a dynamic program over at most ``H + A``
numbers ahead (:func:`~hrrl.puzzle.encoders.window.window_costs`, the one the low level runs on
its window) and never the exact solver nor a search to a target beyond the horizon. A trap
deeper than ``H`` is for the levels above it (:mod:`hrrl.puzzle.levels`, ``levels > 1``): the
numbers just past the horizon's edge that they see dead count as blocked here; with
``levels=1`` past the edge is "further on", assumed passable (``bench/abyss.py`` measures both).
Where every level's view reaches the target (:meth:`~hrrl.puzzle.levels.Levels.sees_target`),
what they see dead past the edge is dead outright, so the horizon's own dead numbers are exactly
theirs and :func:`deep_dead` reads them off the levels' per-block cache instead of working them
out across the horizon at every glance (a tenth of a 10^6 target's play).
"""

from __future__ import annotations

import functools
from bisect import bisect_left
from dataclasses import dataclass
from typing import Final

from hrrl.errors import ConfigError, field_error
from hrrl.puzzle.core import Puzzle
from hrrl.puzzle.encoders.base import sorted_forbidden
from hrrl.puzzle.encoders.slots import WINDOW_FACTOR
from hrrl.puzzle.encoders.window import DEAD, window_costs
from hrrl.puzzle.levels import dead_among, levels_of

#: The high level's horizon in low-level windows: H = 8 W = 128 strides (640 numbers at {1,3,5}),
#: twice the deepest deep_trap death (300 numbers) so a maze's next region is in view too.
HORIZON_WINDOWS: Final = 8


def window_of(puzzle: Puzzle) -> int:
    """The low-level window for this puzzle's actions: ``WINDOW_FACTOR`` largest strides."""
    return WINDOW_FACTOR * puzzle.max_action


def check_horizon(horizon: int) -> int:
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
        raise field_error(ConfigError, "horizon", horizon, "give a whole number of windows >= 1")
    return horizon


def _forbidden_between(puzzle: Puzzle, lo: int, hi: int) -> list[int]:
    """The puzzle's forbidden numbers in ``[lo, hi)``, ascending (a bisect, not a scan)."""
    ordered = sorted_forbidden(puzzle)
    return list(ordered[bisect_left(ordered, lo) : bisect_left(ordered, hi)])


def _blocked_past_edge(puzzle: Puzzle, edge: int, levels: int) -> list[int]:
    """The numbers of ``(edge, edge + A]`` with no way on as the levels above the horizon see
    them: forbidden, past the target or dead (none with ``levels=1``: past the edge is "further
    on", assumed passable)."""
    if levels <= 1:
        return []
    seen, target, forbidden = levels_of(puzzle, levels), puzzle.target, puzzle.forbidden
    return [
        y
        for y in range(edge + 1, edge + puzzle.max_action + 1)
        if y > target or y in forbidden or seen.dead(y)
    ]


def dead_cells(puzzle: Puzzle, x: int, reach: int, levels: int = 1) -> set[int]:
    """Allowed numbers in ``(x, x + reach]`` with no way on to the target or past ``x + reach``.

    A number ``c`` is dead when every ``c + a`` is blocked: forbidden, past the target or dead
    itself (a landing past the edge counts as a way on when it is allowed and, with ``levels``
    above the horizon, not dead at any of them: :mod:`hrrl.puzzle.levels`), found from the
    blocked numbers down (:func:`~hrrl.puzzle.levels.dead_among`), not a pass over ``reach``.
    """
    edge = x + reach
    forbidden = set(_forbidden_between(puzzle, x + 1, edge + puzzle.max_action + 1))
    forbidden.update(_blocked_past_edge(puzzle, edge, levels))
    return dead_among(puzzle.actions, puzzle.target, forbidden, x, edge)


@dataclass(frozen=True)
class Glance:
    """The coarse view: per block boundary ``x + k W`` (k = 1..horizon), the live residues."""

    origin: int
    block: int
    live: tuple[frozenset[int], ...]


def glance(puzzle: Puzzle, x: int, horizon: int = HORIZON_WINDOWS) -> Glance:
    """Which residues mod ``A`` are live at each block boundary within the horizon."""
    w, amax = window_of(puzzle), puzzle.max_action
    reach = check_horizon(horizon) * w
    dead = dead_cells(puzzle, x, reach)
    blocked = set(_forbidden_between(puzzle, x + 1, x + reach + 1)) | dead
    live = []
    for k in range(1, horizon + 1):
        cells = range(x + k * w - amax + 1, x + k * w + 1)
        live.append(frozenset(c % amax for c in cells if c not in blocked and c <= puzzle.target))
    return Glance(origin=x, block=w, live=tuple(live))


def deep_dead(puzzle: Puzzle, x: int, horizon: int = HORIZON_WINDOWS, levels: int = 1) -> set[int]:
    """Numbers in the window that look live from ``x`` but are dead within the horizon (or, with
    ``levels`` above it, at any level)."""
    w = window_of(puzzle)
    if puzzle.target - x <= w:
        return set()  # the window shows the target: nothing deeper to see
    seen = levels_of(puzzle, levels) if levels > 1 else None
    if seen is not None and seen.sees_target(x + 1):
        # Past the horizon's edge the levels see what is dead exactly, so the horizon's own
        # dead numbers are exactly theirs: read them off (cached a block at a time) instead of
        # working them out across the horizon again at every glance.
        in_window = seen.dead_between(x + 1, x + w + 1)
    else:
        reach = check_horizon(horizon) * w
        in_window = {c for c in dead_cells(puzzle, x, reach, levels) if c <= x + w}
    return in_window - dead_cells(puzzle, x, w) if in_window else set()


#: Glances :func:`exact_waypoint` remembers (a puzzle played again, as the training-time
#: evaluation plays its suite, glances from the same numbers again).
WAYPOINT_CACHE_SIZE: Final = 1 << 16


@functools.lru_cache(maxsize=WAYPOINT_CACHE_SIZE)
def exact_waypoint(
    puzzle: Puzzle, x: int, horizon: int = HORIZON_WINDOWS, levels: int = 1
) -> int | None:
    """The number the low level should land on exactly next, or None when the window holds no
    deep dead numbers (module docstring; ``levels``: :mod:`hrrl.puzzle.levels` above the
    horizon, whose dead numbers past its edge count as blocked).

    With ``reach`` the steps from ``x`` to a number of the window (forward, in the window) and
    ``cost`` the steps from it on to the target or past the horizon's edge (backward, graded at
    the edge as the low level's window is), the waypoint is the number ``c`` of the window's last
    stride ``(x + W - A, x + W]`` minimising ``reach(c) + cost(c)``, the furthest on a tie. Every
    path across the window lands on that stride, so this is on a best route within the horizon.
    """
    if not deep_dead(puzzle, x, horizon, levels):
        return None
    w, amax, actions = window_of(puzzle), puzzle.max_action, puzzle.actions
    reach_h = horizon * w
    offsets = [f - x for f in _forbidden_between(puzzle, x + 1, x + reach_h + 1)]
    beyond = [y - x - reach_h for y in _blocked_past_edge(puzzle, x + reach_h, levels)]
    target = min(puzzle.target - x, reach_h + 1)
    cost = window_costs(actions, offsets, target, reach_h, graded=True, dead_edge=beyond)
    steps = [DEAD] * (w + 1)
    steps[0] = 0
    blocked = set(offsets)
    for o in range(w + 1):
        if steps[o] >= DEAD:
            continue
        for a in actions:
            if o + a <= w and o + a not in blocked and steps[o] + 1 < steps[o + a]:
                steps[o + a] = steps[o] + 1
    best: tuple[float, int] | None = None
    for o in range(w - amax + 1, w + 1):
        if steps[o] < DEAD and cost[o] < DEAD:
            key = (steps[o] + cost[o], -o)
            if best is None or key < best:
                best = key
    return None if best is None else x - best[1]
