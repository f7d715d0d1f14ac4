"""Decomposition of a puzzle into waypoints (subgoals) for the hierarchy wrapper (design §2).

Two rules turn ``(current, target, forbidden)`` into a strictly increasing list of waypoints that
ends with the target:

* ``"paper"``: the original prototype's rule, evenly spaced waypoints, blind to the constraints.
* ``"constraint"``: the same spacing, but every waypoint is moved to the nearest number that is
  neither forbidden nor a *local dead end* (judged within a bounded window, see
  :func:`reachable_in_window`).
* ``"horizon"``: the constraint rule's waypoints; :class:`~hrrl.puzzle.hierarchy.
  HierarchyWrapper` adds exact waypoints from a longer, bounded glance (:mod:`hrrl.puzzle.horizon`).
* ``"none"``: just the target (no hierarchy).

The planner is deliberately short-sighted: it looks at a fixed window of numbers around each
waypoint, what a person sees at a glance, and never calls the exact solver nor searches beyond the
window. Planning the whole route is the policy's job.
"""

from __future__ import annotations

from typing import Final, Literal

import numpy as np

from hrrl.errors import ConfigError, field_error
from hrrl.puzzle.core import Puzzle

PlannerRule = Literal["paper", "constraint", "horizon", "none"]
#: Every rule :func:`decompose` knows (``horizon`` decomposes as ``constraint`` does; the
#: hierarchy adds its exact waypoints as it plays, :mod:`hrrl.puzzle.horizon`).
PLANNER_RULES: Final[tuple[str, ...]] = ("paper", "constraint", "horizon", "none")
#: Gaps up to this many numbers get no waypoints: the target is the only subgoal.
DIRECT_GAP: Final = 50
#: The paper places one waypoint per this many numbers of gap ...
WAYPOINT_SPACING: Final = 75
#: ... but at least this many once the gap exceeds :data:`DIRECT_GAP`.
MIN_WAYPOINTS: Final = 2
#: How many numbers ahead the constraint-aware rule (and the relational encoder) may look.
DEFAULT_WINDOW: Final = 40


def reachable_in_window(puzzle: Puzzle, origin: int, window: int = DEFAULT_WINDOW) -> np.ndarray:
    """Which numbers in ``[origin, origin + window]`` can still get somewhere, seen at a glance.

    Entry ``i`` (number ``n = origin + i``) is True when some sequence of actions from ``n`` lands
    only on allowed numbers (not forbidden, not past the target) and either hits the target exactly
    or reaches the far edge ``edge = origin + window`` (a landing at or beyond the edge counts, as
    long as that landing itself is allowed). Numbers that are themselves forbidden or past the
    target are False; the target is True. Step budgets are ignored: this is about the shape of the
    number line, not about time.

    It is a backward pass over the window, ``O(window * len(actions))``::

        ok[n] = allowed(n) and (n == target or n >= edge or any(ok[n + a] for a in actions))

    where ``ok[m]`` for ``m`` beyond the edge is just ``allowed(m)``: one glance past the edge,
    never a search beyond it.
    """
    if window < 1:
        raise field_error(ConfigError, "window", window, "look at least 1 number ahead")
    edge = origin + window
    target, forbidden, actions = puzzle.target, puzzle.forbidden, puzzle.actions
    # A list for the pass (a numpy bool per item was most of its time), one array at the end.
    ok = [False] * (window + 1)
    for i in range(window, -1, -1):
        n = origin + i
        if n > target or n in forbidden:
            continue
        if n == target or n >= edge:
            ok[i] = True
            continue
        for a in actions:
            m = n + a
            if (m < edge and ok[m - origin]) or (m >= edge and m <= target and m not in forbidden):
                ok[i] = True
                break
    return np.array(ok, dtype=bool)


def is_local_dead_end(puzzle: Puzzle, n: int, window: int = DEFAULT_WINDOW) -> bool:
    """True when ``n`` is forbidden, past the target, or cannot get out of its own window."""
    return not bool(reachable_in_window(puzzle, n, window)[0])


def paper_waypoints(current: int, target: int) -> list[int]:
    """The paper's evenly spaced waypoints from ``current`` to ``target`` (target included).

    With ``gap = target - current``: a gap of at most :data:`DIRECT_GAP` gives ``[target]``;
    otherwise ``n = max(MIN_WAYPOINTS, gap // WAYPOINT_SPACING)`` waypoints::

        w_k = current + floor(k * gap / (n + 1) + 1/2)      k = 1 .. n   (round half up)

    computed in integers as ``(2 * k * gap + n + 1) // (2 * (n + 1))``, then the target.
    For ``gap > 50`` the spacing ``gap / (n + 1)`` is at least 17, so the list strictly increases.
    Example: ``current=0, target=300`` gives ``[60, 120, 180, 240, 300]``.
    """
    gap = target - current
    if gap <= DIRECT_GAP:
        return [target]
    n = max(MIN_WAYPOINTS, gap // WAYPOINT_SPACING)
    inner = [current + (2 * k * gap + n + 1) // (2 * (n + 1)) for k in range(1, n + 1)]
    return [*inner, target]


def decompose(
    puzzle: Puzzle,
    current: int | None = None,
    *,
    rule: str = "constraint",
    window: int = DEFAULT_WINDOW,
) -> list[int]:
    """Waypoints from ``current`` (default: the puzzle's start) to the target, target last.

    Every returned list strictly increases, every waypoint before the target lies strictly
    between ``current`` and the target, and the last entry is the target.

    ``rule="constraint"`` starts from :func:`paper_waypoints` and moves each waypoint ``w`` to the
    nearest acceptable number, trying ``w, w-1, w+1, w-2, w+2, ...`` (below first on a tie) up to
    half the spacing either way and never back past the previous waypoint nor up to the target.
    A number is acceptable when :func:`is_local_dead_end` says it is not (so it is neither
    forbidden nor trapped within ``window`` numbers). A waypoint with no acceptable number in reach
    is dropped: a missing subgoal is better than one that leads into a trap.
    """
    if rule not in PLANNER_RULES:
        raise field_error(ConfigError, "rule", rule, f"choose one of {', '.join(PLANNER_RULES)}")
    if current is None:
        current = puzzle.start
    if current >= puzzle.target:
        raise field_error(
            ConfigError, "current", current, f"plan only from below the target ({puzzle.target})"
        )
    if rule == "none":
        return [puzzle.target]
    if rule == "horizon":
        rule = "constraint"
    waypoints = paper_waypoints(current, puzzle.target)
    if rule == "paper" or len(waypoints) == 1:
        return waypoints
    radius = (puzzle.target - current) // (2 * len(waypoints))
    moved: list[int] = []
    for w in waypoints[:-1]:
        low = moved[-1] if moved else current  # exclusive bounds
        choice = _nearest_acceptable(puzzle, w, low, puzzle.target, radius, window)
        if choice is not None:
            moved.append(choice)
    return [*moved, puzzle.target]


def _nearest_acceptable(
    puzzle: Puzzle, w: int, low: int, high: int, radius: int, window: int
) -> int | None:
    """Nearest number to ``w`` within ``radius``, strictly inside ``(low, high)``, not a dead end."""
    for d in range(radius + 1):
        for n in (w - d, w + d) if d else (w,):
            if low < n < high and not is_local_dead_end(puzzle, n, window):
                return n
    return None
