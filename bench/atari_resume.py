"""Exact resume of an Atari run with a large frame replay, and what its checkpoint costs.

Part 1, the save (in this process): random play of ``--game`` fills a prioritized frame replay of
``--capacity`` transitions; its state goes through the checkpoint writer (``save_checkpoint``:
``replay.npz`` streamed from the buffer's own arrays, SHA-256 digests, fsync, atomic rename)
while a thread samples the process's resident memory every 5 ms. Printed: checkpoint size, save
and load seconds, resident memory before the save and its peak during it (the bar: at most 10%
above), the anonymous memory the load leaves in the new buffer and its peak during the load
(``replay.npz``'s large arrays are mapped, not read: the peak should not be twice the buffer),
and whether the loaded buffer equals the saved one.

Part 2, the runs (real ``hrrl train`` processes): three runs of ``--steps`` env steps with the
same seed and config (replay of ``--capacity``, learning from ``--steps - --learn-steps``, a
checkpoint every ``--every-steps``): one uninterrupted; one sent SIGKILL once its checkpoint at
``--every-steps * 2`` is on disk, then ``hrrl resume``d; one sent SIGTERM at a random env step
past that checkpoint (it saves the step it is at), then resumed. Printed per run: the signal, the
env step it came at, the checkpoint resumed from and whether the final checkpoint equals the
uninterrupted run's in every tensor and array (networks, optimizer, frames, priorities, RNGs).

Usage::

    python bench/atari_resume.py                        # Pong, 250k replay, runs of 216k steps
    python bench/atari_resume.py --part save --capacity 1000000
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

import _common  # noqa: F401  (puts src/ on sys.path)
from _common import last_row_step, machine, newest_checkpoint, proc_status, table
from hrrl.engine.replay.buffer import ReplayConfig, make_replay
from hrrl.gym.task import GymTask
from hrrl.persistence.payload import payload_from_state, state_from_checkpoint
from hrrl.persistence.store import load_checkpoint, save_checkpoint

GB = 1e9


class Sampler(threading.Thread):
    """The peak of ``field`` of the process's memory (``VmRSS``, ``RssAnon``) while it runs."""

    def __init__(self, field: str = "VmRSS") -> None:
        super().__init__(daemon=True)
        self.field = field
        self.peak, self.running = proc_status(field), True

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, proc_status(self.field))
            time.sleep(0.005)

    def stop(self) -> int:
        self.running = False
        self.join()
        return self.peak


def part_save(args: argparse.Namespace, tmp: Path) -> None:
    task = GymTask(args.game, num_envs=8, seed=0, eval_episodes=0)
    obs = task.reset()
    config = ReplayConfig(capacity=args.capacity, kind="prioritized")
    replay = make_replay(config, obs_dim=task.obs_dim, seed=0, frames=task.obs_shape)
    rng = np.random.default_rng(0)
    while len(replay) < args.capacity:
        actions = rng.integers(0, task.n_actions, 8)
        out = task.step(actions)
        replay.add(obs, actions, out.rewards, out.next_obs, out.terminated)
        obs = out.obs
    task.close()
    replay.update_priorities(np.arange(1000), rng.random(1000))  # priorities that differ
    before = proc_status("VmRSS")
    sampler = Sampler()
    sampler.start()
    start = time.perf_counter()
    payload = payload_from_state({"replay": replay.state_dict()})
    path = save_checkpoint(
        tmp / "save", 0, tensors=payload.tensors, arrays=payload.arrays, state=payload.state,
        metrics={},
    )  # fmt: skip
    save_s = time.perf_counter() - start
    peak = sampler.stop()
    del payload
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    other = make_replay(config, obs_dim=task.obs_dim, seed=1, frames=task.obs_shape)
    anon_before = proc_status("RssAnon")  # anonymous memory: what the kernel cannot drop
    anon = Sampler("RssAnon")
    anon.start()
    start = time.perf_counter()
    loaded = load_checkpoint(path)
    state = state_from_checkpoint(loaded.state, loaded.tensors, loaded.arrays)
    other.load_state_dict(state["replay"])
    load_s = time.perf_counter() - start
    del loaded, state
    load_peak = anon.stop() - anon_before
    kept = proc_status("RssAnon") - anon_before
    same = all(
        np.array_equal(a, b)
        for a, b in zip(_flat(replay.state_dict()), _flat(other.state_dict()), strict=True)
    )
    print(f"{args.game}: a prioritized frame replay of {args.capacity:,} transitions, saved")
    header = [
        "checkpoint GB",
        "save s",
        "load s",
        "RSS before GB",
        "peak in save GB",
        "peak/before",
        "load: buffer GB",
        "load: peak GB",
        "equal",
    ]
    row = [
        f"{size / GB:.2f}",
        f"{save_s:.1f}",
        f"{load_s:.1f}",
        f"{before / GB:.2f}",
        f"{peak / GB:.2f}",
        f"{peak / before:.3f}",
        f"{kept / GB:.2f}",
        f"{load_peak / GB:.2f}",
        "yes" if same else "NO",
    ]
    print(table(header, [row]))


