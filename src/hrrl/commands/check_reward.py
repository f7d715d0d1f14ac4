"""``hrrl check-reward``: prove or refute a reward scheme's two promises on many puzzles, exactly.

For each of a seeded set of solvable puzzles the checks run on the exact dynamic programs of
:mod:`hrrl.puzzle.exact` (every episode is accounted for; nothing is sampled):

(a) ordering     for every episode length ``k``, the worst return of any success of length ``k``
                 beats the best return of any failure of any length (strictly).
(b) no dawdling  the return-maximising episode is a success in exactly the optimal number of
                 steps (:func:`hrrl.puzzle.solver.optimal_steps`). The contract is undiscounted
                 (gamma = 1); the same check at the learner's ``--gamma`` is printed for
                 information and does not change the exit code.

Each violation is printed with a concrete counterexample (the puzzle, both episodes, their step
counts and returns), replayed step by step with the scalar scheme. Exit code 0: no violation of
(a) or (b); 1: at least one; 2: bad input.
"""

from __future__ import annotations

import argparse

from hrrl.commands import check_seed

EXIT_VIOLATION = 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "check-reward",
        help="check a reward scheme's ordering and no-dawdling promises by exact DP",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--reward", default="ordered", help="scheme name: legacy, ordered or steps")
    parser.add_argument("--puzzles", type=int, default=200, help="how many puzzles to check")
    parser.add_argument("--seed", type=int, default=0, help="seed of the puzzle sampler")
    parser.add_argument(
        "--max-target", type=int, default=60, help="largest target drawn (the smallest is 5)"
    )
    parser.add_argument(
        "--gamma", type=float, default=0.99, help="discount of the informational no-dawdling check"
    )
    parser.add_argument("--show", type=int, default=3, help="counterexamples printed per check")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hrrl.errors import ConfigError, field_error
    from hrrl.puzzle.reward_check import MIN_TARGET, run_checks, sample_puzzles
    from hrrl.puzzle.rewards import make_reward

    check_seed(args.seed)
    scheme = make_reward(args.reward)
    if args.show < 0:
        raise field_error(ConfigError, "show", args.show, "give a count >= 0")
    puzzles = sample_puzzles(args.puzzles, seed=args.seed, max_target=args.max_target)
    results = run_checks(puzzles, scheme, gamma=args.gamma)
    for result in results:
        for c in result.violations[: args.show]:
            print(c.describe())
        if len(result.violations) > args.show:
            print(f"[{result.name}] ... and {len(result.violations) - args.show} more\n")
    width = max(len(r.name) for r in results)
    print(
        f"\nreward {args.reward!r}, {len(puzzles)} puzzles (seed {args.seed}, targets {MIN_TARGET}..{args.max_target})"
    )
    print(f"{'check':<{width}}  puzzles  violations")
    for r in results:
        print(f"{r.name:<{width}}  {r.puzzles:>7}  {len(r.violations):>10}")
    failed = any(r.violations for r in results if r.contract)
    print("FAIL" if failed else "PASS")
    return EXIT_VIOLATION if failed else 0
