"""Overhead of logging on training throughput: the same run with no sink, JSONL, JSONL + TensorBoard.

Every arm trains the default preset for the same number of environment steps with the same
seed (identical work: logging never changes what is learnt), interleaved over ``--repeats``
rounds so machine noise hits every arm alike. Prints wall seconds (median) and the ratio to the
run without sinks.

    .venv/bin/python bench/logging_overhead.py --steps 20000 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from hrrl.config import apply_overrides
from hrrl.experiment import preset
from hrrl.monitoring.logger import JsonlSink, Logger, Sink, TensorBoardSink
from hrrl.run import build_trainer

ARMS = ("no sinks", "jsonl", "jsonl + tensorboard")


def sinks_for(arm: str, run_dir: Path) -> list[Sink]:
    if arm == "no sinks":
        return []
    sinks: list[Sink] = [JsonlSink(run_dir / "metrics.jsonl")]
    if arm == "jsonl + tensorboard":
        sinks.append(TensorBoardSink(run_dir))
    return sinks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--log-every", type=int, default=1_000, help="env steps between dumps")
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = apply_overrides(
        preset("default"),
        [
            f"train.total_env_steps={args.steps}",
            "puzzle.stop_success=null",
            f"train.log_every={args.log_every}",
            "train.eval_every=5000",
        ],
    )
    times: dict[str, list[float]] = {arm: [] for arm in ARMS}
    dumps: dict[str, int] = {}
    for _ in range(args.repeats):
        for arm in ARMS:
            with tempfile.TemporaryDirectory() as tmp:
                logger = Logger(sinks_for(arm, Path(tmp)))
                start = time.perf_counter()
                with logger:
                    build_trainer(config, logger=logger).run()
                times[arm].append(time.perf_counter() - start)
                jsonl = Path(tmp) / "metrics.jsonl"
                dumps[arm] = len(jsonl.read_text().splitlines()) if jsonl.exists() else 0
    base = statistics.median(times["no sinks"])
    print(f"{args.steps:,} env steps, a dump every {args.log_every:,}; median of {args.repeats}")
    print(f"{'arm':>22}  {'wall s':>8}  {'steps/s':>9}  {'dumps':>6}  {'vs no sinks':>11}")
    for arm in ARMS:
        wall = statistics.median(times[arm])
        print(
            f"{arm:>22}  {wall:8.2f}  {args.steps / wall:9.0f}  {dumps[arm]:6d}  {wall / base:10.3f}x"
        )


if __name__ == "__main__":
    main()
