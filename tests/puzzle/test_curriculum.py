"""Curriculum: switching by episode count and by success gate, sampling, mixing, state."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hrrl.errors import ConfigError
from hrrl.puzzle.curriculum import DENSE_STAGES, PAPER_STAGES, Curriculum, CurriculumConfig, Stage
from hrrl.puzzle.solver import is_solvable, optimal_steps

THREE = (Stage(targets=(5, 10)), Stage(targets=(12, 18)), Stage(targets=(40, 60)))


def _feed(curriculum: Curriculum, outcomes: list[bool]) -> list[int]:
    """Play ``outcomes``; return the 1-based episode numbers at which the stage advanced."""
    return [i for i, ok in enumerate(outcomes, start=1) if curriculum.on_episode_end(ok)]


# --- episode-count mode ------------------------------------------------------------------------
def test_episode_mode_switches_exactly_at_the_boundaries() -> None:
    c = Curriculum(CurriculumConfig(mode="episodes", stages=THREE, episodes_per_stage=3))
    stages = []
    for _ in range(10):
        stages.append(c.stage)
        c.on_episode_end(False)
    # Episodes 1-3 in stage 0, 4-6 in stage 1, then the last stage for good.
    assert stages == [0, 0, 0, 1, 1, 1, 2, 2, 2, 2]
    assert c.total_episodes == 10 and c.episodes_in_stage == 4


def test_episode_mode_ignores_success() -> None:
    c = Curriculum(CurriculumConfig(mode="episodes", stages=THREE, episodes_per_stage=5))
    assert _feed(c, [True] * 4) == []
    assert _feed(c, [True]) == [1]


# --- gated mode --------------------------------------------------------------------------------
def test_gate_needs_a_full_window() -> None:
    c = Curriculum(CurriculumConfig(mode="gated", stages=THREE, gate_window=4, gate_success=1.0))
    # Three successes: rate 1.0 but the window is not full yet.
    assert _feed(c, [True, True, True]) == []
    assert _feed(c, [True]) == [1]
    assert c.stage == 1 and c.episodes_in_stage == 0 and c.success_rate() == 0.0


def test_gate_opens_at_the_configured_rate_over_the_window() -> None:
    # Window 4, gate 0.75: F T T F -> 0.5, then T -> last four T T F T = 0.75 opens it.
    c = Curriculum(CurriculumConfig(mode="gated", stages=THREE, gate_window=4, gate_success=0.75))
    assert _feed(c, [False, True, True, False]) == []
    assert c.success_rate() == 0.5
    assert _feed(c, [True]) == [1]


def test_gate_window_slides() -> None:
    # Window 4, gate 1.0: an early failure stops counting once four successes follow it.
    c = Curriculum(CurriculumConfig(mode="gated", stages=THREE, gate_window=4, gate_success=1.0))
    assert _feed(c, [False, True, True, True]) == []
    assert c.success_rate() == 0.75
    assert _feed(c, [True]) == [1]


def test_gate_below_rate_never_opens() -> None:
    c = Curriculum(CurriculumConfig(mode="gated", stages=THREE, gate_window=10, gate_success=0.6))
    assert _feed(c, [True, False] * 200) == []
    assert c.stage == 0 and c.success_rate() == 0.5


def test_last_stage_never_advances() -> None:
    c = Curriculum(
        CurriculumConfig(mode="gated", stages=THREE[:1], gate_window=1, gate_success=0.0)
    )
    assert c.final_stage
    assert _feed(c, [True] * 5) == []
    assert c.stage == 0


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.booleans(), max_size=60),
    st.integers(1, 8),
    st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]),
)
def test_gate_matches_a_direct_count(outcomes: list[bool], window: int, rate: float) -> None:
    """Reference: the stage moves after episode i iff the last ``window`` episodes of the
    stage (all within the stage) have at least ``rate * window`` successes."""
    c = Curriculum(
        CurriculumConfig(mode="gated", stages=THREE, gate_window=window, gate_success=rate)
    )
    stage, since = 0, 0
    for i, ok in enumerate(outcomes):
        since += 1
        recent = outcomes[i - min(since, window) + 1 : i + 1]
        expect = stage < 2 and since >= window and sum(recent) / window >= rate
        assert c.on_episode_end(ok) == expect
        if expect:
            stage, since = stage + 1, 0
        assert c.stage == stage


# --- sampling ----------------------------------------------------------------------------------
@pytest.mark.parametrize("index", range(len(DENSE_STAGES)))
def test_samples_follow_the_stage_and_are_solvable(index: int) -> None:
    stage = DENSE_STAGES[index]
    c = Curriculum(CurriculumConfig(stages=(stage,)))
    rng = np.random.default_rng(index)
    for _ in range(40):
        p = c.sample(rng)
        assert stage.targets[0] <= p.target <= stage.targets[1]
        assert p.start == 0 and p.actions == (1, 3, 5)
        assert all(p.start < f < p.target for f in p.forbidden)
        if stage.density is None:
            # The count is drawn from the range, clipped to the numbers available.
            assert min(stage.forbidden[0], p.target - 1) <= len(p.forbidden) <= stage.forbidden[1]
        else:
            lo, hi = stage.density
            assert round(lo * (p.target - 1)) <= len(p.forbidden) <= round(hi * (p.target - 1))
        assert is_solvable(p)
        best = optimal_steps(p)
        assert best is not None and p.max_steps >= best


def test_sampling_uses_the_current_stage() -> None:
    config = CurriculumConfig(mode="episodes", stages=THREE, episodes_per_stage=2, mix_previous=0.0)
    c = Curriculum(config)
    rng = np.random.default_rng(0)
    for expected in THREE:
        assert all(
            expected.targets[0] <= c.sample(rng).target <= expected.targets[1] for _ in range(20)
        )
        c.on_episode_end(True)
        c.on_episode_end(True)


def test_mix_previous_draws_earlier_stages_only_in_the_last() -> None:
    config = CurriculumConfig(mode="episodes", stages=THREE, episodes_per_stage=1, mix_previous=1.0)
    c = Curriculum(config)
    rng = np.random.default_rng(1)
    # Not the last stage: mix_previous has no effect, even at 1.0.
    assert {c.sample(rng).target for _ in range(30)} <= set(range(5, 11))
    c.on_episode_end(True)
    assert {c.sample(rng).target for _ in range(30)} <= set(range(12, 19))
    c.on_episode_end(True)
    assert c.final_stage
    # Last stage with mix 1.0: every puzzle comes from an earlier stage, both of them seen.
    targets = [c.sample(rng).target for _ in range(200)]
    assert all(t <= 18 for t in targets)
    assert any(t <= 10 for t in targets) and any(t >= 12 for t in targets)


def test_mix_previous_fraction() -> None:
    config = CurriculumConfig(stages=THREE, mix_previous=0.25)
    c = Curriculum(config)
    c.stage = 2
    rng = np.random.default_rng(2)
    earlier = sum(c.sample(rng).target < 40 for _ in range(800)) / 800
    assert 0.19 < earlier < 0.31  # 0.25 +- 4.5 standard deviations


def test_no_mixing_with_a_single_stage() -> None:
    c = Curriculum(CurriculumConfig(stages=THREE[2:], mix_previous=1.0))
    rng = np.random.default_rng(3)
    assert all(40 <= c.sample(rng).target <= 60 for _ in range(20))


def test_same_rng_same_puzzles() -> None:
    c = Curriculum(CurriculumConfig(stages=PAPER_STAGES))
    a = [c.sample(np.random.default_rng(9)) for _ in range(3)]
    b = [c.sample(np.random.default_rng(9)) for _ in range(3)]
    assert a == b


# --- state -------------------------------------------------------------------------------------
def test_state_dict_round_trip_continues_identically() -> None:
    config = CurriculumConfig(mode="gated", stages=THREE, gate_window=5, gate_success=0.6)
    outcome_rng = np.random.default_rng(4)
    outcomes = [bool(x) for x in outcome_rng.random(200) < 0.7]
    first = Curriculum(config)
    _feed(first, outcomes[:37])
    state = first.state_dict()
    assert state == {
        "stage": first.stage,
        "episodes_in_stage": first.episodes_in_stage,
        "total_episodes": 37,
        "recent": state["recent"],
    }
    assert all(isinstance(r, bool) for r in state["recent"])

    second = Curriculum(config)
    second.load_state_dict(state)
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    for ok in outcomes[37:]:
        assert first.sample(rng_a) == second.sample(rng_b)
        assert first.on_episode_end(ok) == second.on_episode_end(ok)
        assert first.state_dict() == second.state_dict()


def test_config_validation_names_fields() -> None:
    with pytest.raises(ConfigError, match=r"curriculum\.stages is empty"):
        CurriculumConfig(stages=())
    with pytest.raises(ConfigError, match=r"curriculum\.gate_success=1\.5"):
        CurriculumConfig(gate_success=1.5)
    with pytest.raises(ConfigError, match=r"curriculum\.mode='weekly'"):
        CurriculumConfig(mode="weekly")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"stage density"):
        Stage(targets=(5, 10), density=(0.3, 0.6))
