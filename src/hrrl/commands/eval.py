"""``hrrl eval``: play a suite with a trained policy, write results, print a table by family."""

from __future__ import annotations

import argparse
from pathlib import Path

from hrrl.commands import check_output_file, check_seed

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
    parser.add_argument("--suite", type=Path, help="suite file (JSON Lines); not with --env")
    parser.add_argument("--output", type=Path, help="results file to write (JSON Lines)")
    parser.add_argument(
        "--env", metavar="ID", help="Gymnasium id the checkpoint was trained on: report returns"
    )
    parser.add_argument(
        "--episodes", type=int, default=10, help="greedy episodes with --env (default 10)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the first --env episode (then +1 each)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    check_seed(args.seed)
    check_output_file(args.output, "--output")
    if args.env is not None:
        return run_env(args)
    if args.suite is None:
        raise ValueError("give --suite FILE (a puzzle suite) or --env ID (a Gymnasium task)")
    from hrrl.inference.policy import Policy
    from hrrl.monitoring.logger import progress
    from hrrl.puzzle.suite import (
        Result,
        format_rejected,
        format_table,
        read_suite,
        summarize,
        write_results,
    )

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
    if rejected := format_rejected(entries, args.suite):
        print(f"\n{rejected}")
    return 0


def run_env(args: argparse.Namespace) -> int:
    """Greedy episodes of a Gymnasium task: mean return, spread, success rate."""
    from hrrl.gym.task import evaluate_env
    from hrrl.inference.gym_policy import load_greedy_policy

    if args.episodes < 1:
        raise ValueError(f"--episodes {args.episodes} is invalid: give at least 1")
    policy, source = load_greedy_policy(args.checkpoint, env_id=args.env)
    metrics = evaluate_env(args.env, policy, episodes=args.episodes, seed=args.seed)
    print(f"policy: {source}")
    print(
        f"{args.env}: mean return {metrics['eval/mean_return']:.2f} "
        f"+/- {metrics['eval/return_std']:.2f} over {args.episodes} episodes "
        f"(seeds {args.seed}..{args.seed + args.episodes - 1}), "
        f"mean length {metrics['eval/mean_length']:.1f}, "
        f"success rate {metrics['eval/success_rate']:.2f}"
    )
    return 0
