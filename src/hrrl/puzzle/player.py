"""Greedy play of many puzzles at once on plain integers: what ``hrrl eval``, ``solve`` and
``Policy`` run.

Training-time evaluation (:meth:`hrrl.puzzle.task.PuzzleTask.evaluate`) and the studies play
through it too: one player for every score. It plays exactly what the Gymnasium stack plays
(``PuzzleEnv -> HierarchyWrapper -> EncodedObservation``; tests/puzzle/test_player.py holds it to
:func:`~hrrl.puzzle.stack.play_through_stack`, statuses and paths), from the same pieces and without their per-step overhead (wrapper calls,
info dicts, reward objects, observation arrays)::

    step rule     core.step_status               (what PuzzleEnv.step asks)
    subgoals      hierarchy.Subgoals: planned at the start, advanced after each step
    observation   encoder.glancer(puzzle)(x, subgoal, step) -> a glance -> encoder.vector
                  (an encoder without glances: the bytes of encoder.encode(view))
    action        memo[glance], else one batched ``greedy`` call over the envs that missed

A greedy policy is a function of the observation, and a slot vector a function of its
:data:`~hrrl.puzzle.encoders.slots.Glance`, so the action is memoised by the glance: along a
long puzzle the same glances come back (a target of 10^6 at the paper's density: 200,000 steps,
a few thousand glances), and a step costs a bisect, a cached window look-up and a dict look-up.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any, Final, Protocol, cast

import numpy as np

from hrrl.engine.task import PolicyFn
from hrrl.puzzle.core import Puzzle, PuzzleView, Status, step_status
from hrrl.puzzle.evaluate import Adapter, PlayHooks, Todo, play_with
from hrrl.puzzle.hierarchy import Subgoals
from hrrl.puzzle.horizon import HORIZON_WINDOWS
from hrrl.puzzle.levels import MAX_LEVELS
from hrrl.puzzle.planner import DEFAULT_WINDOW
from hrrl.puzzle.suite import Result

#: Glances whose greedy action a :class:`BatchPlayer` remembers before it starts afresh.
GLANCE_CACHE_SIZE: Final = 1 << 18

#: One puzzle's glance at ``(x, subgoal, step, exact)``: a hashable key the observation is a
#: function of.
Glancer = Callable[[int, int, int, bool], Hashable]


class Encodes(Protocol):
    """What the player needs of an encoder without glances: the observation of a view (any
    :class:`~hrrl.puzzle.encoders.Encoder`, or a baseline's raw view of the numbers)."""

    def encode(self, view: PuzzleView) -> np.ndarray: ...


class Glances(Protocol):
    """What the player needs of an encoder: a glancer per puzzle and the vector of a glance
    (:class:`~hrrl.puzzle.encoders.slots.SlotEncoder` has both)."""

    def glancer(self, puzzle: Puzzle) -> Glancer: ...

    def vector(self, key: Any) -> np.ndarray: ...


class _EncodedGlances:
    """Glances for an encoder that has none of its own (paper, relational): the observation's
    bytes, so the memo still answers repeated observations exactly."""

    def __init__(self, encoder: Encodes) -> None:
        self.encoder = encoder

    def glancer(self, puzzle: Puzzle) -> Glancer:
        encode = self.encoder.encode

        def at(x: int, subgoal: int, step: int, exact: bool) -> Hashable:
            return encode(PuzzleView(puzzle, x, subgoal, step, exact)).tobytes()

        return at

    @staticmethod
    def vector(key: Any) -> np.ndarray:
        assert isinstance(key, bytes)
        return np.frombuffer(key, dtype=np.float32)


class _Episode:
    """One puzzle being played: where it is, its subgoals, the numbers visited."""

    __slots__ = (
        "actions",
        "best",
        "glance",
        "goals",
        "n",
        "path",
        "puzzle",
        "step",
        "todo",
        "x",
    )

    def __init__(
        self,
        todo: int,
        puzzle: Puzzle,
        best: int,
        goals: Subgoals,
        glance: Glancer,
    ) -> None:
        self.todo, self.puzzle, self.best = todo, puzzle, best
        self.actions, self.n = puzzle.actions, len(puzzle.actions)
        self.x, self.step = puzzle.start, 0
        self.path = [puzzle.start]
        self.goals = goals
        goals.start(puzzle, self.x)
        self.glance = glance


class BatchPlayer:
    """Plays puzzles with ``greedy`` (encoded observations -> action indices) behind ``encoder``
    and the ``planner``'s subgoals, ``num_envs`` at a time, one ``greedy`` call a step."""

    def __init__(
        self,
        *,
        encoder: Encodes,
        planner: str,
        greedy: PolicyFn,
        window: int = DEFAULT_WINDOW,
        horizon: int = HORIZON_WINDOWS,
        levels: int = MAX_LEVELS,
    ) -> None:
        self.encoder = encoder
        self.planner = planner
        self.window = window
        self.horizon = horizon
        self.levels = levels
        self.greedy = greedy
        glances: Glances = (
            cast(Glances, encoder) if hasattr(encoder, "glancer") else _EncodedGlances(encoder)
        )
        self._glancer: Callable[[Puzzle], Glancer] = glances.glancer
        self._vector: Callable[[Hashable], np.ndarray] = glances.vector
        self._memo: dict[Hashable, int] = {}

    def play(
        self,
        puzzles: Sequence[Puzzle],
        *,
        num_envs: int = 128,
        progress: Callable[[int], object] | None = None,
        adapt: Adapter | None = None,
        hooks: PlayHooks | None = None,
    ) -> list[Result]:
        """Every puzzle's result, in input order (:func:`~hrrl.puzzle.evaluate.play_with`):
        UNSUPPORTED (``adapt``) and UNSOLVABLE lines before any step, the others played
        ``num_envs`` at a time."""
        if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs={num_envs!r} is invalid: play at least 1 puzzle at once")

        def run(todo: list[Todo], done: Callable[[int, Result], None], hooks: PlayHooks) -> None:
            self._run(todo, done, hooks, min(num_envs, len(todo)))

        return play_with(run, puzzles, progress=progress, adapt=adapt, hooks=hooks)

    def _run(
        self,
        todo: list[Todo],
        done: Callable[[int, Result], None],
        hooks: PlayHooks,
        num_envs: int,
    ) -> None:
        queue = iter(range(len(todo)))
        envs: list[_Episode | None] = [None] * num_envs

        def begin(k: int) -> None:
            j = next(queue, None)
            envs[k] = None if j is None else self._start(j, todo[j])
            if j is not None:
                hooks.started(todo[j][1])

        for k in range(num_envs):
            begin(k)
        live = [(k, e) for k, e in enumerate(envs) if e is not None]
        while live:
            slots = self._act([e for _, e in live])
            ended = []
            for (k, e), slot in zip(live, slots, strict=True):
                e.x += e.actions[slot % e.n]
                e.step += 1
                e.path.append(e.x)
                p = e.puzzle
                status = step_status(
                    e.x, e.step, target=p.target, forbidden=p.forbidden, max_steps=p.max_steps
                )
                if status is Status.IN_PROGRESS:
                    e.goals.advance(p, e.x, ended=False)
                else:
                    ended.append((k, e, status))
            hooks.stepped(len(live))
            if ended:
                for k, e, status in ended:
                    done(todo[e.todo][0], Result.from_path(e.puzzle, e.path, status, e.best))
                    begin(k)
                live = [(k, e) for k, e in enumerate(envs) if e is not None]

    def _start(self, j: int, item: Todo) -> _Episode:
        _, puzzle, best = item
        goals = Subgoals(
            planner=self.planner, window=self.window, horizon=self.horizon, levels=self.levels
        )
        return _Episode(j, puzzle, best, goals, self._glancer(puzzle))

    def _act(self, episodes: list[_Episode]) -> list[int]:
        """The greedy slot of every episode: memoised by glance, one batched call for the rest."""
        memo = self._memo
        out: list[int] = []
        missing: list[tuple[int, Hashable]] = []
        for e in episodes:
            goals = e.goals
            key = e.glance(e.x, goals.subgoal, e.step, goals.exact is not None)
            slot = memo.get(key)
            if slot is None:
                missing.append((len(out), key))
                slot = 0
            out.append(slot)
        if missing:
            vector = self._vector
            fresh = self._greedy_rows([vector(key) for _, key in missing])
            if len(memo) + len(missing) > GLANCE_CACHE_SIZE:
                memo.clear()
            for (i, key), slot in zip(missing, fresh, strict=True):
                memo[key] = out[i] = int(slot)
        return out

    def _greedy_rows(self, rows: list[np.ndarray]) -> list[int]:
        """``greedy`` of each row: one call, or one per width when the rows differ (a
        width-free network playing sets wider than the slots, each in its own width)."""
        widths = {len(row) for row in rows}
        if len(widths) == 1:
            return [int(a) for a in self.greedy(np.stack(rows)).tolist()]
        out = [0] * len(rows)
        for width in sorted(widths):
            at = [i for i, row in enumerate(rows) if len(row) == width]
            for i, a in zip(at, self.greedy(np.stack([rows[i] for i in at])).tolist(), strict=True):
                out[i] = int(a)
        return out
