"""``hrrl train``: train a preset (plus overrides) and write a run directory (design §4).

The directory is whole or absent (nothing is written before the config, the environment and
the device are checked), has one writer (``.lock``), and SIGTERM / SIGINT end the run with a
checkpoint at the current step (:mod:`hrrl.commands.signals`).
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

from hrrl.commands import GYM_PRESET_NAMES, PRESET_NAMES, check_seed
from hrrl.commands.signals import GracefulStop
from hrrl.config import check_int
from hrrl.errors import RunFailedError

if TYPE_CHECKING:
    from hrrl.engine.task import TaskStepError
    from hrrl.engine.trainer import Trainer, TrainResult
    from hrrl.experiment import ExperimentConfig
    from hrrl.persistence.run_dir import RunDirectory


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train an agent (default preset: every fix on)",
        description="Train a preset, write runs/<name>/ (config, metrics, TensorBoard, "
        "checkpoints). Every field --set can change, with what it means: hrrl config show.",
    )
    add_config_arguments(parser)
    parser.add_argument(
        "--run-dir",
        type=Path,
        help="run directory (default runs/<preset>-seed<seed>-<YYYYmmdd-HHMMSS>)",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        metavar="N",
        help="train each seed, into RUN_DIR/seed<N> (not with --seed)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="with --seeds: train this many seeds at once, one process each (default 1: in turn)",
    )
    parser.add_argument(
        "--actors",
        type=int,
        metavar="N",
        help="collect with N Ape-X actors on Ray feeding this process's learner (shortcut for "
        "--set distributed.actors=N; README, 'One run on many machines')",
    )
    add_ray_argument(parser)
    parser.add_argument("--no-tensorboard", action="store_true", help="skip the TensorBoard sink")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or console lines")
    parser.set_defaults(func=run)


def add_ray_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="the Ray cluster the actors run on (ray start --head prints its ADDRESS); without "
        "ADDRESS, or without --ray, a local Ray is started for the run",
    )


def ray_address(args: argparse.Namespace, config: ExperimentConfig) -> str | None:
    """``--ray``'s cluster address (None: a local Ray); refused for a run without actors."""
    if args.ray is not None and not config.distributed.actors:
        raise ValueError("--ray runs Ape-X actors: give --actors N (or distributed.actors)")
    return args.ray or None


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags that choose a config (read by :func:`resolve_config`): preset, Gymnasium id,
    config file, ``--set`` overrides and the seed shortcut."""
    parser.add_argument(
        "--preset",
        choices=(*PRESET_NAMES, *GYM_PRESET_NAMES),
        help="starting config (default: 'default', the --config file's own, or the --env one; "
        "atari-100k: a data-efficient DQN for 100k steps of an Atari game, with --env)",
    )
    parser.add_argument(
        "--env",
        metavar="ID",
        help="train on a Gymnasium id (discrete actions; Box or Discrete observations) instead "
        "of the puzzle, your own as module:Id (imports module, which registers Id); "
        "CartPole-v1, Acrobot-v1, MountainCar-v0, LunarLander-v3 and MinAtar/{Breakout,Asterix,"
        "Freeway,Seaquest,SpaceInvaders}-v1 start from tuned presets",
    )
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="a YAML config (whole, or only the fields to change) laid over its preset",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one field, e.g. --set agent.lr=3e-4 (repeatable; applied last)",
    )
    parser.add_argument("--seed", type=int, help="shortcut for --set train.seed=N")


def resolve_config(args: argparse.Namespace) -> ExperimentConfig:
    """The preset (--preset, the --config file's own, or the --env one), then the --config file
    over it, then every --set, then --seed."""
    from hrrl.config import apply_overrides
    from hrrl.experiment import gym_preset, named_preset, read_config_file

    check_seed(args.seed)
    env_id = getattr(args, "env", None)
    name = args.preset
    if args.config:
        if name in GYM_PRESET_NAMES and env_id is not None:
            name = f"{name}:{env_id}"  # the name a run of that preset records
        config = read_config_file(args.config, preset_name=name)
    elif env_id is not None:
        config = gym_preset(env_id, base=name)
    else:
        config = named_preset(name or "default")  # a Gymnasium preset without --env: refused
    overrides = list(args.overrides)
    if env_id is not None and args.config:
        overrides += ["puzzle=null", f"gym={{id: {env_id}}}"]
    if args.seed is not None:
        overrides.append(f"train.seed={args.seed}")
    if getattr(args, "actors", None) is not None:
        overrides.append(f"distributed.actors={args.actors}")
    return apply_overrides(config, overrides)


def run(args: argparse.Namespace) -> int:
    """One run, or with ``--seeds`` one run per seed (each seed's directory is
    ``RUN_DIR/seed<N>``): one after another, where the first run that fails ends the command
    with its status; or ``--workers`` at once, each in its own process and quiet, then one line
    a seed (the status is the first failure's)."""
    check_int("--workers", args.workers, low=1, high=64)
    if args.seeds is None:
        if args.workers != 1:
            raise ValueError("--workers trains several --seeds at once: give --seeds N [N ...]")
        return train_one(args)
    if args.seed is not None:
        raise ValueError("give --seed N (one run) or --seeds N [N ...] (one run each), not both")
    if len(set(args.seeds)) != len(args.seeds):
        raise ValueError(f"--seeds {' '.join(map(str, args.seeds))}: give distinct seeds")
    for seed in args.seeds:
        check_seed(seed, "--seeds")
    base = args.run_dir or Path("runs") / (
        f"{resolve_config(args).preset}-seeds-{time.strftime('%Y%m%d-%H%M%S')}"
    )
    runs = {
        seed: argparse.Namespace(**{**vars(args), "seed": seed, "run_dir": base / f"seed{seed}"})
        for seed in args.seeds
    }
    if args.workers == 1:
        for one in runs.values():
            if (code := train_one(one)) != 0:
                return code
        return 0
    return _train_in_parallel(runs, args.workers)


def _train_in_parallel(runs: dict[int, argparse.Namespace], workers: int) -> int:
    """Each seed's run in a process of its own (``spawn``: a fresh interpreter, no inherited
    locks or threads), quiet; one line a seed as each finishes."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    quiet = {seed: argparse.Namespace(**{**vars(one), "quiet": True}) for seed, one in runs.items()}
    codes: dict[int, int] = {}
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {pool.submit(_train_quietly, one): seed for seed, one in quiet.items()}
        for future in as_completed(futures):
            seed = futures[future]
            codes[seed], line = future.result()
            print(f"seed {seed}: {line}", flush=True)
    return next((codes[s] for s in runs if codes[s] != 0), 0)


def _train_quietly(args: argparse.Namespace) -> tuple[int, str]:
    """``train_one`` in a worker: its exit status and one line (where the run is, or why not)."""
    from hrrl.errors import HrrlError

    try:
        code = train_one(args)
    except (HrrlError, ValueError, OSError) as exc:
        return getattr(exc, "exit_code", 2), f"error: {' '.join(str(exc).split())}"
    return code, f"{'done' if code == 0 else f'exit {code}'}: {args.run_dir}"


def train_one(args: argparse.Namespace) -> int:
    """Check and build everything in memory, then create the run directory and train.

    The config, the environment and the device are checked (the trainer is built) before the
    directory exists; until ``config.yaml`` and the logs are in place a failure removes it again
    (:class:`~hrrl.persistence.run_dir.RunDirectory`).
    """
    from hrrl.monitoring.logger import Logger, make_sinks
    from hrrl.persistence.run_dir import RunDirectory, check_new_run_dir
    from hrrl.run import build_trainer

    with GracefulStop("train") as stop:
        config = resolve_config(args)
        run_dir = args.run_dir or Path("runs") / (
            f"{config.preset}-seed{config.train.seed}-{time.strftime('%Y%m%d-%H%M%S')}"
        )
        check_new_run_dir(run_dir)
        logger = Logger([])
        trainer = build_trainer(
            config, run_dir=run_dir, logger=logger, ray_address=ray_address(args, config)
        )
        with RunDirectory.create(run_dir) as directory:
            warn_stale_lock("train", directory)
            logger.attach(
                make_sinks(
                    run_dir,
                    tensorboard=not args.no_tensorboard,
                    console=not args.quiet,
                    console_keys=console_keys(config),
                )
            )
            with logger:
                trainer.write_config()
                stop.arm(lambda: trainer.counters.env_steps)  # a signal now stops at a checkpoint
                directory.started()
                return train_and_report(trainer, quiet=args.quiet, stop=stop)


def console_keys(config: ExperimentConfig) -> tuple[str, ...]:
    """What the console line of a run on ``config``'s task shows."""
    from hrrl.monitoring.sinks import CONSOLE_KEYS, GYM_CONSOLE_KEYS

    return CONSOLE_KEYS if config.gym is None else GYM_CONSOLE_KEYS


def warn_stale_lock(command: str, directory: RunDirectory) -> None:
    note = directory.lock.stale_holder_note()
    if note is not None:
        print(f"hrrl {command}: warning: {note}", file=sys.stderr)


def train_and_report(trainer: Trainer, *, quiet: bool, stop: GracefulStop | None = None) -> int:
    """Run the trainer under a progress bar over its budget and print where the best checkpoint
    is (with ``quiet``, only a failed checkpoint's warning, on stderr).

    With ``stop`` (the command's signal handlers) a signal ends the run at a checkpoint: one line
    names it, and the exit status is ``128 + signal`` (143 for SIGTERM, 130 for SIGINT).
    """
    from hrrl.engine.task import TaskStepError
    from hrrl.run import run_trainer

    request = stop.arm(lambda: trainer.counters.env_steps) if stop is not None else None
    try:
        result = run_trainer(trainer, bar=False if quiet else None, stop=request)
    except TaskStepError as exc:
        raise RunFailedError(env_failure_line(trainer, exc)) from exc
    if stop is not None and stop.exit_code is not None:
        print(stop_line(trainer, result, stop), flush=True)  # out before a grace period ends
        return stop.exit_code
    manager = trainer.checkpoints
    if manager is not None and manager.config.enabled:
        if result.checkpoint is None:
            raise RunFailedError(unsaved_line(trainer, result))
        if manager.failures:
            steps = sorted({failure.step for failure in manager.failures})
            shown = ", ".join(f"{s:,}" for s in steps[:5]) + (", ..." if len(steps) > 5 else "")
            print(
                f"warning: {len(steps)} checkpoint save(s) failed during the run (env steps "
                f"{shown}); the final state is saved in {result.checkpoint}",
                file=sys.stderr,
            )
    if quiet:
        return 0
    best = result.best_metrics
    print(
        f"stopped: {result.stop_reason} after {result.counters.env_steps:,} env steps, "
        f"{result.counters.episodes:,} episodes, {result.counters.updates:,} updates, "
        f"{result.wall_seconds:.1f} s"
    )
    if best:
        when = result.best_wall_seconds or 0.0
        if "eval/mean_return" in best:  # a Gymnasium task: its return says how well it plays
            what = f"mean return {best['eval/mean_return']:.1f}"
            if "eval/return_std" in best:
                what += f" +/- {best['eval/return_std']:.1f}"
        else:
            what = (
                f"success {best.get('eval/success_rate', float('nan')):.3f}, "
                f"efficiency {best.get('eval/efficiency', float('nan')):.4f}"
            )
        print(f"best evaluation: {what} (at {when:.1f} s)")
    if trainer.run_dir is not None:
        where = f"run directory: {trainer.run_dir}"
        best_link = trainer.run_dir / "checkpoints" / "best"
        if best_link.exists():
            where += f"  (best checkpoint: {best_link})"
        print(where)
    return 0


#: The traceback of an environment that raised, in the run directory (the error line names it).
ENV_ERROR_FILE = "env_error.txt"


def env_failure_line(trainer: Trainer, error: TaskStepError) -> str:
    """The one line of a run whose environment raised: which env, what, where the run is saved.

    The full traceback goes to :data:`ENV_ERROR_FILE` in the run directory (appended)."""
    task = getattr(trainer.config, "task_name", "the task")
    head = f"the environment {task} raised {error} at env step {error.env_step:,}"
    if trainer.run_dir is not None:
        trace = "".join(traceback.format_exception(error.cause))
        with (trainer.run_dir / ENV_ERROR_FILE).open("a", encoding="utf-8") as handle:
            handle.write(f"env step {error.env_step}: {trace}\n")
        head += f" (traceback: {trainer.run_dir / ENV_ERROR_FILE})"
    if error.checkpoint is not None:
        fresh = " with new episodes" if error.during == "training" else ""
        return (
            f"{head}; the last whole step is saved in {error.checkpoint}: `hrrl resume "
            f"{trainer.run_dir}` goes on from it{fresh}"
        )
    manager = trainer.checkpoints
    if manager is None or not manager.config.enabled:
        return f"{head}; nothing saved (checkpoint.enabled=false)"
    kept = manager.last_saved or "none"
    return f"{head}; its checkpoint could not be saved either, the newest one on disk is {kept}"


def unsaved_line(trainer: Trainer, result: TrainResult) -> str:
    """The error line of a run whose final checkpoint could not be saved: why, and what is left."""
    manager = trainer.checkpoints
    assert manager is not None
    step = result.counters.env_steps
    why = manager.failures[-1].error if manager.failures else "unknown error"
    head = f"the final state (env step {step:,}) could not be saved: {why}"
    if manager.last_saved is None:
        return (
            f"{head}; no checkpoint of this run is on disk, so there is nothing to resume: free "
            f"space and train again (remove {trainer.run_dir} first, or give another --run-dir)"
        )
    return (
        f"{head}; the newest checkpoint on disk is {manager.last_saved} (env step "
        f"{manager.last_saved_step:,}): free space and `hrrl resume {trainer.run_dir}` goes on "
        "from it"
    )


def stop_line(trainer: Trainer, result: TrainResult, stop: GracefulStop) -> str:
    """The one line a run stopped by a signal prints: which checkpoint holds it, how to go on."""
    step = result.counters.env_steps
    head = f"stopped by {stop.signal_name} (received at env step {stop.received_at:,})"
    from hrrl.engine.trainer import STOP_REQUESTED

    done = "" if result.stop_reason == STOP_REQUESTED else f", run finished ({result.stop_reason})"
    again = f"; continue with `hrrl resume {trainer.run_dir}`" if not done else ""
    if result.checkpoint is not None:
        return f"{head}: checkpoint {result.checkpoint} holds env step {step:,}{done}{again}"
    manager = trainer.checkpoints
    if manager is None or not manager.config.enabled:
        return f"{head}: nothing saved at env step {step:,} (checkpoint.enabled=false)"
    failure = manager.failures[-1].error if manager.failures else "unknown error"
    kept = manager.last_saved or "none"
    return (
        f"{head}: the checkpoint at env step {step:,} failed ({failure}); the newest one on disk "
        f"is {kept}{again}"
    )
