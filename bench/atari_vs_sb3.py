"""Atari throughput (and the final return) of hrrl against Stable-Baselines3's DQN, same run.

Both libraries train the Nature DQN with RL-Zoo's Atari settings (``hyperparams/atari.yml`` of
rl-baselines3-zoo: replay 100k, lr 1e-4, batch 32, one update per 4 env steps, the target synced
every 1,000 updates, epsilon to 0.01) for ``--steps`` env steps on *the same env stack* (hrrl's
``make_env``: sticky actions, ``AtariPreprocessing``, 4 frames stacked; SB3 adds its
``ClipRewardEnv`` as its Atari wrapper does, hrrl clips in its task), one torch thread each, one
after the other per seed. Two settings differ from RL-Zoo so that a short run measures
something: learning starts at ``--learning-starts`` env steps (RL-Zoo's 100k would leave a 50k
run without one update) and epsilon decays over 10% of the run (RL-Zoo's fraction of its 10M).
hrrl runs its Atari preset otherwise (4 envs of one step per update, Double DQN, uniform
frame-deduplicated replay, the guard); SB3 one env with ``train_freq=4``.

Printed per library and seed: env steps/s over the whole run (wall), updates/s inside the
update calls (``Trainer.update`` and SB3's ``DQN.train``, timed), the collection rate outside
them (env steps per second of the rest), the process CPU time, the peak resident memory of the
process (``ru_maxrss``; each run in a process of its own), and the final greedy policy's mean
raw return over ``--episodes`` games seeded 1,000,000 + k (the same evaluation code for both),
then the ratios hrrl / SB3.

Usage::

    .venv/bin/python bench/atari_vs_sb3.py                               # Pong, 50k steps, seed 0
    .venv/bin/python bench/atari_vs_sb3.py --game ALE/Breakout-v5 --steps 100000 \\
        --learning-starts 1600                                           # the learning bar

Needs the ``atari`` and ``bench`` extras.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import sys
import time
from typing import Any

import torch

import _common  # noqa: F401  (puts src/ on sys.path)
from _common import machine, table
from hrrl.config import apply_overrides
from hrrl.experiment import gym_preset
from hrrl.gym.task import evaluate_env, make_env
from hrrl.run import build_trainer

#: First seed of the evaluation games (both libraries play the same starts).
EVAL_SEED = 1_000_000

#: RL-Zoo's DQN on Atari (``hyperparams/atari.yml`` of rl-baselines3-zoo), bar the two settings
#: the module docstring names.
ZOO_ATARI: dict[str, Any] = {
    "buffer_size": 100_000,
    "learning_rate": 1e-4,
    "batch_size": 32,
    "train_freq": 4,
    "gradient_steps": 1,
    "target_update_interval": 1_000,
    "exploration_fraction": 0.1,
    "exploration_final_eps": 0.01,
    "optimize_memory_usage": False,
}


class Timer:
    """Wall seconds and calls inside a wrapped function."""

    def __init__(self, fn: Any) -> None:
        self.fn, self.seconds, self.calls = fn, 0.0, 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start
            self.calls += 1


def run_hrrl(
    game: str, seed: int, steps: int, learning_starts: int, episodes: int, epsilon: float
) -> dict:
    config = apply_overrides(
        gym_preset(game),
        [
            f"train.seed={seed}",
            f"train.total_env_steps={steps}",
            f"train.learning_starts={learning_starts}",
            f"exploration.linear.decay_steps={steps // 10}",
            "gym.eval_episodes=0",
            "checkpoint.enabled=false",
        ],
    )
    trainer = build_trainer(config)
    timer = Timer(trainer.update)
    trainer.update = timer  # type: ignore[method-assign]
    start, cpu = time.perf_counter(), time.process_time()
    trainer.run()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    updates = trainer.counters.updates
    return _result(
        trainer.greedy, game, steps, episodes, epsilon, wall, cpu, timer.seconds, updates
    )


def run_sb3(
    game: str, seed: int, steps: int, learning_starts: int, episodes: int, epsilon: float
) -> dict:
    from stable_baselines3 import DQN
    from stable_baselines3.common.atari_wrappers import ClipRewardEnv

    model = DQN(
        "CnnPolicy",
        ClipRewardEnv(make_env(game)),
        seed=seed,
        device="cpu",
        learning_starts=learning_starts,
        **ZOO_ATARI,
    )
    timer = Timer(model.train)
    model.train = timer  # type: ignore[method-assign]
    start, cpu = time.perf_counter(), time.process_time()
    model.learn(total_timesteps=steps)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    updates = model._n_updates

    shape = model.observation_space.shape
    assert shape is not None

    def greedy(obs: Any) -> Any:
        frames = obs.reshape(-1, *shape)
        actions, _ = model.predict(frames, deterministic=True)
        return actions

    return _result(greedy, game, steps, episodes, epsilon, wall, cpu, timer.seconds, updates)


def _result(
    policy: Any,
    game: str,
    steps: int,
    episodes: int,
    epsilon: float,
    wall: float,
    cpu: float,
    update_s: float,
    updates: int,
) -> dict:
    metrics = evaluate_env(game, policy, episodes=episodes, seed=EVAL_SEED, epsilon=epsilon)
    ret = metrics["eval/mean_return"]
    return {
        "steps/s": steps / wall,
        "updates": updates,
        "updates/s": updates / update_s if update_s else float("nan"),
        "collect steps/s": steps / (wall - update_s),
        "wall s": wall,
        "cpu s": cpu,
        "peak rss GB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "return": ret,
    }


def _child(name: str, args: tuple, queue: Any) -> None:
    torch.set_num_threads(1)
    queue.put({"hrrl": run_hrrl, "sb3": run_sb3}[name](*args))


def in_process(name: str, args: tuple) -> dict:
    """One run in a fresh process (its peak memory its own)."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(name, args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--game", default="ALE/Pong-v5")
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--learning-starts", type=int, default=10_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--episodes", type=int, default=3, help="evaluation games per run")
    parser.add_argument(
        "--eval-epsilon",
        type=float,
        default=0.0,
        help="random-action chance in the evaluation games (Nature DQN: 0.05; 0: greedy)",
    )
    parser.add_argument("--json", help="also write every number to this file")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # as in each run's process (the machine line says so)
    results: dict[str, list[dict]] = {"hrrl": [], "sb3": []}
    for seed in args.seeds:
        for name in results:
            run = in_process(
                name,
                (
                    args.game,
                    seed,
                    args.steps,
                    args.learning_starts,
                    args.episodes,
                    args.eval_epsilon,
                ),
            )
            results[name].append(run)
            print(f"seed {seed} {name}: {json.dumps(run)}", flush=True)
    print(machine())
    print(
        f"{args.game}, {args.steps:,} env steps (learning from {args.learning_starts:,}), "
        f"1 torch thread each, final policy over {args.episodes} games at epsilon "
        f"{args.eval_epsilon:g}"
    )
    keys = list(results["hrrl"][0])
    rows = [
        [f"{name} seed {seed}", *(f"{run[k]:,.2f}" for k in keys)]
        for name, runs in results.items()
        for seed, run in zip(args.seeds, runs, strict=True)
    ]
    for seed, h, s in zip(args.seeds, results["hrrl"], results["sb3"], strict=True):
        ratios = [h[k] / s[k] if s[k] else float("nan") for k in keys[:-1]]
        rows.append([f"hrrl / SB3 seed {seed}", *(f"{r:.2f}x" for r in ratios), "-"])
    print(table(["run", *keys], rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
