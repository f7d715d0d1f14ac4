"""Playing puzzles with a policy: the environment stack, batched greedy rollouts, scoring.

The same stack serves training and evaluation, so what is measured is what was trained::

    PuzzleEnv(reward) -> HierarchyWrapper(planner) -> EncodedObservation(encoder)

:func:`play` runs a policy on many puzzles at once through the engine's batched loop
(:func:`~hrrl.engine.vec_env.play_episodes`, one batched forward pass a step), reports ``UNSOLVABLE`` before any step for puzzles no path
solves (the exact solver is the oracle here, never the policy's helper), and records every number
visited.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym

from hrrl.engine.task import PolicyFn
from hrrl.engine.vec_env import EpisodeStart, play_episodes
from hrrl.puzzle.core import Puzzle, Status
from hrrl.puzzle.encoders import EncodedObservation, Encoder, make_encoder
from hrrl.puzzle.env import PuzzleEnv, PuzzleVecEnv
from hrrl.puzzle.hierarchy import HierarchyWrapper
from hrrl.puzzle.solver import optimal_steps
from hrrl.puzzle.suite import FamilyRow, Result, summarize


def make_env(
    *,
    encoder: Encoder,
    reward: str = "ordered",
    planner: str = "constraint",
    actions: Sequence[int] = (1, 3, 5),
) -> gym.Env[Any, Any]:
    """The puzzle environment as the agent sees it (encoded observations, subgoals)."""
    base = PuzzleEnv(reward=reward, actions=tuple(actions))
    return EncodedObservation(HierarchyWrapper(base, planner=planner), encoder)


def make_stack(
    *, encoder_name: str, reward: str, planner: str, actions: Sequence[int]
) -> tuple[Encoder, Callable[[], gym.Env[Any, Any]]]:
    """An encoder and a factory of environments that share it."""
    encoder = make_encoder(encoder_name, actions=tuple(actions))

    def factory() -> gym.Env[Any, Any]:
        return make_env(encoder=encoder, reward=reward, planner=planner, actions=actions)

    return encoder, factory


def play(
    policy: PolicyFn,
    puzzles: Sequence[Puzzle],
    env_factory: Callable[[], gym.Env[Any, Any]],
    *,
    num_envs: int = 128,
    progress: Callable[[int], object] | None = None,
) -> list[Result]:
    """Play every puzzle once with ``policy``; results in the order of ``puzzles``.

    ``progress(n)`` is called with the number of puzzles finished since the last call.
    """
    results: list[Result | None] = [None] * len(puzzles)
    todo: list[tuple[int, Puzzle, int]] = []
    for i, puzzle in enumerate(puzzles):
        best = optimal_steps(puzzle)
        if best is None:
            results[i] = Result.unsolvable(puzzle)
            if progress:
                progress(1)
        else:
            todo.append((i, puzzle, best))
    if todo:
        _play_solvable(policy, todo, env_factory, min(num_envs, len(todo)), results, progress)
    assert all(r is not None for r in results)
    return [r for r in results if r is not None]


def _play_solvable(
    policy: PolicyFn,
    todo: list[tuple[int, Puzzle, int]],
    env_factory: Callable[[], gym.Env[Any, Any]],
    num_envs: int,
    results: list[Result | None],
    progress: Callable[[int], object] | None,
) -> None:
    vec = PuzzleVecEnv([env_factory] * num_envs)
    starts = [EpisodeStart(options={"puzzle": puzzle}) for _, puzzle, _ in todo]
    for played in play_episodes(policy, vec.batch, starts, trace=_current):
        i, puzzle, best = todo[played.index]
        status = Status(played.last_info["status"])
        results[i] = Result.from_path(puzzle, [puzzle.start, *played.trace], status, best)
        if progress:
            progress(1)
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
