"""How fast is the exact solver, and how long does a 10,000-puzzle suite take to make and solve?

Prints two tables:

1. ``optimal_steps`` and ``optimal_path`` on one puzzle per target size (default 10^4, 10^5,
   10^6) with the paper's density of forbidden numbers (3.5% of the numbers in (0, target)),
   best and mean of ``--repeats`` runs.
2. A mixed-family suite (``--suite-size`` puzzles, split evenly over every family, seeded):
   generation, writing, reading (parse + validate) and exact solving, each timed separately.

Usage::

    python bench/solver_speed.py
    python bench/solver_speed.py --targets 10000 100000 --suite-size 2000 --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

from hrrl.puzzle.core import Puzzle
from hrrl.puzzle.families import FAMILIES
from hrrl.puzzle.generate import generate_suite
from hrrl.puzzle.sampling import PAPER_DENSITY, sample_puzzle
from hrrl.puzzle.solver import optimal_path, optimal_steps
from hrrl.puzzle.suite import read_suite, solve_suite, write_suite


def _timed(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(best, mean) wall time of ``repeats`` calls, in seconds."""
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return min(times), statistics.fmean(times)


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def bench_targets(targets: list[int], density: float, repeats: int, seed: int) -> str:
    rows = []
    for target in targets:
        puzzle: Puzzle = sample_puzzle(
            np.random.default_rng(seed), target_range=(target, target), density=density
        )
        steps_best, steps_mean = _timed(partial(optimal_steps, puzzle), repeats)
        path_best, path_mean = _timed(partial(optimal_path, puzzle), repeats)
        rows.append(
            [
                f"{target:,}",
                f"{len(puzzle.forbidden):,}",
                f"{puzzle.extra['optimal_steps']:,}",
                f"{steps_best * 1e3:.1f}",
                f"{steps_mean * 1e3:.1f}",
                f"{path_best * 1e3:.1f}",
                f"{path_mean * 1e3:.1f}",
            ]
        )
    header = [
        "target",
        "forbidden",
        "optimum",
        "steps best ms",
        "steps mean ms",
        "path best ms",
        "path mean ms",
    ]
    return _table(header, rows)


def bench_suite(size: int, seed: int) -> str:
    per_family = max(1, size // len(FAMILIES))
    began = time.perf_counter()
    puzzles = generate_suite(list(FAMILIES), per_family, seed)
    generated = time.perf_counter() - began
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "suite.jsonl"
        began = time.perf_counter()
        write_suite(path, puzzles)
        written = time.perf_counter() - began
        began = time.perf_counter()
        entries = read_suite(path)
        read = time.perf_counter() - began
    began = time.perf_counter()
    results = solve_suite(entries)
    solved = time.perf_counter() - began
    assert len(results) == len(puzzles)
    n = len(puzzles)
    rows = [
        [phase, f"{n:,}", f"{seconds:.2f}", f"{seconds / n * 1e3:.3f}"]
        for phase, seconds in (
            ("generate", generated),
            ("write", written),
            ("read + validate", read),
            ("solve (exact)", solved),
        )
    ]
    return _table(["phase", "puzzles", "seconds", "ms / puzzle"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--targets", type=int, nargs="+", default=[10**4, 10**5, 10**6], help="target sizes"
    )
    parser.add_argument("--density", type=float, default=PAPER_DENSITY, help="forbidden share")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per solver call")
    parser.add_argument("--suite-size", type=int, default=10_000, help="puzzles in the suite")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    args = parser.parse_args()
    print(f"exact solver, density {args.density:.3f}, {args.repeats} runs each")
    print(bench_targets(args.targets, args.density, args.repeats, args.seed))
    print()
    print(f"mixed suite of {len(FAMILIES)} families, seed {args.seed}")
    print(bench_suite(args.suite_size, args.seed))


if __name__ == "__main__":
    main()
