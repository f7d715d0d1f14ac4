"""Frame-deduplicated replay (issue 28, item 2): the stacks come back as they were added, each
distinct frame is held once, and a loaded storage continues exactly as the saved one."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hrrl.engine.replay import frames as frames_module
from hrrl.engine.replay.buffer import ReplayConfig, make_replay
from hrrl.engine.replay.frames import FrameStorage

STACK, SHAPE = 4, (3, 3)


def _check_invariants(storage: FrameStorage) -> None:
    rows = storage.rows
    live = np.concatenate([rows.obs[: len(rows)], rows.next_obs[: len(rows)]])
    counts = np.bincount(live.ravel(), minlength=len(storage.frames))
    assert np.array_equal(counts, storage.refs)  # every reference counted, no other
    assert storage.frame_count == np.count_nonzero(counts)  # a slot is free iff unreferenced
    for key, slot in storage.index.items():
        assert storage.keys[slot] == key and storage.refs[slot] > 0


def _palette(rng: np.random.Generator, alphabet: int) -> np.ndarray:
    """``alphabet`` distinct 3x3 frames."""
    values = rng.choice(256, size=alphabet, replace=False).astype(np.uint8)
    return np.broadcast_to(values[:, None, None], (alphabet, *SHAPE)).copy()


def _stacks(rng: np.random.Generator, n: int, palette: np.ndarray) -> np.ndarray:
    """Stacks of frames drawn from ``palette`` (so stacks share frames)."""
    return palette[rng.integers(0, len(palette), size=(n, STACK))]


@settings(max_examples=40, deadline=None)
@given(
    capacity=st.integers(1, 12),
    batches=st.lists(st.integers(0, 9), min_size=1, max_size=8),
    alphabet=st.integers(1, 6),
    seed=st.integers(0, 2**16),
)
def test_stacks_come_back_as_added_and_frames_are_counted(
    capacity: int, batches: list[int], alphabet: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    storage = FrameStorage(capacity, STACK, SHAPE, discounts=True)
    palette = _palette(rng, alphabet)
    reference: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for n in batches:
        obs, next_obs = _stacks(rng, n, palette), _stacks(rng, n, palette)
        zeros = np.zeros(n)
        slots = storage.add(obs, zeros.astype(np.int64), zeros, next_obs, zeros > 0, zeros)
        for row, slot in enumerate(slots[-capacity:], start=max(n - capacity, 0)):
            reference[int(slot)] = (obs[row], next_obs[row])
        _check_invariants(storage)
        assert storage.frame_count <= alphabet  # each distinct frame held once
    live = np.arange(len(storage))
    rows = storage.get(live)
    for slot in live:
        assert np.array_equal(rows["obs"][slot], reference[int(slot)][0])
        assert np.array_equal(rows["next_obs"][slot], reference[int(slot)][1])


def _episode_stream(rng: np.random.Generator, steps: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(obs, next_obs)`` stacks of one environment as FrameStackObservation gives them (the
    first stack of an episode repeats its reset frame), episodes of 5-20 steps."""
    out = []
    while len(out) < steps:
        window = [rng.integers(0, 256, SHAPE, dtype=np.uint8)] * STACK
        for _ in range(int(rng.integers(5, 21))):
            nxt = [*window[1:], rng.integers(0, 256, SHAPE, dtype=np.uint8)]
            out.append((np.stack(window), np.stack(nxt)))
            window = nxt
    return out[:steps]


def test_an_episode_stream_costs_about_one_frame_a_transition() -> None:
    rng = np.random.default_rng(0)
    stream = _episode_stream(rng, 400)
    storage = FrameStorage(100, STACK, SHAPE)
    for obs, next_obs in stream:
        storage.add(obs[None], np.zeros(1, np.int64), np.zeros(1), next_obs[None], np.zeros(1))
    _check_invariants(storage)
    # 100 live transitions: their 100 newest frames, the 3 older frames the oldest stack
    # reaches back to, and each episode's reset frame: far below 2 * 4 frames a transition.
    assert storage.frame_count <= 100 + STACK + 100 // 5
    assert storage.touched <= storage.frame_count + 2 * STACK  # freed slots are reused first


