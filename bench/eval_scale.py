"""Greedy play at scale: one target of 10^6, a suite of 12 targets of 10^5-10^6, and env steps/s
of batched greedy play against the bare environment.

Every puzzle is drawn at the paper's density (3.5% of the numbers forbidden) with the default
actions. ``--what`` picks one measurement so each runs in a fresh process (its peak memory is
its own); ``--what all`` runs the four that way and prints the bar's table:

* ``million``: one target of 10^6 (about 200,000 steps), wall time and peak RSS;
* ``ten-million``: one target of 10^7 (about 2,000,000 steps), the same (issue 27's bar: 60 s,
  2 GiB);
* ``suite``: 12 targets from 10^5 to 10^6, played together, wall time and peak RSS;
* ``batch``: env steps/s of ``Policy.play`` (the plain-integer player) at batch 1, 64 and 1024,
  of the same play through the Gymnasium stack (``stack.play_through_stack``, the tests'
  oracle), and of the bare ``PuzzleEnv`` stepped along a fixed path (no encoder, no hierarchy, no
  network).

    .venv/bin/python bench/eval_scale.py --checkpoint runs/demo --what all
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

import _common  # noqa: F401  (makes `import hrrl` work from a checkout)
from hrrl.inference.policy import Policy
from hrrl.puzzle.core import Puzzle, Status
from hrrl.puzzle.env import PuzzleEnv
from hrrl.puzzle.sampling import PAPER_DENSITY, sample_puzzle
from hrrl.puzzle.solver import optimal_steps
from hrrl.puzzle.stack import play_through_stack, stack_adapter


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def puzzles(targets: list[int], seed: int) -> list[Puzzle]:
    rng = np.random.default_rng(seed)
    out = []
    for i, t in enumerate(targets):
        p = sample_puzzle(rng, target_range=(int(t), int(t)), density=PAPER_DENSITY)
        out.append(dataclasses.replace(p, id=f"scale-{i:02d}"))
    return out


def report(name: str, policy: Policy, suite: list[Puzzle]) -> dict[str, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    results = policy.play(suite)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    steps = sum(r.steps for r in results)
    ok = sum(r.status is Status.SUCCESS for r in results)
    eff = [r.efficiency for r in results if r.efficiency is not None]
    print(
        f"{name}: {len(suite)} puzzles, {ok} solved, {steps:,} steps in {wall:.1f} s "
        f"(CPU {cpu:.1f} s; {steps / wall:,.0f} env steps/s), mean efficiency {np.mean(eff):.4f}, "
        f"peak RSS {peak_mib():.0f} MiB"
    )
    return {"wall": wall, "cpu": cpu, "steps": steps, "rss": peak_mib(), "solved": ok}


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


def batch_rates(checkpoint: Path, seed: int) -> dict[str, float]:
    """Env steps/s of the player and of the Gymnasium stack at each batch size, and the bare env."""
    out = {"bare": bare_env_rate(puzzles([200_000], seed)[0])}
    print(f"bare PuzzleEnv: {out['bare']:,.0f} env steps/s")
    for batch, target in ((1, 40_000), (64, 4_000), (1024, 1_000)):
        suite = puzzles([target] * batch, seed)
        for arm in ("player", "gym"):
            policy = Policy.load(checkpoint)  # a cold cache in each arm
            t0 = time.perf_counter()
            if arm == "player":
                results = policy.play(suite, num_envs=batch)
            else:  # one torch thread, as Policy.play sets
                torch.set_num_threads(policy.threads)
                adapt = stack_adapter(policy.encoder)
                results = play_through_stack(
                    policy.greedy, suite, policy.env_factory, num_envs=batch, adapt=adapt
                )
            wall = time.perf_counter() - t0
            steps = sum(r.steps for r in results)
            out[f"{arm}{batch}"] = steps / wall
            print(
                f"batch {batch:>5} (targets {target:,}, {arm}): {steps / wall:,.0f} env steps/s "
                f"({steps:,} steps, {wall:.1f} s)"
            )
    return out


def table(checkpoint: Path, seed: int) -> None:
    """Each measurement in its own process, then the bar's table."""
    got = {}
    for what in ("million", "ten-million", "suite", "batch"):
        cmd = [sys.executable, __file__, "--checkpoint", str(checkpoint), "--what", what]
        run = subprocess.run(
            [*cmd, "--seed", str(seed), "--json"], capture_output=True, text=True, check=True
        )
        print(run.stdout, end="")
        got[what] = json.loads(run.stdout.strip().splitlines()[-1])
    m, t, s, b = got["million"], got["ten-million"], got["suite"], got["batch"]
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\n(load average {load} after the runs; wall time is shared with it, CPU time not)\n")
    print("| measurement | result | bar |\n| --- | --- | --- |")
    print(
        f"| target 10^6 ({m['steps']:,} steps) | {m['wall']:.1f} s (CPU {m['cpu']:.1f} s), "
        f"peak RSS {m['rss']:.0f} MiB "
        f"| <= 5 s: {'met' if m['wall'] <= 5 else 'missed'} |"
    )
    print(
        f"| target 10^7 ({t['steps']:,} steps) | {t['wall']:.1f} s (CPU {t['cpu']:.1f} s), "
        f"peak RSS {t['rss']:.0f} MiB | <= 60 s: {'met' if t['wall'] <= 60 else 'missed'}; "
        f"< 2 GiB: {'met' if t['rss'] < 2048 else 'missed'} |"
    )
    print(
        f"| 12 targets 10^5-10^6 ({s['steps']:,} steps) | {s['wall']:.1f} s (CPU {s['cpu']:.1f} s), "
        "peak RSS "
        f"{s['rss']:.0f} MiB | <= 30 s: {'met' if s['wall'] <= 30 else 'missed'}; < 1 GiB: "
        f"{'met' if max(m['rss'], s['rss']) < 1024 else 'missed'} |"
    )
    for arm, name in (("player", "`Policy.play`"), ("gym", "Gymnasium stack")):
        rates = " / ".join(f"{b[f'{arm}{n}']:,.0f}" for n in (1, 64, 1024))
        print(f"| {name}, batch 1 / 64 / 1024 | {rates} env steps/s | |")
    print(f"| bare `PuzzleEnv`, fixed moves | {b['bare']:,.0f} env steps/s | |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument(
        "--what", choices=("million", "ten-million", "suite", "batch", "all"), required=True
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="end with the numbers as one JSON line")
    args = parser.parse_args()
    if args.what == "all":
        table(args.checkpoint, args.seed)
        return
    if args.what == "batch":
        out = batch_rates(args.checkpoint, args.seed)
    elif args.what in ("million", "ten-million"):
        power = 6 if args.what == "million" else 7
        policy = Policy.load(args.checkpoint)
        suite = puzzles([10**power], args.seed)
        print(f"optimal steps {optimal_steps(suite[0]):,}")
        out = report(f"target 10^{power}", policy, suite)
    else:
        out = report(
            "12 targets 10^5-10^6",
            Policy.load(args.checkpoint),
            puzzles(list(np.linspace(10**5, 10**6, 12, dtype=int)), args.seed),
        )
    if args.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()
