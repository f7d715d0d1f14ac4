"""Atari collection speed: hrrl's stack (Gymnasium's AtariPreprocessing per env, in a
``SyncVectorEnv``) against ale-py's C++ ``AtariVectorEnv`` (the same preprocessing built in).

Both step ``--envs`` copies of ``--game`` with random actions for ``--seconds`` per round,
interleaved over ``--rounds``; the C++ env runs ``--threads`` worker threads (1: the same single
core as the Python stack). Printed: the median env steps/s of each and the ratio. hrrl uses the
Python stack because it checkpoints each env exactly (the emulator, the frame stack, the sticky
action) and the C++ env exposes no per-env state to save.

Usage::

    python bench/atari_env_speed.py                   # Pong, 8 envs, 1 thread, 3 rounds of 5 s
    python bench/atari_env_speed.py --threads 2 --envs 16
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

import _common  # noqa: F401  (puts src/ on sys.path)
from _common import machine, table
from hrrl.gym.task import STICKY_ACTIONS, GymTask


def rate(step: Callable[[np.ndarray], object], n_actions: int, envs: int, seconds: float) -> float:
    rng = np.random.default_rng(0)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step(rng.integers(0, n_actions, envs))
        count += envs
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--game", default="ALE/Pong-v5")
    parser.add_argument("--envs", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from ale_py.vector_env import AtariVectorEnv

    task = GymTask(args.game, num_envs=args.envs, seed=0, eval_episodes=0)
    task.reset()
    name = args.game.removeprefix("ALE/").split("-")[0]
    game = "".join("_" + c.lower() if c.isupper() and i else c.lower() for i, c in enumerate(name))
    native = AtariVectorEnv(
        game,
        args.envs,
        num_threads=args.threads,
        repeat_action_probability=STICKY_ACTIONS,
        autoreset_mode="SameStep",
    )
    native.reset(seed=0)
    speeds: dict[str, list[float]] = {"hrrl (Gymnasium stack)": [], "ale-py AtariVectorEnv": []}
    n = task.n_actions
    for _ in range(args.rounds):
        speeds["hrrl (Gymnasium stack)"].append(rate(task.step, n, args.envs, args.seconds))
        speeds["ale-py AtariVectorEnv"].append(rate(native.step, n, args.envs, args.seconds))
    task.close()
    native.close()
    base = statistics.median(speeds["hrrl (Gymnasium stack)"])
    print(machine())
    print(f"{args.game}, {args.envs} envs, random actions, median of {args.rounds} rounds")
    rows = [
        [arm, f"{statistics.median(v):,.0f}", f"{statistics.median(v) / base:.2f}"]
        for arm, v in speeds.items()
    ]
    print(table(["env", "env steps/s", "x hrrl"], rows))


if __name__ == "__main__":
    main()
