"""A short check that the trainer runs and learns on CUDA (for a machine with a GPU).

Trains the default preset with ``train.device=cuda`` and then on the CPU, same seed, and prints
the wall time, the best evaluation and the held-out results of each. Exits non-zero when CUDA is
missing or the CUDA run does not learn.

    python scripts/cuda_check.py --steps 20000
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

from hrrl.config import apply_overrides
from hrrl.experiment import preset
from hrrl.puzzle.evaluate import eval_metrics, play
from hrrl.puzzle.generate import FAMILIES, generate_suite
from hrrl.run import build_trainer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--count", type=int, default=50, help="held-out puzzles per family")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("CUDA is not available here")
        return 1
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name(0)}")
    suite = generate_suite(list(FAMILIES), args.count, 7)
    ok = True
    for device in ("cuda", "cpu"):
        config = apply_overrides(
            preset("default"),
            [f"train.device={device}", f"train.total_env_steps={args.steps}", "train.seed=0"],
        )
        start = time.perf_counter()
        trainer = build_trainer(config)
        result = trainer.run()
        wall = time.perf_counter() - start
        metrics, _ = eval_metrics(play(trainer.greedy, suite, trainer.task.env_factory), suite)
        print(
            f"{device}: {result.counters.env_steps} env steps, {result.counters.updates} updates "
            f"in {wall:.1f} s ({result.stop_reason}); held-out success "
            f"{metrics['eval/success_rate']:.3f}, efficiency {metrics['eval/efficiency']:.4f}"
        )
        if device == "cuda":
            ok = metrics["eval/success_rate"] >= 0.95
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
