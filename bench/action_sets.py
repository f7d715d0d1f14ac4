"""The issue-14 bar: one default-preset policy per seed, scored on action sets it never trained on.

For each seed: the default preset trained in-process (a real run directory, the whole mixed
action-set distribution of ``hrrl.puzzle.action_sets``), the wall time until its best checkpoint
was written, then that checkpoint played on a freshly generated suite of every family at each
held-out action set and at (1, 3, 5), and on the paper's three cases. Prints, per action set, a
table of success and mean efficiency (exact optimum / steps) per family with one column per
seed, the unsolvable puzzles reported UNSOLVABLE, and a summary of the worst cells.

    .venv/bin/python bench/action_sets.py --seeds 0 1 2 --count 100
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import torch

import _common  # noqa: F401  (makes `import hrrl` work from a checkout)
from hrrl.config import apply_overrides
from hrrl.experiment import preset
from hrrl.inference.policy import Policy
from hrrl.monitoring.logger import Logger
from hrrl.persistence.layout import BEST_LINK, CHECKPOINTS_DIR
from hrrl.puzzle.action_sets import HELD_OUT
from hrrl.puzzle.core import DEFAULT_ACTIONS, Puzzle, Status
from hrrl.puzzle.families import FAMILIES
from hrrl.puzzle.generate import actions_label, generate_suite
from hrrl.puzzle.suite import FamilyRow, summarize
from hrrl.run import build_trainer

PAPER_CASES = Path(__file__).resolve().parents[2] / "shared" / "data" / "paper_cases.jsonl"
PAPER_FALLBACK = [
    {"id": "paper-123", "target": 123, "forbidden": [23, 45, 67, 89]},
    {"id": "paper-278", "target": 278, "forbidden": [51, 102, 177, 203, 234]},
    {"id": "paper-431", "target": 431, "forbidden": [78, 156, 234, 312, 389]},
]
SETS: tuple[tuple[int, ...], ...] = (*HELD_OUT, DEFAULT_ACTIONS)


def paper_cases() -> list[Puzzle]:
    if PAPER_CASES.exists():
        lines = PAPER_CASES.read_text().splitlines()
        return [Puzzle.from_dict(json.loads(line)) for line in lines if line.strip()]
    return [Puzzle.from_dict(d) for d in PAPER_FALLBACK]


def train(seed: int, overrides: list[str], root: Path) -> tuple[Policy, float, int]:
    config = apply_overrides(preset("default"), [*overrides, f"train.seed={seed}"])
    run_dir = root / f"default-{seed}"
    start_wall = time.time()
    trainer = build_trainer(config, run_dir=run_dir, logger=Logger([]))
    trainer.write_config()
    result = trainer.run()
    best = (run_dir / CHECKPOINTS_DIR / BEST_LINK).resolve()
    return Policy.load(run_dir), best.stat().st_mtime - start_wall, result.counters.env_steps


def cell(row: FamilyRow) -> str:
    if row.family == "unsolvable":
        return f"{row.unsolvable}/{row.puzzles} UNSOLV"
    eff = "-" if math.isnan(row.mean_efficiency) else f"{row.mean_efficiency:.4f}"
    return f"{row.success_rate:.3f} / {eff}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--count", type=int, default=100, help="puzzles per family and set")
    parser.add_argument("--suite-seed", type=int, default=14_2026)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--keep", type=Path, help="keep the run directories here")
    args = parser.parse_args()
    torch.set_num_threads(1)

    suites = {
        acts: generate_suite(list(FAMILIES), args.count, args.suite_seed, acts) for acts in SETS
    }
    cases = paper_cases()
    total = sum(len(s) for s in suites.values())
    print(
        f"held-out suites: {total} puzzles ({len(FAMILIES)} families x {args.count} x "
        f"{len(SETS)} action sets, suite seed {args.suite_seed}); sets never trained on: "
        f"{', '.join('{' + ','.join(map(str, s)) + '}' for s in HELD_OUT)}"
    )
    tables: dict[tuple[int, ...], dict[int, list[FamilyRow]]] = {acts: {} for acts in SETS}
    summary = []
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        for seed in args.seeds:
            policy, best_at, steps = train(seed, args.overrides, root)
            paper = policy.play(cases)
            played = 0
            t0 = time.perf_counter()
            for acts, suite in suites.items():
                results = policy.play(suite)
                played += sum(r.steps for r in results)
                tables[acts][seed] = summarize(results, suite)
            eval_s = time.perf_counter() - t0
            paper_opt = sum(
                r.status is Status.SUCCESS and r.steps == r.optimal_steps for r in paper
            )
            summary.append((seed, best_at, steps, paper_opt, eval_s, played))

    for acts in SETS:
        name = "{" + ",".join(map(str, acts)) + "}"
        unseen = "unseen" if acts in HELD_OUT else "trained distribution"
        print(f"\nactions {name} ({unseen}): success / mean efficiency per seed")
        header = f"{'family':<12}" + "".join(f"{'seed ' + str(s):>22}" for s in args.seeds)
        print(header)
        print("-" * len(header))
        families = [r.family for r in tables[acts][args.seeds[0]]]
        for fam in families:
            cells = [next(r for r in tables[acts][s] if r.family == fam) for s in args.seeds]
            print(f"{fam:<12}" + "".join(f"{cell(c):>22}" for c in cells))

    print("\nper seed")
    print(
        f"{'seed':>5} {'best ckpt s':>12} {'env steps':>10} {'paper optimal':>14} {'eval s':>8} {'eval steps':>11}"
    )
    for seed, best_at, steps, paper_opt, eval_s, played in summary:
        print(
            f"{seed:>5} {best_at:>12.1f} {steps:>10} {paper_opt:>12}/3 {eval_s:>8.1f} {played:>11}"
        )

    print("\nworst over seeds (solvable families)")
    for acts in SETS:
        rows = [
            r for s in args.seeds for r in tables[acts][s] if r.family not in ("all", "unsolvable")
        ]
        unsolv = [r for s in args.seeds for r in tables[acts][s] if r.family == "unsolvable"]
        worst_s = min(rows, key=lambda r: r.success_rate)
        eff = [r.mean_efficiency for r in rows if not math.isnan(r.mean_efficiency)]
        alls = [r for s in args.seeds for r in tables[acts][s] if r.family == "all"]
        print(
            f"{actions_label(acts):>9}: min family success {worst_s.success_rate:.3f} "
            f"({worst_s.family}), min family efficiency {min(eff):.4f}, "
            f"min overall efficiency {min(r.mean_efficiency for r in alls):.4f}, "
            f"unsolvable reported {sum(r.unsolvable for r in unsolv)}/{sum(r.puzzles for r in unsolv)}"
        )


if __name__ == "__main__":
    main()
