"""Two ``hrrl tune`` processes on one study file, one of them killed with SIGKILL mid-trial.

Each round starts two real ``hrrl tune`` commands on the same ``--out`` (its SQLite file), with
their own ``--sampler-seed``, and waits for them; in the ``kill`` round, once the study holds a
few finished trials, the first process is sent SIGKILL while it runs a trial, and after the other
one ends a third ``hrrl tune`` (the same command) resumes the study. The table gives, per round:

* ``finished``: complete or pruned trials when the two processes are done (then after the
  resume, for the kill round); the goal is exactly ``--trials``;
* ``distinct``: how many distinct parameter sets those finished trials ran (no work twice);
* ``failed``: trials marked failed (a killed process's trial once its heartbeat went silent,
  or one sampled past the count in a race, failed before it trained);
* ``rerun``: failed trials whose parameters ran again to the end;
* ``wall s``: the round's wall time.

Usage::

    python bench/tune_processes.py                        # 8 trials of CartPole, 4,000 steps
    python bench/tune_processes.py --trials 12 --budget-steps 6000
"""

from __future__ import annotations

import argparse
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna

import _common  # noqa: F401  (puts src/ on sys.path)
from _common import machine, table
from hrrl.studies.tune import sqlite_url


def _states(db: Path) -> list[str]:
    """The study's trial states, read with sqlite3 (a process may be creating the file)."""
    if not db.exists():
        return []
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:
            return [row[0] for row in con.execute("SELECT state FROM trials")]
    except sqlite3.Error:
        return []


def _round(args: argparse.Namespace, out: Path, kill: bool) -> list[str]:
    command = [sys.executable, "-m", "hrrl.cli", "tune", "--env", args.env]
    command += ["--trials", str(args.trials), "--seeds", "1", "--out", str(out)]
    command += ["--budget-steps", str(args.budget_steps), "--heartbeat", "2"]
    start = time.perf_counter()
    procs = [
        subprocess.Popen([*command, "--sampler-seed", str(seed)], stdout=subprocess.DEVNULL)
        for seed in (0, 1)
    ]
    if kill:
        db = out / "study.db"
        while _states(db).count("COMPLETE") + _states(db).count("PRUNED") < args.trials // 3:
            time.sleep(0.1)
        time.sleep(1.0)  # the first process is inside a trial that has beaten its heart
        procs[0].send_signal(signal.SIGKILL)
    codes = [proc.wait() for proc in procs]
    if kill:
        time.sleep(6.5)  # three missed heartbeats: the killed trial is stale
        codes.append(
            subprocess.run([*command, "--sampler-seed", "2"], stdout=subprocess.DEVNULL).returncode
        )
    wall = time.perf_counter() - start
    study = optuna.load_study(study_name=out.name, storage=sqlite_url(out))
    done = [t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")]
    failed = [t for t in study.trials if t.state.name == "FAIL"]
    rerun = [t for t in done if "failed_trial" in t.system_attrs]
    return [
        "kill -9 + resume" if kill else "two processes",
        " ".join(str(code) for code in codes),
        f"{len(done)}/{args.trials}",
        str(len({tuple(sorted(t.params.items())) for t in done})),
        str(len(failed)),
        str(len(rerun)),
        f"{wall:.1f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--budget-steps", type=int, default=4000)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kill in (False, True):
            rows.append(_round(args, Path(tmp) / ("kill" if kill else "plain"), kill))
    print(machine())
    print(f"{args.env}, --trials {args.trials}, 1 seed of {args.budget_steps:,} steps a trial")
    header = ["round", "exit codes", "finished", "distinct", "failed", "rerun", "wall s"]
    print(table(header, rows))


if __name__ == "__main__":
    main()
