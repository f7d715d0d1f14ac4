"""Where a saved file came from: the hrrl version and git commit stamped into each manifest."""

from __future__ import annotations

import functools
import importlib.metadata
import re
import subprocess
from pathlib import Path


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
