"""Playing puzzles with a policy: the environment stack, batched greedy rollouts, scoring.

The same stack serves training and evaluation, so what is measured is what was trained::

    PuzzleEnv(reward) -> HierarchyWrapper(planner) -> EncodedObservation(encoder)

:func:`play` runs a policy on many puzzles at once through the engine's batched loop
(:func:`~hrrl.engine.vec_env.play_episodes`, one batched forward pass a step), reports
``UNSOLVABLE`` before any step for puzzles no path solves (the exact solver is the oracle here,
never the policy's helper), and records every number visited.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym

from hrrl.engine.task import PolicyFn
from hrrl.engine.vec_env import EpisodeStart, play_episodes
from hrrl.puzzle.core import Puzzle, Status
from hrrl.puzzle.encoders import EncodedObservation, Encoder, make_encoder
from hrrl.puzzle.encoders.slots import unsupported_reason
from hrrl.puzzle.env import PuzzleEnv, PuzzleVecEnv
from hrrl.puzzle.hierarchy import HierarchyWrapper
from hrrl.puzzle.horizon import HORIZON_WINDOWS
from hrrl.puzzle.rewards import RewardScheme
from hrrl.puzzle.solver import optimal_steps
from hrrl.puzzle.suite import FamilyRow, Result, summarize

#: Turns a puzzle into the one a stack plays (the same puzzle, maybe with its actions reordered),
#: or the reason the stack cannot play it (the line is reported UNSUPPORTED).
Adapter = Callable[[Puzzle], "Puzzle | str"]


def _noop(*_: object) -> None:
    return None


@dataclass(frozen=True)
class PlayHooks:
    """What a caller hears while :func:`play` runs (each hook a no-op unless given).

    ``started(puzzle)`` when a puzzle's episode begins, ``finished(index, result)`` as each
    puzzle's result is known (``index`` into the puzzles given; UNSOLVABLE and UNSUPPORTED
    lines come first, before any step), ``stepped(n)`` after each batched step of ``n`` envs.
    """

    started: Callable[[Puzzle], object] = _noop
    finished: Callable[[int, Result], object] = _noop
    stepped: Callable[[int], object] = _noop


def make_env(
    *,
    encoder: Encoder,
    reward: str | RewardScheme = "ordered",
    planner: str = "constraint",
    actions: Sequence[int] = (1, 3, 5),
    horizon: int = HORIZON_WINDOWS,
) -> gym.Env[Any, Any]:
    """The puzzle environment as the agent sees it (encoded observations, subgoals).

    A slot encoder (``encoder.slots``) gets an environment that plays each puzzle's own actions.
    """
    slots = getattr(encoder, "slots", None)
    base = PuzzleEnv(reward=reward, actions=tuple(actions), slots=slots)
    return EncodedObservation(HierarchyWrapper(base, planner=planner, horizon=horizon), encoder)


def make_stack(
    *,
    encoder_name: str,
    reward: str | RewardScheme,
    planner: str,
    actions: Sequence[int],
    horizon: int = HORIZON_WINDOWS,
) -> tuple[Encoder, Callable[[], gym.Env[Any, Any]]]:
    """An encoder and a factory of environments that share it (``reward`` may be a scheme, such
    as :class:`~hrrl.puzzle.rewards.Unscored` for play only)."""
    encoder = make_encoder(encoder_name, actions=tuple(actions))

    def factory() -> gym.Env[Any, Any]:
        return make_env(
            encoder=encoder, reward=reward, planner=planner, actions=actions, horizon=horizon
        )

    return encoder, factory


def n_actions_of(encoder: Encoder) -> int:
    """Width of the network's output for this encoder: its slots, or its action tuple's length."""
    slots = getattr(encoder, "slots", None)
    return int(slots) if slots is not None else len(encoder.actions)


def stack_adapter(encoder: Encoder) -> Adapter:
    """What a policy behind ``encoder`` can play.

    A slot encoder plays any set of up to ``slots`` actions. An encoder built for one action
    tuple (a fixed-width network: the baseline's 3 heads) plays that set in any order (the
    puzzle is the same with its actions listed in the trained order) and nothing else.
    """
    slots = getattr(encoder, "slots", None)
    if slots is not None:

        def any_set(puzzle: Puzzle) -> Puzzle | str:
            return unsupported_reason(puzzle, int(slots)) or puzzle

        return any_set
    return fixed_adapter(encoder.actions, f"one output per action (the {encoder.name} encoder)")


def fixed_adapter(actions: Sequence[int], why: str = "one output per action") -> Adapter:
    """A player of one action set: the same set in any order, else UNSUPPORTED (``why`` says
    what fixes its width)."""
    trained = tuple(actions)

    def fixed(puzzle: Puzzle) -> Puzzle | str:
        if puzzle.actions == trained:
            return puzzle
        if sorted(puzzle.actions) == sorted(trained):
            return dataclasses.replace(puzzle, actions=trained)
        return (
            f"this policy plays only actions {list(trained)} ({why}): it cannot play "
            f"actions {list(puzzle.actions)}"
        )

    return fixed


#: One solvable puzzle to play: its index in the puzzles given, the puzzle as the stack plays it,
#: and its exact optimum.
Todo = tuple[int, Puzzle, int]
#: Plays ``todo`` (every puzzle once), calling ``done(index, result)`` as each one finishes and
#: the hooks' ``started`` and ``stepped`` as :func:`play` describes.
Runner = Callable[[list[Todo], Callable[[int, Result], None], PlayHooks], None]


def play(
    policy: PolicyFn,
    puzzles: Sequence[Puzzle],
    env_factory: Callable[[], gym.Env[Any, Any]],
    *,
    num_envs: int = 128,
    progress: Callable[[int], object] | None = None,
    adapt: Adapter | None = None,
    hooks: PlayHooks | None = None,
) -> list[Result]:
    """Play every puzzle once with ``policy`` through ``env_factory``'s environments; results in
    the order of ``puzzles``.

    ``adapt`` (see :func:`stack_adapter`) says what the policy can play; a puzzle it cannot is
    ``UNSUPPORTED`` with the reason and the rest still runs. ``progress(n)`` is called with the
    number of puzzles finished since the last call; ``hooks`` hear more (:class:`PlayHooks`).
    """

    def run(todo: list[Todo], done: Callable[[int, Result], None], hooks: PlayHooks) -> None:
        _play_solvable(policy, todo, env_factory, min(num_envs, len(todo)), done, hooks)

    return play_with(run, puzzles, progress=progress, adapt=adapt, hooks=hooks)


def play_with(
    run: Runner,
    puzzles: Sequence[Puzzle],
    *,
    progress: Callable[[int], object] | None = None,
    adapt: Adapter | None = None,
    hooks: PlayHooks | None = None,
) -> list[Result]:
    """:func:`play` with the solvable puzzles played by ``run``: the UNSUPPORTED and UNSOLVABLE
    lines are settled here, before any step, whoever plays the rest."""
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


def _play_solvable(
    policy: PolicyFn,
    todo: list[Todo],
    env_factory: Callable[[], gym.Env[Any, Any]],
    num_envs: int,
    done: Callable[[int, Result], None],
    hooks: PlayHooks,
) -> None:
    vec = PuzzleVecEnv([env_factory] * num_envs)
    starts = [EpisodeStart(options={"puzzle": puzzle}) for _, puzzle, _ in todo]
    played_all = play_episodes(
        policy,
        vec.batch,
        starts,
        trace=_current,
        on_start=lambda k: hooks.started(todo[k][1]),
        on_step=hooks.stepped,
    )
    for played in played_all:
        i, puzzle, best = todo[played.index]
        status = Status(played.last_info["status"])
        done(i, Result.from_path(puzzle, [puzzle.start, *played.trace], status, best))
    vec.close()


def _current(info: dict[str, Any]) -> int:
    """The number an env landed on this step (one entry of a result's path)."""
    return int(info["current"])


def eval_metrics(
    results: Sequence[Result], puzzles: Sequence[Puzzle], prefix: str = "eval"
) -> tuple[dict[str, float], list[FamilyRow]]:
    """Flat metrics (``eval/success_rate``, ``eval/efficiency``, per family) and the table rows.

    Success is over solvable puzzles; efficiency is ``optimal / steps`` averaged over successes;
    ``unsolvable_reported`` is the fraction of unsolvable puzzles reported as such (always 1 by
    construction of :func:`play`, kept as a check).
    """
    rows = summarize(results, puzzles)
    out: dict[str, float] = {}
    for row in rows:
        key = prefix if row.family == "all" else f"{prefix}/{row.family}"
        out[f"{key}/success_rate"] = row.success_rate
        out[f"{key}/efficiency"] = row.mean_efficiency
    return out, rows
