"""Ape-X scaling where the environment is the bottleneck: env steps/s with 1, 2, 4, 8 actors.

The task is ``SlowCartPole-v1`` (``bench/slow_env.py``): CartPole whose every step first sleeps
``--step-ms`` milliseconds, as a simulator that answers over a socket would. Every arm trains the
CartPole-v1 preset on it (``--num-envs`` copies per collector, ``distributed.envs_per_actor``
for an actor; the preset's 0.25 updates per env step kept, no evaluation, no checkpoints) for
``--steps`` env steps: the single process collecting its own copies, then ``--actors`` Ray
actors on a local Ray feeding one learner. The rate is the steady state's: env steps over wall
time from the first vector step past 20% of the budget to the last (Ray's start and the actors'
imports are left out, and printed as "start s").

Usage::

    python bench/apex_scaling.py                          # 5 ms steps, 1 2 4 8 actors
    python bench/apex_scaling.py --step-ms 2 --actors 1 4
    python bench/apex_scaling.py --actors 4 --set distributed.epsilon=0.4 distributed.alpha=7
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

import torch

import _common  # noqa: F401  (puts src/ on sys.path)
from _common import fmt_rate, machine, table
from hrrl.config import apply_overrides
from hrrl.engine.callbacks import Callback
from hrrl.engine.trainer import Trainer
from hrrl.experiment import ExperimentConfig, gym_preset
from hrrl.run import build_trainer, close_task

BENCH = Path(__file__).resolve().parent


class Clock(Callback):
    """(wall, env steps) at every vector step."""

    def __init__(self) -> None:
        self.marks: list[tuple[float, int]] = []

    def on_step(self, trainer: Trainer) -> None:
        self.marks.append((time.perf_counter(), trainer.counters.env_steps))


def measure(config: ExperimentConfig) -> tuple[float, float, float]:
    """(steady env steps/s, updates/s over the whole run, seconds to the first step)."""
    began = time.perf_counter()
    trainer = build_trainer(config)
    clock = Clock()
    trainer.run(callbacks=[clock])
    wall = time.perf_counter() - began
    close_task(trainer.task)
    budget = config.train.total_env_steps
    t0, s0 = next((t, s) for t, s in clock.marks if s >= budget // 5)
    t1, s1 = clock.marks[-1]
    start = clock.marks[0][0] - began
    return (s1 - s0) / (t1 - t0), trainer.counters.updates / wall, start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--step-ms", type=float, default=5.0)
    parser.add_argument("--actors", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--steps", type=int, default=12_000)
    parser.add_argument("--num-envs", type=int, default=4)
    parser.add_argument(
        "--set", nargs="*", default=[], metavar="KEY=VALUE", help="overrides for every arm"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    # The actors' processes import the env's module: Ray's workers inherit the environment.
    os.environ["HRRL_SLOW_STEP_MS"] = str(args.step_ms)
    os.environ["PYTHONPATH"] = os.pathsep.join([str(BENCH), *sys.path])
    sys.path.insert(0, str(BENCH))
    import slow_env

    preset = gym_preset("CartPole-v1")
    assert preset.gym is not None
    # The preset's updates per env step (2 per vector step of 8) at --num-envs copies.
    updates = preset.train.updates_per_train * args.num_envs / preset.train.num_envs
    if updates != int(updates) or updates < 1:
        parser.error(f"--num-envs {args.num_envs} cannot keep the preset's updates per env step")
    overridden = apply_overrides(
        preset,
        [
            f"train.total_env_steps={args.steps}",
            f"train.num_envs={args.num_envs}",
            f"train.updates_per_train={int(updates)}",
            "gym.eval_episodes=0",
            "checkpoint.enabled=false",
            *args.set,
        ],
    )
    assert overridden.gym is not None  # its overrides kept (gym.eval_episodes=0: no evaluation)
    base = dataclasses.replace(
        overridden, gym=dataclasses.replace(overridden.gym, id=f"slow_env:{slow_env.SLOW_ID}")
    )
    ratio = base.train.updates_per_train / (base.train.train_every * base.train.num_envs)
    arms = {"single process": base} | {
        f"{n} actor{'s' if n > 1 else ''}": apply_overrides(
            base, [f"distributed.actors={n}", f"distributed.envs_per_actor={args.num_envs}"]
        )
        for n in args.actors
    }
    rows, single = [], 0.0
    for name, config in arms.items():
        rate, updates, start = measure(config)
        single = single or rate
        print(f"{name}: {rate:,.0f} env steps/s", flush=True)
        rows.append(
            [
                name,
                fmt_rate(rate),
                f"{rate / single:.2f}x",
                fmt_rate(updates),
                f"{start:.1f}",
            ]
        )
    print(machine())
    print(
        f"SlowCartPole-v1 ({args.step_ms:g} ms a step), {args.num_envs} envs per collector, "
        f"{args.steps:,} env steps, {ratio:g} updates per env step (CartPole-v1 preset's: 0.25)"
    )
    print(table(["arm", "env steps/s", "vs single", "updates/s", "start s"], rows))


if __name__ == "__main__":
    main()
