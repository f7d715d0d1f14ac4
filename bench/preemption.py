"""Work lost per signal: ``hrrl train`` stopped by SIGTERM / SIGINT at random moments.

Each round starts a real ``hrrl train`` process, waits for a random env step (polling its
``metrics.jsonl``, then a random fraction of a logging interval), sends the signal and reads the
one line the process prints as it exits. The table gives, per signal:

* ``received``: the env step the run was at when the signal came;
* ``saved``: the env step the checkpoint written on the way out holds (the step in flight
  finishes, so it is ``received`` or one vector step more);
* ``lost``: env steps done but not in that checkpoint (the goal: 0);
* ``newest before`` and ``kill loses``: the newest checkpoint on disk when the signal was sent,
  and what an immediate kill (the behaviour before issue 17, or SIGKILL now) would have lost;
* ``saved s`` and ``exit s``: wall seconds from the signal to the stop line (the step in flight
  finished, the checkpoint written and flushed) and to the process's exit (interpreter teardown).

Usage::

    python bench/preemption.py                          # 6 rounds, SIGTERM and SIGINT alternating
    python bench/preemption.py --rounds 10 --steps 20000 --every-steps 5000
"""

from __future__ import annotations

import argparse
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

import _common  # noqa: F401  (puts src/ on sys.path)
from _common import last_row_step, machine, newest_checkpoint, table

STOP_LINE = re.compile(
    r"stopped by (SIG\w+) \(received at env step ([\d,]+)\): checkpoint (\S+) holds env step "
    r"([\d,]+)"
)


def one_round(
    run: Path, overrides: list[str], signum: signal.Signals, target: int, delay: float
) -> list[str]:
    argv = [sys.executable, "-m", "hrrl.cli", "train", "--run-dir", str(run), "--quiet"]
    argv += ["--no-tensorboard", *(arg for item in overrides for arg in ("--set", item))]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    while last_row_step(run / "metrics.jsonl") < target:
        if proc.poll() is not None:
            raise SystemExit(f"the run ended before env step {target}: raise --steps")
        time.sleep(0.002)
    time.sleep(delay)
    before = newest_checkpoint(run)
    sent = time.perf_counter()
    proc.send_signal(signum)
    assert proc.stdout is not None
    out, saved_s = "", float("nan")
    for line in proc.stdout:  # the stop line is flushed once the checkpoint is on disk
        out += line
        if line.startswith("stopped by"):
            saved_s = time.perf_counter() - sent
    exit_s = time.perf_counter() - sent
    proc.wait()
    match = STOP_LINE.search(out)
    if proc.returncode != 128 + signum or match is None:
        raise SystemExit(f"unexpected end (exit {proc.returncode}):\n{out}")
    received, saved = (int(match.group(i).replace(",", "")) for i in (2, 4))
    return [
        signum.name,
        f"{received:,}",
        f"{saved:,}",
        f"{max(0, received - saved):,}",
        f"{before:,}",
        f"{received - before:,}",
        f"{saved_s:.2f}",
        f"{exit_s:.2f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--steps", type=int, default=12_000, help="train.total_env_steps")
    parser.add_argument("--every-steps", type=int, default=4_000, help="checkpoint.every_steps")
    parser.add_argument("--log-every", type=int, default=400, help="train.log_every")
    parser.add_argument("--seed", type=int, default=None, help="seed of the random moments")
    args = parser.parse_args()
    torch.set_num_threads(1)  # as every bench script; the runs themselves use train.threads=1
    seed = args.seed if args.seed is not None else random.randrange(2**31)
    rng = random.Random(seed)
    overrides = [
        f"train.total_env_steps={args.steps}",
        "puzzle.stop_success=null",
        f"train.log_every={args.log_every}",
        f"checkpoint.every_steps={args.every_steps}",
    ]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.rounds):
            signum = (signal.SIGTERM, signal.SIGINT)[i % 2]
            target = rng.randrange(args.log_every, args.steps * 3 // 4, args.log_every)
            delay = rng.uniform(0.0, 0.2)
            rows.append(one_round(Path(tmp) / f"run{i}", overrides, signum, target, delay))
    print(
        f"{machine()}; default preset, {args.steps:,} env steps, checkpoint every "
        f"{args.every_steps:,}; random moments from seed {seed}"
    )
    header = ["signal", "received", "saved", "lost", "newest before", "kill loses", "saved s"]
    header.append("exit s")
    print(table(header, rows))


if __name__ == "__main__":
    main()
