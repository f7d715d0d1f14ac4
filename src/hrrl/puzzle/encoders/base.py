"""What every encoder is (the :class:`Encoder` protocol) and the small helpers they share.

An encoder turns a :class:`~hrrl.puzzle.core.PuzzleView` (current number, active subgoal, target,
forbidden numbers, step, step budget, actions) into a fixed-length float32 vector for the agent.
It is built for one action tuple: the agent's action index ``i`` means "add ``actions[i]``", so
an encoder refuses a puzzle whose actions differ (a silently re-ordered action set would make the
policy press the wrong buttons).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, Protocol, runtime_checkable

import numpy as np

from hrrl.errors import PuzzleError, field_error
from hrrl.puzzle.core import PerPuzzle, Puzzle, PuzzleView

#: How many puzzles' sorted forbidden lists one encoder keeps (one per live episode is plenty).
FORBIDDEN_CACHE_SIZE: Final = 256


@runtime_checkable
class Encoder(Protocol):
    """Turns what the agent may see into a vector; stateless apart from caches."""

    #: Registry name ("paper", "relational").
    name: str
    #: Length of every vector :meth:`encode` returns.
    dim: int
    #: The action tuple this encoder was built for (action index ``i`` adds ``actions[i]``).
    actions: tuple[int, ...]
    #: One short name per dimension, in order.
    feature_names: tuple[str, ...]
    #: Per-dimension bounds of the vectors (``-inf``/``inf`` where unbounded).
    low: np.ndarray
    high: np.ndarray

    def encode(self, view: PuzzleView) -> np.ndarray:
        """``float32`` vector of shape ``(dim,)``."""
        ...

    def encode_batch(self, views: Sequence[PuzzleView]) -> np.ndarray:
        """``float32`` array of shape ``(len(views), dim)``."""
        ...

    def describe(self) -> list[tuple[str, str]]:
        """``(name, meaning)`` for every dimension, in order (for docs and the monitor)."""
        ...

    def spec(self) -> dict[str, Any]:
        """Plain data that identifies the encoding (stored in checkpoints, compared on load)."""
        ...


def check_view_actions(encoder: Encoder, puzzle: Puzzle) -> None:
    """Refuse a puzzle whose action tuple is not the one the encoder was built for."""
    if puzzle.actions != encoder.actions:
        raise field_error(
            PuzzleError,
            "actions",
            list(puzzle.actions),
            f"the {encoder.name} encoder was built for actions {list(encoder.actions)}; "
            "build it with make_encoder(name, actions=...) for this puzzle's actions",
        )


def encode_all(encoder: Encoder, views: Sequence[PuzzleView]) -> np.ndarray:
    """``(N, dim)`` float32 by calling ``encode`` on each view (one implementation of the rules)."""
    out = np.empty((len(views), encoder.dim), dtype=np.float32)
    for i, view in enumerate(views):
        out[i] = encoder.encode(view)
    return out


class SortedForbidden(PerPuzzle[list[int]]):
    """A puzzle's forbidden numbers as a sorted list, computed once per puzzle.

    Encoders run on every environment step of the same puzzle, and ``bisect`` on a sorted list
    finds "the forbidden numbers in (lo, hi]" in ``O(log |F|)`` instead of a scan of ``F``.
    """

    def __init__(self, capacity: int = FORBIDDEN_CACHE_SIZE) -> None:
        super().__init__(lambda puzzle: sorted(puzzle.forbidden), capacity)


#: The process's sorted forbidden numbers, shared by the encoders, the slot encoder's sliding
#: window, the horizon and the levels: one copy of a long puzzle's list, not one each.
sorted_forbidden: Final = SortedForbidden()
