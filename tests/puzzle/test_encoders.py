"""Encoders: hand-worked vectors, the window DP against independent oracles, exact invariances,
and the Gymnasium wrapper on the real env and hierarchy."""

from __future__ import annotations

import math
from functools import cache

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from hypothesis import given, settings
from hypothesis import strategies as st

from hrrl.errors import ConfigError, PuzzleError
from hrrl.puzzle.core import Puzzle, PuzzleView
from hrrl.puzzle.encoders import (
    ENCODER_NAMES,
    EncodedObservation,
    Encoder,
    PaperEncoder,
    RelationalEncoder,
    make_encoder,
)
from hrrl.puzzle.solver import UNREACHABLE, distances_to_target

FAST = settings(max_examples=60, deadline=None)
PER_ACTION = ("forbidden", "overshoot", "hit", "dead_end", "cost", "subgoal")
SCALARS = ("target_gap", "target_in_window", "subgoal_gap", "subgoal_in_window")


def view(
    *,
    target: int,
    forbidden: tuple[int, ...] = (),
    current: int,
    step: int = 0,
    max_steps: int = 50,
    start: int = 0,
    subgoal: int | None = None,
    actions: tuple[int, ...] = (1, 3, 5),
) -> PuzzleView:
    p = Puzzle.create(
        target=target, forbidden=forbidden, actions=actions, start=start, max_steps=max_steps
    )
    return PuzzleView(
        puzzle=p, current=current, subgoal=target if subgoal is None else subgoal, step=step
    )


def feat(enc: Encoder, vec: np.ndarray) -> dict[str, float]:
    return {n: float(v) for n, v in zip(enc.feature_names, vec, strict=True)}


# --- paper encoder: hand-worked -------------------------------------------------------------------
PAPER_CASES = [
    # x=5 of 0 -> 20, F={7, 12}, step 1 of 30: gap 15.
    (
        dict(target=20, forbidden=(7, 12), current=5, step=1, max_steps=30),
        # progress 5/20, remaining 15/20, time 1/30, ln 16, 15/100, not close (15 > 10),
        # far (15 >= 10), nearest forbidden |5-7| = 2 -> 1/3, pressure {7,12}: 2/16,
        # phase far (15 > 10), ceil(15/5) = 3, 3/(30-1+1)
        [0.25, 0.75, 1 / 30, math.log(16), 0.15, 0, 1, 1 / 3, 2 / 16, 0, 3, 3 / 30],
    ),
    # x=14 of 0 -> 20, no forbidden, step 4 of 10: gap 6.
    (
        dict(target=20, current=14, step=4, max_steps=10),
        # 14/20, 6/20, 4/10, ln 7, 0.06, close, not far (6 < 10), no danger, 0/7,
        # phase close (6 <= 10), ceil(6/5) = 2, 2/(10-4+1)
        [0.7, 0.3, 0.4, math.log(7), 0.06, 1, 0, 0, 0, 2, 2, 2 / 7],
    ),
    # Hierarchy: start 10, target 50, active subgoal 30, x=18, F={8, 25, 40}, step 2 of 20.
    # T = 30, span = T - start = 20, gap = 12.
    (
        dict(
            target=50, forbidden=(8, 25, 40), current=18, step=2, max_steps=20, start=10, subgoal=30
        ),
        # (18-10)/20, 12/20, 2/20, ln 13, 0.12, not close, far (12 >= 10),
        # nearest: |18-25| = 7 (|18-8| = 10, |18-40| = 22) -> 1/8, between (18, 30): {25} -> 1/13,
        # phase far (12 > 10), ceil(12/5) = 3, 3/(20-2+1)
        [0.4, 0.6, 0.1, math.log(13), 0.12, 0, 1, 1 / 8, 1 / 13, 0, 3, 3 / 19],
    ),
    # Medium phase: x=25 of 0 -> 40, F={24, 30, 39}, actions (1, 2), step 9 of 40: gap 15.
    (
        dict(target=40, forbidden=(24, 30, 39), current=25, step=9, max_steps=40, actions=(1, 2)),
        # 25/40, 15/40, 9/40, ln 16, 0.15, not close, not far (15 < 20), nearest |25-24| = 1 -> 1/2,
        # between (25, 40): {30, 39} -> 2/16, phase medium (10 < 15 <= 20), ceil(15/2) = 8, 8/32
        [0.625, 0.375, 0.225, math.log(16), 0.15, 0, 0, 0.5, 2 / 16, 1, 8, 8 / 32],
    ),
]


