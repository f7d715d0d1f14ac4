"""Any number of actions (issue 27): the default policy on `wide` puzzles of 9 to 32 actions.

A `wide` puzzle (:func:`hrrl.puzzle.families.wide_puzzle`) has its own set of ``n`` actions
(from 1..30, a quarter of the sets sharing a divisor 2 or 3) and is an in_range, scale, dense,
trap or unsolvable puzzle for it. The environment has 8 action slots, so no policy trained
today has seen a set of more than 5 actions; a width-free network (the slot or set network:
weights that do not depend on the number of actions) plays such a puzzle in its own ``n``
blocks through the batched player (``Policy.play``).

For each seed the default preset is trained (as ``bench/action_sets.py`` does; ``--set`` for
another network or settings), then plays ``--count`` fresh puzzles at each width (the suite
seeded by ``--suite-seed`` and the width). Printed per width: each seed's success over the
solvable puzzles / mean efficiency (optimum / steps, over the solved ones), the worst
puzzle's efficiency over seeds, the unsolvable puzzles reported UNSOLVABLE (over seeds), how
the failed games ended and the play time summed over seeds.

    .venv/bin/python bench/wide.py                     # seeds 0 1 2, 50 puzzles a width
    .venv/bin/python bench/wide.py --seeds 0 --count 10 --widths 9 32
    .venv/bin/python bench/wide.py --set agent.network=set
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch

import _common  # noqa: F401  (makes `import hrrl` work from a checkout)
from _common import machine, table
from action_sets import train
from hierarchy import efficiency
from hrrl.puzzle.core import Puzzle, Status
from hrrl.puzzle.families import wide_puzzle

WIDTHS = (9, 12, 16, 24, 32)


def wide_suite(width: int, count: int, seed: int) -> list[Puzzle]:
    rng = np.random.default_rng([seed, width])
    return [
        dataclasses.replace(wide_puzzle(rng, width), id=f"wide-{width}-{i:04d}")
        for i in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--count", type=int, default=50, help="puzzles per width")
    parser.add_argument("--widths", type=int, nargs="+", default=list(WIDTHS))
    parser.add_argument("--suite-seed", type=int, default=27_0032)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    torch.set_num_threads(1)
    suites = {w: wide_suite(w, args.count, args.suite_seed) for w in args.widths}
    cells: dict[int, list[str]] = {w: [] for w in suites}
    worst = dict.fromkeys(suites, 1.0)
    reported = Counter[int]()
    seconds = dict.fromkeys(suites, 0.0)
    failures: dict[int, Counter[str]] = {w: Counter() for w in suites}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            policy, best_at, steps = train(seed, args.overrides, Path(tmp))
            print(
                f"seed {seed}: best checkpoint at {best_at:.1f} s, {steps:,} env steps", flush=True
            )
            for width, suite in suites.items():
                start = time.perf_counter()
                results = policy.play(suite)
                seconds[width] += time.perf_counter() - start
                solvable = [
                    r for p, r in zip(suite, results, strict=True) if p.extra.get("optimal_steps")
                ]
                won = [r.status is Status.SUCCESS for r in solvable]
                e = efficiency(solvable)
                if np.isfinite(e).any():
                    worst[width] = min(worst[width], float(np.nanmin(e)))
                eff = f"{np.nanmean(e):.4f}" if np.isfinite(e).any() else "-"
                cells[width].append(f"{np.mean(won):.3f} / {eff}")
                reported[width] += sum(
                    r.status is Status.UNSOLVABLE
                    for p, r in zip(suite, results, strict=True)
                    if not p.extra.get("optimal_steps")
                )
                failures[width].update(
                    r.status.name for r in solvable if r.status is not Status.SUCCESS
                )
    print(machine())
    print(
        f"wide: {args.count} puzzles a width (suite seed {args.suite_seed}), success over the "
        f"solvable / mean efficiency per seed; overrides: {' '.join(args.overrides) or 'none'}"
    )
    rows = []
    for width, suite in suites.items():
        unsolvable = sum(not p.extra.get("optimal_steps") for p in suite) * len(args.seeds)
        rows.append(
            [
                str(width),
                *cells[width],
                f"{worst[width]:.3f}",
                f"{reported[width]}/{unsolvable}",
                " ".join(f"{k} {v}" for k, v in failures[width].most_common()) or "-",
                f"{seconds[width]:.1f}",
            ]
        )
    header = [
        "actions",
        *(f"seed {s}" for s in args.seeds),
        "worst eff",
        "unsolvable reported",
        "failures",
        "play s",
    ]
    print(table(header, rows))


if __name__ == "__main__":
    main()
