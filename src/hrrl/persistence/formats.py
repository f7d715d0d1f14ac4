"""Pickle-free file formats and crash-safe file-system moves for :mod:`hrrl.persistence.store`.

Two formats, both read without ever unpickling:

* **safetensors** (tensors): an 8-byte little-endian header length ``N``, ``N`` bytes of JSON
  naming each tensor's dtype, shape and byte range, then raw bytes. We parse the header ourselves
  before handing the file to :func:`safetensors.torch.load_file`, so a foreign file (a
  ``torch.save`` zip, a raw pickle) is named as such instead of failing deep inside a parser.
* **npz** (numpy arrays): a zip of ``<key>.npy`` members written with ``allow_pickle=False`` and
  read with ``allow_pickle=False``; object arrays are refused on both sides. Written with
  :mod:`zipfile` directly (what ``np.savez`` does) so that any key, even ``file``, is allowed.

And three moves, each atomic on a POSIX file system:

* a finished file is ``fsync``-ed before its directory is renamed into place;
* a symlink moves by creating a temporary link and ``os.replace``-ing it over the old one;
* a directory is deleted by first renaming it to a hidden ``.trash-*`` name, so a half-deleted
  tree never carries a ``step-*`` name.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import struct
import subprocess
import uuid
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import safetensors
import safetensors.torch
import torch

from hrrl.errors import CheckpointError

#: Version of the on-disk layout; bump it when state.json or the file set changes meaning.
CHECKPOINT_SCHEMA_VERSION = 1
MODEL_FILE = "model.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
REPLAY_FILE = "replay.npz"
STATE_FILE = "state.json"
DATA_FILES: tuple[str, ...] = (MODEL_FILE, OPTIMIZER_FILE, REPLAY_FILE)
CHECKPOINTS_DIR = "checkpoints"
STEP_DIR = re.compile(r"^step-(\d{9,})$")
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


def fsync_path(path: Path) -> None:
    """Flush a file's (or a directory's entries') data to stable storage."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
    hold is a :class:`CheckpointError` (a bug in the caller).
    """
    prepared = _prepare_tensors(tensors)
    try:
        data = safetensors.torch.save(prepared, metadata=metadata)
    except (ValueError, TypeError, safetensors.SafetensorError) as exc:
        raise CheckpointError(f"cannot store tensors in {path.name}: {exc}") from exc
    with path.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


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
                    version = np.lib.format.read_magic(member)
                    if version == (1, 0):
                        _, _, dtype = np.lib.format.read_array_header_1_0(member)
                    elif version == (2, 0):
                        _, _, dtype = np.lib.format.read_array_header_2_0(member)
                    else:  # 3.0 (utf-8 field names): we never write it
                        raise CheckpointError(f"{path.name}[{name!r}] uses .npy {version}")
                if dtype.hasobject:
                    raise CheckpointError(
                        f"{path.name}[{name!r}] is an object array (pickled data); refused: "
                        "checkpoints are never unpickled"
                    )
                keys.append(name[: -len(_NPY_SUFFIX)])
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CheckpointError(f"{path.name} is not a readable .npz archive: {exc}") from exc
    return keys


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Load every array of an ``.npz`` with ``allow_pickle=False``; refuse anything else."""
    check_npz(path)
    out: dict[str, np.ndarray] = {}
    try:
        with np.load(path, allow_pickle=False) as npz:
            for key in npz.files:
                value = npz[key]
                if not isinstance(value, np.ndarray) or value.dtype.hasobject:
                    raise CheckpointError(f"{path.name}[{key!r}] is not a plain numpy array")
                out[key] = value
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        # numpy raises ValueError("... allow_pickle=False") for a pickled member.
        raise CheckpointError(f"{path.name} cannot be loaded without pickle: {exc}") from exc
    return out


# --- directory moves ---------------------------------------------------------------------------


def atomic_symlink(link: Path, target: str) -> None:
    """Point ``link`` at ``target`` (a relative name) atomically, then fsync the directory.

    ``os.replace`` of a fresh temporary link over the old one is a single rename: a reader sees
    either the old target or the new one, never a missing link.
    """
    tmp = link.with_name(f".{link.name}.tmp-{uuid.uuid4().hex}")
    os.symlink(target, tmp)
    try:
        os.replace(tmp, link)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_path(link.parent)


def remove_tree(path: Path) -> None:
    """Delete a directory tree, first renaming it to a hidden trash name (see module doc)."""
    trash = path.with_name(f".trash-{path.name}-{uuid.uuid4().hex[:8]}")
    os.rename(path, trash)
    shutil.rmtree(trash)


def directory_size(path: Path) -> int:
    """Bytes held by the regular files directly inside ``path``."""
    total = 0
    for entry in os.scandir(path):
        if entry.is_file(follow_symlinks=False):
            total += entry.stat(follow_symlinks=False).st_size
    return total


