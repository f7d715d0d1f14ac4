"""hrrl: hierarchical relational reinforcement learning for the number puzzle (and any Gymnasium env).

Importing the package registers the puzzle environment as ``hrrl/NumberPuzzle-v0``.
"""

from typing import TYPE_CHECKING, Any

import gymnasium

from hrrl.puzzle.core import Puzzle, Status

if TYPE_CHECKING:
    from hrrl.inference.policy import Policy

__all__ = ["Policy", "Puzzle", "Status"]


def __getattr__(name: str) -> Any:
    """``hrrl.Policy`` on first use: importing ``hrrl`` alone does not pull in torch."""
    if name == "Policy":
        from hrrl.inference.policy import Policy

        return Policy
    raise AttributeError(f"module 'hrrl' has no attribute {name!r}")


if "hrrl/NumberPuzzle-v0" not in gymnasium.registry:
    gymnasium.register(id="hrrl/NumberPuzzle-v0", entry_point="hrrl.puzzle.env:PuzzleEnv")
