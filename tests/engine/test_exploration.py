"""Exploration: the fixed decay by hand; the adaptive schedule raises epsilon on a stalled stage
and lowers it as success rises, while staying in [end, start]."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hrrl.engine.exploration import (
    AdaptiveConfig,
    AdaptiveExploration,
    ExplorationConfig,
    FixedDecay,
    LinearConfig,
    LinearSchedule,
    make_exploration,
)
from hrrl.errors import ConfigError


def test_fixed_decay_by_hand() -> None:
    sched = FixedDecay(ExplorationConfig(kind="decay", start=1.0, end=0.1, decay=0.5))
    seen = []
    for i in range(5):
        seen.append(sched.epsilon)
        sched.on_episode_end(success=i % 2 == 0, stage=i)  # success and stages are ignored
    assert seen == [1.0, 0.5, 0.25, 0.125, 0.1]


def run(
    sched: FixedDecay | AdaptiveExploration, outcomes: list[bool], stage: int = 0
) -> list[float]:
    eps = []
    for ok in outcomes:
        sched.on_episode_end(success=ok, stage=stage)
        eps.append(sched.epsilon)
    return eps


def test_stalled_stage_raises_epsilon_fixed_does_not() -> None:
    config = ExplorationConfig(kind="adaptive")  # checks every 50 episodes, raise x2
    adaptive, fixed = AdaptiveExploration(config), FixedDecay(config)
    outcomes = [False] * 600  # the stage never succeeds
    ad, fx = run(adaptive, outcomes), run(fixed, outcomes)
    assert all(b <= a for a, b in itertools.pairwise(fx))  # fixed only decays
    rises = [i for i in range(1, 600) if ad[i] > ad[i - 1]]
    assert rises == [99, 199, 299, 399, 499, 599]  # a raise, then a check that re-measures
    assert all(a >= f for a, f in zip(ad, fx, strict=True))
    assert ad[-1] > 0.9 and ad[-1] > 10 * fx[-1]  # back near the ceiling at each raise
    assert ad[98] < ad[99] == 1.0  # the scale stops at start / base: no wind-up
    assert adaptive.scale == 20.0  # max_scale


def test_rising_success_lowers_epsilon_below_the_fixed_decay() -> None:
    config = ExplorationConfig(kind="adaptive")
    adaptive, fixed = AdaptiveExploration(config), FixedDecay(config)
    rng = np.random.default_rng(1)
    p = np.minimum(0.95, np.linspace(0.0, 3.0, 1000))  # learning: 0 to 95% in ~300 episodes
    ad, fx = run(adaptive, list(rng.random(1000) < p)), run(fixed, list(rng.random(1000) < p))
    assert adaptive.scale < 1.0
    assert ad[399] < fx[399] and ad[599] < fx[599]


def test_drop_in_success_raises_epsilon() -> None:
    adaptive = AdaptiveExploration(ExplorationConfig(kind="adaptive"))
    rng = np.random.default_rng(0)
    run(adaptive, list(rng.random(400) < np.linspace(0.0, 0.8, 400)))  # learning
    scale_before, eps_before = adaptive.scale, adaptive.epsilon
    assert scale_before < 1.0
    eps = run(adaptive, [False] * 300)  # then the success rate collapses
    assert adaptive.scale > scale_before
    assert max(eps) > eps_before


def test_mastered_stage_is_never_raised() -> None:
    adaptive = AdaptiveExploration(
        ExplorationConfig(kind="adaptive", adaptive=AdaptiveConfig(mastered_rate=0.9))
    )
    eps = run(adaptive, [True] * 500)
    assert adaptive.scale == pytest.approx(0.8**5)  # lowered at 100, 200, ..., 500
    assert all(b <= a for a, b in itertools.pairwise(eps))


def test_new_stage_restarts_its_schedule_and_old_stage_resumes() -> None:
    config = ExplorationConfig(
        kind="adaptive", decay=0.9, adaptive=AdaptiveConfig(stage_restart=0.5)
    )
    adaptive = AdaptiveExploration(config)
    assert adaptive.epsilon == 1.0
    run(adaptive, [True] * 30, stage=0)
    eps_stage0 = adaptive.epsilon
    adaptive.on_stage_change(1)
    assert adaptive.epsilon == 0.5  # warm start of a later stage
    run(adaptive, [False] * 3, stage=1)
    assert adaptive.epsilon == pytest.approx(0.5 * 0.9**3)
    adaptive.on_episode_end(success=True, stage=0)  # the stage argument switches too
    assert adaptive.stage == 0 and adaptive.epsilon < eps_stage0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 3)), max_size=300))
def test_adaptive_epsilon_stays_within_bounds(episodes: list[tuple[bool, int]]) -> None:
    config = ExplorationConfig(
        kind="adaptive", start=0.8, end=0.05,
        adaptive=AdaptiveConfig(stall_patience=3, min_episodes=2, window=10, stage_restart=0.4),
    )  # fmt: skip
    adaptive = AdaptiveExploration(config)
    for ok, stage in episodes:
        adaptive.on_episode_end(success=ok, stage=stage)
        assert 0.05 <= adaptive.epsilon <= 0.8
        assert config.adaptive.min_scale <= adaptive.scale <= config.adaptive.max_scale


@pytest.mark.parametrize("kind", ["decay", "adaptive"])
def test_state_dict_round_trip(kind: str) -> None:
    config = ExplorationConfig(kind=kind)  # type: ignore[arg-type]
    a, b = make_exploration(config), make_exploration(config)
    rng = np.random.default_rng(2)
    for i in range(150):
        a.on_episode_end(success=bool(rng.random() < 0.3), stage=i // 60)
    b.load_state_dict(a.state_dict())
    assert b.epsilon == a.epsilon
    for ok in [True, False, False, True] * 30:
        a.on_episode_end(success=ok, stage=2)
        b.on_episode_end(success=ok, stage=2)
        assert b.epsilon == a.epsilon
    with pytest.raises(ValueError, match="kind"):
        make_exploration(
            ExplorationConfig(kind="adaptive" if kind == "decay" else "decay")
        ).load_state_dict(a.state_dict())


def test_config_is_validated() -> None:
    with pytest.raises(ConfigError, match=r"exploration\.end"):
        ExplorationConfig(start=0.5, end=0.6)
    with pytest.raises(ConfigError, match=r"exploration\.decay"):
        ExplorationConfig(decay=0.0)
    with pytest.raises(ConfigError, match=r"exploration\.kind"):
        ExplorationConfig(kind="ucb")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"exploration\.adaptive\.min_episodes"):
        AdaptiveConfig(window=10, min_episodes=20)
    with pytest.raises(ConfigError, match=r"exploration\.adaptive\.stage_restart"):
        ExplorationConfig(end=0.6, adaptive=AdaptiveConfig(stage_restart=0.5))
    with pytest.raises(ConfigError, match=r"exploration\.linear\.decay_steps.*integer"):
        LinearConfig(decay_steps=1.5)  # type: ignore[arg-type]


def test_linear_schedule_by_hand() -> None:
    sched = make_exploration(
        ExplorationConfig(kind="linear", start=1.0, end=0.1, linear=LinearConfig(decay_steps=100))
    )
    assert isinstance(sched, LinearSchedule)
    seen = []
    for _ in range(4):
        seen.append(sched.epsilon)
        sched.on_env_steps(50)
        sched.on_episode_end(success=True, stage=0)  # ignored
    assert seen == pytest.approx([1.0, 0.55, 0.1, 0.1])
    clone = LinearSchedule(sched.config)
    clone.load_state_dict(sched.state_dict())
    assert clone.epsilon == sched.epsilon
