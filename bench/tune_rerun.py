"""A study's best config against the hand-tuned preset, at the full budget on fresh seeds.

``hrrl tune`` picks a config on a reduced budget and the study's own seeds (0, 1, 2); this bench
trains ``OUT/best.yaml`` (the best trial at the preset's full budget) and the task's hand-tuned
preset on ``--seeds`` (none of them the study's), one after the other per seed so a drift of the
machine's speed hits both, and plays each run's *final* greedy policy on ``--episodes`` held-out
episodes (seeded 1,000,000 + k, as ``bench/gym_vs_sb3.py``). Printed: every seed's return and
wall time per arm, then each arm's mean and worst seed.

``--trial N`` trains the study's trial ``N`` instead of its best (its parameters from the
``study.db`` beside ``best.yaml``): the best trial the sampler drew, where the best is the
preset's own values (every study's first trial).

Usage::

    python bench/tune_rerun.py --best studies/acrobot/best.yaml          # seeds 10-14
    python bench/tune_rerun.py --best studies/lunar/best.yaml --seeds 10 11 12 13 14
    python bench/tune_rerun.py --best studies/lunar/best.yaml --trial 17
    python bench/tune_rerun.py --best studies/lunar/best.yaml --jobs 2   # a seed's arms at once
"""

from __future__ import annotations

import argparse
from pathlib import Path

import optuna
import torch

import _common  # noqa: F401  (puts src/ on sys.path)
from _common import machine, seed_table, train_arms
from hrrl.config import apply_overrides
from hrrl.experiment import gym_preset, load_config
from hrrl.studies.tune import params_config, sqlite_url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--best", type=Path, required=True, help="a study's best.yaml")
    parser.add_argument("--seeds", type=int, nargs="+", default=[10, 11, 12, 13, 14])
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--steps", type=int, default=None, help="budget (default: the preset's)")
    parser.add_argument("--trial", type=int, default=None, help="this trial, not the best")
    parser.add_argument(
        "--jobs", type=int, default=1, help="runs at once, one thread each (2: a seed's two arms)"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    best = load_config(args.best)
    assert best.gym is not None, "a Gymnasium study's best.yaml"
    env_id, arm = best.gym.id, "study best"
    if args.trial is not None:
        arm = f"study trial {args.trial}"
        storage = sqlite_url(args.best.parent)
        trial = optuna.load_study(study_name=None, storage=storage).trials[args.trial]
        best = params_config(best, trial.params)
    arms = {"hand-tuned preset": gym_preset(env_id), arm: best}
    if args.steps is not None:
        arms = {
            k: apply_overrides(c, [f"train.total_env_steps={args.steps}"]) for k, c in arms.items()
        }
    results = train_arms(arms, args.seeds, args.episodes, args.jobs)
    print(machine())
    steps = arms[arm].train.total_env_steps
    print(
        f"{env_id}, {steps:,} env steps, final greedy policy over {args.episodes} held-out episodes"
    )
    print(seed_table(args.seeds, results))


if __name__ == "__main__":
    main()
