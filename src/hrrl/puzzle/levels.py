"""Levels of bounded views above the horizon (issue 27): traps at any depth.

The high level's glance (:mod:`hrrl.puzzle.horizon`) sees ``H = horizon * W`` numbers ahead. A
lane that dies deeper looks alive there. Above it sit levels whose views grow geometrically
while their summaries coarsen::

    level 0   aligned blocks of W numbers          (the low-level window's size)
    level k   aligned blocks of B**k windows, each the composition of its B children
    a view    from a block boundary, at most B - 1 blocks of each level up, B at the top

A block ``[s, e)`` is summarised by its *transfer matrix*: with ``A`` the largest action, every
path crossing a number ``p`` first lands in the stride ``[p, p + A)``, so which exit cells
``[e, e + A)`` each entry cell ``[s, s + A)`` reaches through allowed numbers says everything
the levels above need of the block, whatever its size: ``A`` bitmasks of ``A`` bits. Two
consecutive blocks compose by a boolean product, so level ``k``'s matrix is worked out once
from its ``B`` children, level 0's by one cached move per run of allowed numbers between its
forbidden ones (:func:`_forward`, the way the window's landing values slide), each when a view
first needs it (never rebuilt from the whole forbidden list).

:meth:`Levels.live_at` reads a boundary's live cells off the matrices of a view ahead of it (the
target, when the view reaches it, through the target's own block); :meth:`Levels.dead_beyond`
the numbers of one block that look allowed but are dead at every level: what the horizon's
glance treats as blocked past its edge. ``levels`` (``puzzle.levels``) caps how many levels there
are: a view reaches ``B**levels`` windows, and ``levels=1`` is the single horizon of before (no
level sees past it). No solver and no search to the target at play time: the views are bounded,
and a dead end ``D`` numbers deep is seen by the ``log_B(D / W)``-th level.
"""

from __future__ import annotations

import functools
import heapq
from bisect import bisect_left
from typing import Final

from hrrl.errors import ConfigError, field_error
from hrrl.puzzle.core import Puzzle
from hrrl.puzzle.encoders.base import sorted_forbidden
from hrrl.puzzle.encoders.slots import WINDOW_FACTOR

#: Blocks per level: level k's block holds B level-(k-1) blocks (B**k windows).
BRANCHING: Final = 8
#: The most levels a view has (``puzzle.levels``' maximum and default): a view of
#: ``8**8`` windows reaches past any target a puzzle accepts at any action set.
MAX_LEVELS: Final = 8
#: Puzzles whose levels :func:`levels_of` keeps (their matrices with them): more than the
#: batched player's 128 puzzles in play, so none of them is worked out twice.
LEVELS_CACHE_SIZE: Final = 256

Matrix = tuple[int, ...]
"""A transfer matrix: row ``q`` is the bitmask of exit cells entry cell ``q`` reaches."""
Frontier = tuple[int, ...]
"""The reach masks of ``A`` consecutive numbers (bit ``q``: entry cell ``q`` reaches it)."""
#: Distinct ``(actions, frontier, run)`` moves :func:`_forward` remembers.
FORWARD_CACHE_SIZE: Final = 1 << 16


def check_levels(levels: int) -> int:
    if isinstance(levels, bool) or not isinstance(levels, int) or not 1 <= levels <= MAX_LEVELS:
        raise field_error(
            ConfigError, "levels", levels, f"give a whole number of levels in 1..{MAX_LEVELS}"
        )
    return levels


