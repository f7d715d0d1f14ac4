"""``hrrl eval``: play a suite with a trained policy, write results, print a table by family."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hrrl.commands import check_output_file, check_seed

if TYPE_CHECKING:
    from hrrl.puzzle.core import Puzzle
    from hrrl.puzzle.suite import Result

TABLE_COLUMNS = (
    "puzzles",
    "solvable",
    "solved",
    "unsolvable",
    "unsupported",
    "invalid",
    "success_rate",
    "mean_efficiency",
)
#: Seconds between progress-bar refreshes of the steps/s and largest-running figures.
REFRESH_S = 0.5
#: Greedy episodes ``hrrl eval`` plays of a Gymnasium policy unless ``--episodes`` says.
DEFAULT_EPISODES = 10


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="evaluate a checkpoint on a suite",
        description="Play every puzzle of a suite greedily, many at once (one batched forward "
        "pass a step), each with its own action set; unsolvable ones are reported UNSOLVABLE "
        "before any step, invalid lines INVALID and lines this policy cannot play UNSUPPORTED, "
        "each with the reason. Results are written as each puzzle finishes (a killed eval keeps "
        "them; --resume continues), then the file is rewritten in suite order.",
    )
    parser.add_argument(
        "--checkpoint", type=Path, required=True, help="run dir, checkpoint dir or bundle"
    )
    parser.add_argument("--suite", type=Path, help="suite file (JSON Lines); not with --env")
    parser.add_argument("--output", type=Path, help="results file to write (JSON Lines)")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the results already in --output (a killed eval's) and play the rest",
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (default 1: fastest here)"
    )
    parser.add_argument(
        "--batch", type=int, default=128, help="puzzles played at once (default 128)"
    )
    parser.add_argument(
        "--env",
        metavar="ID",
        help="Gymnasium id the checkpoint was trained on (read from it when not given; needed "
        "for a module:Id, whose module it imports)",
    )
    parser.add_argument(
        "--episodes",
        type=int,
        help=f"greedy episodes of a Gymnasium policy (default {DEFAULT_EPISODES})",
    )
    parser.add_argument(
        "--seed", type=int, help="seed of a Gymnasium policy's first episode (default 0; +1 each)"
    )
    parser.add_argument(
        "--epsilon",
        type=float,
        metavar="P",
        help="chance of a random action at each step of a Gymnasium policy's episodes (default "
        "0: greedy; the Nature DQN's Atari evaluation used 0.05)",
    )
    parser.add_argument(
        "--video",
        type=Path,
        metavar="DIR",
        help="also film a Gymnasium policy's episodes, one mp4 each, into DIR (needs moviepy)",
    )
    parser.set_defaults(func=run)


class SuiteProgress:
    """The eval bar: puzzles done, env steps/s, and the largest puzzle still running."""

    def __init__(self, bar: Any) -> None:
        self.bar = bar
        self.running: dict[str, int] = {}
        self.steps = 0
        self._began = time.perf_counter()
        self._shown = 0.0

    def started(self, puzzle: Puzzle) -> None:
        self.running[puzzle.id] = puzzle.gap

    def finished(self, _: int, result: Result) -> None:
        self.running.pop(result.id, None)
        self.bar.update(1)

    def stepped(self, n: int) -> None:
        self.steps += n
        now = time.perf_counter()
        if now - self._shown >= REFRESH_S:
            self._shown = now
            largest = max(self.running.values(), default=0)
            rate = self.steps / max(now - self._began, 1e-9)
            self.bar.set_postfix_str(
                f"{rate:,.0f} env steps/s, largest running gap {largest:,}", refresh=False
            )


def read_partial(path: Path) -> dict[str, Result]:
    """The results a killed eval left in ``path`` (a torn or unreadable line is dropped, even
    one torn inside a character), by id."""
    from hrrl.errors import HrrlError
    from hrrl.puzzle.suite import Result

    done: dict[str, Result] = {}
    if not path.exists():
        return done
    with open(path, "rb") as fh:  # bytes: a kill may tear a line inside a UTF-8 character
        for line in fh:
            try:
                result = Result.from_dict(json.loads(line.decode("utf-8")))
            except (UnicodeDecodeError, ValueError, RecursionError, HrrlError):
                continue
            done[result.id] = result
    return done


def run(args: argparse.Namespace) -> int:
    check_seed(args.seed)
    check_output_file(args.output, "--output")
    if args.env is not None or args.suite is None:
        return run_env(args)
    for flag, value in (
        ("--episodes", args.episodes),
        ("--seed", args.seed),
        ("--epsilon", args.epsilon),
    ):
        if value is not None:
            raise ValueError(
                f"{flag} sets the episodes of a Gymnasium policy; a --suite plays its puzzles "
                "once each: drop it"
            )
    if args.video is not None:
        raise ValueError(
            "--video films a Gymnasium policy's episodes; film one puzzle with "
            "`hrrl solve --video DIR`"
        )
    if args.resume and args.output is None:
        raise ValueError("--resume continues the --output file: give --output FILE")
    from hrrl.config import check_int
    from hrrl.inference.policy import Policy
    from hrrl.monitoring.logger import progress
    from hrrl.puzzle.evaluate import PlayHooks
    from hrrl.puzzle.suite import (
        Result,
        format_rejected,
        format_table,
        read_suite,
        summarize,
        write_results,
    )

    check_int("--threads", args.threads, low=1, high=256)
    check_int("--batch", args.batch, low=1)
    policy = Policy.load(args.checkpoint)
    policy.threads = args.threads
    entries = read_suite(args.suite)
    if not entries:
        raise ValueError(f"--suite {args.suite} holds no puzzles")
    done = read_partial(args.output) if args.resume else {}
    todo = [e.puzzle for e in entries if e.puzzle is not None and e.id not in done]
    partial = None
    if args.output is not None:
        if args.resume:  # keep what survived (a torn last line is gone), then append
            write_results(args.output, list(done.values()))
        else:
            args.output.parent.mkdir(parents=True, exist_ok=True)
        partial = open(args.output, "a" if args.resume else "w", encoding="utf-8")  # noqa: SIM115
    try:
        with progress(len(todo), "eval", unit="puzzle") as bar:
            shown = SuiteProgress(bar)

            def finished(i: int, result: Result) -> None:
                shown.finished(i, result)
                done[result.id] = result
                if partial is not None:
                    partial.write(json.dumps(result.to_dict()) + "\n")
                    partial.flush()

            hooks = PlayHooks(started=shown.started, finished=finished, stepped=shown.stepped)
            policy.play(todo, hooks=hooks, num_envs=args.batch)
    finally:
        if partial is not None:
            partial.close()
    results: list[Result] = [
        done[e.id] if e.puzzle is not None else Result.invalid(e.id, e.reason or "invalid")
        for e in entries
    ]
    if args.output:
        write_results(args.output, results)  # the final file, in suite order
    print(f"policy: {policy.source}")
    if policy.any_action_set:
        print(f"plays any action set of up to {policy.max_actions} actions")
    print(format_table(summarize(results, entries), TABLE_COLUMNS))
    if rejected := format_rejected(entries, args.suite):
        print(f"\n{rejected}")
    return 0


def run_env(args: argparse.Namespace) -> int:
    """Greedy (or ``--epsilon``-greedy) episodes of a Gymnasium policy (the task read from the
    checkpoint, or ``--env``): mean return +/- std; with ``--output``, one JSON line per
    episode."""
    from hrrl.inference.gym_policy import GymPolicy

    if args.suite is not None:
        raise ValueError("give --suite FILE (a puzzle) or --env ID (a Gymnasium task), not both")
    if args.resume:
        raise ValueError("--resume continues a suite's --output; a Gymnasium eval plays again")
    episodes = DEFAULT_EPISODES if args.episodes is None else args.episodes
    if episodes < 1:
        raise ValueError(f"--episodes {episodes} is invalid: give at least 1")
    policy = GymPolicy.load(args.checkpoint, env_id=args.env)  # a puzzle one: use --suite
    result = policy.evaluate(episodes=episodes, seed=args.seed or 0, epsilon=args.epsilon or 0.0)
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        lines = (json.dumps(row) + "\n" for row in result.episodes())
        args.output.write_text("".join(lines), encoding="utf-8")
    print(f"policy: {policy.source}")
    print(result)
    if args.video is not None:
        films = policy.record(args.video, episodes=episodes, seed=args.seed or 0)
        print(f"video: {len(films)} episodes in {args.video}")
    return 0