# --- provenance ------------------------------------------------------------------------------


@functools.cache
def _git_commit(cwd: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and re.fullmatch(r"[0-9a-f]{40,64}", commit) else None


def git_commit() -> str | None:
    """``git rev-parse HEAD`` in the current directory, or None; cached per directory."""
    return _git_commit(str(Path.cwd()))


@functools.cache
def package_version() -> str:
    try:
        return importlib.metadata.version("hrrl")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


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


# --- layout helpers ----------------------------------------------------------------------------


def step_dir_name(step: int) -> str:
    return f"step-{step:09d}"


def checkpoints_dir(run_dir: Path | str) -> Path:
    """The ``checkpoints/`` folder of a run (``run_dir`` may also be that folder itself)."""
    path = Path(run_dir)
    if not path.is_dir():
        raise CheckpointError(f"{path} is not a directory")
    if (path / CHECKPOINTS_DIR).is_dir():
        return path / CHECKPOINTS_DIR
    if path.name == CHECKPOINTS_DIR:
        return path
    raise CheckpointError(f"{path} has no {CHECKPOINTS_DIR}/ folder: not a run with checkpoints")


def step_dirs(ckdir: Path) -> list[tuple[int, Path]]:
    """``(step, path)`` of every ``step-*`` directory, by increasing step."""
    found = []
    for entry in ckdir.iterdir():
        match = STEP_DIR.match(entry.name)
        if match and entry.is_dir() and not entry.is_symlink():
            found.append((int(match.group(1)), entry))
    return sorted(found)


def link_target(link: Path) -> str | None:
    try:
        return Path(str(link.readlink())).name
    except OSError:
        return None


def read_manifest(ckpt: Path) -> dict[str, Any]:
    """Parse state.json and check its shape (no checksums)."""
    try:
        text = (ckpt / STATE_FILE).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise CheckpointError(f"{ckpt.name}: {STATE_FILE} is missing") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{ckpt.name}: {STATE_FILE} is unreadable: {exc}") from exc
    try:
        manifest = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{ckpt.name}: {STATE_FILE} is not valid JSON: {exc}") from exc
    if not isinstance(manifest, dict):
        raise CheckpointError(f"{ckpt.name}: {STATE_FILE} is not a JSON object")
    version = manifest.get("schema_version")
    if version != CHECKPOINT_SCHEMA_VERSION:
        hint = "a newer hrrl wrote it; upgrade" if isinstance(version, int) else "not an hrrl file"
        raise CheckpointError(
            f"{ckpt.name}: schema_version {version!r} is not {CHECKPOINT_SCHEMA_VERSION} ({hint})"
        )
    files = manifest.get("files")
    if not isinstance(files, dict) or set(files) != set(DATA_FILES):
        raise CheckpointError(f"{ckpt.name}: {STATE_FILE} must list exactly {list(DATA_FILES)}")
    for key, kind in (("step", int), ("state", dict), ("metrics", dict)):
        if not isinstance(manifest.get(key), kind):
            raise CheckpointError(f"{ckpt.name}: {STATE_FILE} field {key!r} is missing or invalid")
    match = STEP_DIR.match(ckpt.name)
    if match and int(match.group(1)) != manifest["step"]:
        raise CheckpointError(f"{ckpt.name}: {STATE_FILE} says step {manifest['step']}")
    return manifest


def verify_checkpoint(path: Path | str) -> dict[str, Any]:
    """Check a checkpoint directory without loading its contents; return its state.json.

    Checks: state.json parses with this schema version, every data file is present with the
    recorded size and SHA-256, the safetensors headers parse and replay.npz is a zip of ``.npy``.
    """
    ckpt = Path(path)
    if not ckpt.is_dir():
        raise CheckpointError(f"{ckpt} is not a checkpoint directory")
    manifest = read_manifest(ckpt)
    for name in DATA_FILES:
        entry = manifest["files"][name]
        file = ckpt / name
        if not file.is_file():
            raise CheckpointError(f"{ckpt.name}: {name} is missing")
        if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str):
            raise CheckpointError(f"{ckpt.name}: {STATE_FILE} has no checksum for {name}")
        size = file.stat().st_size
        if size != entry.get("bytes"):
            raise CheckpointError(
                f"{ckpt.name}: {name} has {size} bytes, {entry.get('bytes')} were written "
                "(truncated or altered)"
            )
        if sha256_file(file) != entry["sha256"]:
            raise CheckpointError(f"{ckpt.name}: {name} fails its SHA-256 check (altered)")
    check_safetensors(ckpt / MODEL_FILE)
    check_safetensors(ckpt / OPTIMIZER_FILE)
    check_npz(ckpt / REPLAY_FILE)
    return manifest
