"""File formats: a safetensors save is reproducible byte for byte."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import torch

from hrrl.persistence.formats import read_safetensors, write_safetensors


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
