"""File formats: a safetensors save is reproducible byte for byte; a large replay array loads
without a second copy in memory."""

from __future__ import annotations

import json
import struct
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from hrrl.errors import CheckpointError
from hrrl.persistence.formats import (
    MAP_BYTES,
    read_npz,
    read_safetensors,
    write_npz,
    write_safetensors,
)


def test_the_same_save_gives_the_same_bytes(tmp_path: Path) -> None:
    # safetensors orders __metadata__ differently from call to call; the writer sorts it.
    tensors = {"b": torch.arange(3.0), "a": torch.ones(2, 2)}
    metadata = {"zeta": "1", "format": "pt", "alpha": "x", "hrrl_schema": "1"}
    written = set()
    for i in range(12):
        path = tmp_path / f"{i}.safetensors"
        write_safetensors(path, tensors, metadata)
        written.add(path.read_bytes())
    [data] = written
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    assert list(header["__metadata__"]) == sorted(metadata)
    loaded = read_safetensors(tmp_path / "0.safetensors")
    assert all(torch.equal(loaded[k], v) for k, v in tensors.items())


def test_a_large_array_loads_as_a_map_of_the_file_not_a_second_copy(tmp_path: Path) -> None:
    # 32 MiB of frames: read into memory (np.load), the load alone would allocate all of it.
    frames = np.random.default_rng(0).integers(0, 255, (512, 64, 1024), dtype=np.uint8)
    small, fortran = np.arange(10.0), np.asfortranarray(np.arange(MAP_BYTES // 4).reshape(-1, 4))
    path = tmp_path / "replay.npz"
    write_npz(path, {"frames": frames, "small": small, "fortran": fortran, "empty": np.zeros(0)})
    tracemalloc.start()
    try:
        loaded = read_npz(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < frames.nbytes / 16
    assert isinstance(loaded["frames"], np.memmap) and not loaded["frames"].flags.writeable
    assert not isinstance(loaded["small"], np.memmap)
    for key, want in {"frames": frames, "small": small, "fortran": fortran}.items():
        assert loaded[key].dtype == want.dtype and np.array_equal(loaded[key], want)
    assert loaded["fortran"].flags.f_contiguous and loaded["empty"].shape == (0,)


def test_a_compressed_member_is_read_not_mapped(tmp_path: Path) -> None:
    array = np.arange(MAP_BYTES, dtype=np.uint8)
    path = tmp_path / "replay.npz"
    with (
        zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf,
        zf.open("a.npy", "w") as member,
    ):
        np.lib.format.write_array(member, array, allow_pickle=False)
    loaded = read_npz(path)
    assert not isinstance(loaded["a"], np.memmap) and np.array_equal(loaded["a"], array)


def test_a_member_whose_header_claims_more_bytes_than_it_holds_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "replay.npz"
    write_npz(path, {"frames": np.zeros((MAP_BYTES, 2), dtype=np.uint8)})
    data = path.read_bytes()
    claim = f"'shape': ({MAP_BYTES}, 2)".encode()
    lie = f"'shape': ({MAP_BYTES}, 3)".encode()
    assert data.count(claim) == 1 and len(lie) == len(claim)
    path.write_bytes(data.replace(claim, lie))  # mapped, it would read past the member
    with pytest.raises(CheckpointError, match=r"not the \d+ its \.npy header describes"):
        read_npz(path)
