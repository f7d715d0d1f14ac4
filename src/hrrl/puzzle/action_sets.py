"""Which action sets a policy trains on, and which are held out to test it on sets never seen.

The training distribution (:func:`sample_action_set`, ``curriculum.action_sets="mixed"``)::

    with probability 1 - DIVISOR_SHARE:  largest A uniform in 2..12, size n uniform in
                                         2..min(5, A), the other n - 1 drawn from 1..A-1
    with probability DIVISOR_SHARE:      the same with A' <= 12 // d, every action times d,
                                         d uniform in {2, 3} (parity and residues matter)

Any draw equal (as a set) to one of :data:`HELD_OUT` is drawn again, so the evaluation sets are
never trained on. ``(1, 3, 5)`` is part of the distribution.
"""

from __future__ import annotations

from typing import Final

import numpy as np

#: Action sets never trained on (the bar's unseen sets).
HELD_OUT: Final[tuple[tuple[int, ...], ...]] = (
    (1, 2, 7),
    (2, 5),
    (2, 4, 6),
    (3, 4),
    (1, 4, 6, 9),
    (1, 5, 11),
)
#: Largest action of a training set.
MAX_LARGEST: Final = 12
#: Sizes of a training set.
SIZES: Final = (2, 5)
#: Share of training sets whose actions share a divisor d in DIVISORS.
DIVISOR_SHARE: Final = 0.25
DIVISORS: Final = (2, 3)

_HELD_OUT_SETS: Final = frozenset(frozenset(s) for s in HELD_OUT)


def is_held_out(actions: tuple[int, ...]) -> bool:
    return frozenset(actions) in _HELD_OUT_SETS


def sample_action_set(rng: np.random.Generator) -> tuple[int, ...]:
    """One training action set (ascending), never one of :data:`HELD_OUT`."""
    while True:
        d = 1
        if rng.random() < DIVISOR_SHARE:
            d = int(DIVISORS[int(rng.integers(len(DIVISORS)))])
        largest = int(rng.integers(2, MAX_LARGEST // d + 1))
        size = int(rng.integers(SIZES[0], min(SIZES[1], largest) + 1))
        others = rng.choice(np.arange(1, largest), size=size - 1, replace=False)
        actions = tuple(sorted(d * int(a) for a in (*others.tolist(), largest)))
        if not is_held_out(actions):
            return actions