class Levels:
    """The levels of one puzzle: transfer matrices of aligned blocks, computed on demand."""

    def __init__(self, puzzle: Puzzle, levels: int) -> None:
        self.puzzle = puzzle
        self.levels = check_levels(levels)
        self.stride = puzzle.max_action
        self.window = WINDOW_FACTOR * self.stride
        self.target_block = puzzle.target // self.window
        self._matrices: dict[tuple[int, int], Matrix] = {}
        self._live: dict[int, int] = {}
        self._dead: dict[int, frozenset[int]] = {}
        self._sorted = sorted_forbidden(puzzle)
        start = self.target_block * self.window
        self._target = self._frontier(start, puzzle.target + 1 - start)[-1]
        """Entry cells of the target's block that reach the target."""

    def _allowed(self, y: int) -> bool:
        return y <= self.puzzle.target and y not in self.puzzle.forbidden

    def _frontier(self, start: int, length: int) -> Frontier:
        """The reach masks of the last ``A`` numbers of ``[start, start + length)``: bit ``q`` of
        a number's mask is set when entry cell ``start + q`` (``q < A``) has a path to it through
        allowed numbers of the range. The entry cells one by one, then one cached move per run
        of allowed numbers (:func:`_forward`), as the window's landing values slide."""
        a_max, actions, forbidden = self.stride, self.puzzle.actions, self.puzzle.forbidden
        head = min(a_max, length)
        cells = [0] * a_max  # the numbers below start: no entry cell reaches them
        for o in range(head):
            bits = 0
            if start + o not in forbidden:
                bits = 1 << o
                for a in actions:
                    bits |= cells[a_max + o - a]
            cells.append(bits)
        frontier = tuple(cells[-a_max:])
        ordered, low = self._sorted, start + head
        stop = start + length
        for f in ordered[bisect_left(ordered, low) : bisect_left(ordered, stop)]:
            frontier = _forward(actions, frontier, f - low, True)
            low = f + 1
        return _forward(actions, frontier, stop - low, False)

    def matrix(self, level: int, index: int) -> Matrix:
        """The transfer matrix of block ``index`` of ``level`` (cached)."""
        key = (level, index)
        found = self._matrices.get(key)
        if found is not None:
            return found
        a_max = self.stride
        if level == 0:
            start, w = index * self.window, self.window
            exits = tuple([self._allowed(y) for y in range(start + w, start + w + a_max)])
            out: Matrix = _exit_rows(self.puzzle.actions, self._frontier(start, w), exits)
        else:
            first = index * BRANCHING
            out = self.matrix(level - 1, first)
            for child in range(first + 1, first + BRANCHING):
                out = _compose(out, self.matrix(level - 1, child))
        self._matrices[key] = out
        return out

    def live_at(self, block: int) -> int:
        """The bitmask of cells ``block * W + q`` (``q < A``) with a way on, at every level, to
        the target or to the far edge of the view from that boundary (cached)."""
        found = self._live.get(block)
        if found is not None:
            return found
        if block > self.target_block:
            vector = 0
        elif block == self.target_block:
            vector = self._target
        elif block + BRANCHING**self.levels >= self.target_block:
            # The view reaches the target, as the view from the end of its first block does:
            # the rest of the way is that boundary's (cached) answer.
            level, index, after = self._first_block(block, self.target_block)
            vector = _entries(self.matrix(level, index), self.live_at(after))
        else:
            end = block + BRANCHING**self.levels
            segments = []
            b = block
            while b < end:
                level, index, b = self._first_block(b, end)
                segments.append((level, index))
            origin = end * self.window  # the view's far edge: allowed cells count as a way on
            vector = sum(1 << q for q in range(self.stride) if self._allowed(origin + q))
            for level, index in reversed(segments):
                vector = _entries(self.matrix(level, index), vector)
        self._live[block] = vector
        return vector

    def _first_block(self, block: int, end: int) -> tuple[int, int, int]:
        """``(level, index, next boundary)`` of the largest aligned block of at most
        ``levels - 1`` that starts at boundary ``block`` and ends by boundary ``end``."""
        level = 0
        while (
            level + 1 < self.levels
            and block % BRANCHING ** (level + 1) == 0
            and block + BRANCHING ** (level + 1) <= end
        ):
            level += 1
        size = BRANCHING**level
        return level, block // size, block + size

    def dead_beyond(self, block: int) -> frozenset[int]:
        """Allowed numbers of level-0 block ``block`` (``[block * W, (block + 1) * W)``) that are
        dead at every level: no way on to the target nor to the live cells of the next
        boundary (cached)."""
        found = self._dead.get(block)
        if found is not None:
            return found
        start, a_max, w = block * self.window, self.stride, self.window
        live_exit = self.live_at(block + 1)
        ordered = self._sorted
        blocked = set(ordered[bisect_left(ordered, start) : bisect_left(ordered, start + w)])
        blocked.update(start + w + q for q in range(a_max) if not live_exit >> q & 1)
        dead = dead_among(
            self.puzzle.actions, self.puzzle.target, blocked, start - 1, start + w - 1
        )
        out = frozenset(dead)
        self._dead[block] = out
        return out

    def sees_target(self, y: int) -> bool:
        """Whether every view the levels read from ``y``'s block on reaches the target: then
        :meth:`dead` is exactly "no path to the target" there, for any horizon below."""
        return y // self.window + 1 + BRANCHING**self.levels >= self.target_block

    def dead_between(self, lo: int, hi: int) -> set[int]:
        """The numbers of ``[lo, hi)`` that :meth:`dead` says are dead (their blocks' cached
        answers, filtered)."""
        out: set[int] = set()
        for block in range(lo // self.window, (hi - 1) // self.window + 1):
            out.update(y for y in self.dead_beyond(block) if lo <= y < hi)
        return out

    def dead(self, y: int) -> bool:
        """Whether allowed number ``y`` is dead at every level (a forbidden one is not asked)."""
        return y in self.dead_beyond(y // self.window)


def _entries(rows: Matrix, exits: int) -> int:
    """The entry cells whose row reaches one of ``exits``."""
    out = 0
    for q, row in enumerate(rows):
        if row & exits:
            out |= 1 << q
    return out


def _compose(first: Matrix, second: Matrix) -> Matrix:
    """The matrix of two consecutive blocks: ``q`` reaches ``o`` through some middle cell."""
    out = []
    for row in first:
        bits, m, through = 0, 0, row
        while through:
            if through & 1:
                bits |= second[m]
            through >>= 1
            m += 1
        out.append(bits)
    return tuple(out)


@functools.lru_cache(maxsize=LEVELS_CACHE_SIZE)
def levels_of(puzzle: Puzzle, levels: int) -> Levels:
    """The (cached) levels of ``puzzle``: a long puzzle's glances share their matrices."""
    return Levels(puzzle, levels)


@functools.lru_cache(maxsize=FORWARD_CACHE_SIZE)
def _forward(
    actions: tuple[int, ...], frontier: Frontier, run: int, then_blocked: bool
) -> Frontier:
    """The frontier ``run`` allowed numbers further on (then one forbidden, when asked): each
    number's mask is the union of the masks one action below it."""
    a_max = len(frontier)
    cells = list(frontier)
    for _ in range(run):
        n = len(cells)
        bits = 0
        for a in actions:
            bits |= cells[n - a]
        cells.append(bits)
    if then_blocked:
        cells.append(0)
    return tuple(cells[-a_max:])


@functools.lru_cache(maxsize=FORWARD_CACHE_SIZE)
def _exit_rows(actions: tuple[int, ...], inside: Frontier, allowed: tuple[bool, ...]) -> Matrix:
    """A level-0 block's matrix from the masks of its last ``A`` numbers: a path ends at its
    first landing at or past the block's end, so allowed exit cell ``j`` is reached from those
    numbers alone (one action on); row ``q`` gathers the exits entry ``q`` reaches."""
    a_max = len(inside)
    rows = [0] * a_max
    for j in range(a_max):
        if not allowed[j]:
            continue
        bits = 0
        for a in actions:
            if a > j:
                bits |= inside[a_max + j - a]
        for q in range(a_max):
            if bits >> q & 1:
                rows[q] |= 1 << j
    return tuple(rows)


def dead_among(
    actions: tuple[int, ...], target: int, blocked: set[int], lo: int, hi: int
) -> set[int]:
    """The numbers of ``(lo, hi]`` below the target, not ``blocked``, whose every landing is
    ``blocked``, past the target or such a number itself (any other landing is a way on).

    A dead ``c`` has ``c + a_min`` blocked, so the candidates are the numbers one smallest action
    below a blocked one, taken in descending order (every dead number above a candidate is known
    by then): ``O(F log F)`` for ``F`` blocked numbers, not ``O(hi - lo)``.
    """
    amin = min(actions)
    dead: set[int] = set()
    heap = [amin - y for y in blocked if lo < y - amin <= hi]
    heap += [amin - y for y in range(target + 1, target + amin + 1) if lo < y - amin <= hi]
    heapq.heapify(heap)
    seen: set[int] = set()
    while heap:
        c = -heapq.heappop(heap)
        if c in seen or c >= target or c in blocked or c in dead:
            continue
        seen.add(c)
        # A plain loop, not any() over a generator: this test runs millions of times on a
        # long puzzle.
        for a in actions:
            y = c + a
            if y <= target and y not in blocked and y not in dead:
                break
        else:
            dead.add(c)
            if c - amin > lo:
                heapq.heappush(heap, amin - c)
    return dead
