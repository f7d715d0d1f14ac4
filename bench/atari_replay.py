"""Replay memory on a real Atari game: hrrl's frame-deduplicated buffer filled to capacity.

Random play of ``--game`` (the standard preprocessing: 4 stacked 84x84 grey frames) on
``--envs`` environments fills a prioritized hrrl replay of ``--capacity`` transitions, then
overwrites ``--overfill`` of it more (so eviction and frame reuse are in the number). The
buffer's memory is *measured*: the process's resident set (``VmRSS``) after the fill minus
before the buffer was built. Stable-Baselines3's ``ReplayBuffer`` at the same capacity is
*computed* from its arrays (built at 10,000 transitions and scaled: NumPy maps its pages as
they are written, so a full buffer holds all of them), with and without
``optimize_memory_usage``.

Usage::

    python bench/atari_replay.py                                  # Pong, 1,000,000 transitions
    python bench/atari_replay.py --capacity 200000 --game ALE/Breakout-v5
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from tqdm import tqdm

import _common  # noqa: F401  (puts src/ on sys.path)
from _common import machine, proc_status, table
from hrrl.engine.replay.buffer import ReplayConfig, make_replay
from hrrl.engine.replay.frames import FrameStorage
from hrrl.gym.task import GymTask


def _sb3_bytes_per_transition(obs_shape: tuple[int, ...], optimize: bool) -> float:
    from gymnasium import spaces
    from stable_baselines3.common.buffers import ReplayBuffer

    size = 10_000
    buffer = ReplayBuffer(
        size,
        spaces.Box(0, 255, obs_shape, np.uint8),
        spaces.Discrete(6),
        optimize_memory_usage=optimize,
        handle_timeout_termination=not optimize,  # SB3 refuses the two together
    )
    arrays = [getattr(buffer, name, None) for name in ("observations", "next_observations")]
    arrays += [buffer.actions, buffer.rewards, buffer.dones, buffer.timeouts]
    return sum(a.nbytes for a in arrays if a is not None) / size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--game", default="ALE/Pong-v5")
    parser.add_argument("--capacity", type=int, default=1_000_000)
    parser.add_argument("--envs", type=int, default=8)
    parser.add_argument("--overfill", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    task = GymTask(args.game, num_envs=args.envs, seed=args.seed, eval_episodes=0)
    obs = task.reset()
    before = proc_status("VmRSS")
    replay = make_replay(
        ReplayConfig(capacity=args.capacity, kind="prioritized"),
        obs_dim=task.obs_dim,
        seed=args.seed,
        frames=task.obs_shape,
    )
    storage = replay.storage
    assert isinstance(storage, FrameStorage)
    rng = np.random.default_rng(args.seed)
    target = int(args.capacity * (1 + args.overfill))
    added, episodes, start = 0, 0, time.perf_counter()
    with tqdm(total=target, unit="step", desc="fill", mininterval=2) as bar:
        while added < target:
            actions = rng.integers(0, task.n_actions, args.envs)
            out = task.step(actions)
            replay.add(obs, actions, out.rewards, out.next_obs, out.terminated)
            obs = out.obs
            added += args.envs
            episodes += len(out.ended)
            bar.update(args.envs)
    seconds = time.perf_counter() - start
    after = proc_status("VmRSS")
    task.close()
    per = (after - before) / len(storage)
    sb3 = _sb3_bytes_per_transition(task.obs_shape, optimize=False)
    sb3_opt = _sb3_bytes_per_transition(task.obs_shape, optimize=True)
    gb = 1e9
    print(machine())
    print(
        f"{args.game}, random play on {args.envs} envs: {added:,} transitions added "
        f"({episodes:,} episodes) in {seconds:.0f} s, {added / seconds:,.0f} steps/s with the adds"
    )
    rows = [
        [
            "hrrl frames (measured RSS)",
            f"{len(storage):,}",
            f"{storage.frame_count:,}",
            f"{per:,.0f}",
            f"{(after - before) / gb:.2f}",
            "1.00",
        ],
        [
            "SB3 (computed)",
            f"{args.capacity:,}",
            f"{2 * 4 * args.capacity:,}",
            f"{sb3:,.0f}",
            f"{sb3 * args.capacity / gb:.2f}",
            f"{sb3 / per:.2f}",
        ],
        [
            "SB3 optimize_memory_usage (computed)",
            f"{args.capacity:,}",
            f"{4 * args.capacity:,}",
            f"{sb3_opt:,.0f}",
            f"{sb3_opt * args.capacity / gb:.2f}",
            f"{sb3_opt / per:.2f}",
        ],
    ]
    header = ["buffer", "transitions", "frames held", "bytes/transition", "GB", "x hrrl"]
    print(table(header, rows))
    print(
        f"frame pool: {storage.touched:,} slots touched of {len(storage.frames):,}; "
        f"process peak RSS {proc_status('VmHWM') / gb:.2f} GB"
    )


if __name__ == "__main__":
    main()
