"""The puzzle's environment stack: what the agent trains on, and what a policy can play.

::

    PuzzleEnv(reward) -> HierarchyWrapper(planner) -> EncodedObservation(encoder)

Training collects through this stack (:class:`~hrrl.puzzle.task.PuzzleTask`,
``gym.make("hrrl/NumberPuzzle-v0")``); every greedy play for a score goes through
:class:`~hrrl.puzzle.player.BatchPlayer`, which plays the same rules on plain integers.
:func:`stack_adapter` says which puzzles a policy behind an encoder can play.

:func:`play_through_stack` plays puzzles through the stack itself, one Gymnasium step at a time:
it is the oracle the tests hold the player to (same statuses, same paths), not a second player.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym

from hrrl.engine.task import PolicyFn
from hrrl.engine.vec_env import EpisodeStart, play_episodes
from hrrl.puzzle.config import PuzzleConfig
from hrrl.puzzle.core import Puzzle, Status
from hrrl.puzzle.encoders import EncodedObservation, Encoder, make_encoder
from hrrl.puzzle.encoders.slots import unsupported_reason
from hrrl.puzzle.env import PuzzleEnv, PuzzleVecEnv
from hrrl.puzzle.evaluate import Adapter, PlayHooks, Todo, play_with
from hrrl.puzzle.hierarchy import HierarchyWrapper
from hrrl.puzzle.horizon import HORIZON_WINDOWS
from hrrl.puzzle.levels import MAX_LEVELS
from hrrl.puzzle.rewards import RewardScheme
from hrrl.puzzle.suite import Result

#: Encoders with a window (``window_factor``) that ``make_stack``'s ``window`` sets.
WINDOWED = ("slots", "relational")
#: Makes one environment of a stack.
EnvFactory = Callable[[], gym.Env[Any, Any]]


def make_env(
    *,
    encoder: Encoder,
    reward: str | RewardScheme = "ordered",
    planner: str = "constraint",
    actions: Sequence[int] = (1, 3, 5),
    horizon: int = HORIZON_WINDOWS,
    levels: int = MAX_LEVELS,
) -> gym.Env[Any, Any]:
    """The puzzle environment as the agent sees it (encoded observations, subgoals).

    A slot encoder (``encoder.slots``) gets an environment that plays each puzzle's own actions.
    """
    slots = getattr(encoder, "slots", None)
    base = PuzzleEnv(reward=reward, actions=tuple(actions), slots=slots)
    hierarchy = HierarchyWrapper(base, planner=planner, horizon=horizon, levels=levels)
    return EncodedObservation(hierarchy, encoder)


def make_stack(
    *,
    encoder_name: str,
    reward: str | RewardScheme,
    planner: str,
    actions: Sequence[int],
    horizon: int = HORIZON_WINDOWS,
    levels: int = MAX_LEVELS,
    window: int | None = None,
) -> tuple[Encoder, EnvFactory]:
    """An encoder and a factory of environments that share it (``reward`` may be a scheme, such
    as :class:`~hrrl.puzzle.rewards.Unscored` for play only; ``window``: the encoder's window in
    largest-action strides, None for its own; an encoder without one ignores it)."""
    options = {} if window is None or encoder_name not in WINDOWED else {"window_factor": window}
    encoder = make_encoder(encoder_name, actions=tuple(actions), **options)

    def factory() -> gym.Env[Any, Any]:
        return make_env(
            encoder=encoder,
            reward=reward,
            planner=planner,
            actions=actions,
            horizon=horizon,
            levels=levels,
        )

    return encoder, factory


def stack_of(
    config: PuzzleConfig, reward: str | RewardScheme | None = None
) -> tuple[Encoder, EnvFactory]:
    """:func:`make_stack` of a puzzle section's stack fields (every one a policy keeps,
    ``experiment.STACK_KEYS``), with its own reward unless ``reward`` is given."""
    return make_stack(
        encoder_name=config.encoder,
        reward=config.reward if reward is None else reward,
        planner=config.planner,
        actions=config.actions,
        horizon=config.horizon,
        levels=config.levels,
        window=config.window,
    )


def n_actions_of(encoder: Encoder) -> int:
    """Width of the network's output for this encoder: its slots, or its action tuple's length."""
    slots = getattr(encoder, "slots", None)
    return int(slots) if slots is not None else len(encoder.actions)


def stack_adapter(encoder: Encoder, *, width_free: bool = False) -> Adapter:
    """What a policy behind ``encoder`` can play.

    A slot encoder plays any set of up to ``slots`` actions (the environment's width); with a
    ``width_free`` network (one whose weights do not depend on the number of actions, played
    by the batched player in each puzzle's own width) any set at all. An
    encoder built for one action tuple (a fixed-width network: the baseline's 3 heads) plays
    that set in any order (the puzzle is the same with its actions listed in the trained order)
    and nothing else.
    """
    slots = getattr(encoder, "slots", None)
    if slots is not None:

        def any_set(puzzle: Puzzle) -> Puzzle | str:
            return puzzle if width_free else unsupported_reason(puzzle, int(slots)) or puzzle

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


def play_through_stack(
    policy: PolicyFn,
    puzzles: Sequence[Puzzle],
    env_factory: EnvFactory,
    *,
    num_envs: int = 128,
    progress: Callable[[int], object] | None = None,
    adapt: Adapter | None = None,
    hooks: PlayHooks | None = None,
) -> list[Result]:
    """Play every puzzle once with ``policy`` through ``env_factory``'s environments (the tests'
    oracle for :class:`~hrrl.puzzle.player.BatchPlayer`); results in the order of ``puzzles``.

    ``adapt`` (see :func:`stack_adapter`) says what the policy can play; a puzzle it cannot is
    ``UNSUPPORTED`` with the reason and the rest still runs. ``progress(n)`` is called with the
    number of puzzles finished since the last call; ``hooks`` hear more (:class:`PlayHooks`).
    """

    def run(todo: list[Todo], done: Callable[[int, Result], None], hooks: PlayHooks) -> None:
        _play_solvable(policy, todo, env_factory, min(num_envs, len(todo)), done, hooks)

    return play_with(run, puzzles, progress=progress, adapt=adapt, hooks=hooks)


def _play_solvable(
    policy: PolicyFn,
    todo: list[Todo],
    env_factory: EnvFactory,
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
