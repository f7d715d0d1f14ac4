"""Sum tree: a four-leaf tree worked out by hand, then properties against a NumPy reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hrrl.engine.replay.sum_tree import SumTree
from hrrl.errors import ConfigError


def four_leaves() -> SumTree:
    tree = SumTree(4)
    tree.update(np.array([0, 1, 2, 3]), np.array([1.0, 3.0, 4.0, 5.0]))
    return tree


def test_four_leaf_tree_by_hand() -> None:
    #            13
    #        4        9
    #      1   3    4   5       intervals: [0,1) [1,4) [4,8) [8,13)
    tree = four_leaves()
    assert tree.total == 13.0
    assert tree.max == 5.0
    assert tree._sum[1:4].tolist() == [13.0, 4.0, 9.0]
    values = np.array([0.0, 0.99, 1.0, 3.99, 4.0, 7.99, 8.0, 12.99, 13.0])
    assert tree.find_prefix_sum(values).tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 3]


def test_update_recomputes_parents_by_hand() -> None:
    tree = four_leaves()
    tree.update(np.array([1]), np.array([0.0]))  # leaves 1 0 4 5: intervals [0,1) - [1,5) [5,10)
    assert tree.total == 10.0
    assert tree._sum[1:4].tolist() == [10.0, 1.0, 9.0]
    assert tree.find_prefix_sum(np.array([0.5, 1.0, 4.99, 5.0, 9.99])).tolist() == [0, 2, 2, 3, 3]
    tree.update(np.array([3]), np.array([0.5]))
    assert tree.max == 4.0
    assert tree.total == 5.5


def test_duplicate_indices_last_write_wins() -> None:
    tree = four_leaves()
    tree.update(np.array([2, 0, 2, 2]), np.array([7.0, 2.0, 1.0, 6.0]))
    assert tree.get(np.array([0, 1, 2, 3])).tolist() == [2.0, 3.0, 6.0, 5.0]
    assert tree.total == 16.0
    assert tree.max == 6.0


def test_capacity_rounds_up_to_power_of_two() -> None:
    assert SumTree(5).n_leaves == 8
    assert SumTree(8).n_leaves == 8
    one = SumTree(1)
    one.update(np.array([0]), np.array([2.5]))
    assert one.total == 2.5
    assert one.find_prefix_sum(np.array([0.0, 2.4])).tolist() == [0, 0]


def test_value_at_total_maps_to_last_nonzero_leaf() -> None:
    tree = SumTree(8)
    tree.update(np.array([0, 2]), np.array([1.0, 2.0]))
    assert tree.find_prefix_sum(np.array([3.0, 3.0 + 1e-12])).tolist() == [2, 2]


def test_bad_input_is_refused() -> None:
    tree = SumTree(4)
    with pytest.raises(ValueError, match="all 0"):
        tree.find_prefix_sum(np.array([0.0]))
    with pytest.raises(ValueError, match=">= 0"):
        tree.update(np.array([0]), np.array([-1.0]))
    with pytest.raises(ValueError, match="finite"):
        tree.update(np.array([0]), np.array([np.nan]))
    with pytest.raises(IndexError):
        tree.update(np.array([4]), np.array([1.0]))
    with pytest.raises(ValueError, match="one each"):
        tree.update(np.array([0, 1]), np.array([1.0]))
    with pytest.raises(ConfigError, match="capacity"):
        SumTree(0)


@settings(max_examples=60, deadline=None)
@given(
    capacity=st.integers(1, 40),
    data=st.data(),
)
def test_matches_numpy_reference(capacity: int, data: st.DataObject) -> None:
    tree = SumTree(capacity)
    reference = np.zeros(capacity)
    for _ in range(data.draw(st.integers(1, 4))):
        n = data.draw(st.integers(1, 2 * capacity))
        idx = np.array(data.draw(st.lists(st.integers(0, capacity - 1), min_size=n, max_size=n)))
        pri = np.array(
            data.draw(
                st.lists(st.one_of(st.just(0.0), st.floats(1e-3, 1e3)), min_size=n, max_size=n)
            )
        )
        tree.update(idx, pri)
        for i, p in zip(idx, pri, strict=True):  # sequential semantics: last write wins
            reference[i] = p
    assert tree.get(np.arange(capacity)).tolist() == reference.tolist()
    assert tree.total == pytest.approx(reference.sum(), rel=1e-12, abs=1e-12)
    assert tree.max == reference.max()
    if reference.sum() > 0:
        rng = np.random.default_rng(0)
        values = rng.random(200) * tree.total
        found = tree.find_prefix_sum(values)
        assert np.all(reference[found] > 0)  # a zero-priority leaf is never returned
        expected = np.searchsorted(np.cumsum(reference), values, side="right")
        assert found.tolist() == expected.tolist()


def test_state_dict_round_trip() -> None:
    tree = four_leaves()
    other = SumTree(4)
    other.load_state_dict(tree.state_dict())
    assert other.total == 13.0 and other.max == 5.0
    assert np.array_equal(other._sum, tree._sum)
    assert np.array_equal(other._max, tree._max)
    with pytest.raises(ValueError, match="capacity"):
        SumTree(8).load_state_dict(tree.state_dict())
