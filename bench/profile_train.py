"""Where does a training step's time go? cProfile of a short default-preset training run.

Runs the default preset for a fixed number of environment steps (early stopping off, so every
run does the same work; checkpoints off; no logger sinks), under :mod:`cProfile`, and prints:

1. the wall time, env steps/s and updates/s of the run;
2. a phase table: share of the run spent in collection (``Trainer.collect``), learning
   (``Trainer.learn``), evaluation (``Trainer.evaluate``) and, inside those, in the parts
   (environment stepping, encoding, acting, replay sampling, the learner step, priority update);
3. the top functions by cumulative time and by own (total) time.

The profiler inflates Python-heavy code more than NumPy/torch kernels, so treat the shares as
where to look, not as exact splits; ``--no-profile`` gives the undisturbed wall time.

Usage::

    python bench/profile_train.py                       # 20,000 env steps, top 25
    python bench/profile_train.py --steps 50000 --top 40
    python bench/profile_train.py --no-profile          # wall time only
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import time
from collections.abc import Callable

import _common  # noqa: F401  (puts src/ on sys.path)
from _common import machine, table
from hrrl.config import apply_overrides
from hrrl.engine.agent import DQNAgent, dqn_loss
from hrrl.engine.replay.buffer import ReplayBuffer
from hrrl.engine.trainer import Trainer
from hrrl.experiment import preset
from hrrl.puzzle.curriculum import Curriculum
from hrrl.puzzle.encoders.relational import RelationalEncoder
from hrrl.puzzle.env import PuzzleEnv, PuzzleVecEnv
from hrrl.puzzle.hierarchy import HierarchyWrapper
from hrrl.puzzle.task import PuzzleTask
from hrrl.run import build_trainer

#: (label, function) of the parts in the phase table; nested parts are indented.
PARTS: tuple[tuple[str, Callable[..., object]], ...] = (
    ("collect (whole phase)", Trainer.collect),
    ("  act (DQNAgent.act)", DQNAgent.act),
    ("  task step (PuzzleTask.step)", PuzzleTask.step),
    ("    PuzzleVecEnv.step", PuzzleVecEnv.step),
    ("      PuzzleEnv.step", PuzzleEnv.step),
    ("      HierarchyWrapper.step", HierarchyWrapper.step),
    ("      RelationalEncoder.encode", RelationalEncoder.encode),
    ("    curriculum sample", Curriculum.sample),
    ("  ReplayBuffer.add", ReplayBuffer.add),
    ("learn (whole phase)", Trainer.learn),
    ("  ReplayBuffer.sample", ReplayBuffer.sample),
    ("  DQNAgent.learn", DQNAgent.learn),
    ("    dqn_loss (forward passes)", dqn_loss),
    ("  ReplayBuffer.update_priorities", ReplayBuffer.update_priorities),
    ("  DQNAgent.after_update (target sync)", DQNAgent.after_update),
    ("evaluate (whole phase)", Trainer.evaluate),
)


def build(steps: int, seed: int) -> Trainer:
    config = apply_overrides(
        preset("default"),
        [
            f"train.total_env_steps={steps}",
            f"train.seed={seed}",
            "puzzle.stop_success=null",
            "checkpoint.enabled=false",
            f"train.eval_every={max(steps // 2, 1)}",
        ],
    )
    return build_trainer(config)


def cumulative(stats: pstats.Stats, fn: Callable[..., object]) -> float:
    """Cumulative seconds spent in ``fn`` (matched by its code object's file and first line)."""
    code = fn.__code__
    key = (code.co_filename, code.co_firstlineno, code.co_name)
    row = stats.stats.get(key)  # type: ignore[attr-defined]
    return 0.0 if row is None else float(row[3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--steps", type=int, default=20_000, help="environment steps to train")
    parser.add_argument("--seed", type=int, default=0, help="train.seed")
    parser.add_argument("--top", type=int, default=25, help="rows of each top-functions table")
    parser.add_argument("--no-profile", action="store_true", help="time without cProfile")
    args = parser.parse_args()

    trainer = build(args.steps, args.seed)  # sets torch threads from train.threads
    print(machine())
    profiler = cProfile.Profile()
    began = time.perf_counter()
    if args.no_profile:
        result = trainer.run()
    else:
        profiler.enable()
        result = trainer.run()
        profiler.disable()
    wall = time.perf_counter() - began
    c = result.counters
    print(
        f"default preset, {c.env_steps:,} env steps, {c.updates:,} updates, "
        f"{c.evaluations} evaluations, wall {wall:.2f} s"
        + (" (no profiler)" if args.no_profile else " (under cProfile)")
    )
    print(
        f"env steps/s {c.env_steps / wall:,.0f}   updates/s {c.updates / wall:,.0f}   "
        f"final eval success {result.last_metrics.get('eval/success_rate', float('nan')):.3f}"
    )
    if args.no_profile:
        return
    stats = pstats.Stats(profiler)
    rows = []
    for label, fn in PARTS:
        seconds = cumulative(stats, fn)
        rows.append([label, f"{seconds:.2f}", f"{100 * seconds / wall:.1f}%"])
    print()
    print(table(["phase", "seconds", "share of wall"], rows))
    for key, title in (("cumulative", "cumulative"), ("tottime", "own (total) time")):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(key).print_stats(args.top)
        text = out.getvalue()
        start = text.find("   ncalls")
        print()
        print(f"top {args.top} functions by {title}")
        print(text[start:].rstrip())


if __name__ == "__main__":
    main()
