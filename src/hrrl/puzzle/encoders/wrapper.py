"""Gymnasium glue: replace a puzzle env's raw numbers by an encoder's vector."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from hrrl.errors import ConfigError, field_error
from hrrl.puzzle.core import PuzzleView
from hrrl.puzzle.encoders.base import Encoder


class EncodedObservation(gym.ObservationWrapper[np.ndarray, Any, Any]):
    """Observations become ``encoder.encode(view)``: ``Box(float32, shape=(encoder.dim,))``.

    The view comes from the nearest layer with a ``view()`` method (a
    :class:`~hrrl.puzzle.hierarchy.HierarchyWrapper`, whose subgoal is then the active waypoint); with
    none, it is built from the base env (``env.unwrapped.puzzle``, ``.current``, ``.steps``) with
    the target as the subgoal. Put this wrapper outermost: it reads the state after every inner
    layer has finished its step (a hierarchy advances its subgoal before returning). Actions,
    rewards, episode ends and ``info`` pass through unchanged.

    ``encoder`` is an :class:`~hrrl.puzzle.encoders.base.Encoder` or a name for
    :func:`~hrrl.puzzle.encoders.make_encoder`, which is then built for the base env's actions.
    """

    def __init__(self, env: gym.Env[Any, Any], encoder: Encoder | str = "relational") -> None:
        super().__init__(env)
        env_actions = getattr(env.unwrapped, "actions", None)
        if isinstance(encoder, str):
            from hrrl.puzzle.encoders import make_encoder

            encoder = (
                make_encoder(encoder)
                if env_actions is None
                else make_encoder(encoder, actions=tuple(env_actions))
            )
        # An encoder with no action tuple (the slot encoder) plays whatever the puzzle adds.
        if env_actions is not None and encoder.actions and tuple(env_actions) != encoder.actions:
            raise field_error(
                ConfigError,
                "encoder.actions",
                list(encoder.actions),
                f"the env adds actions {list(env_actions)}: build the encoder with those",
            )
        self.encoder = encoder
        self.observation_space = spaces.Box(
            low=encoder.low, high=encoder.high, shape=(encoder.dim,), dtype=np.float32
        )
        self._view = self._find_view(env)

    @staticmethod
    def _find_view(env: gym.Env[Any, Any]) -> Callable[[], PuzzleView]:
        try:
            view = env.get_wrapper_attr("view")
        except AttributeError:
            view = None
        if callable(view):
            return view
        base: Any = env.unwrapped

        def from_base() -> PuzzleView:
            if base.puzzle is None:
                raise gym.error.ResetNeeded("no observation before reset(): call reset() first")
            return PuzzleView(
                puzzle=base.puzzle,
                current=base.current,
                subgoal=base.puzzle.target,
                step=base.steps,
            )

        return from_base

    def view(self) -> PuzzleView:
        """The view the last observation was encoded from."""
        return self._view()

    def observation(self, observation: Any) -> np.ndarray:
        return self.encoder.encode(self._view())
