"""hrrl: hierarchical relational reinforcement learning for the number puzzle (and any Gymnasium env).

The public API::

    import hrrl

    run = hrrl.train("default", run_dir="runs/demo")        # -> hrrl.Run
    policy = hrrl.Policy.load("runs/demo")                 # or run.policy()
    policy.solve(hrrl.Puzzle(target=10, forbidden=[3]))    # -> status, steps, path
    policy.solve({"target": 431, "forbidden": [78, 156, 234, 312, 389]})

    gym_run = hrrl.train({"gym": {"id": "CartPole-v1"}}, run_dir="runs/cartpole")
    cartpole = hrrl.GymPolicy.load("runs/cartpole")        # a Gymnasium run, checkpoint or bundle
    cartpole.evaluate(episodes=10, seed=0)                 # -> mean +- std return
    cartpole(obs), cartpole.q_values(obs)                  # one observation or a batch

    hrrl.train(config, progress=True, callbacks=[MyCallback()])   # a bar; hrrl.Callback hooks
    hrrl.train_seeds(config, seeds=[0, 1, 2], run_dir="runs/seeds")  # -> [Run, Run, Run]

Importing the package registers the puzzle environment as ``hrrl/NumberPuzzle-v0``
(``gymnasium.make("hrrl/NumberPuzzle-v0")`` draws its own puzzles). The names above are
imported on first use, so ``import hrrl`` alone loads neither torch nor numpy: the ``hrrl``
command answers ``--help`` at once.
"""

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import logging
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

from hrrl.puzzle import ENV_ID

if TYPE_CHECKING:
    from hrrl.api import Run, train, train_seeds
    from hrrl.engine.callbacks import Callback
    from hrrl.inference.gym_policy import GymPolicy
    from hrrl.inference.policy import Policy
    from hrrl.puzzle.core import Puzzle, Status

__all__ = [
    "ENV_ID",
    "Callback",
    "GymPolicy",
    "Policy",
    "Puzzle",
    "Run",
    "Status",
    "__version__",
    "train",
    "train_seeds",
]

#: Where each lazy attribute lives.
_LAZY = {
    "Callback": "hrrl.engine.callbacks",
    "GymPolicy": "hrrl.inference.gym_policy",
    "Policy": "hrrl.inference.policy",
    "Puzzle": "hrrl.puzzle.core",
    "Run": "hrrl.api",
    "Status": "hrrl.puzzle.core",
    "train": "hrrl.api",
    "train_seeds": "hrrl.api",
}

# A library leaves logging to the application: hrrl's warnings also go through `warnings`.
logging.getLogger(__name__).addHandler(logging.NullHandler())


def __getattr__(name: str) -> Any:
    """The public names on first use (``hrrl.Policy`` imports torch then, not before)."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name == "__version__":
        from importlib import metadata

        try:
            return metadata.version("hrrl")
        except metadata.PackageNotFoundError:
            return "0+unknown"
    raise AttributeError(f"module 'hrrl' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names too, so ``help(hrrl)`` lists ``Policy``, ``Puzzle``, ``Run``, ``train``."""
    return sorted({*globals(), *__all__})


# --- the Gymnasium id ---------------------------------------------------------------------------
def _register(gymnasium: ModuleType) -> None:
    # NumberPuzzleEnv checks reset-before-step itself and passes check_env, so gym.make returns
    # it unwrapped (see hrrl.puzzle.registered).
    if ENV_ID not in gymnasium.registry:
        gymnasium.register(
            id=ENV_ID,
            entry_point="hrrl.puzzle.registered:NumberPuzzleEnv",
            order_enforce=False,
            disable_env_checker=True,
        )


class _RegisterWhenImported(importlib.abc.MetaPathFinder):
    """Registers the id the moment Gymnasium is first imported (Gymnasium imports numpy, a
    quarter of a second the command line need not spend).

    It finds nothing itself: it asks the other finders for Gymnasium's spec and only wraps that
    loader's ``exec_module`` so that ``_register`` runs right after ``gymnasium`` has executed.
    After that first import it is inert.
    """

    def __init__(self) -> None:
        self.active = True

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if name != "gymnasium" or not self.active:
            return None
        self.active = False  # also keeps the lookup below from coming back here
        spec = importlib.util.find_spec(name)
        loader = None if spec is None else spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        execute = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            execute(module)
            _register(module)

        try:
            loader.exec_module = exec_module  # type: ignore[method-assign]
        except AttributeError:  # a loader that takes no attributes: import unhooked
            return spec
        return spec


if "gymnasium" in sys.modules:
    _register(sys.modules["gymnasium"])
elif not any(isinstance(finder, _RegisterWhenImported) for finder in sys.meta_path):
    sys.meta_path.insert(0, _RegisterWhenImported())
