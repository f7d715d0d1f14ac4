"""The main job, as a new user runs it: ``hrrl train --preset default``, timed from the outside.

Each seed runs the command ``make train`` runs (``hrrl train --preset default``, plus ``--seed``
and a run directory) as its own process, one after another, and reads back what it wrote:

* ``best s``: the best checkpoint's directory time (its rename) minus the process's start;
* ``end s``: the process's whole wall time (imports, start-up, training, the closing save);
* ``evals``, ``eval s`` and ``eval share``: the training-time evaluations, their summed time
  (``perf/eval_seconds`` of ``metrics.jsonl``) and its share of ``end s``;
* the stop reason, the env steps, and the final evaluation's success and efficiency.

    .venv/bin/python bench/make_train.py --seeds 0 1 2 [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import machine, table

HRRL = Path(sys.executable).with_name("hrrl")


def run_seed(seed: int, overrides: list[str], root: Path) -> list[str]:
    run_dir = root / f"default-seed{seed}"
    argv = [str(HRRL), "train", "--preset", "default", "--seed", str(seed)]
    argv += ["--run-dir", str(run_dir)]
    for item in overrides:
        argv += ["--set", item]
    start = time.time()
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    end = time.time() - start
    if done.returncode != 0:
        raise SystemExit(f"seed {seed}: exit {done.returncode}\n{done.stderr}")
    best = (run_dir / "checkpoints" / "best").resolve()
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    evals = [row for row in rows if "eval/success_rate" in row]
    eval_s = sum(row.get("perf/eval_seconds", 0.0) for row in rows)
    last = evals[-1]
    return [
        str(seed),
        f"{best.stat().st_mtime - start:.1f}",
        f"{end:.1f}",
        str(len(evals)),
        f"{eval_s:.2f}",
        f"{eval_s / end:.1%}",
        _stop(done.stdout),
        f"{rows[-1]['step']:,}",
        f"{last['eval/success_rate']:.3f} / {last['eval/efficiency']:.4f}",
    ]


def _stop(stdout: str) -> str:
    """The stop reason of the command's ``stopped: REASON after ...`` line."""
    lines = [line for line in stdout.splitlines() if line.startswith("stopped: ")]
    return lines[-1].split()[1] if lines else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    print(machine())
    print(f"hrrl train --preset default {' '.join('--set ' + o for o in args.overrides)}")
    with tempfile.TemporaryDirectory() as tmp:
        rows = [run_seed(seed, args.overrides, Path(tmp)) for seed in args.seeds]
    header = ["seed", "best s", "end s", "evals", "eval s", "eval share", "stop", "env steps"]
    print(table([*header, "last eval success / efficiency"], rows))


if __name__ == "__main__":
    main()
