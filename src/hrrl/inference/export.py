"""Inference bundles: a trained policy as two small files, without optimizer or replay.

::

    bundle/
      policy.safetensors   the online Q-network's weights (keys as in the network's state_dict)
      policy.json          what is needed to play them, and where they came from:
                           {"format": "hrrl-policy", "format_version": 2,
                            "task": "puzzle" | "gym",
                            "env": {reward, encoder, planner, actions, horizon,
                                    levels}                             (puzzle)
                                 | {id}                                  (gym: the Gymnasium id),
                            "agent": {network, hidden[, dueling, conv_dtype]}, "obs_dim", "obs_shape",
                            "n_actions", "weights": {"file", "sha256", "bytes"},
                            "source": {checkpoint, step, metrics, created, git_commit,
                                       hrrl_version}, "hrrl_version", "exported"}

A bundle of ``format_version`` 1 (before Gymnasium bundles) is a puzzle bundle without the
``task`` and ``obs_shape`` fields, and still reads. ``policy.json`` is written last, so a
directory holding it is a complete bundle. Reading checks the format name and version, then the
size and SHA-256 of the weights, and parses them only as safetensors (a pickle in their place is
named and refused): loading a bundle never runs code. A puzzle bundle plays wherever a puzzle
checkpoint does (``hrrl eval --suite``, ``hrrl solve``, :meth:`hrrl.Policy.load`); a Gymnasium
bundle wherever a Gymnasium checkpoint does (``hrrl eval --env``, :meth:`hrrl.GymPolicy.load`).
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from hrrl.errors import CheckpointError
from hrrl.experiment import STACK_KEYS, migrate_config, saved_puzzle_section
from hrrl.inference.network import load_online_network, run_config
from hrrl.persistence import formats, fs
from hrrl.persistence.provenance import package_version
from hrrl.persistence.store import resolve_checkpoint

__all__ = [
    "BUNDLE_FORMAT",
    "BUNDLE_VERSION",
    "GYM_TASK",
    "MANIFEST_FILE",
    "PUZZLE_TASK",
    "WEIGHTS_FILE",
    "Bundle",
    "export_policy",
    "is_bundle",
    "read_bundle",
]

BUNDLE_FORMAT = "hrrl-policy"
#: Version of the bundle layout; bump it when policy.json or the file set changes meaning
#: (2: the ``task`` field and Gymnasium bundles).
BUNDLE_VERSION = 2
#: Versions this hrrl reads (1: puzzle bundles only, no ``task`` field).
READABLE_VERSIONS = (1, 2)
PUZZLE_TASK, GYM_TASK = "puzzle", "gym"
WEIGHTS_FILE = "policy.safetensors"
MANIFEST_FILE = "policy.json"
_ENV_KEYS = {PUZZLE_TASK: STACK_KEYS, GYM_TASK: ("id",)}
#: Keys a bundle written before they existed may lack (they take their defaults).
_OPTIONAL_ENV_KEYS = ("window", "horizon", "levels")
_AGENT_KEYS = ("network", "hidden")


@dataclass(frozen=True)
class Bundle:
    """A verified bundle in memory: everything :meth:`hrrl.Policy.from_parts` (a puzzle bundle)
    or :meth:`hrrl.GymPolicy.load` (a Gymnasium one) takes."""

    task: str
    """``puzzle`` or ``gym``."""
    env: dict[str, Any]
    """The puzzle's environment stack, or ``{"id": <Gymnasium id>}``."""
    agent: dict[str, Any]
    weights: dict[str, torch.Tensor]
    obs_dim: int
    obs_shape: tuple[int, ...]
    n_actions: int
    path: Path
    manifest: dict[str, Any]

    @property
    def env_id(self) -> str | None:
        """The Gymnasium id of a Gymnasium bundle (None for a puzzle one)."""
        return str(self.env["id"]) if self.task == GYM_TASK else None


def is_bundle(path: Path | str) -> bool:
    """Whether ``path`` is a bundle directory (or its ``policy.json``)."""
    p = Path(path)
    return (p / MANIFEST_FILE).is_file() or (p.name == MANIFEST_FILE and p.is_file())


#: What a bundle directory holds, and what an export that died in it (before hrrl wrote into a
#: sibling and renamed) could leave there: a directory of only these, without a manifest, is an
#: unfinished export and is reused.
_BUNDLE_PIECES = frozenset(
    {WEIGHTS_FILE, MANIFEST_FILE, f".{WEIGHTS_FILE}.tmp", f".{MANIFEST_FILE}.tmp"}
)


