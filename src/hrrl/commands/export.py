"""``hrrl export CKPT --out DIR``: write an inference bundle (weights + how to play them).

The bundle (``policy.safetensors`` and ``policy.json``, see :mod:`hrrl.inference.export`) holds
the online network only, with what it needs to play: for a puzzle run the encoder, planner,
action set and reward it was trained with (``hrrl eval --suite``, ``hrrl solve`` and
``hrrl.Policy.load(DIR)`` play it); for a Gymnasium run the id, the network and the observation
shape (``hrrl eval --env ID --checkpoint DIR`` and ``hrrl.GymPolicy.load(DIR)`` play it).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hrrl.persistence.fs import human_size


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "export",
        help="write an inference bundle from a checkpoint (weights + env config, no pickle)",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument(
        "checkpoint", type=Path, metavar="CKPT", help="checkpoint dir, or a run dir (its best)"
    )
    parser.add_argument("--out", type=Path, required=True, help="bundle directory to write")
    parser.add_argument("--force", action="store_true", help="replace a bundle already in --out")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hrrl.inference.export import MANIFEST_FILE, WEIGHTS_FILE, export_policy

    out = export_policy(args.checkpoint, args.out, overwrite=args.force)
    manifest = json.loads((out / MANIFEST_FILE).read_text(encoding="utf-8"))
    source, weights = manifest["source"], manifest["weights"]
    print(f"exported {source['checkpoint']} (env step {source['step']:,}) -> {out}")
    env = manifest["env"]
    what = f"Gymnasium env {env['id']}" if manifest["task"] == "gym" else f"env {env}"
    print(
        f"  {WEIGHTS_FILE}: {human_size(weights['bytes'])}, sha256 {weights['sha256'][:16]}...; "
        f"{what}"
    )
    return 0
