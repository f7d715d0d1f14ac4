"""``hrrl compare``: baselines, the prototype, hrrl and the exact optimum on one suite."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hrrl.studies.compare import Outcome


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="compare baselines and hrrl on a suite",
        description="Train each learner (same env-step budget) and play the suite: success "
        "rate, mean steps, efficiency vs the exact optimum, training time; mean over seeds.",
    )
    parser.add_argument("--suite", type=Path, required=True, help="suite file (JSON Lines)")
    parser.add_argument("--seeds", type=int, default=1, help="seeds per learner (0..N-1)")
    parser.add_argument(
        "--budget", type=int, default=30_000, help="env-step training budget of each learner"
    )
    parser.add_argument(
        "--methods",
        help="comma-separated learners (default: all; a name it does not know lists them)",
    )
    parser.add_argument("--json", type=Path, help="also write the table as JSON (for ablate)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hrrl.puzzle.suite import read_suite
    from hrrl.studies.compare import METHODS, compare, format_rows, rows_json

    entries = read_suite(args.suite)
    puzzles = [e.puzzle for e in entries if e.puzzle is not None]
    if not puzzles:
        raise ValueError(f"--suite {args.suite} holds no valid puzzles")
    methods = [m.strip() for m in (args.methods or ",".join(METHODS)).split(",") if m.strip()]
    start = time.perf_counter()

    def done(method: str, seed: int, o: Outcome) -> None:
        print(
            f"{method:>10} seed {seed}: success {o.success:.3f}, train {o.train_seconds:.1f}s",
            flush=True,
        )

    rows = compare(puzzles, methods=methods, seeds=args.seeds, budget=args.budget, on_done=done)
    skipped = len(entries) - len(puzzles)
    print(
        f"suite {args.suite}: {len(puzzles)} puzzles ({skipped} invalid lines skipped); "
        f"seeds {args.seeds}; budget {args.budget} env steps; "
        f"wall {time.perf_counter() - start:.0f} s"
    )
    print(format_rows(rows))
    if args.json:
        data = rows_json(rows, suite=str(args.suite), seeds=args.seeds, budget=args.budget)
        args.json.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return 0
