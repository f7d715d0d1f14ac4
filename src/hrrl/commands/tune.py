"""``hrrl tune``: a hyper-parameter study with Optuna (:mod:`hrrl.studies.tune`).

Trials of ``--seeds`` seeds at ``--budget-steps`` each, sampled by TPE (multivariate) or at
random, pruned by the median rule (after a warm-up) or successive halving at each training-time
evaluation; the study lives in ``OUT/study.db`` (or ``--storage URL``), so a killed study resumes
and several processes, on several machines, can work on one (``--study NAME``). It ends with a
table of the best trials, ``OUT/best.yaml`` (``hrrl train --config OUT/best.yaml`` runs it) and
``OUT/report.html`` with the optimisation history and parameter importances.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hrrl.commands import PRESET_NAMES


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "tune",
        help="hyper-parameter study with Optuna (resumable, several processes on one study)",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    parser.add_argument("--env", metavar="ID", help="tune a Gymnasium task (its preset)")
    parser.add_argument("--preset", choices=PRESET_NAMES, help="tune a puzzle preset")
    parser.add_argument("--trials", type=int, default=20, help="finished trials the study needs")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 per trial (default 3)")
    parser.add_argument(
        "--budget-steps", type=int, default=50_000, help="env steps of each seed (default 50,000)"
    )
    parser.add_argument("--out", type=Path, required=True, help="the study's folder")
    parser.add_argument("--storage", help="an Optuna storage URL (default sqlite in --out)")
    parser.add_argument("--study", help="study name, joined if it exists (default: the folder's)")
    parser.add_argument("--space", type=Path, metavar="FILE", help="YAML over the default space")
    parser.add_argument(
        "--carry",
        type=Path,
        metavar="DIR",
        help="start the study with the finished trials of the study in DIR (scored the same "
        "way; complete ones valued anew under --aggregate), a warm start for its sampler and "
        "pruner",
    )
    parser.add_argument("--sampler", choices=("tpe", "random"), default="tpe")
    parser.add_argument("--pruner", choices=("median", "halving", "none"), default="median")
    parser.add_argument(
        "--prune-warmup",
        type=float,
        default=1 / 3,
        metavar="F",
        help="the median rule prunes no evaluation in the first F of a trial's first seed "
        "(default 1/3, RL-Zoo's: an early evaluation says little, and without it a LunarLander "
        "study pruned 37 of 40 trials, most at their first evaluation)",
    )
    parser.add_argument(
        "--score",
        choices=("best", "final", "tail", "time"),
        default="best",
        help="a seed's score: its best evaluation, the evaluation of its final policy "
        "(selects against a policy that collapses late), the mean of its last 3 evaluations "
        "(the same, with less noise), or minus its seconds to the task's stop rule (needs "
        "one; an unsolved seed ranks below every solved one); default best",
    )
    parser.add_argument(
        "--aggregate",
        choices=("mean", "worst"),
        default="mean",
        help="a trial's value from its seeds' scores: their mean (default), or the worst "
        "seed's (a config good on every seed, not on average: LunarLander studies that chose "
        "on the mean found configs that lost the preset's worst fresh seed)",
    )
    parser.add_argument(
        "--sampler-seed",
        type=int,
        default=0,
        help="seed of the sampler (give each process that shares a study its own)",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="processes working on the study at once (1)"
    )
    parser.add_argument(
        "--ray", action="store_true", help="run the workers as Ray tasks (a local Ray)"
    )
    parser.add_argument("--ray-address", help="run them on this Ray cluster instead")
    parser.add_argument(
        "--heartbeat",
        type=int,
        default=30,
        metavar="S",
        help="a running trial beats every S seconds; one silent for 3 S (its process killed) "
        "is marked failed and its parameters run again (default 30)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hrrl.config import check_int, check_range

    check_int("--trials", args.trials, low=1)
    check_int("--seeds", args.seeds, low=1)
    check_int("--budget-steps", args.budget_steps, low=1)
    check_int("--heartbeat", args.heartbeat, low=1)
    check_int("--workers", args.workers, low=1, high=64)
    check_range("--prune-warmup", args.prune_warmup, low=0.0, high=1.0)
    if args.carry is not None and not (args.carry / "study.db").is_file():
        raise ValueError(f"--carry {args.carry}: no study there (no study.db)")
    if (args.env is None) == (args.preset is None):
        raise ValueError("give --env ID (a Gymnasium task) or --preset NAME (the puzzle)")
    try:
        import optuna
    except ImportError as exc:
        raise ValueError(f"hrrl tune needs Optuna: pip install 'hrrl[tune]' ({exc})") from exc
    from hrrl.experiment import gym_preset, preset
    from hrrl.studies import tune

    base = gym_preset(args.env) if args.env else preset(args.preset)
    space = tune.read_space(args.space, base) if args.space else tune.default_space(base)
    spec = tune.StudySpec(
        base=base,
        space=space,
        seeds=tuple(range(args.seeds)),
        budget_steps=args.budget_steps,
        score=args.score,
        aggregate=args.aggregate,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    place = tune.StudyPlace(
        out=args.out,
        storage=args.storage,
        name=args.study or args.out.resolve().name,
        sampler=args.sampler,
        pruner=args.pruner,
        seed=args.sampler_seed,
        heartbeat=args.heartbeat,
        warmup=round(args.prune_warmup * args.budget_steps),
    )
    study = place.open()
    if args.carry is not None:
        if study.trials:  # a resumed study carried them when it began
            print(f"--carry {args.carry}: the study holds trials already, none carried")
        else:
            source = optuna.load_study(study_name=None, storage=tune.sqlite_url(args.carry))
            print(f"carried {tune.carry(study, source, spec)} trials from {args.carry}")
    tune.claim(study, spec)
    tune.enqueue_base(study, spec)
    if args.workers == 1 and not (args.ray or args.ray_address):
        tune.optimize(spec, place, args.trials)
    else:
        tune.optimize_in_parallel(
            spec,
            place,
            args.trials,
            workers=args.workers,
            use_ray=args.ray,
            ray_address=args.ray_address,
        )
    print(tune.best_table(study))
    best = tune.write_best(study, spec, args.out / "best.yaml")
    tune.write_plots(study, args.out)
    if best is not None:
        print(
            f"best config: {args.out / 'best.yaml'} (hrrl train --config {args.out / 'best.yaml'})"
        )
        if tune.is_base(study.best_trial):
            print(
                "note: the best trial is the base config's own values (the study's first "
                "trial): no config the search drew beat it on these seeds and budget"
            )
        if best.train.total_env_steps != spec.budget_steps:
            print(
                f"note: it trains the preset's {best.train.total_env_steps:,} env steps, and "
                f"the study scored {spec.budget_steps:,}: what wins on one budget may not on "
                "another (schedules over the budget stretch or shrink), so compare it with the "
                "preset there before adopting it (bench/tune_rerun.py)"
            )
    print(f"report: {args.out / 'report.html'}")
    return 0
