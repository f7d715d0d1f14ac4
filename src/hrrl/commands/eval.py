"""``hrrl eval``: play a suite with a trained policy, write results, print a table by family."""

from __future__ import annotations

import argparse
from pathlib import Path

from hrrl.logger import progress
from hrrl.policy import Policy
from hrrl.suite import Result, format_table, read_suite, summarize, write_results

TABLE_COLUMNS = (
    "puzzles",
    "solvable",
    "solved",
    "unsolvable",
    "invalid",
    "success_rate",
    "mean_efficiency",
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="evaluate a checkpoint on a suite",
        description="Play every puzzle of a suite greedily; unsolvable ones are reported "
        "UNSOLVABLE before any step, invalid lines INVALID with the reason.",
    )
    parser.add_argument(
        "--checkpoint", type=Path, required=True, help="run dir, checkpoint dir or bundle"
    )
    parser.add_argument("--suite", type=Path, required=True, help="suite file (JSON Lines)")
    parser.add_argument("--output", type=Path, help="results file to write (JSON Lines)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    policy = Policy.load(args.checkpoint)
    entries = read_suite(args.suite)
    if not entries:
        raise ValueError(f"--suite {args.suite} holds no puzzles")
    puzzles = [e.puzzle for e in entries if e.puzzle is not None]
    with progress(len(puzzles), "eval", unit="puzzle") as bar:
        played = iter(policy.play(puzzles, progress=bar.update))
    results: list[Result] = [
        next(played) if e.puzzle is not None else Result.invalid(e.id, e.reason or "invalid")
        for e in entries
    ]
    if args.output:
        write_results(args.output, results)
    print(f"policy: {policy.source}")
    print(format_table(summarize(results, entries), TABLE_COLUMNS))
    return 0
