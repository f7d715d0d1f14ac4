"""Playing puzzles for a score: the rules every player shares, and the metrics of a suite.

Whoever plays a policy for a score (training-time evaluation, ``hrrl eval``, ``Policy.play``, the
studies) plays through :class:`~hrrl.puzzle.player.BatchPlayer`; :func:`play_with` is the part
every player shares: it reports ``UNSUPPORTED`` (what the policy cannot play, with the reason)
and ``UNSOLVABLE`` (no path solves it: the exact solver is the oracle here, never the policy's
helper) before any step, hands the rest to the player and returns the results in input order.
:func:`eval_metrics` turns results into the flat ``eval/*`` metrics and per-family rows. (The
same puzzles played through the Gymnasium stack, :func:`hrrl.puzzle.stack.play_through_stack`,
are the tests' oracle.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hrrl.puzzle.core import Puzzle
from hrrl.puzzle.solver import optimal_steps
from hrrl.puzzle.suite import FamilyRow, Result, summarize

#: Turns a puzzle into the one a policy plays (the same puzzle, maybe with its actions
#: reordered), or the reason it cannot play it (the line is reported UNSUPPORTED).
Adapter = Callable[[Puzzle], "Puzzle | str"]


def _noop(*_: object) -> None:
    return None


@dataclass(frozen=True)
class PlayHooks:
    """What a caller hears while a player runs (each hook a no-op unless given).

    ``started(puzzle)`` when a puzzle's episode begins, ``finished(index, result)`` as each
    puzzle's result is known (``index`` into the puzzles given; UNSOLVABLE and UNSUPPORTED
    lines come first, before any step), ``stepped(n)`` after each batched step of ``n`` envs.
    """

    started: Callable[[Puzzle], object] = _noop
    finished: Callable[[int, Result], object] = _noop
    stepped: Callable[[int], object] = _noop


#: One solvable puzzle to play: its index in the puzzles given, the puzzle as the stack plays it,
#: and its exact optimum.
Todo = tuple[int, Puzzle, int]
#: Plays ``todo`` (every puzzle once), calling ``done(index, result)`` as each one finishes and
#: the hooks' ``started`` and ``stepped`` as :class:`PlayHooks` describes.
Runner = Callable[[list[Todo], Callable[[int, Result], None], PlayHooks], None]


def play_with(
    run: Runner,
    puzzles: Sequence[Puzzle],
    *,
    progress: Callable[[int], object] | None = None,
    adapt: Adapter | None = None,
    hooks: PlayHooks | None = None,
) -> list[Result]:
    """Every puzzle's result, in the order given: UNSUPPORTED (``adapt`` says what the policy can
    play) and UNSOLVABLE lines settled here, before any step; ``run`` plays the rest.
    ``progress(n)`` hears of every ``n`` puzzles finished; ``hooks`` hear more
    (:class:`PlayHooks`)."""
    hooks = hooks or PlayHooks()
    results: list[Result | None] = [None] * len(puzzles)

    def done(i: int, result: Result) -> None:
        results[i] = result
        hooks.finished(i, result)
        if progress:
            progress(1)

    todo: list[Todo] = []
    for i, puzzle in enumerate(puzzles):
        playable = puzzle if adapt is None else adapt(puzzle)
        if isinstance(playable, str):
            done(i, Result.unsupported(puzzle.id, playable))
            continue
        best = optimal_steps(playable)
        if best is None:
            done(i, Result.unsolvable(puzzle))
        else:
            todo.append((i, playable, best))
    if todo:
        run(todo, done, hooks)
    assert all(r is not None for r in results)
    return [r for r in results if r is not None]


def metric_key(family: str, metric: str, prefix: str = "eval") -> str:
    """The flat key of a family's metric (``eval/<family>/<metric>``; the whole suite, family
    ``"all"``: ``eval/<metric>``)."""
    return f"{prefix}/{metric}" if family == "all" else f"{prefix}/{family}/{metric}"


def eval_metrics(
    results: Sequence[Result], puzzles: Sequence[Puzzle], prefix: str = "eval"
) -> tuple[dict[str, float], list[FamilyRow]]:
    """Flat metrics (``eval/success_rate``, ``eval/efficiency``, per family) and the table rows.

    Success is over solvable puzzles; efficiency is ``optimal / steps`` averaged over successes;
    ``unsolvable_reported`` is the fraction of unsolvable puzzles reported as such (always 1 by
    construction of :func:`play_with`, kept as a check).
    """
    rows = summarize(results, puzzles)
    out: dict[str, float] = {}
    for row in rows:
        out[metric_key(row.family, "success_rate", prefix)] = row.success_rate
        out[metric_key(row.family, "efficiency", prefix)] = row.mean_efficiency
    return out, rows
