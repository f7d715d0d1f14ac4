"""The `wide` family (issue 27): its own set of 9-32 actions, past the environment's 8 slots."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hrrl.errors import PuzzleError
from hrrl.puzzle.families import WIDE_KINDS, WIDE_LARGEST, WIDE_SIZES, wide_actions, wide_puzzle
from hrrl.puzzle.generate import generate_suite, iter_family
from hrrl.puzzle.solver import optimal_steps


@pytest.mark.parametrize("size", [9, 16, 32])
def test_a_wide_puzzle_has_its_own_set_of_that_size(size: int) -> None:
    rng = np.random.default_rng(size)
    kinds = set()
    for _ in range(12):
        p = wide_puzzle(rng, size)
        actions = p.actions
        d = math.gcd(*actions)
        assert len(set(actions)) == size == p.extra["width"]
        assert d in (1, 2, 3) and max(actions) <= d * max(WIDE_LARGEST, size)
        assert p.extra["kind"] in WIDE_KINDS
        best = optimal_steps(p)
        assert p.extra.get("optimal_steps") == best  # None: unsolvable, and said so
        assert (best is None) == (p.extra["kind"] == "unsolvable")
        kinds.add(p.extra["kind"])
    assert len(kinds) >= 3


def test_a_quarter_of_the_wide_sets_share_a_divisor() -> None:
    rng = np.random.default_rng(0)
    shared = [math.gcd(*wide_actions(rng, 12)) > 1 for _ in range(400)]
    assert 0.18 < np.mean(shared) < 0.32


def test_wide_is_generated_by_name_and_left_out_of_all() -> None:
    puzzles = list(iter_family("wide", 6, seed=1))
    assert [p.id for p in puzzles][:2] == ["wide-0000", "wide-0001"]
    assert all(WIDE_SIZES[0] <= len(p.actions) <= WIDE_SIZES[1] for p in puzzles)
    assert "wide" not in {q.extra["family"] for q in generate_suite(["all"], 1, seed=0)}
    with pytest.raises(PuzzleError, match="size"):
        wide_actions(np.random.default_rng(0), 0)
