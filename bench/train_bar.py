"""The issue-3 bar: train the default preset on several seeds, score the best checkpoint.

For each seed: ``hrrl train`` on the default preset (in-process, a real run directory), the
wall time until its best checkpoint was written, then the best checkpoint played on the paper's
three cases and on a freshly generated held-out suite of every family (targets up to 10,000,
dense forbidden sets, traps, walls, endgames, lookahead, unsolvable). Optionally the baseline
preset on the same suite. Prints one table per preset and a per-family table.

    .venv/bin/python bench/train_bar.py --seeds 0 1 2 --count 200 [--baseline]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from hrrl.config import apply_overrides
from hrrl.experiment import preset
from hrrl.inference.policy import Policy
from hrrl.monitoring.logger import Logger
from hrrl.persistence.layout import BEST_LINK, CHECKPOINTS_DIR
from hrrl.puzzle.core import Puzzle, Status
from hrrl.puzzle.families import FAMILIES
from hrrl.puzzle.generate import generate_suite
from hrrl.puzzle.suite import format_table, summarize
from hrrl.run import build_trainer

PAPER_CASES = Path(__file__).resolve().parents[2] / "shared" / "data" / "paper_cases.jsonl"
PAPER_FALLBACK = [
    {"id": "paper-123", "target": 123, "forbidden": [23, 45, 67, 89]},
    {"id": "paper-278", "target": 278, "forbidden": [51, 102, 177, 203, 234]},
    {"id": "paper-431", "target": 431, "forbidden": [78, 156, 234, 312, 389]},
]


def paper_cases() -> list[Puzzle]:
    if PAPER_CASES.exists():
        lines = PAPER_CASES.read_text().splitlines()
        return [Puzzle.from_dict(json.loads(line)) for line in lines if line.strip()]
    return [Puzzle.from_dict(d) for d in PAPER_FALLBACK]


def train_one(
    name: str, seed: int, overrides: list[str], root: Path
) -> tuple[Policy, float, float, int]:
    config = apply_overrides(preset(name), [*overrides, f"train.seed={seed}"])
    run_dir = root / f"{name}-{seed}"
    start_wall = time.time()
    start = time.perf_counter()
    trainer = build_trainer(config, run_dir=run_dir, logger=Logger([]))
    trainer.write_config()
    result = trainer.run()
    total = time.perf_counter() - start
    best = (run_dir / CHECKPOINTS_DIR / BEST_LINK).resolve()
    best_written = best.stat().st_mtime - start_wall  # from the start, construction included
    return Policy.load(run_dir), best_written, total, result.counters.env_steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--count", type=int, default=200, help="puzzles per family")
    parser.add_argument("--suite-seed", type=int, default=2026)
    parser.add_argument("--baseline", action="store_true", help="also train the baseline preset")
    parser.add_argument("--baseline-seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    torch.set_num_threads(1)

    suite = generate_suite(list(FAMILIES), args.count, args.suite_seed)
    cases = paper_cases()
    print(
        f"held-out suite: {len(suite)} puzzles ({len(FAMILIES)} families x {args.count}, seed {args.suite_seed})"
    )
    runs = [("default", s) for s in args.seeds]
    if args.baseline:
        runs += [("baseline", s) for s in args.baseline_seeds]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, seed in runs:
            policy, best_at, total, steps = train_one(name, seed, args.overrides, Path(tmp))
            paper = policy.play(cases)
            t0 = time.perf_counter()
            results = policy.play(suite)
            eval_s = time.perf_counter() - t0
            table = summarize(results, suite)
            by_family = {r.family: r for r in table}
            solvable_fams = [r for r in table if r.family not in ("all", "unsolvable")]
            unsolv = by_family.get("unsolvable")
            rows.append(
                {
                    "preset": name,
                    "seed": seed,
                    "best_ckpt_s": best_at,
                    "train_s": total,
                    "env_steps": steps,
                    "paper": sum(r.status is Status.SUCCESS for r in paper),
                    "paper_eff": statistics.mean(r.efficiency or 0.0 for r in paper),
                    "min_family": min(
                        r.success_rate for r in solvable_fams if r.family != "lookahead"
                    ),
                    "lookahead": by_family["lookahead"].success_rate,
                    "all": by_family["all"].success_rate,
                    "efficiency": by_family["all"].mean_efficiency,
                    "unsolvable_ok": unsolv.unsolvable / unsolv.puzzles if unsolv else float("nan"),
                    "eval_s": eval_s,
                }
            )
            print(f"\n{name} seed {seed}: per family")
            print(
                format_table(
                    table, ("puzzles", "solvable", "solved", "success_rate", "mean_efficiency")
                )
            )
    print("\nsummary")
    cols = list(rows[0])
    print("  ".join(f"{c:>12}" for c in cols))
    for row in rows:
        print(
            "  ".join(f"{v:>12.4f}" if isinstance(v, float) else f"{v!s:>12}" for v in row.values())
        )


if __name__ == "__main__":
    main()
