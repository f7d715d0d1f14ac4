"""Playing puzzles with a policy: the environment stack, batched greedy rollouts, scoring.

The same stack serves training and evaluation, so what is measured is what was trained::

    PuzzleEnv(reward) -> HierarchyWrapper(planner) -> EncodedObservation(encoder)

:func:`play` runs a policy on many puzzles at once through :class:`~hrrl.puzzle.env.PuzzleVecEnv`
(one batched forward pass a step), reports ``UNSOLVABLE`` before any step for puzzles no path
solves (the exact solver is the oracle here, never the policy's helper), and records every number
visited.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from hrrl.engine.task import PolicyFn
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
    queue = iter(todo)
    slot: list[tuple[int, Puzzle, int] | None] = [None] * num_envs
    paths: list[list[int]] = [[] for _ in range(num_envs)]
    dim = int(np.prod(vec.envs[0].observation_space.shape or (1,)))
    obs = np.zeros((num_envs, dim), dtype=np.float32)
    for k in range(num_envs):
        first = next(queue)
        slot[k] = first
        obs[k], _ = vec.reset_one(k, first[1])
        paths[k] = [first[1].start]
    while vec.running.any():
        active = vec.running.copy()
        actions = np.zeros(num_envs, dtype=np.int64)
        idx = np.flatnonzero(active)
        actions[idx] = policy(obs[idx])
        next_obs, _, terminated, truncated, infos = vec.step(actions, active=active)
        obs = next_obs.astype(np.float32, copy=False)
        finished = 0
        for k in map(int, idx):
            paths[k].append(int(infos[k]["current"]))
            if terminated[k] or truncated[k]:
                done = slot[k]
                assert done is not None
                i, puzzle, best = done
                status = Status(infos[k]["status"])
                results[i] = Result.from_path(puzzle, paths[k], status, best)
                finished += 1
                item = next(queue, None)
                slot[k] = item
                if item is not None:
                    obs[k], _ = vec.reset_one(k, item[1])
                    paths[k] = [item[1].start]
        if progress and finished:
            progress(finished)
    vec.close()


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
