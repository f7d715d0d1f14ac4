"""What a run's checkpoints look like on disk, and the check that one is whole (design §4)::

    runs/<name>/checkpoints/
      step-000050000/
        model.safetensors      every tensor whose key does NOT start with "optimizer."
                               (by convention "online.*", "target.*")
        optimizer.safetensors  every tensor whose key starts with "optimizer."
        replay.npz             the numpy arrays (replay storage, priorities), allow_pickle=False
        state.json             schema and package version, git commit, UTC time, step, the
                               evaluation of this step's policy (metrics and the task's score;
                               empty and null when it was not evaluated), SHA-256 and size of
                               the three files above, and the JSON state
      step-000100000/ ...
      best   -> step-...       highest score (as its task ranks evaluations), never rotated away
      latest -> step-...       the most recent completed save

``state.json`` is the manifest: :func:`read_manifest` checks its shape and schema version,
:func:`verify_checkpoint` also every data file's size and SHA-256, without loading any of them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hrrl.errors import CheckpointError
from hrrl.persistence.formats import check_npz, check_safetensors, sha256_file

#: Version of the on-disk layout; bump it when state.json or the file set changes meaning.
#: 2: state.json carries the SHA-256 of its own content (``digest``).
CHECKPOINT_SCHEMA_VERSION = 2
#: Layouts this hrrl reads (1: before state.json covered itself; read without that check).
READABLE_SCHEMAS = (1, 2)
#: The state.json field holding the SHA-256 of the rest of it (:func:`manifest_digest`).
DIGEST_KEY = "digest"
MODEL_FILE = "model.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
REPLAY_FILE = "replay.npz"
STATE_FILE = "state.json"
DATA_FILES: tuple[str, ...] = (MODEL_FILE, OPTIMIZER_FILE, REPLAY_FILE)
#: Tensor keys with this prefix go to optimizer.safetensors, all others to model.safetensors.
OPTIMIZER_PREFIX = "optimizer."
CHECKPOINTS_DIR = "checkpoints"
STEP_DIR = re.compile(r"^step-(\d{9,})$")
LATEST_LINK = "latest"
BEST_LINK = "best"


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
    """The name of the step directory ``link`` (``best``, ``latest``) points at, in its own
    checkpoints directory; None when it is no link, or points anywhere else (another run's
    checkpoint is never this run's ``best``)."""
    try:
        target = Path(str(link.readlink()))
    except OSError:
        return None
    if target.is_absolute():
        inside = target.parent == link.parent or target.parent == link.parent.resolve()
    else:
        inside = target.parent == Path(".")
    return target.name if inside and STEP_DIR.match(target.name) else None


def manifest_digest(manifest: Mapping[str, Any]) -> str:
    """SHA-256 of a manifest without its ``digest``: of its canonical JSON (keys sorted, no
    spaces), so what a reader parses is what the writer hashed, whatever the file's layout."""
    body = {k: v for k, v in manifest.items() if k != DIGEST_KEY}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


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
    if version not in READABLE_SCHEMAS or isinstance(version, bool):
        hint = "a newer hrrl wrote it; upgrade" if isinstance(version, int) else "not an hrrl file"
        raise CheckpointError(
            f"{ckpt.name}: schema_version {version!r} is not {CHECKPOINT_SCHEMA_VERSION} ({hint})"
        )
    if version >= 2 and manifest.get(DIGEST_KEY) != manifest_digest(manifest):
        raise CheckpointError(
            f"{ckpt.name}: {STATE_FILE} fails its SHA-256 check (edited, or torn): refused"
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
