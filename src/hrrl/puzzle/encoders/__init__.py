"""Encoders: what the agent sees of a puzzle (design §2).

* ``"slots"`` (default, :class:`SlotEncoder`): one block per action slot, any action set of up
  to 8 actions, everything in units of that set;
* ``"relational"`` (:class:`RelationalEncoder`): scale-free and action-relative, built from a
  bounded window ahead of the current number, for one action tuple;
* ``"paper"`` (:class:`PaperEncoder`): the original prototype's 12 features, for the baseline.

Both follow the :class:`Encoder` protocol; :class:`EncodedObservation` puts one in front of a
Gymnasium puzzle env. Build one by name::

    enc = make_encoder("relational", actions=(1, 3, 5))
    vec = enc.encode(PuzzleView(puzzle=p, current=7, subgoal=p.target, step=2))
    names = enc.feature_names          # one per dimension
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

from hrrl.errors import ConfigError, field_error
from hrrl.puzzle.core import DEFAULT_ACTIONS
from hrrl.puzzle.encoders.base import Encoder
from hrrl.puzzle.encoders.paper import PaperEncoder
from hrrl.puzzle.encoders.relational import WINDOW_FACTOR, RelationalEncoder
from hrrl.puzzle.encoders.slots import SLOTS, SlotEncoder
from hrrl.puzzle.encoders.wrapper import EncodedObservation

_BUILDERS: Final[dict[str, Callable[..., Encoder]]] = {
    "slots": SlotEncoder,
    "relational": RelationalEncoder,
    "paper": PaperEncoder,
}
#: Every name :func:`make_encoder` knows.
ENCODER_NAMES: Final[tuple[str, ...]] = tuple(_BUILDERS)


def make_encoder(name: str, *, actions: Sequence[int] = DEFAULT_ACTIONS, **kwargs: Any) -> Encoder:
    """The encoder called ``name`` for this action tuple.

    Extra keywords go to the encoder (``window_factor`` for ``"relational"`` and ``"slots"``,
    ``slots`` for ``"slots"``; ``"paper"`` takes none). ``"slots"`` ignores ``actions``: it plays
    any set.
    """
    if name not in _BUILDERS:
        raise field_error(ConfigError, "encoder", name, f"choose one of {', '.join(ENCODER_NAMES)}")
    actions = tuple(actions)
    if (
        not actions
        or len(set(actions)) != len(actions)
        or any(isinstance(a, bool) or not isinstance(a, int) or a <= 0 for a in actions)
    ):
        raise field_error(ConfigError, "actions", list(actions), "give distinct positive integers")
    try:
        return _BUILDERS[name](actions=actions, **kwargs)
    except TypeError as exc:  # an option the encoder does not take
        raise ConfigError(f"encoder {name!r}: {exc}") from exc


__all__ = [
    "ENCODER_NAMES",
    "SLOTS",
    "WINDOW_FACTOR",
    "EncodedObservation",
    "Encoder",
    "PaperEncoder",
    "RelationalEncoder",
    "SlotEncoder",
    "make_encoder",
]
