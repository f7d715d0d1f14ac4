"""Greedy play at scale: one target of 10^6, a suite of 12 targets of 10^5-10^6, and env steps/s
of batched greedy play against the bare environment.

Every puzzle is drawn at the paper's density (3.5% of the numbers forbidden) with the default
actions. ``--what`` picks one measurement so each runs in a fresh process (its peak memory is
its own):

* ``million``: one target of 10^6 (about 200,000 steps), wall time and peak RSS;
* ``suite``: 12 targets from 10^5 to 10^6, played together, wall time and peak RSS;
* ``batch``: env steps/s of ``Policy.play`` at batch 1, 64 and 1024 (and with the greedy cache
  off), and of the bare ``PuzzleEnv`` stepped by a fixed action (no encoder, no hierarchy, no
  network: the physical limit of this design).

    .venv/bin/python bench/eval_scale.py --checkpoint runs/demo --what million
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import resource
import time
from pathlib import Path

import numpy as np

import _common  # noqa: F401  (makes `import hrrl` work from a checkout)
from hrrl.inference.network import greedy_actions
from hrrl.inference.policy import Policy
from hrrl.puzzle.core import Puzzle, Status
from hrrl.puzzle.env import PuzzleEnv
from hrrl.puzzle.generate import PAPER_DENSITY, sample_puzzle
from hrrl.puzzle.solver import optimal_steps


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def puzzles(targets: list[int], seed: int) -> list[Puzzle]:
    rng = np.random.default_rng(seed)
    out = []
    for i, t in enumerate(targets):
        p = sample_puzzle(rng, target_range=(int(t), int(t)), density=PAPER_DENSITY)
        out.append(dataclasses.replace(p, id=f"scale-{i:02d}"))
    return out


def report(name: str, policy: Policy, suite: list[Puzzle]) -> None:
    t0 = time.perf_counter()
    results = policy.play(suite)
    wall = time.perf_counter() - t0
    steps = sum(r.steps for r in results)
    ok = sum(r.status is Status.SUCCESS for r in results)
    eff = [r.efficiency for r in results if r.efficiency is not None]
    print(
        f"{name}: {len(suite)} puzzles, {ok} solved, {steps:,} steps in {wall:.1f} s "
        f"({steps / wall:,.0f} env steps/s), mean efficiency {np.mean(eff):.4f}, "
        f"peak RSS {peak_mib():.0f} MiB"
    )


def bare_env_rate(puzzle: Puzzle) -> float:
    """Steps/s of the bare environment walking the exact optimal path (no policy at all)."""
    from hrrl.puzzle.solver import optimal_path

    path = optimal_path(puzzle)
    assert path is not None
    index = {a: i for i, a in enumerate(puzzle.actions)}
    moves = [index[b - a] for a, b in itertools.pairwise(path)]
    env = PuzzleEnv(reward="ordered", actions=puzzle.actions)
    env.reset(options={"puzzle": puzzle})
    t0 = time.perf_counter()
    for move in moves:
        env.step(move)
    return len(moves) / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--what", choices=("million", "suite", "batch"), required=True)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    policy = Policy.load(args.checkpoint)
    if args.what == "million":
        suite = puzzles([10**6], args.seed)
        print(f"optimal steps {optimal_steps(suite[0]):,}")
        report("target 10^6", policy, suite)
    elif args.what == "suite":
        report(
            "12 targets 10^5-10^6",
            policy,
            puzzles(list(np.linspace(10**5, 10**6, 12, dtype=int)), args.seed),
        )
    else:
        print(f"bare PuzzleEnv: {bare_env_rate(puzzles([200_000], args.seed)[0]):,.0f} env steps/s")
        for batch, target in ((1, 40_000), (64, 4_000), (1024, 1_000)):
            suite = puzzles([target] * batch, args.seed)
            for cached in (True, False):
                p = Policy.load(args.checkpoint)
                if not cached:
                    p._greedy = lambda obs, net=p.network: greedy_actions(net, obs)  # type: ignore[assignment]
                t0 = time.perf_counter()
                results = p.play(suite, num_envs=batch)
                wall = time.perf_counter() - t0
                steps = sum(r.steps for r in results)
                print(
                    f"batch {batch:>5} (targets {target:,}, greedy cache {'on' if cached else 'off'}): "
                    f"{steps / wall:,.0f} env steps/s ({steps:,} steps, {wall:.1f} s)"
                )


if __name__ == "__main__":
    main()