def _flat(state: object) -> list[np.ndarray]:
    if isinstance(state, dict):
        return [a for key in sorted(state) for a in _flat(state[key])]
    if isinstance(state, list | tuple):
        return [a for item in state for a in _flat(item)]
    return [np.asarray(state)]


def part_runs(args: argparse.Namespace, tmp: Path) -> None:
    sets = {
        "train.total_env_steps": args.steps,
        "train.num_envs": 8,
        "train.learning_starts": args.steps - args.learn_steps,
        "train.eval_every": args.steps,
        "train.log_every": max(args.steps // 100, 64),
        "gym.eval_episodes": 0,
        "replay.capacity": args.capacity,
        "checkpoint.every_steps": args.every_steps,
        "checkpoint.keep_last": 2,
    }
    base = [sys.executable, "-m", "hrrl.cli"]
    train = [*base, "train", "--env", args.game, "--quiet", "--no-tensorboard"]
    train += [f"--set={k}={v}" for k, v in sets.items()]
    mark = 2 * args.every_steps
    rows = []
    reference = tmp / "reference"
    start = time.perf_counter()
    subprocess.run([*train, "--run-dir", str(reference)], check=True)
    rows.append(["none", "-", "-", f"{time.perf_counter() - start:.0f}", "reference"])
    for signum in (signal.SIGKILL, signal.SIGTERM):
        run = tmp / signum.name
        proc = subprocess.Popen([*train, "--run-dir", str(run)], stdout=subprocess.PIPE, text=True)
        at = mark if signum == signal.SIGKILL else random.Random(0).randint(mark, args.steps - 1)
        while (
            newest_checkpoint(run) < mark
            if signum == signal.SIGKILL
            else last_row_step(run / "metrics.jsonl") < at
        ):
            assert proc.poll() is None, "the run ended before the signal"
            time.sleep(0.05)
        received = newest_checkpoint(run)  # SIGKILL: the step of the checkpoint just written
        proc.send_signal(signum)
        out, _ = proc.communicate()
        said = re.search(r"received at env step ([\d,]+)", out)  # SIGTERM's stop line
        if said:
            received = int(said.group(1).replace(",", ""))
        resumed_from = newest_checkpoint(run)
        start = time.perf_counter()
        subprocess.run([*base, "resume", str(run), "--quiet", "--no-tensorboard"], check=True)
        resume_s = time.perf_counter() - start
        got = load_checkpoint(run / "checkpoints" / f"step-{args.steps:09d}")
        want = load_checkpoint(reference / "checkpoints" / f"step-{args.steps:09d}")
        equal = set(got.arrays) == set(want.arrays) and all(
            np.array_equal(got.arrays[k], a) for k, a in want.arrays.items()
        )
        equal = equal and all(bool((got.tensors[k] == t).all()) for k, t in want.tensors.items())
        rows.append(
            [
                signum.name,
                f"{received:,}",
                f"{resumed_from:,}",
                f"{resume_s:.0f}",
                "yes" if equal else "NO",
            ]
        )
        shutil.rmtree(run)
    final = reference / "checkpoints" / f"step-{args.steps:09d}"
    size = sum(f.stat().st_size for f in final.rglob("*") if f.is_file())
    print(
        f"{args.game}: runs of {args.steps:,} env steps, replay {args.capacity:,} "
        f"(full: {min(args.steps, args.capacity):,} transitions), final checkpoint {size / GB:.2f} GB"
    )
    header = ["signal", "received at step", "resumed from", "resume s", "final equals reference"]
    print(table(header, rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--game", default="ALE/Pong-v5")
    parser.add_argument("--capacity", type=int, default=250_000)
    parser.add_argument("--steps", type=int, default=216_000)
    parser.add_argument("--learn-steps", type=int, default=8_000)
    parser.add_argument("--every-steps", type=int, default=100_000)
    parser.add_argument("--part", choices=["save", "runs", "all"], default="all")
    parser.add_argument("--dir", type=Path, default=None, help="where the runs go (a temp dir)")
    args = parser.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        if args.part in ("save", "all"):
            part_save(args, Path(tmp))
        if args.part in ("runs", "all"):
            part_runs(args, Path(tmp))


if __name__ == "__main__":
    main()
