"""Traps at any depth (issue 27): the default policy on `abyss` puzzles, depth by depth.

An `abyss` puzzle (:func:`hrrl.puzzle.families.abyss_puzzle`) is one lane region of 2-4 lanes
that all look alike up close; every lane but one dies ``depth`` to ``1.2 * depth`` numbers in,
and the lane a greedy walker arrives in is a dying one. For each seed the default preset is
trained (as ``bench/action_sets.py`` does), then plays ``--count`` fresh abyss puzzles at each
depth and action set (the suite seeded by ``--suite-seed``, the depth and the set). Printed per
action set: one row per depth, each seed's success / mean efficiency (efficiency over the solved
puzzles), the share of dying lanes deeper than the high level's horizon (``puzzle.horizon``
windows of the low-level view), how the failed games ended (over seeds), and the play time of the depth's puzzles summed over seeds.

Each policy plays every cell twice: with its levels of bounded views above the horizon
(``puzzle.levels``, :mod:`hrrl.puzzle.levels`) and with the levels capped at the single
horizon of before (``puzzle.levels=1``: the cliff, measured beside).

    .venv/bin/python bench/abyss.py                    # seeds 0 1 2, 20 puzzles a cell
    .venv/bin/python bench/abyss.py --seeds 0 --count 5 --depths 1000 10000 --levels 8
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
import torch

import _common  # noqa: F401  (makes `import hrrl` work from a checkout)
from _common import machine, table
from action_sets import train
from hierarchy import efficiency, success
from hrrl.puzzle.core import DEFAULT_ACTIONS, Puzzle, Status
from hrrl.puzzle.families import abyss_puzzle, low_level_window
from hrrl.puzzle.generate import actions_label
from hrrl.puzzle.levels import MAX_LEVELS

SETS: tuple[tuple[int, ...], ...] = (DEFAULT_ACTIONS, (1, 2, 7), (2, 5))
Cell = tuple[tuple[int, ...], int, int]  # (actions, depth, levels)
DEPTHS = (1_000, 3_000, 10_000, 30_000, 100_000)


def abyss_suite(depth: int, actions: tuple[int, ...], count: int, seed: int) -> list[Puzzle]:
    rng = np.random.default_rng([seed, depth, zlib.crc32(actions_label(actions).encode())])
    label = actions_label(actions)
    return [
        dataclasses.replace(abyss_puzzle(rng, actions, depth), id=f"abyss-{depth}-a{label}-{i:04d}")
        for i in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--count", type=int, default=20, help="puzzles per depth and set")
    parser.add_argument("--depths", type=int, nargs="+", default=list(DEPTHS))
    parser.add_argument("--suite-seed", type=int, default=27_2026)
    parser.add_argument("--levels", type=int, nargs="+", default=[MAX_LEVELS, 1])
    args = parser.parse_args()
    torch.set_num_threads(1)
    suites = {
        (acts, depth): abyss_suite(depth, acts, args.count, args.suite_seed)
        for acts in SETS
        for depth in args.depths
    }
    keys = [(acts, depth, lv) for acts, depth in suites for lv in args.levels]
    cells: dict[Cell, list[str]] = {key: [] for key in keys}
    seconds = dict.fromkeys(keys, 0.0)
    failures: dict[Cell, Counter[str]] = {key: Counter() for key in keys}
    horizon = 0
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            trained, best_at, steps = train(seed, [], Path(tmp))
            horizon = trained.env_config.horizon
            print(
                f"seed {seed}: best checkpoint at {best_at:.1f} s, {steps:,} env steps", flush=True
            )
            for levels in args.levels:
                stack = dataclasses.replace(trained.env_config, levels=levels)
                policy = dataclasses.replace(trained, env_config=stack)
                for (acts, depth), suite in suites.items():
                    key = (acts, depth, levels)
                    start = time.perf_counter()
                    results = policy.play(suite)
                    seconds[key] += time.perf_counter() - start
                    s, e = success(results), efficiency(results)
                    failures[key].update(
                        r.status.name for r in results if r.status is not Status.SUCCESS
                    )
                    eff = f"{np.nanmean(e):.4f}" if np.isfinite(e).any() else "-"
                    cells[key].append(f"{s.mean():.3f} / {eff}")
    print(machine())
    print(
        f"abyss: {args.count} puzzles a cell (suite seed {args.suite_seed}), "
        f"success / efficiency per seed; the high level glances {horizon} windows ahead, "
        "levels of bounded views above it (1: none)"
    )
    for acts in SETS:
        reach = horizon * low_level_window(acts)
        rows = []
        for depth in args.depths:
            deaths = [d for p in suites[acts, depth] for d in p.extra["deaths"][0]]
            deeper = np.mean([d > reach for d in deaths]) if deaths else 0.0
            for levels in args.levels:
                key = (acts, depth, levels)
                rows.append(
                    [
                        f"{depth:,}",
                        str(levels),
                        *cells[key],
                        f"{deeper:.2f}",
                        " ".join(f"{k} {v}" for k, v in failures[key].most_common()) or "-",
                        f"{seconds[key]:.1f}",
                    ]
                )
        header = [
            "depth",
            "levels",
            *(f"seed {s}" for s in args.seeds),
            "past horizon",
            "failures",
            "play s",
        ]
        print(f"\nactions {{{','.join(map(str, acts))}}} (horizon {reach:,} numbers)")
        print(table(header, rows))


if __name__ == "__main__":
    main()
