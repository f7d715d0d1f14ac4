"""hrrl: hierarchical relational reinforcement learning for the number puzzle (and any Gymnasium env).

The public API::

    import hrrl

    run = hrrl.train("default", run_dir="runs/demo")        # -> hrrl.Run
    policy = hrrl.Policy.load("runs/demo")                 # or run.policy()
    policy.solve(hrrl.Puzzle(target=10, forbidden=[3]))    # -> status, steps, path
    policy.solve({"target": 431, "forbidden": [78, 156, 234, 312, 389]})

Importing the package registers the puzzle environment as ``hrrl/NumberPuzzle-v0``
(``gymnasium.make("hrrl/NumberPuzzle-v0")`` draws its own puzzles). ``Policy``, ``Run`` and
``train`` are imported on first use, so ``import hrrl`` alone does not load torch.
"""

import logging
from typing import TYPE_CHECKING, Any

import gymnasium

from hrrl.puzzle.core import Puzzle, Status
from hrrl.puzzle.env import ENV_ID

if TYPE_CHECKING:
    from hrrl.api import Run, train
    from hrrl.inference.policy import Policy

__all__ = ["ENV_ID", "Policy", "Puzzle", "Run", "Status", "__version__", "train"]

#: Where each lazy attribute lives.
_LAZY = {"Policy": "hrrl.inference.policy", "Run": "hrrl.api", "train": "hrrl.api"}

# A library leaves logging to the application: hrrl's warnings also go through `warnings`.
logging.getLogger(__name__).addHandler(logging.NullHandler())


def __getattr__(name: str) -> Any:
    """``hrrl.Policy``, ``hrrl.Run``, ``hrrl.train`` and ``hrrl.__version__`` on first use."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    if name == "__version__":
        import importlib.metadata

        try:
            return importlib.metadata.version("hrrl")
        except importlib.metadata.PackageNotFoundError:
            return "0+unknown"
    raise AttributeError(f"module 'hrrl' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names too, so ``help(hrrl)`` lists ``Policy``, ``Run`` and ``train``."""
    return sorted({*globals(), *__all__})


if ENV_ID not in gymnasium.registry:
    # NumberPuzzleEnv checks reset-before-step itself and passes check_env, so gym.make returns
    # it unwrapped (see hrrl.puzzle.registered).
    gymnasium.register(
        id=ENV_ID,
        entry_point="hrrl.puzzle.registered:NumberPuzzleEnv",
        order_enforce=False,
        disable_env_checker=True,
    )
