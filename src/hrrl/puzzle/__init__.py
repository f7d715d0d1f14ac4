"""The number puzzle (design §1): its rules, environment, exact solver, suites and training task.

The names here are plain constants, so the command line can list them without importing numpy.
"""

#: Gymnasium id registered by ``import hrrl`` (:class:`hrrl.puzzle.registered.NumberPuzzleEnv`).
ENV_ID = "hrrl/NumberPuzzle-v0"

#: The suite families, in the order ``hrrl.puzzle.families.FAMILIES`` defines them.
FAMILY_NAMES: tuple[str, ...] = (
    "in_range",
    "scale",
    "dense",
    "trap",
    "endgame",
    "wall",
    "lookahead",
    "unsolvable",
    "deep_trap",
    "maze",
)
#: Families past the default policy's bounds (``hrrl.puzzle.families.SCALE_FAMILIES``): named
#: one by one, not part of ``all``.
SCALE_FAMILY_NAMES: tuple[str, ...] = ("abyss", "wide")
