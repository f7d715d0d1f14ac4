"""What of a Gymnasium environment a checkpoint saves, so a run resumes mid-episode exactly.

:func:`env_state` walks the wrapper chain (``TimeLimit -> OrderEnforcing -> PassiveEnvChecker ->
CartPoleEnv``) and keeps, for each layer, every instance attribute that is plain data (numbers,
strings, None, numeric NumPy arrays, lists/tuples of those): the physics ``state``,
``TimeLimit._elapsed_steps``, CartPole's ``steps_beyond_terminated``, ... plus the unwrapped
env's ``np_random`` bit-generator state. Links between wrappers, spaces, specs and the env
checker's cache are skipped. For the classic-control and toy-text environments that is the whole
state. An emulator that can clone itself (ALE's ``AtariEnv``: ``clone_state(include_rng=True)``,
sticky-action RNG included) is saved as its serialized state, and a wrapper's deque of frames
(``FrameStackObservation``) as a list, so an Atari game resumes mid-episode exactly too. An env
that also holds other objects (a Box2D world, a MuJoCo model) is marked ``exact: False``, and
:class:`hrrl.gym.task.GymTask` then resumes it at an episode boundary.
"""

from __future__ import annotations

import importlib
from collections import deque
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

from hrrl.errors import CheckpointError

#: Attributes never saved: links between wrappers, spaces, specs, RNG objects (saved apart), and
#: the env checker's cache of the previous step.
_SKIP = frozenset(
    {
        "env",
        "_env",
        "spec",
        "_cached_spec",
        "_saved_kwargs",
        "_np_random",
        "action_space",
        "observation_space",
        "_action_space",
        "_observation_space",
        "metadata",
        "_metadata",
        "_previous_data",
        "_ezpickle_args",  # the constructor's arguments (gymnasium.utils.EzPickle)
        "_ezpickle_kwargs",
    }
)
#: An emulator's serialized state, among its layer's saved attributes.
EMULATOR_KEY = "_hrrl_emulator_state"
#: What an emulator layer holds besides its cloned state: the emulator, its fixed action set.
_EMULATOR_SKIP = frozenset({"ale", "_action_set"})


def _is_emulator(layer: Any) -> bool:
    """ALE's ``AtariEnv``: an env that clones and restores its emulator, RNG included."""
    return (
        hasattr(layer, "clone_state") and hasattr(layer, "restore_state") and hasattr(layer, "ale")
    )


def _is_plain(value: Any) -> bool:
    """Numbers, strings, None, numeric NumPy arrays, and lists/tuples of those."""
    if value is None or isinstance(value, (bool, int, float, str, np.generic)):
        return True
    if isinstance(value, np.ndarray):
        return value.dtype.kind in "biuf"
    if isinstance(value, (list, tuple, deque)):
        return all(_is_plain(v) for v in value)
    return False


def _layers(env: gymnasium.Env[Any, Any]) -> list[Any]:
    """The wrapper chain, outermost first, ending with the unwrapped env."""
    out: list[Any] = [env]
    while isinstance(out[-1], gymnasium.Wrapper):
        out.append(out[-1].env)
    return out


def env_state(env: gymnasium.Env[Any, Any]) -> dict[str, Any]:
    """Plain-data state of one environment: every layer's plain attributes, the RNG, and
    ``exact`` (false when the unwrapped env also holds objects this cannot save)."""
    layers = []
    exact = True
    for layer in _layers(env):
        saved: dict[str, Any] = {}
        skip = _SKIP
        if _is_emulator(layer):
            emulator = layer.clone_state(include_rng=True).serialize()
            saved[EMULATOR_KEY] = np.frombuffer(emulator, dtype=np.uint8).copy()
            skip = _SKIP | _EMULATOR_SKIP
        for key, value in vars(layer).items():
            if key in skip:
                continue
            if _is_plain(value):
                saved[key] = list(value) if isinstance(value, (tuple, deque)) else value
            elif not (callable(value) or isinstance(value, spaces.Space)):
                exact = False
        layers.append({"type": type(layer).__name__, "attrs": saved})
    unwrapped = env.unwrapped
    rng = unwrapped._np_random  # None before the first reset
    return {
        "layers": layers,
        "rng": None if rng is None else rng.bit_generator.state,
        "exact": exact,
    }


def load_env_state(env: gymnasium.Env[Any, Any], state: dict[str, Any]) -> None:
    """Inverse of :func:`env_state` (``exact`` states only)."""
    layers = _layers(env)
    if [type(layer).__name__ for layer in layers] != [s["type"] for s in state["layers"]]:
        raise CheckpointError(
            "saved environment wrappers "
            f"{[s['type'] for s in state['layers']]} differ from these "
            f"{[type(layer).__name__ for layer in layers]}: build the env the same way"
        )
    for layer, saved in zip(layers, state["layers"], strict=True):
        for key, value in saved["attrs"].items():
            if key == EMULATOR_KEY:
                ale_state = importlib.import_module("ale_py").ALEState
                layer.restore_state(ale_state(np.asarray(value, dtype=np.uint8).tobytes()))
                continue
            current = getattr(layer, key, None)
            if isinstance(value, np.ndarray):  # arrays come back from npz with their dtype
                value = value.copy()
            elif isinstance(current, tuple) and isinstance(value, list):
                value = tuple(value)
            elif isinstance(current, deque) and isinstance(value, list):
                value = deque(value, maxlen=current.maxlen)
            setattr(layer, key, value)
    if state["rng"] is not None:
        env.unwrapped._np_random = restored_rng(state["rng"])


def restored_rng(state: dict[str, Any]) -> np.random.Generator:
    """A NumPy generator in the saved ``bit_generator.state`` (Gymnasium uses PCG64)."""
    rng = np.random.default_rng()
    rng.bit_generator.state = state
    return rng
