"""hrrl: hierarchical relational reinforcement learning for the number puzzle (and any Gymnasium env).

Importing the package registers the puzzle environment as ``hrrl/NumberPuzzle-v0``.
"""

import gymnasium

from hrrl.puzzle import Puzzle, Status

__all__ = ["Puzzle", "Status"]

if "hrrl/NumberPuzzle-v0" not in gymnasium.registry:
    gymnasium.register(id="hrrl/NumberPuzzle-v0", entry_point="hrrl.env:PuzzleEnv")
