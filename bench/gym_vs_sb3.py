"""hrrl against Stable-Baselines3 DQN on the Gymnasium tasks, at equal environment steps.

For each task and seed, in the same process and one after the other (so both see the same machine
load), train

* hrrl with its tuned preset (:mod:`hrrl.gym.presets`: Double DQN, prioritized replay, clipping
  with the guard, linear exploration), periodic evaluation off so its wall time is training only;
* SB3's ``DQN`` with RL-Zoo's tuned hyper-parameters (``hyperparams/dqn.yml`` of
  rl-baselines3-zoo, listed in ``_common.ZOO``); on MinAtar, which RL-Zoo does not cover, the
  MinAtar paper's DQN with hrrl's CNN as SB3's features extractor,

for the same number of environment steps (RL-Zoo's ``n_timesteps``: CartPole-v1 50k, Acrobot-v1
100k, MountainCar-v0 120k; LunarLander-v3 200k and MinAtar 500k as the issue sets them; times
``--budget-scale``), then play the *final* greedy policy of each
for ``--eval-episodes`` episodes with the same fixed seeds (``EVAL_SEED + k``, the same evaluation
code for both). Prints one row per task: mean return over seeds (and its spread), each seed's
return, mean wall time of each, and the ratios hrrl / SB3 of the wall times and of the process
CPU times (< 1: hrrl is faster; the CPU ratio holds up when other jobs share the machine).

    .venv/bin/python bench/gym_vs_sb3.py                                   # everything, 5 seeds
    .venv/bin/python bench/gym_vs_sb3.py --envs CartPole-v1 --seeds 0 1 2  # one task
    .venv/bin/python bench/gym_vs_sb3.py --budget-scale 0.1 --seeds 0      # a quick look

Needs the ``bench`` extra (``pip install stable-baselines3``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

import _common  # noqa: F401  (puts src/ on sys.path)
from _common import ZOO
from hrrl.config import apply_overrides
from hrrl.experiment import gym_preset
from hrrl.gym.task import evaluate_env, make_env
from hrrl.run import build_trainer

#: First seed of the evaluation episodes (both libraries play the same starts).
EVAL_SEED = 1_000_000


@dataclass
class Arm:
    """One library's results on one task: a return and a wall time per seed."""

    returns: list[float] = field(default_factory=list)
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)


def evaluate(policy: Any, env_id: str, episodes: int) -> float:
    """Mean return of ``episodes`` greedy episodes seeded ``EVAL_SEED + k``."""
    return evaluate_env(env_id, policy, episodes=episodes, seed=EVAL_SEED)["eval/mean_return"]


def run_hrrl(
    env_id: str, seed: int, steps: int, episodes: int, overrides: tuple[str, ...] = ()
) -> tuple[float, float, float]:
    """Train hrrl's preset (with ``overrides`` on top) for ``steps``; (return, wall, CPU)."""
    config = gym_preset(env_id)
    scale = steps / config.train.total_env_steps
    config = apply_overrides(
        config,
        [
            f"train.seed={seed}",
            f"train.total_env_steps={steps}",
            f"exploration.linear.decay_steps={max(1, round(config.exploration.linear.decay_steps * scale))}",
            "gym.eval_episodes=0",
            "checkpoint.enabled=false",
            *overrides,
        ],
    )
    start, cpu = time.perf_counter(), time.process_time()
    trainer = build_trainer(config)
    trainer.run()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return evaluate(trainer.greedy, env_id, episodes), wall, cpu


def minatar_cnn() -> type:
    """SB3's feature extractor for MinAtar: hrrl's ``ConvQNetwork`` trunk (one 3x3 convolution of
    16 filters, a 128-unit layer), reading the ``(10, 10, C)`` boolean frames. SB3's
    ``NatureCNN`` needs frames of at least 36 x 36, so every MinAtar baseline brings its own."""
    import gymnasium
    from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
    from torch import nn

    class MinAtarCNN(BaseFeaturesExtractor):
        def __init__(self, observation_space: gymnasium.spaces.Box, features_dim: int = 128):
            super().__init__(observation_space, features_dim)
            height, width, channels = observation_space.shape
            self.net = nn.Sequential(
                nn.Conv2d(channels, 16, 3),
                nn.ReLU(),
                nn.Flatten(),
                nn.Linear(16 * (height - 2) * (width - 2), features_dim),
                nn.ReLU(),
            )

        def forward(self, obs: torch.Tensor) -> torch.Tensor:
            return self.net(obs.permute(0, 3, 1, 2))

    return MinAtarCNN