@pytest.mark.parametrize(("kwargs", "expected"), PAPER_CASES)
def test_paper_hand_worked(kwargs: dict[str, object], expected: list[float]) -> None:
    v = view(**kwargs)  # type: ignore[arg-type]
    enc = make_encoder("paper", actions=v.puzzle.actions)
    out = enc.encode(v)
    assert out.dtype == np.float32 and out.shape == (12,)
    np.testing.assert_allclose(out, np.array(expected, dtype=np.float32), rtol=1e-6)


def test_paper_feature_order_and_overshoot_is_finite() -> None:
    enc = PaperEncoder()
    assert enc.feature_names == (
        "progress_ratio",
        "remaining_ratio",
        "time_ratio",
        "log_gap",
        "gap_magnitude",
        "is_close",
        "is_far",
        "danger_proximity",
        "constraint_pressure",
        "phase",
        "min_steps",
        "efficiency_ratio",
    )
    # Terminal observation after overshooting 20 by 3: signed ratios, clamped log/pressure/steps.
    f = feat(enc, enc.encode(view(target=20, current=23, step=5, max_steps=10)))
    assert f["remaining_ratio"] == pytest.approx(-3 / 20)
    assert f["log_gap"] == 0 and f["min_steps"] == 0 and f["constraint_pressure"] == 0
    assert f["phase"] == 2 and f["is_close"] == 1


# --- relational encoder: hand-worked --------------------------------------------------------------
def test_relational_hand_worked_target_in_window() -> None:
    # W = 1 * 5 = 5; x = 0, target 4, F = {2}; subgoal 3; step 0 of 10.
    #   cell:    1  2  3  4  5
    #   forb:    0  1  0  0  0
    #   past:    0  0  0  0  1
    #   target:  0  0  0  1  0
    #   live:    1  0  1  1  0     (1 -> 4 by +3, 3 -> 4 by +1; the edge is past the target)
    enc = RelationalEncoder(window_factor=1)
    assert enc.dim == 4 * 5 + 6 * 3 + 4
    f = feat(enc, enc.encode(view(target=4, forbidden=(2,), current=0, subgoal=3, max_steps=10)))
    occupancy = {
        k: [f[f"{k}@+{o}"] for o in range(1, 6)]
        for k in ("forbidden", "past_target", "target", "live")
    }
    assert occupancy == {
        "forbidden": [0, 1, 0, 0, 0],
        "past_target": [0, 0, 0, 0, 1],
        "target": [0, 0, 0, 1, 0],
        "live": [1, 0, 1, 1, 0],
    }
    # a1 lands on 1 (one step to 4), a3 on 3 (one step), a5 on 5 (past the target: dead, cost 2).
    per_action = {a: [f[f"a{a}.{k}"] for k in PER_ACTION] for a in (1, 3, 5)}
    assert per_action == {1: [0, 0, 0, 0, 1, 0], 3: [0, 0, 0, 0, 1, 1], 5: [0, 1, 0, 1, 2, 1]}
    # gap 4/5, subgoal 3/5, both in the window.
    scalars = [f[k] for k in SCALARS]
    assert scalars == pytest.approx([0.8, 1, 0.6, 1])


def test_relational_hand_worked_target_beyond_window() -> None:
    # W = 5; x = 0, target 100, F = {3, 4, 5}; step 4 of 30. Edge cells (6..10) are live.
    #   cell 2: 3, 5 forbidden, 7 edge -> cost 1;  cell 1: 2 (cost 1) or 6 (edge) -> cost 1.
    enc = RelationalEncoder(window_factor=1)
    f = feat(
        enc, enc.encode(view(target=100, forbidden=(3, 4, 5), current=0, step=4, max_steps=30))
    )
    assert [f[f"live@+{o}"] for o in range(1, 6)] == [1, 1, 0, 0, 0]
    assert [f[f"past_target@+{o}"] for o in range(1, 6)] == [0] * 5
    per_action = {a: [f[f"a{a}.{k}"] for k in PER_ACTION] for a in (1, 3, 5)}
    assert per_action == {1: [0, 0, 0, 0, 1, 0], 3: [1, 0, 0, 1, 2, 0], 5: [1, 0, 0, 1, 2, 0]}
    # target (and subgoal = target) beyond the window: gaps clipped to 1, not in view.
    scalars = [f[k] for k in SCALARS]
    assert scalars == pytest.approx([1, 0, 1, 0])


