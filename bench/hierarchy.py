"""Does the hierarchy earn its keep? The default preset against its no-hierarchy arm (issue 15).

For each seed, two trainings: the default preset (the horizon planner) and the same preset with
``puzzle.planner=none`` (the no-hierarchy arm: the window-bounded low level alone). Both play
one fresh held-out suite: every family of the generator at {1,3,5} and at two action sets never
trained on ({1,2,7}, {2,5}). Printed:

* per family and set: success / mean efficiency of each arm (pooled over seeds, worst seed in
  brackets), and the success difference with its 95% bootstrap confidence interval (puzzles
  and seeds resampled together, paired: the same puzzle under both arms);
* per seed: time to the best checkpoint and env steps of each training;
* *beyond the horizon*: the default policies replay deep_trap and maze with the high level's
  horizon shrunk to 1..4 windows, against the share of their traps that lie deeper than that.

    .venv/bin/python bench/hierarchy.py --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from pathlib import Path

import numpy as np
import torch

import _common  # noqa: F401  (makes `import hrrl` work from a checkout)
from action_sets import train
from hrrl.inference.policy import Policy
from hrrl.puzzle.core import DEFAULT_ACTIONS, Puzzle, Status
from hrrl.puzzle.families import FAMILIES, low_level_window
from hrrl.puzzle.generate import actions_label, generate_suite
from hrrl.puzzle.suite import Result

SETS: tuple[tuple[int, ...], ...] = (DEFAULT_ACTIONS, (1, 2, 7), (2, 5))
DEEP = ("deep_trap", "maze")
BOOTSTRAP = 2_000


def success(results: list[Result]) -> np.ndarray:
    return np.array([r.status is Status.SUCCESS for r in results], dtype=float)


def efficiency(results: list[Result]) -> np.ndarray:
    return np.array(
        [
            r.optimal_steps / r.steps if r.status is Status.SUCCESS and r.optimal_steps else np.nan
            for r in results
        ]
    )


def diff_ci(a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> tuple[float, float, float]:
    """Mean of ``a - b`` (paired, flattened over seeds and puzzles) and its 95% bootstrap CI."""
    d = (a - b).ravel()
    idx = rng.integers(0, len(d), size=(BOOTSTRAP, len(d)))
    means = d[idx].mean(axis=1)
    return float(d.mean()), float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def with_horizon(policy: Policy, horizon: int) -> Policy:
    env = dataclasses.replace(policy.env_config, horizon=horizon)
    return Policy(network=policy.network, env_config=env, source=policy.source)


def deepest_share(puzzles: list[Puzzle], horizon: float) -> float:
    """Share of the lane regions whose last death lies more than ``horizon`` windows past the
    region's first number."""
    deeper = total = 0
    for p in puzzles:
        reach = horizon * low_level_window(p.actions)
        for deaths in p.extra["deaths"]:
            total += 1
            deeper += bool(deaths) and max(deaths) > reach
    return deeper / max(total, 1)


def fmt(s: np.ndarray, e: np.ndarray) -> str:
    worst = s.mean(axis=1).min()
    return f"{s.mean():.3f} ({worst:.2f}) / {np.nanmean(e) if np.isfinite(e).any() else 0:.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--count", type=int, default=100, help="puzzles per family and set")
    parser.add_argument("--suite-seed", type=int, default=15_2026)
    parser.add_argument("--keep", type=Path, help="keep the run directories here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)

    suites = {
        acts: generate_suite(list(FAMILIES), args.count, args.suite_seed, acts) for acts in SETS
    }
    arms = {"default": [], "no-hierarchy": ["puzzle.planner=none"]}
    # played[arm][acts][family] -> (success[seed, puzzle], efficiency[seed, puzzle])
    played: dict[str, dict[tuple[int, ...], dict[str, list[tuple[np.ndarray, np.ndarray]]]]] = {
        arm: {acts: {} for acts in SETS} for arm in arms
    }
    timing: list[tuple[int, str, float, int]] = []
    policies: list[Policy] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        for seed in args.seeds:
            for arm, overrides in arms.items():
                policy, best_at, steps = train(seed, overrides, root / arm)
                timing.append((seed, arm, best_at, steps))
                if arm == "default":
                    policies.append(policy)
                for acts, suite in suites.items():
                    results = policy.play(suite)
                    for fam in FAMILIES:
                        rows = [
                            r
                            for r, p in zip(results, suite, strict=True)
                            if p.extra["family"] == fam
                        ]
                        played[arm][acts].setdefault(fam, []).append(
                            (success(rows), efficiency(rows))
                        )

    print(
        f"held-out suite: {len(FAMILIES)} families x {args.count} puzzles x {len(SETS)} sets "
        f"(suite seed {args.suite_seed}); seeds {args.seeds}; success (worst seed) / efficiency"
    )
    header = (
        f"{'set':<8}{'family':<11}{'default':>26}{'no-hierarchy':>26}{'difference [95% CI]':>30}"
    )
    print(header + "\n" + "-" * len(header))
    pooled: dict[str, list[np.ndarray]] = {"default": [], "no-hierarchy": []}
    for acts in SETS:
        for fam in FAMILIES:
            cols = {}
            for arm in arms:
                s = np.stack([x[0] for x in played[arm][acts][fam]])
                e = np.stack([x[1] for x in played[arm][acts][fam]])
                cols[arm] = (s, e)
                if fam in DEEP:
                    pooled[arm].append(s)
            if fam == "unsolvable":
                continue
            d, lo, hi = diff_ci(cols["default"][0], cols["no-hierarchy"][0], rng)
            print(
                f"{actions_label(acts):<8}{fam:<11}{fmt(*cols['default']):>26}"
                f"{fmt(*cols['no-hierarchy']):>26}{f'{d:+.3f} [{lo:+.3f}, {hi:+.3f}]':>30}"
            )
    a = np.concatenate([x.ravel() for x in pooled["default"]])
    b = np.concatenate([x.ravel() for x in pooled["no-hierarchy"]])
    d, lo, hi = diff_ci(a, b, rng)
    print(
        f"\ndeep_trap + maze, every set and seed: default {a.mean():.3f}, no-hierarchy "
        f"{b.mean():.3f}, difference {d:+.3f} [95% CI {lo:+.3f}, {hi:+.3f}] (n = {len(a)})"
    )

    print(f"\n{'seed':>5} {'arm':>13} {'best ckpt s':>12} {'env steps':>10}")
    for seed, arm, best_at, steps in timing:
        print(f"{seed:>5} {arm:>13} {best_at:>12.1f} {steps:>10}")

    # The lane is chosen at the last glance before a region, half a window to a window before
    # its first number: a region is out of sight when its deepest death is past H - W there.
    print("\nbeyond the horizon: default policies, deep_trap + maze at every set, horizon shrunk")
    print("(regions deeper: share whose deepest death is past H - W, resp. H, of the entry)")
    print(
        f"{'horizon (windows)':>18} {'deeper H-W':>11} {'deeper H':>9} {'success':>8} "
        f"{'efficiency':>11}"
    )
    deep = [p for s in suites.values() for p in s if p.extra["family"] in DEEP]
    for horizon in (1, 2, 3, 4, 8):
        rows = [r for pol in policies for r in with_horizon(pol, horizon).play(deep)]
        print(
            f"{horizon:>18} {deepest_share(deep, horizon - 1):>11.3f} "
            f"{deepest_share(deep, horizon):>9.3f} {success(rows).mean():>8.3f} "
            f"{np.nanmean(efficiency(rows)):>11.4f}"
        )


if __name__ == "__main__":
    main()
