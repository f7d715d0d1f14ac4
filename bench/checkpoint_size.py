"""How big is a checkpoint with a full replay buffer, and how long do saving and loading take?

Trains the default preset until its replay buffer (``--capacity`` transitions, default 100,000)
is full, learns briefly, then saves the same checkpoint ``--repeats`` times and prints:

1. the size of each file of one checkpoint (model, optimizer, replay with priorities, state);
2. save time (state gathering + write + fsync + SHA-256 + rename), verify time (what
   ``hrrl checkpoints`` does per checkpoint), load time (verify + parse) and restore time
   (``Trainer.load_state_dict`` into a fresh trainer), best and mean;
3. ``hrrl checkpoints`` of a small run, as a user sees it.

Usage::

    python bench/checkpoint_size.py
    python bench/checkpoint_size.py --capacity 20000 --repeats 2
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from hrrl.cli import main
from hrrl.config import apply_overrides
from hrrl.engine.trainer import Trainer
from hrrl.experiment import ExperimentConfig, preset
from hrrl.persistence.fs import human_size
from hrrl.persistence.layout import DATA_FILES, STATE_FILE, verify_checkpoint
from hrrl.persistence.payload import state_from_checkpoint
from hrrl.persistence.store import load_checkpoint, save_checkpoint
from hrrl.run import build_trainer

#: Env steps of learning after the buffer is full (so optimizer moments and priorities are real).
LEARN_STEPS = 4_096
NUM_ENVS = 256


def _timed(fn: Callable[[int], object], repeats: int) -> tuple[float, float]:
    times = []
    for i in range(repeats):
        began = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - began)
    return min(times), statistics.fmean(times)


def full_buffer_config(capacity: int) -> ExperimentConfig:
    """The default preset, sized to fill a ``capacity`` buffer and then learn a little."""
    return apply_overrides(
        preset("default"),
        [
            f"replay.capacity={capacity}",
            f"train.num_envs={NUM_ENVS}",
            f"train.learning_starts={capacity}",
            f"train.total_env_steps={capacity + LEARN_STEPS}",
            f"train.eval_every={capacity + LEARN_STEPS}",
            "puzzle.eval_count=2",
            "puzzle.stop_success=null",
            f"train.log_every={capacity + LEARN_STEPS}",
        ],
    )


def full_buffer_trainer(config: ExperimentConfig) -> Trainer:
    capacity = config.replay.capacity
    trainer = build_trainer(config)
    began = time.perf_counter()
    trainer.run()
    print(
        f"trained {trainer.counters.env_steps:,} env steps ({trainer.counters.updates:,} updates) "
        f"in {time.perf_counter() - began:.1f} s; replay {len(trainer.replay):,}/{capacity:,} "
        f"transitions of obs_dim {trainer.task.obs_dim}"
    )
    assert len(trainer.replay) == capacity, "the buffer is not full"
    return trainer


def measure(trainer: Trainer, config: ExperimentConfig, root: Path, repeats: int) -> None:
    step = trainer.counters.env_steps
    paths: list[Path] = []

    def save(i: int) -> None:
        payload = trainer.payload()
        paths.append(
            save_checkpoint(
                root / f"run{i}",
                step,
                tensors=payload.tensors,
                arrays=payload.arrays,
                state=payload.state,
                metrics=trainer.last_metrics,
            )
        )

    save_t = _timed(save, repeats)
    verify_t = _timed(lambda i: verify_checkpoint(paths[i]), repeats)
    loaded = []
    load_t = _timed(lambda i: loaded.append(load_checkpoint(paths[i])), repeats)
    fresh = build_trainer(config)

    def restore(i: int) -> None:
        ck = loaded[i]
        fresh.load_state_dict(state_from_checkpoint(ck.state, ck.tensors, ck.arrays))

    restore_t = _timed(restore, repeats)
    want, got = trainer.payload(), fresh.payload()
    same = all(torch.equal(got.tensors[k], v) for k, v in want.tensors.items()) and all(
        np.array_equal(got.arrays[k], v) for k, v in want.arrays.items()
    )

    print(f"\none checkpoint ({paths[0].name}):")
    total = 0
    for name in (*DATA_FILES, STATE_FILE):
        size = (paths[0] / name).stat().st_size
        total += size
        print(f"  {name:<22} {human_size(size):>10}  ({size:,} bytes)")
    print(f"  {'total':<22} {human_size(total):>10}")
    print(f"\n{'operation':<34} {'best':>8} {'mean':>8}   (of {repeats})")
    for label, (best, mean) in (
        ("save (gather+write+fsync+hash)", save_t),
        ("verify (sizes, SHA-256, headers)", verify_t),
        ("load (verify + parse)", load_t),
        ("restore into a fresh Trainer", restore_t),
    ):
        print(f"{label:<34} {best:>7.3f}s {mean:>7.3f}s")
    print(f"restored state equals the saved one: {same}")


def listing(root: Path) -> None:
    run = root / "small-run"
    overrides = [
        "train.total_env_steps=3200",
        "train.num_envs=16",
        "train.updates_per_train=1",
        "train.eval_every=800",
        "puzzle.eval_count=2",
        "puzzle.stop_success=null",
        "checkpoint.every_steps=800",
        "checkpoint.keep_last=3",
    ]
    args = ["train", "--run-dir", str(run), "--quiet", "--no-tensorboard"]
    print("\n$ hrrl train " + " ".join(f"--set {o}" for o in overrides) + " ...")
    main([*args, *(f"--set={o}" for o in overrides)])
    print(f"\n$ hrrl checkpoints {run}")
    main(["checkpoints", str(run)])


def main_bench() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--capacity", type=int, default=100_000, help="replay capacity to fill")
    parser.add_argument("--repeats", type=int, default=3, help="saves/loads to time")
    parser.add_argument("--dir", type=Path, help="where to write (default: a temporary dir)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp)
        config = full_buffer_config(args.capacity)
        measure(full_buffer_trainer(config), config, root, args.repeats)
        listing(root)


if __name__ == "__main__":
    main_bench()
