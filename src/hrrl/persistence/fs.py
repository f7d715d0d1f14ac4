"""Crash-safe file-system moves for checkpoints and bundles.

Each move is atomic on a POSIX file system:

* a finished file is ``fsync``-ed before its directory is renamed into place;
* a symlink moves by creating a temporary link and ``os.replace``-ing it over the old one;
* a directory is deleted by first renaming it to a hidden ``.trash-*`` name, so a half-deleted
  tree never carries a ``step-*`` name.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path


def fsync_path(path: Path) -> None:
    """Flush a file's (or a directory's entries') data to stable storage."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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


_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def human_size(size: int) -> str:
    """Bytes in binary units with one decimal (``48.9 MiB``)."""
    value = float(size)
    for unit in _UNITS:
        if value < 1024 or unit == _UNITS[-1]:
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
