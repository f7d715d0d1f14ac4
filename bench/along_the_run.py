"""Held-out quality along one run: a checkpoint every ``--every`` env steps, each one played.

The stop rule decides which policy a run keeps; this bench shows what it chooses from. For each
seed the default preset (``--set`` for other settings) trains ``--total`` env steps with its
stop rule off (``puzzle.stop_success=null``) and a checkpoint every ``--every`` steps; then
every checkpoint plays ``--count`` `wide` puzzles at 9, 16 and 32 actions (``bench/wide.py``'s
suites) and ``--count`` puzzles of each solvable family of ``bench/action_sets.py`` at two
unseen sets, {1,5,11} and {1,2,7}. Printed per seed: one row per checkpoint, success / mean
efficiency of each suite.

    .venv/bin/python bench/along_the_run.py                      # seeds 0 1 2, 20 a suite
    .venv/bin/python bench/along_the_run.py --seeds 1 --every 1024 --total 12288
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch

import _common  # noqa: F401  (makes `import hrrl` work from a checkout)
from _common import machine, table
from hierarchy import efficiency
from hrrl.config import apply_overrides
from hrrl.experiment import preset
from hrrl.inference.policy import Policy
from hrrl.monitoring.logger import Logger
from hrrl.persistence.layout import CHECKPOINTS_DIR, step_dirs
from hrrl.puzzle.core import Puzzle, Status
from hrrl.puzzle.generate import generate_suite
from hrrl.run import build_trainer
from wide import wide_suite

WIDTHS = (9, 16, 32)
UNSEEN = ((1, 5, 11), (1, 2, 7))
FAMILIES = ("in_range", "scale", "dense", "trap", "lookahead")


def cell(policy: Policy, suite: list[Puzzle]) -> str:
    solvable = [p for p in suite if p.extra.get("optimal_steps")]
    results = policy.play(solvable)
    won = np.mean([r.status is Status.SUCCESS for r in results])
    e = efficiency(results)
    return f"{won:.2f} / {np.nanmean(e):.4f}" if np.isfinite(e).any() else f"{won:.2f} / -"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--every", type=int, default=2048, help="env steps between checkpoints")
    parser.add_argument("--total", type=int, default=20_480, help="env steps of each run")
    parser.add_argument("--count", type=int, default=20, help="puzzles a width and a family")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    torch.set_num_threads(1)
    suites = {f"wide {w}": wide_suite(w, args.count, 27_0032) for w in WIDTHS}
    for acts in UNSEEN:
        label = "{" + ",".join(map(str, acts)) + "}"
        suites[label] = generate_suite(list(FAMILIES), args.count, 14_2026, acts)
    print(machine())
    print(
        f"along the run: {args.count} puzzles a wide width and a family of the unseen sets, "
        f"success / mean efficiency; overrides: {' '.join(args.overrides) or 'none'}"
    )
    for seed in args.seeds:
        config = apply_overrides(
            preset("default"),
            [
                *args.overrides,
                f"train.seed={seed}",
                "puzzle.stop_success=null",
                f"train.total_env_steps={args.total}",
                f"checkpoint.every_steps={args.every}",
                f"checkpoint.keep_last={args.total // args.every + 2}",
            ],
        )
        with tempfile.TemporaryDirectory() as tmp:
            trainer = build_trainer(config, run_dir=Path(tmp), logger=Logger([]))
            trainer.write_config()
            trainer.run()
            rows = [
                [f"{step:,}", *(cell(Policy.load(path), suite) for suite in suites.values())]
                for step, path in step_dirs(Path(tmp) / CHECKPOINTS_DIR)
            ]
        print(f"\nseed {seed}")
        print(table(["env steps", *suites], rows), flush=True)


if __name__ == "__main__":
    main()
