"""The slot encoder: one block per action slot, any action set, in units of that set."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hrrl.engine.networks import SlotQNetwork
from hrrl.errors import PuzzleError
from hrrl.puzzle.core import MAX_ACTIONS, Puzzle, PuzzleView
from hrrl.puzzle.encoders import make_encoder
from hrrl.puzzle.encoders.slots import BLOCK, SLOTS, SlotEncoder
from hrrl.puzzle.env import PuzzleEnv


def _view(
    actions: tuple[int, ...], target: int, forbidden: set[int], current: int = 0, sub: int = 0
) -> PuzzleView:
    puzzle = Puzzle(
        target=target, forbidden=frozenset(forbidden), actions=actions, max_steps=10_000
    )
    return PuzzleView(puzzle=puzzle, current=current, subgoal=sub or target, step=0)


@pytest.mark.parametrize("actions", [(1,), (1, 3, 5), (2, 5), (1, 4, 6, 9), tuple(range(1, 9))])
def test_the_size_does_not_depend_on_the_action_set(actions: tuple[int, ...]) -> None:
    enc = make_encoder("slots", actions=actions)
    vec = enc.encode(_view(actions, target=500, forbidden={7, 11, 40}))
    assert enc.dim == SLOTS * BLOCK == vec.shape[0] == len(enc.feature_names)
    assert enc.dim == make_encoder("slots").dim
    assert np.all(vec >= enc.low) and np.all(vec <= enc.high)


def test_repeated_slots_hold_the_same_block_so_argmax_is_over_the_real_actions() -> None:
    enc = SlotEncoder()
    blocks = enc.encode(_view((1, 2, 7), target=300, forbidden={2, 9})).reshape(SLOTS, BLOCK)
    for k in range(SLOTS):
        assert np.array_equal(blocks[k], blocks[k % 3])
    net = SlotQNetwork(enc.dim, SLOTS, hidden=16, generator=torch.Generator().manual_seed(1))
    q = net(torch.as_tensor(blocks.reshape(1, -1))).q[0]
    assert torch.equal(q[3:6], q[0:3]) and torch.equal(q[6:8], q[0:2])
    # The block of +2 (landing on a forbidden number) says so.
    assert blocks[1, 0] == 1.0 and blocks[1, 3] == 1.0


def test_a_set_wider_than_the_slots_is_encoded_in_its_own_width() -> None:
    """Issue 27: 9 actions are 9 blocks, each action once, as a 9-slot encoder shows them;
    the environment keeps its 8 slots."""
    for n in (9, MAX_ACTIONS):
        wide = _view(tuple(range(1, n + 1)), target=500, forbidden={7, 12})
        vector = SlotEncoder().encode(wide)
        assert vector.shape == (n * BLOCK,)
        assert np.array_equal(vector, SlotEncoder(slots=n).encode(wide))
    env = PuzzleEnv(slots=SLOTS)
    with pytest.raises(PuzzleError, match="8 action slots"):
        env.reset(options={"puzzle": Puzzle.create(target=50, actions=range(1, 10))})


def test_slot_k_plays_action_k_mod_n() -> None:
    env = PuzzleEnv(slots=SLOTS)
    env.reset(options={"puzzle": Puzzle.create(target=100, actions=[2, 5])})
    assert env.action_space.n == SLOTS
    for slot, added in [(0, 2), (1, 5), (2, 2), (7, 5)]:
        before = env.current
        env.step(slot)
        assert env.current - before == added


@settings(max_examples=60, deadline=None)
@given(
    actions=st.lists(st.integers(1, 9), min_size=1, max_size=5, unique=True),
    gap=st.integers(1, 300),
    forbidden=st.sets(st.integers(1, 400), max_size=30),
    current=st.integers(0, 60),
    sub=st.integers(1, 400),
    k=st.integers(2, 7),
)
def test_scaling_every_number_by_k_leaves_the_greedy_choice_unchanged(
    actions: list[int], gap: int, forbidden: set[int], current: int, sub: int, k: int
) -> None:
    acts = tuple(actions)
    target = current + gap
    forbidden = {f for f in forbidden if f not in (target, current)}
    subgoal = min(current + sub, target)
    enc = SlotEncoder()
    net = SlotQNetwork(enc.dim, SLOTS, hidden=32, generator=torch.Generator().manual_seed(k))
    plain = enc.encode(_view(acts, target, forbidden, current, subgoal))
    scaled = enc.encode(
        _view(
            tuple(k * a for a in acts),
            k * target,
            {k * f for f in forbidden},
            k * current,
            k * subgoal,
        )
    )
    assert np.array_equal(plain, scaled)
    with torch.no_grad():
        q = net(torch.as_tensor(np.stack([plain, scaled]))).q
    assert int(q[0].argmax()) == int(q[1].argmax())


def test_translation_and_far_forbidden_numbers_change_nothing() -> None:
    enc = SlotEncoder()
    base = enc.encode(_view((1, 2, 7), 500, {3, 9, 40}, current=0))
    moved = enc.encode(_view((1, 2, 7), 1500, {1003, 1009, 1040}, current=1000))
    far = enc.encode(_view((1, 2, 7), 500, {3, 9, 40, 400}, current=0))
    assert np.array_equal(base, moved) and np.array_equal(base, far)


def test_the_slot_environment_passes_gymnasiums_checker() -> None:
    from gymnasium.utils.env_checker import check_env

    from hrrl.puzzle.action_sets import sample_action_set
    from hrrl.puzzle.sampling import sample_puzzle

    def draw(rng: np.random.Generator) -> Puzzle:
        return sample_puzzle(
            rng, target_range=(20, 60), forbidden_count=(1, 3), actions=sample_action_set(rng)
        )

    check_env(PuzzleEnv(slots=SLOTS, generator=draw), skip_render_check=True)
