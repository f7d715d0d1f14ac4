"""Pickle-free file formats for checkpoints and bundles, each read without ever unpickling.

* **safetensors** (tensors): an 8-byte little-endian header length ``N``, ``N`` bytes of JSON
  naming each tensor's dtype, shape and byte range, then raw bytes. We parse the header ourselves
  before handing the file to :func:`safetensors.torch.load_file`, so a foreign file (a
  ``torch.save`` zip, a raw pickle) is named as such instead of failing deep inside a parser.
* **npz** (numpy arrays): a zip of ``<key>.npy`` members written with ``allow_pickle=False`` and
  read with ``allow_pickle=False``; object arrays are refused on both sides. Written with
  :mod:`zipfile` directly (what ``np.savez`` does) so that any key, even ``file``, is allowed.
* **JSON** (everything else): :func:`check_jsonable` refuses what JSON would change or cannot hold.

Where the files go is :mod:`hrrl.persistence.layout`; how they are moved into place,
:mod:`hrrl.persistence.fs`.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np
import safetensors
import safetensors.torch
import torch

from hrrl.errors import CheckpointError
from hrrl.persistence.fs import fsync_path

#: Largest safetensors header we accept (the format's own reference limit is 100 MB).
MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024
#: Read size for hashing.
_CHUNK = 1 << 20
_ZIP_MAGIC = b"PK\x03\x04"
_EMPTY_ZIP_MAGIC = b"PK\x05\x06"
_NPY_SUFFIX = ".npy"


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def describe_foreign(head: bytes) -> str | None:
    """Name a file format recognised from its first bytes, when it is one we must never load."""
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "a Python pickle"
    if head.startswith(_ZIP_MAGIC):
        return "a zip archive (torch.save writes pickles inside one)"
    if head.startswith(b"\x93NUMPY"):
        return "a bare .npy array"
    return None


# --- safetensors -----------------------------------------------------------------------------


def _prepare_tensors(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Detached, contiguous CPU tensors, none sharing storage (safetensors refuses aliases)."""
    out: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for key, tensor in tensors.items():
        if not isinstance(key, str) or not key:
            raise CheckpointError(f"tensor key {key!r} is invalid: keys must be non-empty strings")
        if not isinstance(tensor, torch.Tensor):
            raise CheckpointError(
                f"tensors[{key!r}] is a {type(tensor).__name__}: only torch.Tensor values are "
                "stored as tensors (put numpy arrays in `arrays`, plain values in `state`)"
            )
        t = tensor.detach().to("cpu").contiguous()
        if t.numel() > 0:
            ptr = t.untyped_storage().data_ptr()
            if ptr in seen:
                t = t.clone()
            seen.add(t.untyped_storage().data_ptr())
        out[key] = t
    return out


def write_safetensors(
    path: Path, tensors: Mapping[str, torch.Tensor], metadata: dict[str, str]
) -> None:
    """Write ``tensors`` to ``path`` as safetensors and fsync it.

    Serialised in memory (networks are small) and written by Python, so that a full disk or a
    missing permission surfaces as ``OSError`` (a failed save), while a tensor safetensors cannot
    hold is a :class:`CheckpointError` (a bug in the caller). The same tensors and metadata give
    the same bytes (see :func:`_sort_metadata`).
    """
    prepared = _prepare_tensors(tensors)
    try:
        data = _sort_metadata(safetensors.torch.save(prepared, metadata=metadata))
    except (ValueError, TypeError, safetensors.SafetensorError) as exc:
        raise CheckpointError(f"cannot store tensors in {path.name}: {exc}") from exc
    with path.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _sort_metadata(data: bytes) -> bytes:
    """``data`` with its ``__metadata__`` entries in key order.

    safetensors writes them from a Rust ``HashMap``, in an order that changes from one call to
    the next, so the same save would hash differently. Only that JSON object is rewritten, in
    place and at the same length; a header of any other shape is left as it is.
    """
    (length,) = struct.unpack("<Q", data[:8])
    text = data[8 : 8 + length].decode("utf-8")
    prefix = '{"__metadata__":'
    if not text.startswith(prefix):
        return data
    metadata, end = json.JSONDecoder().raw_decode(text, len(prefix))
    if not isinstance(metadata, dict):
        return data
    ordered = json.dumps(dict(sorted(metadata.items())), separators=(",", ":"), ensure_ascii=False)
    header = (prefix + ordered + text[end:]).encode("utf-8")
    if len(header) != length:
        return data
    return data[:8] + header + data[8 + length :]


