"""Learning curves of hrrl variants beside Stable-Baselines3 DQN on one Gymnasium task and seed.

Each arm trains for ``--steps`` env steps; at ``--marks`` evenly spaced points its current greedy
policy plays ``--eval-episodes`` episodes with the same fixed seeds (``EVAL_SEED + k``, the code
``bench/gym_vs_sb3.py`` scores with). Prints one row per arm: the return at each mark and the
wall time to the end. Exploration keeps its length in env steps at any budget (hrrl's preset
``decay_steps``; SB3's RL-Zoo fraction times its ``n_timesteps``), so a shorter run is the first
part of the full one, not a compressed copy.

An arm is ``NAME`` or ``NAME:key=value,key=value``: ``sb3`` is SB3 (``_common.ZOO`` settings),
``preset`` the hrrl preset, ``plain`` the hrrl preset as a vanilla DQN on one environment (no
double, uniform replay, one-step, no guard, one update every 4 env steps: SB3's DQN), and the
``key=value`` pairs are hrrl overrides laid on top. This is how the MinAtar Asterix gap was
traced (docs/tuning.md)::

    .venv/bin/python bench/learning_curves.py --env MinAtar/Asterix-v1 --seed 1 --steps 300000 \
        --arm sb3 --arm plain --arm plain:train.num_envs=4,train.train_every=1

Needs the ``bench`` extra (``pip install stable-baselines3``) for the ``sb3`` arm.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

import numpy as np
import torch

import _common  # noqa: F401  (puts src/ on sys.path)
from _common import ZOO, table
from gym_vs_sb3 import EVAL_SEED, evaluate, sb3_greedy, sb3_model
from hrrl.config import apply_overrides
from hrrl.experiment import gym_preset
from hrrl.run import build_trainer

#: hrrl as SB3's vanilla DQN: every fix off, one environment, one update every 4 env steps.
PLAIN_DQN = (
    "agent.double=false",
    "replay.kind=uniform",
    "agent.n_step=1",
    "guard.enabled=false",
    "train.num_envs=1",
    "train.train_every=4",
)

Policy = Callable[[np.ndarray], np.ndarray]


def run_hrrl(
    env_id: str,
    seed: int,
    steps: int,
    marks: list[int],
    overrides: list[str],
    score: Callable[[Policy], float],
) -> list[float]:
    """Train hrrl's preset with ``overrides``; ``score(policy)`` at each mark."""
    config = apply_overrides(
        gym_preset(env_id),
        [
            f"train.seed={seed}",
            f"train.total_env_steps={steps}",
            "gym.eval_episodes=0",
            "checkpoint.enabled=false",
            "train.threads=1",
            *overrides,
        ],
    )
    trainer = build_trainer(config)
    returns: list[float] = []
    seen = 0

    def progress(n: int) -> None:
        nonlocal seen
        seen += n
        if len(returns) < len(marks) and seen >= marks[len(returns)]:
            returns.append(score(trainer.greedy))

    trainer.run(progress=progress)
    return returns


def run_sb3(
    env_id: str, seed: int, steps: int, marks: list[int], score: Callable[[Policy], float]
) -> list[float]:
    """Train SB3's DQN with ``_common.ZOO``'s settings; ``score(policy)`` at each mark."""
    from stable_baselines3.common.callbacks import BaseCallback

    fraction = ZOO[env_id]["exploration_fraction"] * ZOO[env_id]["n_timesteps"] / steps
    model = sb3_model(env_id, seed, exploration_fraction=fraction)
    greedy = sb3_greedy(model)
    returns: list[float] = []

    class AtMarks(BaseCallback):  # type: ignore[misc]
        def _on_step(self) -> bool:
            if self.num_timesteps in marks:
                returns.append(score(greedy))
            return True

    model.learn(total_timesteps=steps, callback=AtMarks())
    return returns


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", required=True, choices=list(ZOO))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=300_000)
    parser.add_argument("--marks", type=int, default=3, help="evaluations, evenly spaced")
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--arm", action="append", required=True, help="NAME[:key=value,...]")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    marks = [args.steps * (k + 1) // args.marks for k in range(args.marks)]

    def score(policy: Policy) -> float:
        return evaluate(policy, args.env, args.eval_episodes)

    rows = []
    for spec in args.arm:
        name, _, extra = spec.partition(":")
        overrides = [o for o in extra.split(",") if o]
        start = time.perf_counter()
        if name == "sb3":
            if overrides:
                parser.error("the sb3 arm takes no overrides")
            returns = run_sb3(args.env, args.seed, args.steps, marks, score)
        elif name in ("preset", "plain"):
            base = list(PLAIN_DQN) if name == "plain" else []
            returns = run_hrrl(args.env, args.seed, args.steps, marks, base + overrides, score)
        else:
            parser.error(f"arm {name!r}: use sb3, preset or plain")
        wall = time.perf_counter() - start
        rows.append([spec, *(f"{r:.1f}" for r in returns), f"{wall:.0f}"])
        print(f"{spec}: {' '.join(rows[-1][1:-1])} (wall {wall:.0f} s)", flush=True)
    print()
    print(
        f"{args.env}, seed {args.seed}, greedy return over {args.eval_episodes} episodes "
        f"(seeds from {EVAL_SEED:,}) at each mark"
    )
    print(table(["arm", *(f"{m:,}" for m in marks), "wall (s)"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
