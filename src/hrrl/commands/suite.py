"""``hrrl suite``: generate puzzle suites and solve them exactly.

Examples::

    hrrl suite generate --family scale,trap --count 500 --seed 7 --out suites/test.jsonl
    hrrl suite generate --family all --count 50 --actions 1,2,7 --actions 2,5 --out unseen.jsonl
    hrrl suite solve suites/test.jsonl --output suites/test.optimal.jsonl

``generate`` writes a JSON Lines suite (design §1) with ``count`` puzzles of each family;
``solve`` writes the exact optimum of every line as a results file and prints a table by family
(puzzles, solvable, mean optimal steps), then the rejected lines with their reasons.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from hrrl.commands import check_output_file, check_seed
from hrrl.errors import ConfigError, PuzzleError, field_error
from hrrl.puzzle import FAMILY_NAMES, SCALE_FAMILY_NAMES

if TYPE_CHECKING:
    from hrrl.puzzle.core import Puzzle

#: Columns of the ``solve`` table (attributes of :class:`hrrl.puzzle.suite.FamilyRow`).
SOLVE_COLUMNS = ("puzzles", "solvable", "unsolvable", "invalid", "mean_optimal_steps")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "suite",
        help="generate puzzle suites and solve them exactly",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    actions = parser.add_subparsers(dest="suite_command", required=True, metavar="ACTION")

    gen = actions.add_parser(
        "generate",
        help="write a seeded suite of puzzles, COUNT of each family",
        description=f"Families: {', '.join(FAMILY_NAMES)} (or 'all'), and by name "
        f"{', '.join(SCALE_FAMILY_NAMES)} (wide draws each puzzle's own set of 9-32 actions: "
        "--actions does not apply to it).",
    )
    gen.add_argument(
        "--family",
        required=True,
        help="comma-separated families, e.g. in_range,scale; 'all' for every family",
    )
    gen.add_argument("--count", type=int, default=100, help="puzzles per family (default 100)")
    gen.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    gen.add_argument(
        "--actions",
        action="append",
        default=None,
        metavar="A,B,...",
        help="action set of the puzzles, e.g. 1,2,7 (default 1,3,5); repeat for several sets, "
        "each with every family",
    )
    gen.add_argument(
        "--out", type=Path, required=True, help="suite file to write (JSON Lines; - for stdout)"
    )

    solve = actions.add_parser(
        "solve", help="exact optimum of every puzzle of a suite, as a results file"
    )
    solve.add_argument("suite", type=Path, metavar="FILE", help="suite file (JSON Lines)")
    solve.add_argument(
        "--output", type=Path, default=None, help="results file to write (JSON Lines)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.suite_command == "generate":
        return _generate(args)
    return _solve(args)


def _progress_disabled() -> bool:
    return not sys.stderr.isatty()


def _generate(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from hrrl.puzzle.generate import check_families, iter_family
    from hrrl.puzzle.suite import write_suite

    families = check_families([f.strip() for f in args.family.split(",") if f.strip()])
    if args.count < 1:
        raise field_error(ConfigError, "--count", args.count, "give at least 1")
    check_seed(args.seed)
    action_sets = [_actions(text) for text in args.actions or ["1,3,5"]]
    began = time.perf_counter()
    with tqdm(
        total=len(families) * args.count * len(action_sets),
        desc="generate",
        unit="puzzle",
        disable=_progress_disabled(),
    ) as bar:

        def puzzles() -> Iterator[Puzzle]:
            for actions in action_sets:
                for family in families:
                    for puzzle in iter_family(family, args.count, args.seed, actions):
                        bar.update()
                        yield puzzle

        to_stdout = str(args.out) == "-"
        if to_stdout:  # the suite is the output: the summary goes to stderr
            lines = [json.dumps(puzzle.to_dict()) + "\n" for puzzle in puzzles()]
            sys.stdout.write("".join(lines))
            written = len(lines)
        else:
            written = write_suite(args.out, puzzles())
    sets = " ".join("{" + ",".join(map(str, a)) + "}" for a in action_sets)
    if "wide" in families:
        sets += " (wide: each puzzle its own set)"
    print(
        f"wrote {written} puzzles ({len(families)} {'family' if len(families) == 1 else 'families'}"
        f" x {args.count} x actions {sets}, seed {args.seed}) "
        f"to {'stdout' if to_stdout else args.out} in {time.perf_counter() - began:.1f}s",
        file=sys.stderr if to_stdout else sys.stdout,
    )
    return 0


def _actions(text: str) -> tuple[int, ...]:
    from hrrl.puzzle.generate import check_actions

    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise field_error(ConfigError, "--actions", text, "give integers, e.g. 1,2,7") from None
    try:
        return check_actions(values)
    except PuzzleError as exc:
        raise field_error(ConfigError, "--actions", text, str(exc)) from None


def _solve(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from hrrl.puzzle.suite import (
        format_rejected,
        format_table,
        read_suite,
        solve_entry,
        summarize,
        write_results,
    )

    check_output_file(args.output, "--output")
    entries = read_suite(args.suite)
    if not entries:
        raise PuzzleError(f"{args.suite} holds no puzzle lines")
    results = [
        solve_entry(entry)
        for entry in tqdm(entries, desc="solve", unit="puzzle", disable=_progress_disabled())
    ]
    if args.output is not None:
        write_results(args.output, results)
    print(format_table(summarize(results, entries), SOLVE_COLUMNS))
    if rejected := format_rejected(entries, args.suite):
        print(f"\n{rejected}")
    if args.output is not None:
        print(f"\nwrote {len(results)} results to {args.output}")
    return 0