def check_safetensors(path: Path) -> dict[str, object]:
    """Parse and sanity-check a safetensors header without reading the tensor bytes.

    Refuses anything that is not safetensors (in particular pickles and ``torch.save`` zips)
    with a :class:`CheckpointError` that says what the file looks like.
    """
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(9)
        # A safetensors file is an 8-byte little-endian header length, then a JSON object. Check
        # that shape first: a header length such as 640 (80 02 00 ...) begins with the very bytes
        # of a pickle's protocol marker, so sniffing for foreign formats first would refuse a
        # valid file.
        length = struct.unpack("<Q", head[:8])[0] if len(head) >= 8 else -1
        plausible = 2 <= length <= min(MAX_SAFETENSORS_HEADER, size - 8) and head[8:9] == b"{"
        if not plausible:
            foreign = describe_foreign(head)
            if foreign is not None:
                raise CheckpointError(
                    f"{path.name} is {foreign}, not safetensors; refused: checkpoints are never "
                    "unpickled"
                )
            if len(head) < 8:
                raise CheckpointError(
                    f"{path.name} is truncated ({size} bytes): no safetensors header"
                )
            raise CheckpointError(
                f"{path.name} is not a safetensors file: header length {length} does not fit "
                f"the file of {size} bytes"
            )
        handle.seek(8)
        raw = handle.read(length)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path.name} has an unreadable safetensors header: {exc}") from exc
    if not isinstance(header, dict):
        raise CheckpointError(f"{path.name} has a safetensors header that is not a JSON object")
    return header


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """Load every tensor of a safetensors file onto the CPU (never through pickle)."""
    check_safetensors(path)
    try:
        return dict(safetensors.torch.load_file(str(path), device="cpu"))
    except (safetensors.SafetensorError, ValueError, OSError) as exc:
        raise CheckpointError(f"{path.name} is not a valid safetensors file: {exc}") from exc


# --- npz ---------------------------------------------------------------------------------------


def write_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``arrays`` as an uncompressed ``.npz`` (``np.load``-compatible) and fsync it."""
    for key, array in arrays.items():
        if not isinstance(key, str) or not key or "\x00" in key:
            raise CheckpointError(f"array key {key!r} is invalid: keys must be non-empty strings")
        if not isinstance(array, np.ndarray):
            raise CheckpointError(
                f"arrays[{key!r}] is a {type(array).__name__}: only numpy arrays are stored in "
                "replay.npz"
            )
        if array.dtype.hasobject:
            raise CheckpointError(
                f"arrays[{key!r}] has dtype {array.dtype}: object arrays would need pickle and are "
                "refused; store plain numeric arrays"
            )
    with zipfile.ZipFile(path, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for key, array in arrays.items():
            with zf.open(key + _NPY_SUFFIX, mode="w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)
    fsync_path(path)


def _npy_header(stream: IO[bytes], where: str) -> tuple[tuple[int, ...], bool, np.dtype[Any]]:
    """``(shape, fortran order, dtype)`` from the ``.npy`` header ``stream`` is at (a Python
    literal numpy parses without ``eval``), leaving ``stream`` at the array's first byte."""
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(stream)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(stream)
    raise CheckpointError(f"{where} uses .npy {version}")  # 3.0 (utf-8 names): never written


