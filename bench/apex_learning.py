"""Ape-X learns as the single process does: LunarLander-v3 with 4 actors against the preset.

Both arms train the hand-tuned LunarLander-v3 preset (200k env steps, 0.5 updates per env step)
on the same seeds, one after the other per seed; the actors' arm collects with
``distributed.actors`` Ray actors on a local Ray (the learner keeps the preset's updates per env
step; each actor explores on the ``distributed`` section's ladder, by default the run's
schedule). Each run's *final* greedy policy plays ``--episodes`` held-out episodes (seeded
1,000,000 + k, as ``bench/gym_vs_sb3.py``). Printed: every seed's return and wall time per arm,
then each arm's mean and worst seed.

Usage::

    python bench/apex_learning.py                       # seeds 0 1 2, 4 actors
    python bench/apex_learning.py --actors 4 --set distributed.epsilon=0.4 --set distributed.alpha=7
"""

from __future__ import annotations

import argparse

import torch

import _common  # noqa: F401  (puts src/ on sys.path)
from _common import machine, seed_table, train_arms
from hrrl.config import apply_overrides
from hrrl.experiment import gym_preset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="LunarLander-v3")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--actors", type=int, default=4)
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--steps", type=int, default=None, help="budget (default: the preset's)")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], help="on the actors' arm"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    preset = gym_preset(args.env)
    if args.steps is not None:
        preset = apply_overrides(preset, [f"train.total_env_steps={args.steps}"])
    actors = f"{args.actors} actors" + (f" ({', '.join(args.overrides)})" if args.overrides else "")
    arms = {
        "single process": preset,
        actors: apply_overrides(preset, [f"distributed.actors={args.actors}", *args.overrides]),
    }
    results = train_arms(arms, args.seeds, args.episodes)
    print(machine())
    steps = preset.train.total_env_steps
    print(f"{args.env}, {steps:,} env steps, final greedy policy over {args.episodes} episodes")
    print(seed_table(args.seeds, results))


if __name__ == "__main__":
    main()
