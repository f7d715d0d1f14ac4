"""The plain-integer player plays exactly what the Gymnasium stack plays: statuses, paths, hooks."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pytest

from hrrl.engine.task import PolicyFn
from hrrl.puzzle.core import Puzzle, Status
from hrrl.puzzle.encoders import make_encoder
from hrrl.puzzle.evaluate import PlayHooks
from hrrl.puzzle.generate import generate_suite
from hrrl.puzzle.player import BatchPlayer
from hrrl.puzzle.rewards import Unscored
from hrrl.puzzle.stack import make_env, make_stack, play_through_stack, stack_adapter
from hrrl.puzzle.suite import Result

SETS = [(1, 3, 5), (1, 2, 7), (2, 5), (2, 4, 6), (3, 4), (1, 4, 6, 9), (1, 5, 11), (5, 3, 1)]
HAND = [
    Puzzle.create(target=100, forbidden=[50], actions=range(1, 10), id="nine-actions"),
    Puzzle.create(target=41, actions=(4, 8), id="residue"),  # unsolvable: 41 is odd
    Puzzle.create(target=33, max_steps=3, id="too-few-steps"),
    Puzzle.create(target=1, id="one-step"),
    Puzzle.create(target=40, actions=(4,), id="single-action"),
    Puzzle.create(target=2_000, forbidden=range(7, 2_000, 37), id="long"),
]
SUITE = generate_suite(["all"], 2, 5, SETS) + HAND


def linear(dim: int, width: int, seed: int) -> PolicyFn:
    """A fixed random linear scorer: some puzzles solved, most ended FORBIDDEN or OVERSHOOT."""
    weights = np.random.default_rng(seed).normal(size=(dim, width)).astype(np.float32)
    return lambda obs: np.argmax(obs @ weights, axis=1)


def cost_greedy(obs: np.ndarray) -> np.ndarray:
    """The slot with the cheapest live landing (cost, then excess; dead and forbidden last):
    solves most puzzles, through every subgoal of long ones."""
    blocks = obs.reshape(len(obs), -1, 13)
    score = blocks[:, :, 4] + blocks[:, :, 5] + 10 * (blocks[:, :, 0] + blocks[:, :, 3])
    return np.argmin(score - 0.01 * blocks[:, :, 6], axis=1)


#: A random slot scorer (8 slots of 13 features).
LINEAR = linear(104, 8, 0)


def recorded() -> tuple[PlayHooks, list[tuple[Any, ...]]]:
    events: list[tuple[Any, ...]] = []
    hooks = PlayHooks(
        started=lambda p: events.append(("started", p.id)),
        finished=lambda i, r: events.append(("finished", i, r.status)),
        stepped=lambda n: events.append(("stepped", n)),
    )
    return hooks, events


@functools.cache
def both(
    encoder_name: str, planner: str, policy: PolicyFn, num_envs: int
) -> tuple[list[Result], list[Result], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The suite played through the Gymnasium stack and by the player, with hook events (the
    fixed-width encoders play a random linear scorer of their 3 outputs)."""
    encoder, factory = make_stack(
        encoder_name=encoder_name, reward=Unscored(), planner=planner, actions=(1, 3, 5)
    )
    greedy = policy if encoder_name == "slots" else linear(encoder.dim, 3, 1)
    adapt = stack_adapter(encoder)
    hooks, gym_events = recorded()
    reference = play_through_stack(
        greedy, SUITE, factory, num_envs=num_envs, adapt=adapt, hooks=hooks
    )
    player = BatchPlayer(encoder=encoder, planner=planner, greedy=greedy)
    hooks, fast_events = recorded()
    fast = player.play(SUITE, num_envs=num_envs, adapt=adapt, hooks=hooks)
    return reference, fast, gym_events, fast_events


@pytest.mark.parametrize(
    ("planner", "num_envs"),
    [
        ("constraint", 1),
        ("constraint", 7),
        ("constraint", 128),
        ("paper", 7),
        ("none", 7),
        ("horizon", 1),
        ("horizon", 7),
    ],
)
@pytest.mark.parametrize("policy", [cost_greedy, LINEAR], ids=["cost", "linear"])
def test_player_plays_what_the_gymnasium_stack_plays(
    policy: PolicyFn, planner: str, num_envs: int
) -> None:
    reference, fast, gym_events, fast_events = both("slots", planner, policy, num_envs)
    assert fast == reference
    assert fast_events == gym_events


@pytest.mark.parametrize("encoder_name", ["paper", "relational"])
def test_player_plays_fixed_width_encoders_like_the_stack(encoder_name: str) -> None:
    reference, fast, gym_events, fast_events = both(encoder_name, "paper", cost_greedy, 7)
    assert fast == reference
    assert fast_events == gym_events


def test_the_comparison_covers_every_ending() -> None:
    seen: set[Status] = set()
    for policy in (cost_greedy, LINEAR):
        reference, *_ = both("slots", "constraint", policy, 7)
        seen |= {r.status for r in reference}
    assert seen == {
        Status.SUCCESS,
        Status.FORBIDDEN,
        Status.OVERSHOOT,
        Status.MAX_STEPS,
        Status.UNSOLVABLE,
        Status.UNSUPPORTED,
    }


def test_memo_calls_the_policy_once_per_new_glance() -> None:
    encoder, _ = make_stack(
        encoder_name="slots", reward=Unscored(), planner="constraint", actions=(1, 3, 5)
    )
    rows: list[int] = []

    def counted(obs: np.ndarray) -> np.ndarray:
        rows.append(len(obs))
        return cost_greedy(obs)

    player = BatchPlayer(encoder=encoder, planner="constraint", greedy=counted)
    long = [p for p in HAND if p.id == "long"]
    first = player.play(long)
    calls = sum(rows)
    assert calls < first[0].steps  # the glances of a long puzzle repeat
    assert player.play(long) == first and sum(rows) == calls  # all remembered


def test_a_width_free_player_plays_any_width_as_a_stack_of_that_width_does() -> None:
    """Issue 27: the env has 8 slots, so a set of 9-32 actions is UNSUPPORTED there; a
    width-free network (slot or set) plays it in its own width through the player, each
    batch grouped by width, exactly as a stack with 32 slots plays it."""
    wide = generate_suite(["wide"], 6, 5)
    assert {len(p.actions) for p in wide} & set(range(9, 33))
    suite = [*wide, *SUITE]
    encoder, _ = make_stack(
        encoder_name="slots", reward=Unscored(), planner="horizon", actions=(1, 3, 5)
    )
    assert all(isinstance(stack_adapter(encoder)(p), str) for p in wide if len(p.actions) > 8)
    player = BatchPlayer(encoder=encoder, planner="horizon", greedy=cost_greedy)
    fast = player.play(suite, num_envs=16, adapt=stack_adapter(encoder, width_free=True))
    wider = make_encoder("slots", slots=32)

    def factory() -> Any:
        return make_env(encoder=wider, reward=Unscored(), planner="horizon")

    reference = play_through_stack(
        cost_greedy, suite, factory, num_envs=16, adapt=stack_adapter(wider)
    )
    assert fast == reference
    assert Status.UNSUPPORTED not in {r.status for r in fast}
    assert sum(r.status is Status.SUCCESS for r in fast[: len(wide)]) >= len(wide) // 2