def check_npz(path: Path) -> list[str]:
    """Check that ``path`` is a zip of ``.npy`` members with no object dtype; return the keys.

    Reads only each member's ``.npy`` header (a Python literal numpy parses without ``eval``).
    """
    with path.open("rb") as handle:
        head = handle.read(8)
    if not (head.startswith(_ZIP_MAGIC) or head.startswith(_EMPTY_ZIP_MAGIC)):
        foreign = describe_foreign(head) or "not a zip archive"
        raise CheckpointError(
            f"{path.name} is {foreign}, not an .npz archive; refused: checkpoints are never "
            "unpickled"
        )
    keys = []
    try:
        with zipfile.ZipFile(path) as zf:
            for name in zf.namelist():
                if not name.endswith(_NPY_SUFFIX):
                    raise CheckpointError(f"{path.name} holds {name!r}, not a .npy array")
                with zf.open(name) as member:
                    _, _, dtype = _npy_header(member, f"{path.name}[{name!r}]")
                if dtype.hasobject:
                    raise CheckpointError(
                        f"{path.name}[{name!r}] is an object array (pickled data); refused: "
                        "checkpoints are never unpickled"
                    )
                keys.append(name[: -len(_NPY_SUFFIX)])
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CheckpointError(f"{path.name} is not a readable .npz archive: {exc}") from exc
    return keys


#: A stored ``.npz`` member at least this large is mapped from the file, not read into memory.
MAP_BYTES = 1 << 20


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of an ``.npz``, read with ``allow_pickle=False``; refuse anything else.

    An uncompressed member of at least :data:`MAP_BYTES` (what :func:`write_npz` writes) comes
    back as a read-only memory map of the file: its bytes are one contiguous run there, so a
    resume copies a replay of gigabytes into its buffer from the page cache instead of first
    holding a second copy of it in memory. The zip's CRC is not read for those; the checkpoint's
    SHA-256 of the whole file (:func:`sha256_file`) is what vouches for the bytes.
    """
    check_npz(path)
    out: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(path) as zf, path.open("rb") as handle:
            for info in zf.infolist():
                key = info.filename[: -len(_NPY_SUFFIX)]
                if info.compress_type == zipfile.ZIP_STORED and info.file_size >= MAP_BYTES:
                    out[key] = _mapped_member(path, handle, info)
                else:
                    with zf.open(info) as member:
                        out[key] = np.lib.format.read_array(member, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        # numpy raises ValueError("... allow_pickle=False") for a pickled member.
        raise CheckpointError(f"{path.name} cannot be loaded without pickle: {exc}") from exc
    return out


def _mapped_member(path: Path, handle: IO[bytes], info: zipfile.ZipInfo) -> np.ndarray:
    """The stored member ``info`` of the zip ``path`` as a read-only memory map."""
    handle.seek(info.header_offset)
    local = handle.read(30)  # the local file header: its name and extra field lengths
    if len(local) < 30 or not local.startswith(_ZIP_MAGIC):
        raise CheckpointError(f"{path.name}[{info.filename!r}] has no local zip header")
    name_len, extra_len = struct.unpack("<HH", local[26:30])
    start = info.header_offset + 30 + name_len + extra_len
    handle.seek(start)
    shape, fortran, dtype = _npy_header(handle, f"{path.name}[{info.filename!r}]")
    offset = handle.tell()
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if offset - start + nbytes != info.file_size:
        raise CheckpointError(
            f"{path.name}[{info.filename!r}] holds {info.file_size} bytes, not the "
            f"{offset - start + nbytes} its .npy header describes"
        )
    return np.memmap(
        path, dtype=dtype, mode="r", offset=offset, shape=shape, order="F" if fortran else "C"
    )


# --- JSON ------------------------------------------------------------------------------------


def check_jsonable(value: object, where: str) -> None:
    """Refuse what JSON would silently change (non-str keys) or cannot hold (numpy scalars).

    Tuples are accepted and come back as lists.
    """
    if value is None or isinstance(value, str | bool | int | float):
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            check_jsonable(item, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise CheckpointError(f"{where} has key {key!r}: JSON keys must be strings")
            check_jsonable(item, f"{where}[{key!r}]")
        return
    raise CheckpointError(
        f"{where} is a {type(value).__name__}: state.json holds only None, bool, int, float, str, "
        "lists and str-keyed dicts (use .item() for numpy scalars, `arrays` for arrays, "
        "`tensors` for tensors)"
    )
