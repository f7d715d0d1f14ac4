"""``hrrl ablate``: every arm on every seed (in parallel, resumable), then ablation.md + claims."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from hrrl.commands import PRESET_NAMES


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "ablate",
        help="ablation study: each fix switched off in turn, over seeds",
        description="Train every arm (preset plus one override; see hrrl.studies.ablation) on every "
        "seed, score each on a held-out suite, write ablation.md/.csv/.png and the claims "
        "table. Finished trials are kept in OUT/trials and not rerun.",
    )
    parser.add_argument(
        "--preset", choices=PRESET_NAMES, default="default", help="preset arms modify"
    )
    parser.add_argument(
        "--arms", help="comma-separated arms (default: every arm of the puzzle or --env study)"
    )
    parser.add_argument(
        "--env",
        metavar="ID",
        help="study a Gymnasium task (its tuned preset; arms all, no-double, +double, no-per, "
        "no-clip, +adaptive-eps, +n-step, no-n-step, +dueling) instead of the puzzle",
    )
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 per arm")
    parser.add_argument("--out", type=Path, help="output dir (default runs/ablation-<time>)")
    parser.add_argument("--workers", type=int, default=2, help="parallel trials (0: in-process)")
    parser.add_argument("--ray", action="store_true", help="run trials as Ray tasks (local Ray)")
    parser.add_argument("--ray-address", help="connect to this Ray cluster instead")
    parser.add_argument(
        "--budget-steps",
        type=int,
        default=30_000,
        help="env-step budget of every arm (also caps the baseline's 5,000 episodes)",
    )
    parser.add_argument("--eval-every", type=int, default=1_000, help="env steps between evals")
    parser.add_argument("--heldout-count", type=int, default=10, help="held-out puzzles a family")
    parser.add_argument("--compare", type=Path, help="hrrl compare --json output for the claims")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hrrl.studies.ablation import DEFAULT_ARMS, make_specs, parse_arms, run_study
    from hrrl.studies.ablation_report import write_report
    from hrrl.studies.gym_trial import GYM_ARMS

    if args.seeds < 1:
        raise ValueError(f"--seeds {args.seeds}: give at least 1")
    if args.workers < 0:
        raise ValueError(f"--workers {args.workers}: give 0 or more")
    default_arms = DEFAULT_ARMS if args.env is None else tuple(GYM_ARMS)
    arms = parse_arms(args.arms or ",".join(default_arms), env=args.env)
    out: Path = args.out or Path("runs") / f"ablation-{time.strftime('%Y%m%d-%H%M%S')}"
    compare: dict[str, Any] | None = None
    if args.compare:
        compare = json.loads(args.compare.read_text(encoding="utf-8"))
    specs = make_specs(
        arms,
        range(args.seeds),
        preset=args.preset,
        budget_steps=args.budget_steps,
        eval_every=args.eval_every,
        heldout_count=args.heldout_count,
        env=args.env,
    )
    start = time.perf_counter()

    def done(trial: dict[str, Any], skipped: bool) -> None:
        what = "skip (done)" if skipped else f"{trial['trial_wall_s']:.0f}s"
        held = trial["heldout"]
        score = f"success {held['success_rate']:.3f}"
        if args.env is not None:
            score = f"return {held['return']:.1f}"
        print(
            f"{trial['arm']:>18} seed {trial['seed']}: {score} steps {trial['env_steps']} [{what}]",
            flush=True,
        )

    trials = run_study(
        specs,
        out,
        workers=args.workers,
        use_ray=args.ray,
        ray_address=args.ray_address,
        on_done=done,
    )
    wall = time.perf_counter() - start
    backend = "ray" if args.ray or args.ray_address else f"{args.workers} local processes"
    header = [
        f"- {'preset `' + args.preset + '`' if args.env is None else 'task `' + args.env + '`'}"
        f", arms {', '.join(arms)}",
        f"- seeds 0..{args.seeds - 1}; budget {args.budget_steps} env steps per trial; "
        f"evaluation every {args.eval_every} steps",
        f"- held-out suite: {args.heldout_count} puzzles per family, every family (seed 7)"
        if args.env is None
        else f"- held-out: {args.heldout_count} greedy episodes of the final policy",
        f"- {len(trials)} trials on {backend}; study wall time {wall:.0f} s "
        f"(this invocation; finished trials are reused)",
    ]
    path = write_report(out, trials, arms, header=header, compare=compare, gym=args.env is not None)
    print(path.read_text(encoding="utf-8"))
    print(f"wrote {path}, {out / 'ablation.csv'}, {out / 'ablation.png'}")
    return 0
