"""``hrrl resume RUN_DIR``: continue a run from its newest valid checkpoint, exactly.

A run killed at any moment (even mid-save) and resumed ends with the weights an uninterrupted
run of the same seed and config would have. ``--from STEP`` rolls back to an earlier checkpoint;
checkpoints after it are moved to ``checkpoints/abandoned-<time>/`` (see :mod:`hrrl.persistence.resume`).
A finished run is left untouched (say so, exit 0) unless ``--set`` raises the limit that stopped
it; SIGTERM / SIGINT stop the resumed run at a checkpoint as in ``hrrl train``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from hrrl.commands.checkpoints import finite_number
from hrrl.commands.signals import GracefulStop
from hrrl.commands.train import add_ray_argument, console_keys, train_and_report, warn_stale_lock

if TYPE_CHECKING:
    from hrrl.engine.trainer import Trainer
    from hrrl.monitoring.logger import Logger
    from hrrl.run import ResumePlan


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "resume",
        help="continue a run from its newest valid checkpoint (or --from STEP)",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="runs/<name> directory")
    parser.add_argument(
        "--from",
        dest="from_step",
        type=int,
        metavar="STEP",
        help="roll back to the checkpoint at this env step (later ones are set aside)",
    )
    parser.add_argument(
        "--allow-config-change",
        action="store_true",
        help="continue even though the config differs from the checkpoint's (lists the changes)",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one field of the run's config.yaml (a change needs --allow-config-change)",
    )
    add_ray_argument(parser)
    parser.add_argument("--no-tensorboard", action="store_true", help="skip the TensorBoard sink")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or console lines")
    parser.set_defaults(func=run)


def _resume(args: argparse.Namespace, logger: Logger) -> tuple[ResumePlan, Trainer | None]:
    """``resume_run``, with each skipped checkpoint printed as one warning line on stderr.

    The store both logs and warns about a skipped checkpoint; here the warning is printed and
    a NullHandler keeps Python's last-resort log handler from printing the same line again.
    """
    from hrrl.persistence import store as checkpoint
    from hrrl.persistence.store import CheckpointWarning
    from hrrl.run import resume_run

    quiet_log = logging.NullHandler()
    store_log = logging.getLogger(checkpoint.__name__)
    store_log.addHandler(quiet_log)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CheckpointWarning)
        try:
            return resume_run(
                args.run_dir,
                from_step=args.from_step,
                overrides=args.overrides,
                allow_config_change=args.allow_config_change,
                logger=logger,
                ray_address=args.ray or None,
            )
        finally:
            store_log.removeHandler(quiet_log)
            for warning in caught:
                print(f"hrrl resume: warning: {warning.message}", file=sys.stderr)


#: What to raise (``--set``) to train on after each stop reason of a finished run.
EXTEND_HINT = {
    "total_env_steps": "train.total_env_steps=N",
    "total_episodes": "train.total_episodes=N",
    "max_wall_seconds": "train.max_wall_seconds=S",
    "solved": "puzzle.stop_success=null (a Gymnasium run: gym.stop_return=null)",
    "early_stop_patience": "train.early_stop_patience=null",
}


def run(args: argparse.Namespace) -> int:
    """Lock the run, plan, restore the trainer in memory, then set aside the later timeline.

    A finished run is left as it is, byte for byte (the lock file is emptied again on release).
    """
    from hrrl.monitoring.logger import Logger, make_sinks
    from hrrl.persistence.run_dir import RunDirectory
    from hrrl.run import set_aside_later

    with GracefulStop("resume") as stop, RunDirectory.open(args.run_dir) as directory:
        warn_stale_lock("resume", directory)
        logger = Logger([])
        plan, trainer = _resume(args, logger)
        if args.ray is not None and not plan.config.distributed.actors:
            raise ValueError(f"--ray runs Ape-X actors, and {args.run_dir} was trained without")
        ck = plan.checkpoint
        if trainer is None:
            hint = EXTEND_HINT.get(plan.finished or "", "the limit that stopped it")
            print(
                f"{plan.run_dir} is finished ({plan.finished} reached at env step {ck.step:,}, "
                f"{ck.path.name}): nothing to resume, nothing written. To train on: hrrl resume "
                f"{plan.run_dir} --allow-config-change --set {hint}"
            )
            return 0
        plan = set_aside_later(plan)
        shown = _evaluation_note(ck.metrics)
        print(f"resuming {plan.run_dir} from {ck.path.name} (env step {ck.step:,}{shown})")
        if plan.abandoned is not None:
            steps = ", ".join(map(str, plan.abandoned_steps)) or "none"
            print(f"set aside (later timeline): checkpoints {steps} -> {plan.abandoned}")
        if plan.changes:
            print("config changes (--allow-config-change):")
            for change in plan.changes:
                print(f"  {change}")
        # TensorBoard hides the abandoned timeline's events after the checkpoint's step.
        sinks = make_sinks(
            plan.run_dir,
            tensorboard=not args.no_tensorboard,
            console=not args.quiet,
            purge_step=ck.step + 1,
            console_keys=console_keys(plan.config),
        )
        logger.attach(sinks)
        with logger:
            trainer.write_config()
            detail = f"from {ck.path.name}" + (
                f"; changed: {'; '.join(plan.changes)}" if plan.changes else ""
            )
            logger.log_event("resume", detail, ck.step)
            stop.arm(lambda: trainer.counters.env_steps)
            directory.started()
            return train_and_report(trainer, quiet=args.quiet, stop=stop)


def _evaluation_note(metrics: Mapping[str, object]) -> str:
    """``, eval mean return R`` (a Gymnasium run) or ``, eval success S`` (a puzzle run) for a
    checkpoint whose policy was evaluated; nothing for one that was not (or a figure that is
    not a finite number)."""
    for key, label, fmt in (
        ("eval/mean_return", "eval mean return", ".1f"),
        ("eval/success_rate", "eval success", ".3f"),
    ):
        value = finite_number(metrics.get(key))
        if value is not None:
            return f", {label} {value:{fmt}}"
    return ""