def sb3_model(env_id: str, seed: int, **changes: Any) -> Any:
    """SB3's ``DQN`` with ``_common.ZOO``'s settings for ``env_id`` (``changes`` laid on top),
    and on MinAtar hrrl's CNN as its features extractor."""
    from stable_baselines3 import DQN

    params = {k: v for k, v in ZOO[env_id].items() if k != "n_timesteps"} | changes
    if env_id.startswith("MinAtar/"):
        params["policy_kwargs"] = {"features_extractor_class": minatar_cnn(), "net_arch": []}
    return DQN("MlpPolicy", make_env(env_id), seed=seed, device="cpu", **params)


def sb3_greedy(model: Any) -> Any:
    """The greedy policy of an SB3 model, on the engine's flat observation rows."""
    shape = model.observation_space.shape

    def greedy(obs: np.ndarray) -> np.ndarray:
        # The engine plays flat rows; SB3 wants its space's shape back (MinAtar's frames).
        frames = obs.reshape(-1, *shape) if shape else obs
        actions, _ = model.predict(frames, deterministic=True)
        return np.asarray(actions)

    return greedy


def run_sb3(env_id: str, seed: int, steps: int, episodes: int) -> tuple[float, float, float]:
    start, cpu = time.perf_counter(), time.process_time()
    model = sb3_model(env_id, seed)
    model.learn(total_timesteps=steps)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return evaluate(sb3_greedy(model), env_id, episodes), wall, cpu


def _mean_sd(values: list[float]) -> str:
    if not values:
        return "-"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.1f} ± {sd:.1f}"


def _mean(values: list[float]) -> str:
    return f"{statistics.fmean(values):.1f}" if values else "-"


def table(results: dict[str, dict[str, Arm]], steps: dict[str, int], seeds: list[int]) -> str:
    header = (
        "| task | env steps | seeds | hrrl return | SB3 return | hrrl per seed | SB3 per seed "
        "| hrrl wall (s) | SB3 wall (s) | wall ratio hrrl/SB3 | CPU ratio hrrl/SB3 |"
    )
    lines = [header, "|" + "---|" * 11]
    for env_id, arms in results.items():
        h, s = arms["hrrl"], arms["sb3"]
        ratio = sum(h.walls) / sum(s.walls) if s.walls and h.walls else float("nan")
        cpu_ratio = sum(h.cpus) / sum(s.cpus) if s.cpus and h.cpus else float("nan")
        lines.append(
            f"| {env_id} | {steps[env_id]:,} | {','.join(map(str, seeds[: len(h.returns)]))} "
            f"| {_mean_sd(h.returns)} | {_mean_sd(s.returns)} "
            f"| {' '.join(f'{r:.0f}' for r in h.returns)} "
            f"| {' '.join(f'{r:.0f}' for r in s.returns)} "
            f"| {_mean(h.walls)} | {_mean(s.walls)} | {ratio:.2f} | {cpu_ratio:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envs", nargs="+", default=list(ZOO), choices=list(ZOO))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument(
        "--budget-scale", type=float, default=1.0, help="multiply every step budget (quick runs)"
    )
    parser.add_argument("--eval-episodes", type=int, default=10, help="greedy episodes per run")
    parser.add_argument("--skip-sb3", action="store_true", help="hrrl only (tuning)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an hrrl override on top of the preset, e.g. agent.hidden=128 (repeatable; tuning)",
    )
    parser.add_argument("--json", type=Path, help="also write every number to this file")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    steps = {e: max(1_000, round(ZOO[e]["n_timesteps"] * args.budget_scale)) for e in args.envs}
    results: dict[str, dict[str, Arm]] = {e: {"hrrl": Arm(), "sb3": Arm()} for e in args.envs}
    for env_id in args.envs:
        for seed in args.seeds:
            arms: list[tuple[str, Callable[[str, int, int, int], tuple[float, float, float]]]]
            arms = [("hrrl", partial(run_hrrl, overrides=tuple(args.set)))]
            arms += [] if args.skip_sb3 else [("sb3", run_sb3)]
            for name, fn in arms:
                ret, wall, cpu = fn(env_id, seed, steps[env_id], args.eval_episodes)
                arm = results[env_id][name]
                arm.returns.append(ret)
                arm.walls.append(wall)
                arm.cpus.append(cpu)
                print(
                    f"{env_id} seed {seed} {name}: return {ret:.1f}, wall {wall:.1f} s, "
                    f"CPU {cpu:.1f} s",
                    flush=True,
                )
    print()
    print(
        f"torch {torch.__version__}, 1 thread; final greedy policy, {args.eval_episodes} "
        "episodes; CPU = process time (robust to other load on the machine)"
    )
    print(table(results, steps, args.seeds))
    if args.json:
        args.json.write_text(
            json.dumps(
                {e: {k: vars(v) for k, v in arms.items()} for e, arms in results.items()},
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