# --- relational encoder: the window DP against oracles --------------------------------------------
@st.composite
def local_puzzles(draw: st.DrawFn, *, target_in_window: bool) -> PuzzleView:
    actions = tuple(draw(st.lists(st.integers(1, 7), min_size=1, max_size=4, unique=True)))
    w = 8 * max(actions)
    x = draw(st.integers(-50, 50))
    gap = draw(st.integers(1, w) if target_in_window else st.integers(w + 1, 4 * w))
    offsets = draw(st.sets(st.integers(1, min(gap, w + max(actions))), max_size=w // 2))
    forbidden = tuple(x + o for o in offsets if o != gap)
    start = x - draw(st.integers(0, 20))
    return PuzzleView(
        puzzle=Puzzle.create(
            target=x + gap, forbidden=forbidden, actions=actions, start=start, max_steps=10**4
        ),
        current=x,
        subgoal=x + gap,
        step=draw(st.integers(0, 100)),
    )


@FAST
@given(local_puzzles(target_in_window=True))
def test_window_with_target_agrees_with_exact_solver(v: PuzzleView) -> None:
    # With the target in view, "live" is exact: it means "can still land on the target", and the
    # cost-to-go is the exact distance (clipped), so it must match the solver from x.
    enc = RelationalEncoder(actions=v.puzzle.actions)
    f = feat(enc, enc.encode(v))
    p, x = v.puzzle, v.current
    local = Puzzle.create(
        target=p.target,
        forbidden=[n for n in p.forbidden if n > x],
        actions=p.actions,
        start=x,
        max_steps=10**4,
    )
    dist = distances_to_target(local)
    for o in range(1, enc.window + 1):
        reachable = x + o <= p.target and dist[o] != UNREACHABLE
        assert f[f"live@+{o}"] == reachable
    for a in p.actions:
        d = dist[a] if x + a <= p.target else UNREACHABLE
        assert f[f"a{a}.dead_end"] == (d == UNREACHABLE)
        expected = 2.0 if d == UNREACHABLE else min(d / 8, 2.0)
        assert f[f"a{a}.cost"] == pytest.approx(expected)
        assert f[f"a{a}.hit"] == (x + a == p.target)
        assert f[f"a{a}.overshoot"] == (x + a > p.target)


@FAST
@given(local_puzzles(target_in_window=False))
def test_window_without_target_agrees_with_brute_force(v: PuzzleView) -> None:
    # Oracle: plain recursion over the window; any landing past x + W counts as "got through".
    enc = RelationalEncoder(actions=v.puzzle.actions)
    f = feat(enc, enc.encode(v))
    x, w, actions, forbidden = v.current, enc.window, v.puzzle.actions, v.puzzle.forbidden

    @cache
    def steps_out(o: int) -> float:
        if o > w:
            return 0
        if x + o in forbidden:
            return math.inf
        return 1 + min(steps_out(o + a) for a in actions)

    for o in range(1, w + 1):
        assert f[f"live@+{o}"] == (steps_out(o) < math.inf)
    for a in actions:
        assert f[f"a{a}.cost"] == pytest.approx(min(steps_out(a) / 8, 2.0))


# --- relational encoder: exact invariances --------------------------------------------------------
@FAST
@given(
    st.one_of(local_puzzles(target_in_window=True), local_puzzles(target_in_window=False)),
    st.integers(-(10**7), 10**7),
    st.integers(-30, 30),
)
def test_translation_changes_nothing(v: PuzzleView, shift: int, subgoal_offset: int) -> None:
    p = v.puzzle
    sub = min(v.current + abs(subgoal_offset), p.target)
    moved = PuzzleView(
        puzzle=Puzzle.create(
            target=p.target + shift,
            forbidden=[n + shift for n in p.forbidden],
            actions=p.actions,
            start=p.start + shift,
            max_steps=p.max_steps,
        ),
        current=v.current + shift,
        subgoal=sub + shift,
        step=v.step,
    )
    enc = RelationalEncoder(actions=p.actions)
    original = PuzzleView(puzzle=p, current=v.current, subgoal=sub, step=v.step)
    np.testing.assert_array_equal(enc.encode(original), enc.encode(moved))


@FAST
@given(
    actions=st.lists(st.integers(1, 7), min_size=1, max_size=4, unique=True).map(tuple),
    data=st.data(),
)
def test_far_target_moved_much_further_changes_nothing(
    actions: tuple[int, ...], data: st.DataObject
) -> None:
    # A situation seen in training (target a few windows away) and the same situation with the
    # target up to 100x further, extra forbidden numbers beyond the window, and an unrelated step
    # count and budget: bit-for-bit the same vector (no feature reads time).
    amax = max(actions)
    w = 8 * amax
    x = data.draw(st.integers(0, 1000))
    near = amax * data.draw(st.integers(w // amax + 1, 60))  # a multiple of the largest action
    factor = data.draw(st.integers(2, 100))
    far = near * factor
    in_view = data.draw(st.sets(st.integers(1, w), max_size=w // 3))
    beyond = data.draw(st.sets(st.integers(w + 1, far - 1), max_size=20))
    left, step = data.draw(st.integers(1, 400)), data.draw(st.integers(0, 50))
    other_left, other_step = data.draw(st.integers(1, 10**5)), data.draw(st.integers(0, 10**4))
    subgoal = data.draw(st.sampled_from(["target", "in_view"]))
    sub_offset = data.draw(st.integers(1, w)) if subgoal == "in_view" else None

    def situation(gap: int, extra: set[int], budget_left: int, steps: int) -> PuzzleView:
        p = Puzzle.create(
            target=x + gap,
            forbidden=[x + o for o in in_view | extra],
            actions=actions,
            max_steps=steps + budget_left,
        )
        return PuzzleView(puzzle=p, current=x, subgoal=x + (sub_offset or gap), step=steps)

    enc = RelationalEncoder(actions=actions)
    np.testing.assert_array_equal(
        enc.encode(situation(near, set(), left, step)),
        enc.encode(situation(far, beyond, other_left, other_step)),
    )


def test_target_500_or_50000_away_reads_the_same() -> None:
    # The brief's example; the budgets differ as they would (twice the fewest steps in each).
    enc = make_encoder("relational")
    near = view(target=1500, forbidden=(1003, 1004, 1020), current=1000, step=7, max_steps=7 + 200)
    far = view(
        target=51000,
        forbidden=(1003, 1004, 1020, 1041, 30000),
        current=1000,
        step=7,
        max_steps=7 + 20000,
    )
    a, b = enc.encode(near), enc.encode(far)
    np.testing.assert_array_equal(a, b)
    assert feat(enc, a)["target_gap"] == 1.0 and feat(enc, a)["target_in_window"] == 0.0


# --- both encoders: the protocol ------------------------------------------------------------------
@pytest.mark.parametrize("name", ENCODER_NAMES)
@FAST
@given(v=st.one_of(local_puzzles(target_in_window=True), local_puzzles(target_in_window=False)))
def test_protocol_shapes_bounds_and_batch(name: str, v: PuzzleView) -> None:
    enc = make_encoder(name, actions=v.puzzle.actions)
    assert isinstance(enc, Encoder)
    out = enc.encode(v)
    assert out.dtype == np.float32 and out.shape == (enc.dim,)
    assert len(enc.feature_names) == enc.dim == len(set(enc.feature_names))
    assert [n for n, _ in enc.describe()] == list(enc.feature_names)
    assert np.all(np.isfinite(out)) and np.all(out >= enc.low) and np.all(out <= enc.high)
    batch = enc.encode_batch([v, v])
    assert batch.shape == (2, enc.dim) and batch.dtype == np.float32
    np.testing.assert_array_equal(batch[1], out)
    assert enc.spec()["name"] == name and enc.spec()["dim"] == enc.dim


def test_bad_input_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="encoder='nope'"):
        make_encoder("nope")
    with pytest.raises(ConfigError, match="actions"):
        make_encoder("relational", actions=(1, 1))
    with pytest.raises(ConfigError, match="window_factor"):
        make_encoder("relational", window_factor=0)
    with pytest.raises(ConfigError, match="paper"):
        make_encoder("paper", window_factor=4)
    for name in ENCODER_NAMES:
        if name == "slots":  # plays any set (9 actions: 9 blocks)
            wide = view(target=100, current=0, actions=tuple(range(1, 10)))
            assert make_encoder(name).encode(wide).shape == (9 * 13,)
            continue
        with pytest.raises(PuzzleError, match="actions"):
            make_encoder(name).encode(view(target=10, current=0, actions=(1, 2)))


def test_relational_dimension_for_default_actions() -> None:
    assert make_encoder("relational").dim == 4 * 40 + 6 * 3 + 4 == 182


# --- the wrapper on the real environment ----------------------------------------------------------
def _generator(rng: np.random.Generator) -> Puzzle:
    target = int(rng.integers(20, 120))
    forbidden = rng.choice(np.arange(1, target), size=4, replace=False)
    return Puzzle.create(target=target, forbidden=[int(f) for f in forbidden], max_steps=80)


@pytest.mark.parametrize("name", ENCODER_NAMES)
def test_wrapper_on_bare_env_uses_the_target(name: str) -> None:
    from hrrl.puzzle.env import PuzzleEnv

    env = EncodedObservation(PuzzleEnv(generator=_generator), name)
    obs, _ = env.reset(seed=3)
    base = env.unwrapped
    assert isinstance(base, PuzzleEnv) and base.puzzle is not None
    assert env.observation_space.shape == (env.encoder.dim,)
    expected = env.encoder.encode(
        PuzzleView(puzzle=base.puzzle, current=base.current, subgoal=base.puzzle.target, step=0)
    )
    np.testing.assert_array_equal(obs, expected)
    obs, *_ = env.step(2)
    assert base.current == base.puzzle.start + 5
    np.testing.assert_array_equal(obs, env.encoder.encode(env.view()))


def test_wrapper_on_hierarchy_follows_the_subgoal() -> None:
    from hrrl.puzzle.env import PuzzleEnv
    from hrrl.puzzle.hierarchy import HierarchyWrapper

    hier = HierarchyWrapper(PuzzleEnv(), planner="paper")
    env = EncodedObservation(hier, "paper")
    p = Puzzle.create(target=300, forbidden=[7], max_steps=400)
    obs, info = env.reset(options={"puzzle": p})
    assert info["subgoal"] < p.target  # the paper rule cuts a 300 gap into waypoints
    assert feat(env.encoder, obs)["progress_ratio"] == 0
    assert feat(env.encoder, obs)["remaining_ratio"] == 1  # relative to the subgoal, not 300
    done = False
    while not done:
        obs, _, terminated, truncated, info = env.step(2)
        v = hier.view()
        assert v.subgoal == info["subgoal"]
        np.testing.assert_array_equal(obs, env.encoder.encode(v))
        done = terminated or truncated


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", ENCODER_NAMES)
def test_wrapper_passes_gymnasium_check_env(name: str) -> None:
    from hrrl.puzzle.env import PuzzleEnv
    from hrrl.puzzle.hierarchy import HierarchyWrapper

    env = EncodedObservation(HierarchyWrapper(PuzzleEnv(generator=_generator)), name)
    check_env(env, skip_render_check=True)
    env.reset(seed=0)
    for _ in range(200):
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        assert env.observation_space.contains(obs)
        if terminated or truncated:
            env.reset()


def test_wrapper_refuses_an_encoder_for_other_actions() -> None:
    from hrrl.puzzle.env import PuzzleEnv

    with pytest.raises(ConfigError, match=r"encoder\.actions"):
        EncodedObservation(PuzzleEnv(actions=(1, 2)), make_encoder("relational"))
    env = EncodedObservation(PuzzleEnv(actions=(1, 2)), "relational")
    assert env.encoder.actions == (1, 2)
    assert isinstance(env, gym.ObservationWrapper)
