"""Callbacks: your code at named points of the training loop, able to stop the run.

::

    class Enough(hrrl.Callback):
        def on_evaluation(self, trainer, metrics):
            return trainer.task.score(metrics) < (475.0,)  # False: stop here

    hrrl.train({"gym": {"id": "CartPole-v1"}}, callbacks=[Enough()])

Each method gets the trainer (its ``counters``, ``agent``, ``logger``, ``replay``) and returns
``None`` or ``True`` to go on, ``False`` to stop. A stop ends the run after the vector step in
progress, as a stop request does (:class:`~hrrl.engine.stop.StopRequest`): with a checkpoint of
that moment when the run keeps files, and ``stop_reason`` :data:`CALLBACK_STOP`; ``hrrl resume``
would go on from it exactly. Every callback hears of every event, whatever an earlier one said.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hrrl.engine.trainer import Trainer

#: ``TrainResult.stop_reason`` of a run a callback stopped.
CALLBACK_STOP = "callback"


class Callback:
    """Subclass it and override the events you need; each one does nothing by default."""

    def on_step(self, trainer: Trainer) -> bool | None:
        """After each vector step, with the learning, evaluation, log and checkpoint due at it."""
        return None

    def on_evaluation(self, trainer: Trainer, metrics: Mapping[str, float]) -> bool | None:
        """After each evaluation (``metrics``: the task's own), the closing one included."""
        return None

    def on_checkpoint(self, trainer: Trainer, path: Path) -> bool | None:
        """After each checkpoint the run saved (``path``: its ``step-*`` directory)."""
        return None