def test_frames_that_share_a_hash_are_stored_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(frames_module, "_frame_key", lambda frame: 7)  # every frame collides
    rng = np.random.default_rng(1)
    storage = FrameStorage(5, STACK, SHAPE)
    added, palette = [], _palette(rng, 3)
    for _ in range(8):
        obs, next_obs = _stacks(rng, 2, palette), _stacks(rng, 2, palette)
        slots = storage.add(obs, np.zeros(2, np.int64), np.zeros(2), next_obs, np.zeros(2))
        added.append((slots, obs, next_obs))
        _check_invariants(storage)
    slots, obs, next_obs = added[-1]
    rows = storage.get(slots)
    assert np.array_equal(rows["obs"], obs) and np.array_equal(rows["next_obs"], next_obs)


def _copy(state: dict[str, Any]) -> dict[str, Any]:
    return {k: np.array(v) if isinstance(v, np.ndarray) else v for k, v in state.items()}


def test_a_loaded_storage_continues_as_the_saved_one() -> None:
    rng = np.random.default_rng(2)
    stream = _episode_stream(rng, 300)
    saved, loaded = FrameStorage(64, STACK, SHAPE), FrameStorage(64, STACK, SHAPE)

    def add(storage: FrameStorage, pair: tuple[np.ndarray, np.ndarray]) -> None:
        storage.add(pair[0][None], np.zeros(1, np.int64), np.zeros(1), pair[1][None], np.ones(1))

    for pair in stream[:150]:
        add(saved, pair)
    loaded.load_state_dict(_copy(saved.state_dict()))
    for pair in stream[150:]:
        add(saved, pair)
        add(loaded, pair)
    for name in ("refs", "keys", "free"):
        assert np.array_equal(getattr(saved, name), getattr(loaded, name)), name
    for name in ("obs", "next_obs", "actions", "terminated"):
        assert np.array_equal(getattr(saved.rows, name), getattr(loaded.rows, name)), name
    assert saved.index == loaded.index and saved.touched == loaded.touched
    assert np.array_equal(saved.frames[: saved.touched], loaded.frames[: loaded.touched])


def test_frame_keys_are_the_same_in_every_process() -> None:
    """A loaded pool's index must still find its frames in a new process: with Python's salted
    ``hash`` a resumed Atari run stored every frame again and its replay drifted."""
    frame = np.arange(81, dtype=np.uint8).reshape(9, 9)
    code = (
        "import numpy as np; from hrrl.engine.replay.frames import _frame_key; "
        "print(_frame_key(np.arange(81, dtype=np.uint8).reshape(9, 9)))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert int(out.stdout) == frames_module._frame_key(frame) >= 0


def test_the_buffer_samples_uint8_stacks_with_priorities() -> None:
    config = ReplayConfig(capacity=32, kind="prioritized")
    replay = make_replay(config, obs_dim=STACK * 9, seed=0, frames=(STACK, *SHAPE))
    rng = np.random.default_rng(3)
    palette = _palette(rng, 4)
    obs, next_obs = _stacks(rng, 20, palette), _stacks(rng, 20, palette)
    replay.add(obs, np.arange(20) % 3, np.ones(20), next_obs, np.zeros(20, bool))
    batch = replay.sample(8)
    assert batch.obs.dtype == batch.next_obs.dtype == torch.uint8
    assert tuple(batch.obs.shape) == (8, STACK, *SHAPE) and batch.weights is not None
    with pytest.raises(ValueError, match="frame replay stores uint8 frames"):
        replay.add(
            obs.astype(np.float32), np.zeros(20, np.int64), np.ones(20), next_obs, np.zeros(20)
        )
    other = make_replay(config, obs_dim=STACK * 9, seed=0)
    with pytest.raises(ValueError, match="saved replay stores frames, this buffer arrays"):
        other.load_state_dict(replay.state_dict())