def export_policy(checkpoint: Path | str, out: Path | str, *, overwrite: bool = False) -> Path:
    """Write the bundle of ``checkpoint`` (a checkpoint dir, or a run: its best) into ``out``.

    ``out`` must not exist, be empty, hold an unfinished export, or (with ``overwrite``) hold a
    bundle already. The bundle is written into a hidden sibling and renamed into place, so a
    killed export leaves ``out`` as it was (the sibling is swept by the next export there).
    """
    ck = resolve_checkpoint(checkpoint)
    config = run_config(ck)
    weights = load_online_network(ck).state_dict()
    gym = migrate_config(config).get("gym")
    if isinstance(gym, dict):  # a Gymnasium run: the id is all there is to its environment
        task, env = GYM_TASK, {"id": str(gym["id"])}
    else:
        task, section = PUZZLE_TASK, saved_puzzle_section(config, ck.path)
        env = {key: section[key] for key in STACK_KEYS if key in section}
    target = Path(out)
    _check_out(target, overwrite=overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in (
        *target.parent.glob(f".{target.name}.tmp-*"),
        *target.parent.glob(f".{target.name}.old-*"),
    ):
        shutil.rmtree(stale, ignore_errors=True)
    tag = uuid.uuid4().hex
    tmp_dir = target.parent / f".{target.name}.tmp-{tag}"
    tmp_dir.mkdir()
    try:
        weights_path = tmp_dir / WEIGHTS_FILE
        formats.write_safetensors(
            weights_path, weights, {"format": "pt", "hrrl_bundle": str(BUNDLE_VERSION)}
        )
        agent, meta = config["agent"], ck.state["agent"]["meta"]
        manifest = {
            "format": BUNDLE_FORMAT,
            "format_version": BUNDLE_VERSION,
            "task": task,
            "env": env,
            "agent": {key: agent[key] for key in _AGENT_KEYS}
            | ({"dueling": True} if agent.get("dueling") else {})
            | (
                {"conv_dtype": agent["conv_dtype"]}
                if agent.get("conv_dtype", "float32") != "float32"
                else {}
            ),
            "obs_dim": int(meta["obs_dim"]),
            "obs_shape": [int(n) for n in meta.get("obs_shape") or (meta["obs_dim"],)],
            "n_actions": len(env["actions"]) if task == PUZZLE_TASK else int(meta["n_actions"]),
            "weights": {
                "file": WEIGHTS_FILE,
                "sha256": formats.sha256_file(weights_path),
                "bytes": weights_path.stat().st_size,
            },
            "source": {
                "checkpoint": str(ck.path),
                "step": ck.step,
                "metrics": ck.metrics,
                **ck.meta,
            },
            "hrrl_version": package_version(),
            "exported": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        formats.check_jsonable(manifest, MANIFEST_FILE)
        (tmp_dir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        fs.fsync_path(tmp_dir / MANIFEST_FILE)
        fs.fsync_path(tmp_dir)
        old = target.parent / f".{target.name}.old-{tag}"
        if target.exists():
            os.rename(target, old)
        os.rename(tmp_dir, target)
        fs.fsync_path(target.parent)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)
    return target


def _check_out(target: Path, *, overwrite: bool) -> None:
    """Refuse an ``--out`` that holds anything but nothing, an unfinished export, or (with
    ``overwrite``) a bundle."""
    if not target.exists():
        return
    if not target.is_dir():
        raise CheckpointError(f"--out {target} is a file: give a directory")
    names = {entry.name for entry in target.iterdir()}
    unfinished = names <= _BUNDLE_PIECES and MANIFEST_FILE not in names
    if unfinished or (overwrite and is_bundle(target)):
        return
    raise CheckpointError(
        f"--out {target} is not empty: choose a new directory"
        + (" (or pass --force to replace the bundle there)" if is_bundle(target) else "")
    )


def read_bundle(path: Path | str) -> Bundle:
    """Verify and load a bundle; any mismatch is a :class:`CheckpointError` naming it."""
    root = Path(path)
    if root.name == MANIFEST_FILE:
        root = root.parent
    manifest = _read_manifest(root)
    entry = manifest["weights"]
    file = root / WEIGHTS_FILE
    if not file.is_file():
        raise CheckpointError(f"{root}: {WEIGHTS_FILE} is missing")
    size = file.stat().st_size
    if size != entry.get("bytes"):
        raise CheckpointError(
            f"{root}: {WEIGHTS_FILE} has {size} bytes, {entry.get('bytes')} were exported "
            "(truncated or altered): refused, export the bundle again"
        )
    if formats.sha256_file(file) != entry.get("sha256"):
        raise CheckpointError(
            f"{root}: {WEIGHTS_FILE} fails its SHA-256 check (altered): refused, export the "
            "bundle again"
        )
    obs_dim = int(manifest["obs_dim"])
    return Bundle(
        task=manifest.get("task", PUZZLE_TASK),
        env=dict(manifest["env"]),
        agent=dict(manifest["agent"]),
        weights=formats.read_safetensors(file),
        obs_dim=obs_dim,
        obs_shape=tuple(int(n) for n in manifest.get("obs_shape") or (obs_dim,)),
        n_actions=int(manifest.get("n_actions", 0)),
        path=root,
        manifest=manifest,
    )


def _read_manifest(root: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((root / MANIFEST_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CheckpointError(f"{root} is not a bundle: {MANIFEST_FILE} is missing") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{root}: {MANIFEST_FILE} is unreadable: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
        raise CheckpointError(f"{root}: {MANIFEST_FILE} is not an {BUNDLE_FORMAT} manifest")
    version = manifest.get("format_version")
    if version not in READABLE_VERSIONS:
        raise CheckpointError(
            f"{root}: bundle format_version {version!r} is not one this hrrl reads "
            f"{list(READABLE_VERSIONS)} (exported by hrrl {manifest.get('hrrl_version')}; "
            "export it again with this hrrl)"
        )
    for key, kind in (("env", dict), ("agent", dict), ("weights", dict), ("obs_dim", int)):
        if not isinstance(manifest.get(key), kind):
            raise CheckpointError(f"{root}: {MANIFEST_FILE} field {key!r} is missing or invalid")
    task = manifest.get("task", PUZZLE_TASK)
    if task not in _ENV_KEYS:
        raise CheckpointError(
            f"{root}: {MANIFEST_FILE} field 'task' is {task!r}: expected one of {list(_ENV_KEYS)}"
        )
    missing = [
        k for k in _ENV_KEYS[task] if k not in manifest["env"] and k not in _OPTIONAL_ENV_KEYS
    ]
    missing += [k for k in _AGENT_KEYS if k not in manifest["agent"]]
    if missing:
        raise CheckpointError(f"{root}: {MANIFEST_FILE} lacks {missing}")
    return manifest
