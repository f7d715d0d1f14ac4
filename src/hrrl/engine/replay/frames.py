"""Frame-deduplicated replay storage: each image frame stored once, stacks rebuilt at sample time.

::

    add(obs (n, stack, H, W) uint8, ..., next_obs (n, stack, H, W))
        each frame ──> content key (hash of its bytes) ──> a pool slot: the one holding the same
                       frame already (its reference count + 1), or a free slot it is copied to
        transition i's obs and next_obs rows (an ArrayStorage of int32): `stack` pool slots each
    get(indices) ──> frames[rows.obs[indices]]: (B, stack, H, W), the stacks as they were added

* **Why.** Consecutive stacks of one environment share ``stack - 1`` frames, and a transition's
  ``next_obs`` is a later transition's ``obs``: stored as arrays, a 4-frame 84x84 Atari
  transition costs 56 KB (SB3's 56 GB for a million). Here it costs one new frame (7,056
  bytes) and its bookkeeping (``2 * stack`` int32 slot ids, the action, reward and flags).
* **Order-free.** Frames are matched by content, not by position in an episode, so the storage
  needs no lane or episode bookkeeping: n-step folding, several environments in any row order,
  the padding of an episode's first stack (Gymnasium's ``FrameStackObservation`` repeats the
  reset frame) and the true last observation of a truncated episode are all just frames. A key
  (CRC-32 and Adler-32 of the bytes) match is confirmed byte by byte; two frames that share a
  key but not their bytes are stored apart (the second is simply not shared).
* **Reference counts.** A slot's count is the number of (transition, stack position) pairs that
  name it; overwriting the oldest transition releases its frames, and a slot whose count falls
  to 0 goes back on the free stack. The free stack is last-in first-out, so the pool's touched
  region (what is resident: the pool is allocated with ``np.empty`` and its pages are mapped as
  they are written) stays at the number of distinct live frames, about one per transition.
* **Pool size.** ``frame_slots`` (default ``2 * capacity + 64``) bounds the distinct frames held
  at once; a stream that needs more (stacks that share nothing) fails in one line naming it.
* **State.** :meth:`state_dict` keeps the pool's touched region, its counts and keys, the free
  stack and the transitions: a loaded storage allocates the same slots as the saved one would
  have (bit-exact resume).
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

from hrrl.config import check_int
from hrrl.engine.replay.storage import ArrayStorage

#: The key of a slot whose frame is not in the content index (a key shared with another frame).
_UNINDEXED = -1


def _frame_key(frame: np.ndarray) -> int:
    """A frame's content key: its CRC-32 and Adler-32 in 63 bits (never -1). The same in every
    process, unlike Python's salted ``hash``, so a loaded pool's index still finds its frames
    (with ``hash`` a resumed run stored every frame again and its replay drifted)."""
    data = frame.tobytes()
    return ((zlib.crc32(data) << 32) | zlib.adler32(data)) >> 1


class FrameStorage:
    """A ring of ``capacity`` transitions whose observations are stacks of ``frame_shape``
    uint8 frames, each distinct frame stored once (see the module doc): an
    :class:`~hrrl.engine.replay.storage.ArrayStorage` whose observation rows are pool slots."""

    kind = "frames"
    obs_dtype = np.dtype(np.uint8)

    def __init__(
        self,
        capacity: int,
        stack: int,
        frame_shape: tuple[int, int],
        *,
        discounts: bool = False,
        frame_slots: int | None = None,
    ) -> None:
        check_int("stack", stack, low=1)
        for size in frame_shape:
            check_int("frame_shape", size, low=1)
        self.rows = ArrayStorage(capacity, stack, discounts=discounts, dtype=np.int32)
        self.capacity = capacity
        self.stack = stack
        self.frame_shape = tuple(frame_shape)
        self.obs_shape: tuple[int, ...] = (stack, *self.frame_shape)
        slots = 2 * capacity + 64 if frame_slots is None else frame_slots
        check_int("frame_slots", slots, low=2 * stack)
        self.frames = np.empty((slots, *self.frame_shape), dtype=np.uint8)  # mapped as written
        self.refs = np.zeros(slots, dtype=np.int32)
        self.keys = np.full(slots, _UNINDEXED, dtype=np.int64)
        self.free = np.arange(slots - 1, -1, -1, dtype=np.int32)  # a stack: pops 0, 1, 2, ...
        self.n_free = slots
        self.touched = 0
        """Slots ever written: the pool's resident region."""
        self.index: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def frame_count(self) -> int:
        """Distinct frames held now."""
        return len(self.frames) - self.n_free

    def add(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_obs: np.ndarray,
        terminated: np.ndarray,
        discounts: np.ndarray | None = None,
    ) -> np.ndarray:
        """Write ``n`` transitions (``obs`` and ``next_obs`` of shape ``(n, stack, H, W)``,
        uint8); returns the slots written."""
        rows = self.rows
        rows.check_discounts(discounts)
        obs, actions, rewards, next_obs, terminated, discounts = rows.newest(
            obs, actions, rewards, next_obs, terminated, discounts
        )
        n = obs.shape[0]
        _, overwritten = rows.slots_ahead(n)
        old = rows.obs[overwritten].ravel(), rows.next_obs[overwritten].ravel()
        ids = self._intern(obs.reshape(n * self.stack, *self.frame_shape))
        next_ids = self._intern(next_obs.reshape(n * self.stack, *self.frame_shape))
        slots = rows.add(
            ids.reshape(n, self.stack),
            actions,
            rewards,
            next_ids.reshape(n, self.stack),
            terminated,
            discounts,
        )
        for released in old:  # after interning: a frame the new rows share stays
            self._release(released)
        return slots

    def _intern(self, frames: np.ndarray) -> np.ndarray:
        """The pool slot of each frame (one reference more each), storing the new ones."""
        ids = np.empty(len(frames), dtype=np.int32)
        pool, index, key_of = self.frames, self.index, _frame_key
        for i, frame in enumerate(frames):
            key = key_of(frame)
            slot = index.get(key)
            if slot is None or not np.array_equal(pool[slot], frame):
                slot = self._allocate()
                pool[slot] = frame
                if key not in index:
                    index[key] = slot
                    self.keys[slot] = key
            self.refs[slot] += 1
            ids[i] = slot
        return ids

    def _allocate(self) -> int:
        if self.n_free == 0:
            raise RuntimeError(
                f"the frame pool is full ({len(self.frames):,} distinct frames for "
                f"{self.capacity:,} transitions): these stacks share too few frames for "
                "frame-deduplicated replay; give it more frame_slots"
            )
        self.n_free -= 1
        slot = int(self.free[self.n_free])
        self.touched = max(self.touched, slot + 1)
        return slot

    def _release(self, ids: np.ndarray) -> None:
        """One reference fewer for each id (in order); a slot at 0 goes back on the free stack."""
        refs, keys = self.refs, self.keys
        for slot in ids.tolist():
            refs[slot] -= 1
            if refs[slot] == 0:
                key = int(keys[slot])
                if key != _UNINDEXED:
                    del self.index[key]
                    keys[slot] = _UNINDEXED
                self.free[self.n_free] = slot
                self.n_free += 1

    def get(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        rows = self.rows.get(indices)
        rows["obs"] = self.frames[rows["obs"]]
        rows["next_obs"] = self.frames[rows["next_obs"]]
        return rows

    _POOL_FIELDS = ("frames", "refs", "keys")

    def state_dict(self) -> dict[str, Any]:
        """The transitions (frame ids) and the pool's touched region, as read-only views (no
        copy: valid until the next ``add``)."""
        state: dict[str, Any] = {
            "kind": self.kind,
            "stack": self.stack,
            "frame_shape": list(self.frame_shape),
            "frame_slots": len(self.frames),
            "touched": self.touched,
            "free": self.free[: self.n_free],
            "rows": self.rows.state_dict(),
        }
        for name in self._POOL_FIELDS:
            view = getattr(self, name)[: self.touched].view()
            view.flags.writeable = False
            state[name] = view
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        mine = (self.stack, list(self.frame_shape), len(self.frames))
        saved = (
            int(state["stack"]),
            [int(x) for x in state["frame_shape"]],
            int(state["frame_slots"]),
        )
        if saved != mine:
            raise ValueError(
                f"saved frame replay has (stack, frame shape, frame slots) {saved}, this one "
                f"{mine}: build it with the saved sizes"
            )
        self.rows.load_state_dict(state["rows"])
        touched = int(state["touched"])
        for name in self._POOL_FIELDS:
            array = np.asarray(state[name])
            if array.shape[0] != touched:
                raise ValueError(
                    f"saved frame pool {name} has {array.shape[0]} rows, not {touched}"
                )
            getattr(self, name)[:touched] = array
        free = np.asarray(state["free"], dtype=np.int32)
        self.refs[touched:] = 0
        self.keys[touched:] = _UNINDEXED
        self.free[: len(free)] = free
        self.n_free = len(free)
        self.touched = touched
        self.index = {
            int(key): slot
            for slot, key in enumerate(self.keys[:touched].tolist())
            if key != _UNINDEXED
        }
