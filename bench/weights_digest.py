"""SHA-256 of the weights a short run ends with: the same seed and config must give the same
digest before and after a refactor that leaves the preset alone.

Each ``--run PRESET[:KEY=VALUE,...]`` trains in-process (no run directory, no logger) and prints
one line: the preset, its overrides, the env steps, and the SHA-256 of the online network's
tensors (names sorted, raw bytes). To compare two versions of hrrl, run the script once with
each on the path (``PYTHONPATH=/path/to/other/src`` wins over the checkout, see ``_common``)::

    .venv/bin/python bench/weights_digest.py --run baseline:train.total_episodes=300 \\
        --run CartPole-v1:train.total_env_steps=5000
"""

from __future__ import annotations

import argparse
import hashlib

import torch

import _common  # noqa: F401  (puts src/ on sys.path)
import hrrl
from hrrl.config import apply_overrides
from hrrl.experiment import gym_preset, preset
from hrrl.monitoring.logger import Logger
from hrrl.run import build_trainer


def digest(tensors: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for name in sorted(tensors):
        h.update(name.encode())
        h.update(tensors[name].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="append", required=True, metavar="PRESET[:K=V,...]")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"hrrl from {hrrl.__file__}")
    for item in args.run:
        name, _, rest = item.partition(":")
        overrides = [o for o in rest.split(",") if o] + ["checkpoint.enabled=false"]
        base = preset(name) if name in ("default", "baseline") else gym_preset(name)
        trainer = build_trainer(apply_overrides(base, overrides), logger=Logger([]))
        result = trainer.run()
        weights = trainer.agent.online.state_dict()
        print(
            f"{name} {' '.join(overrides)}: {result.counters.env_steps:,} env steps, sha256 {digest(weights)}"
        )


if __name__ == "__main__":
    main()
