"""Environment throughput: the scalar PuzzleEnv, the full stack, batched collection; solver time.

Table 1 — steps per second with uniformly random actions, on training-like puzzles (the default
curriculum's last stage: targets 20-100, 8-25% of the numbers forbidden; generated up front, not
timed). A finished episode is replaced at once by the next puzzle. Arms, measured in one process
and interleaved round by round (so background load hits every arm alike):

* ``PuzzleEnv`` bare (raw numbers, ordered reward);
* the full stack, scalar: ``PuzzleEnv -> HierarchyWrapper(constraint) -> EncodedObservation
  (relational)``, as :func:`hrrl.puzzle.stack.make_env` builds it;
* ``PuzzleVecEnv`` of the full stack at 64 and 256 puzzles (what training and evaluation use):
  one ``step(actions)`` advances every puzzle, then finished ones get ``reset_one``.

Table 2 — the exact solver (``hrrl.puzzle.solver``) at targets 10^4, 10^5, 10^6 with the paper's density
of forbidden numbers, reusing ``bench/solver_speed.py``.

Usage::

    python bench/env_speed.py
    python bench/env_speed.py --seconds 2 --rounds 5 --sizes 64 256 1024
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import _common  # noqa: F401  (puts src/ on sys.path)
from _common import fmt_rate, machine, table
from hrrl.puzzle.core import Puzzle
from hrrl.puzzle.encoders import make_encoder
from hrrl.puzzle.env import PuzzleEnv, PuzzleVecEnv
from hrrl.puzzle.sampling import PAPER_DENSITY, sample_puzzle
from hrrl.puzzle.stack import make_env
from solver_speed import bench_targets

#: The default curriculum's last (dense) stage: targets and forbidden density.
TARGETS = (20, 100)
DENSITY = (0.08, 0.25)

#: Runs ``steps`` environment steps; returns how many it actually ran.
Runner = Callable[[int], int]


def make_puzzles(n: int, seed: int) -> list[Puzzle]:
    rng = np.random.default_rng(seed)
    return [sample_puzzle(rng, target_range=TARGETS, density=DENSITY) for _ in range(n)]


def scalar_runner(env: Any, puzzles: list[Puzzle], seed: int) -> Runner:
    """Step one environment; reset it with the next puzzle whenever an episode ends."""
    rng = np.random.default_rng(seed)
    n_actions = int(env.action_space.n)
    state = {"k": 0}
    env.reset(seed=seed, options={"puzzle": puzzles[0]})

    def run(steps: int) -> int:
        actions = rng.integers(0, n_actions, size=steps)
        k = state["k"]
        for a in actions:
            _, _, terminated, truncated, _ = env.step(a)
            if terminated or truncated:
                k += 1
                env.reset(options={"puzzle": puzzles[k % len(puzzles)]})
        state["k"] = k
        return steps

    return run


def vec_runner(num_envs: int, puzzles: list[Puzzle], seed: int) -> Runner:
    """Step a PuzzleVecEnv of the full stack; refill finished slots with the next puzzles."""
    encoder = make_encoder("relational")
    vec = PuzzleVecEnv(
        [lambda: make_env(encoder=encoder, reward="ordered", planner="constraint")] * num_envs
    )
    rng = np.random.default_rng(seed)
    vec.reset(puzzles[:num_envs], seed=seed)
    state = {"k": num_envs}

    def run(steps: int) -> int:
        vector_steps = max(1, steps // num_envs)
        k = state["k"]
        for _ in range(vector_steps):
            actions = rng.integers(0, 3, size=num_envs)
            _, _, terminated, truncated, _ = vec.step(actions)
            for i in np.flatnonzero(terminated | truncated):
                vec.reset_one(int(i), puzzles[k % len(puzzles)])
                k += 1
        state["k"] = k
        return vector_steps * num_envs

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=1.0, help="time per arm per round")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (median)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256], help="vector sizes")
    parser.add_argument("--puzzles", type=int, default=2000, help="pre-generated puzzles")
    parser.add_argument(
        "--targets", type=int, nargs="+", default=[10**4, 10**5, 10**6], help="solver targets"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of puzzles and actions")
    args = parser.parse_args()
    print(machine())
    puzzles = make_puzzles(args.puzzles, args.seed)
    encoder = make_encoder("relational")
    arms: dict[str, Runner] = {
        "PuzzleEnv (bare)": scalar_runner(PuzzleEnv(), puzzles, args.seed),
        "full stack, scalar": scalar_runner(
            make_env(encoder=encoder, reward="ordered", planner="constraint"), puzzles, args.seed
        ),
    }
    for n in args.sizes:
        arms[f"PuzzleVecEnv x{n}, full stack"] = vec_runner(n, puzzles, args.seed)
    # Calibrate a step count per arm worth about --seconds, then interleave the rounds.
    budget = {}
    for name, run in arms.items():
        began = time.perf_counter()
        done = run(512)
        budget[name] = max(64, int(done * args.seconds / (time.perf_counter() - began)))
    rates: dict[str, list[float]] = {name: [] for name in arms}
    for _ in range(args.rounds):
        for name, run in arms.items():
            began = time.perf_counter()
            done = run(budget[name])
            rates[name].append(done / (time.perf_counter() - began))
    median = {name: float(np.median(r)) for name, r in rates.items()}
    scalar_stack = median["full stack, scalar"]
    bare = median["PuzzleEnv (bare)"]
    print(
        f"random actions on {len(puzzles):,} training-like puzzles (targets {TARGETS[0]}-"
        f"{TARGETS[1]}, density {DENSITY[0]}-{DENSITY[1]}), median of {args.rounds} interleaved "
        f"rounds of ~{args.seconds:g} s"
    )
    rows = [
        [
            name,
            fmt_rate(rate),
            f"{1e6 / rate:.1f}",
            f"{rate / bare:.2f}x",
            f"{rate / scalar_stack:.2f}x",
        ]
        for name, rate in median.items()
    ]
    print(table(["environment", "steps/s", "us/step", "vs bare", "vs scalar stack"], rows))
    print()
    print(f"exact solver, density {PAPER_DENSITY:.3f} (bench/solver_speed.py), 3 runs each")
    print(bench_targets(args.targets, PAPER_DENSITY, 3, args.seed))


if __name__ == "__main__":
    main()
