"""``hrrl solve``: one puzzle from the command line, played by a trained policy."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hrrl.config import check_int
from hrrl.errors import PuzzleError


def _int_list(text: str) -> list[int]:
    if not text.strip():
        return []
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of integers (e.g. 23,45,67)"
        ) from None


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "solve", help="solve one puzzle with a trained policy", description=__doc__
    )
    parser.add_argument(
        "--checkpoint", type=Path, required=True, help="run dir, checkpoint dir or bundle"
    )
    parser.add_argument("--target", type=int, required=True, help="the number to land on exactly")
    parser.add_argument(
        "--forbidden", type=_int_list, default=[], help="numbers never to land on, e.g. 23,45,67"
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (default 1: fastest here)"
    )
    parser.add_argument(
        "--actions",
        type=_int_list,
        help="what one step may add, e.g. 1,3,5 (default: the set the policy was trained on)",
    )
    parser.add_argument("--start", type=int, default=0, help="the number to start from (0)")
    parser.add_argument("--max-steps", type=int, help="default max(2*optimal, optimal+20)")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    parser.add_argument(
        "--video", type=Path, metavar="DIR", help="also write the play as an mp4 into DIR"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    check_int("--threads", args.threads, low=1, high=256)
    from hrrl.puzzle.core import DEFAULT_ACTIONS, Puzzle

    def make(actions: tuple[int, ...] | list[int]) -> Puzzle:
        return Puzzle.create(
            target=args.target,
            forbidden=args.forbidden,
            actions=actions,
            start=args.start,
            max_steps=args.max_steps,
            id="cli",
        )

    puzzle = make(args.actions or DEFAULT_ACTIONS)  # bad input is refused before torch loads
    from hrrl.inference.policy import Policy
    from hrrl.puzzle.solver import optimal_steps

    policy = Policy.load(args.checkpoint)
    policy.threads = args.threads
    trained = tuple(policy.env_config.actions)
    if args.actions is None and puzzle.actions != trained:
        puzzle = make(trained)
    reason = policy.unsupported_reason(puzzle)
    if reason is not None:
        raise PuzzleError(
            f"actions={list(puzzle.actions)}: {reason}; pass --actions {','.join(map(str, trained))}"
            " (or leave --actions out)"
        )
    result = policy.solve(puzzle)
    if args.video is not None and len(result.path) > 1:
        from hrrl.puzzle.video import record_path

        film = record_path(puzzle, result.path, args.video)
        print(f"video: {film}", file=sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps(result.to_dict()))
        return 0
    best = optimal_steps(puzzle)
    plays = (
        f"this policy plays any action set of up to {policy.max_actions} actions"
        if policy.any_action_set
        else f"this policy plays actions {list(policy.env_config.actions)} only"
    )
    print(f"status: {result.status.value}")
    print(f"steps:  {result.steps}" + (f"  (optimal {best})" if best is not None else ""))
    print(f"path:   {' -> '.join(map(str, result.path))}")
    print(f"actions: {list(puzzle.actions)}  ({plays})")
    return 0
