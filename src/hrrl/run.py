"""A run, assembled: the domain chosen from the config, the trainer built on it, resumed.

This is the application layer's one place that knows both domains: :func:`make_task` picks the
puzzle or the Gymnasium task from the config's task section, :func:`build_trainer` hands it to
the engine, and :func:`resume_run` (:func:`plan_resume`, :func:`restore_trainer`) continues a
run from a checkpoint (the file side of that, choosing and setting aside checkpoints, is
:mod:`hrrl.persistence.resume`).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hrrl.config import apply_overrides, diff
from hrrl.engine.callbacks import Callback
from hrrl.engine.distributed.config import actor_envs
from hrrl.engine.distributed.learner import DistributedTrainer
from hrrl.engine.networks import ACTION_SET_KINDS
from hrrl.engine.stop import StopRequest, stop_reason
from hrrl.engine.task import Task, TaskRule
from hrrl.engine.trainer import STOP_REQUESTED, Counters, RunSeeds, Trainer, TrainResult
from hrrl.errors import CheckpointError, ConfigError
from hrrl.experiment import ExperimentConfig, config_from_dict, load_config, puzzle_section
from hrrl.gym.config import is_atari
from hrrl.gym.task import GymTask, ReturnRule, register_spec, registered_spec
from hrrl.monitoring.logger import Logger, progress
from hrrl.persistence.payload import state_from_checkpoint
from hrrl.persistence.resume import (
    CONFIG_FILE,
    abandon_after,
    checkpoints_to_try,
    select_checkpoint,
)
from hrrl.persistence.store import LoadedCheckpoint, skip_checkpoint
from hrrl.puzzle.task import PuzzleRule, PuzzleTask

if TYPE_CHECKING:
    from gymnasium.envs.registration import EnvSpec


def make_task(config: ExperimentConfig, *, seed: int | None = None) -> Task:
    """The task the config's task section names; ``seed`` defaults to the run's task seed."""
    if seed is None:
        seed = RunSeeds.of(config.train.seed).task
    if config.gym is not None:
        check_gym_network(config)
        return GymTask(
            config.gym.id,
            num_envs=config.train.num_envs,
            seed=seed,
            eval_episodes=config.gym.eval_episodes,
            eval_seed=config.gym.eval_seed,
            vector=config.gym.vector,
            stop_return=config.gym.stop_return,
            clip_rewards=config.gym.clip_rewards,
            terminal_on_life_loss=config.gym.terminal_on_life_loss,
            eval_epsilon=config.gym.eval_epsilon,
        )
    return puzzle_task(config, seed=seed)


def actor_task(config: ExperimentConfig, spec: EnvSpec | None, *, seed: int) -> Task:
    """An Ape-X actor's task, in the actor's process: the env registered there as the learner's
    process registered it (an env class or function given to ``hrrl.train``, or registered by
    a module the learner imported) before it is made."""
    register_spec(spec)
    return make_task(config, seed=seed)


def actor_config(config: ExperimentConfig) -> ExperimentConfig:
    """``config`` with each Ape-X actor's number of envs as ``train.num_envs``."""
    envs = actor_envs(config.distributed, config.train.num_envs)
    return dataclasses.replace(config, train=dataclasses.replace(config.train, num_envs=envs))


#: Networks that read the number puzzle's encodings (a phase, one block per action).
PUZZLE_NETWORKS = ("phase_adaptive", "slots", "set")


def check_gym_network(config: ExperimentConfig) -> None:
    """Refuse a puzzle network on a Gymnasium task (``--preset default|baseline --env ID`` takes
    the preset's puzzle network along), and any network but the CNN on an Atari game, naming
    the networks that apply."""
    network = config.agent.network
    if network in PUZZLE_NETWORKS:
        raise ConfigError(
            f"agent.network={network!r} reads the number puzzle's encoding, not a Gymnasium "
            f"observation: set agent.network=mlp (vectors) or cnn (grids), or leave --preset "
            f"out to train {config.task_name} on its own tuned preset"
        )
    if config.gym is not None and is_atari(config.gym.id) and network != "cnn":
        raise ConfigError(
            f"agent.network={network!r} cannot read {config.gym.id}'s stacks of uint8 frames: "
            "set agent.network=cnn (the Nature CNN, the Atari preset's)"
        )


def run_trainer(
    trainer: Trainer,
    *,
    bar: bool | None = None,
    stop: StopRequest | None = None,
    callbacks: Sequence[Callback] = (),
) -> TrainResult:
    """:meth:`Trainer.run` under a tqdm bar over the run's budget (episodes when the config
    sets a number of them, else env steps); ``bar=None`` shows it on a terminal only, ``False``
    never. A run that stops before its budget says why on the bar."""
    tc, counters = trainer.config.train, trainer.counters
    budget, unit = (
        (tc.total_episodes, "episode")
        if tc.total_episodes is not None
        else (tc.total_env_steps, "step")
    )

    def done() -> int:  # a batch of envs can overshoot the budget by a few: the bar stops at it
        return min(
            counters.episodes if tc.total_episodes is not None else counters.env_steps, budget
        )

    with progress(budget, "train", unit=unit, disable=None if bar is None else not bar) as shown:
        shown.update(done())
        result = trainer.run(
            progress=lambda _steps: shown.update(done() - shown.n), stop=stop, callbacks=callbacks
        )
        budget_reason = "total_episodes" if tc.total_episodes is not None else "total_env_steps"
        if result.stop_reason not in (budget_reason, STOP_REQUESTED):
            shown.set_postfix_str(f"stopped early: {result.stop_reason}", refresh=True)
    return result


def task_rule(config: ExperimentConfig) -> TaskRule:
    """How the config's task ranks evaluations and when it is solved, without building it."""
    if config.gym is not None:
        return ReturnRule(config.gym.stop_return)
    return PuzzleRule(puzzle_section(config))


def puzzle_task(config: ExperimentConfig, *, seed: int | None = None) -> PuzzleTask:
    """The puzzle task of a puzzle config (a :class:`ConfigError` for a Gymnasium one)."""
    if seed is None:
        seed = RunSeeds.of(config.train.seed).task
    return PuzzleTask(
        puzzle_section(config),
        num_envs=config.train.num_envs,
        gamma=config.agent.gamma,
        seed=seed,
        width_free=config.agent.network in ACTION_SET_KINDS,
    )


def build_trainer(
    config: ExperimentConfig,
    *,
    run_dir: Path | None = None,
    logger: Logger | None = None,
    ray_address: str | None = None,
) -> Trainer:
    """A trainer on the config's task, seeded from ``train.seed``: with
    ``distributed.actors``, the learner of Ape-X actors on the local Ray or the cluster at
    ``ray_address``, each actor building its own copy of the task."""
    task = make_task(config)
    if config.distributed.actors:
        spec = None if config.gym is None else registered_spec(config.gym.id)
        return DistributedTrainer(
            config,
            task=task,
            make_task=functools.partial(actor_task, actor_config(config), spec),
            run_dir=run_dir,
            logger=logger,
            ray_address=ray_address,
        )
    return Trainer(config, task=task, run_dir=run_dir, logger=logger)


@dataclass(frozen=True)
class ResumePlan:
    """What :func:`plan_resume` decided: where to start, with which config, what was set aside."""

    run_dir: Path
    checkpoint: LoadedCheckpoint
    config: ExperimentConfig
    changes: list[str]
    """``key: old -> new`` for every config field that differs from the checkpoint's."""
    abandoned: Path | None
    """Folder that received the checkpoints (and metric rows) after the resume point, if any."""
    abandoned_steps: list[int]
    finished: str | None = None
    """The stop reason the checkpoint's state already meets under ``config`` (the run is done:
    resuming it would train nothing), or None."""


def config_changes(saved: dict[str, object], config: ExperimentConfig) -> list[str]:
    """``key: saved -> new`` for every leaf where ``config`` differs from a checkpoint's config."""
    try:
        before = config_from_dict(saved)
    except ConfigError as exc:
        raise CheckpointError(f"the checkpoint's saved config no longer loads: {exc}") from exc
    return diff(before, config)


def plan_resume(
    run_dir: Path | str,
    *,
    from_step: int | None = None,
    overrides: Sequence[str] = (),
    allow_config_change: bool = False,
    set_aside: bool = True,
) -> ResumePlan:
    """Choose the checkpoint, check the config, then set the abandoned timeline aside.

    Nothing on disk changes before the checks pass: a refused resume leaves the run as it was.
    Nor does anything change for a finished run (``plan.finished``), or with ``set_aside=False``
    (then :func:`set_aside_later` does it, once the trainer is restored: ``hrrl resume``).
    """
    run = Path(run_dir)
    plan = plan_from(
        run,
        select_checkpoint(run, from_step),
        overrides=overrides,
        allow_config_change=allow_config_change,
    )
    return set_aside_later(plan) if set_aside and plan.finished is None else plan


def plan_from(
    run: Path,
    checkpoint: LoadedCheckpoint,
    *,
    overrides: Sequence[str] = (),
    allow_config_change: bool = False,
) -> ResumePlan:
    """The plan of a resume from ``checkpoint``: its config checked against the run's, and
    whether the run is finished. A config that drifted is a :class:`ConfigError`; a state that
    does not read, a :class:`CheckpointError`."""
    saved = checkpoint.state.get("config")
    if not isinstance(saved, dict):
        raise CheckpointError(f"{checkpoint.path} holds no run config: not an hrrl training run")
    config_file = run / CONFIG_FILE
    base = load_config(config_file) if config_file.is_file() else config_from_dict(saved)
    config = apply_overrides(base, overrides)
    changes = config_changes(saved, config)
    if changes and not allow_config_change:
        raise ConfigError(
            f"the config differs from {checkpoint.path.name}'s: {'; '.join(changes)}; resume "
            "with the saved config, or pass --allow-config-change to continue with these changes"
        )
    state = checkpoint.state
    try:
        finished = stop_reason(
            config.train,
            Counters.restore(state, task_rule(config)),
            elapsed=float(state["logger"]["elapsed"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{checkpoint.path}: its trainer state is incomplete: {exc}") from exc
    return ResumePlan(
        run_dir=run,
        checkpoint=checkpoint,
        config=config,
        changes=changes,
        abandoned=None,
        abandoned_steps=[],
        finished=finished,
    )


def resume_run(
    run_dir: Path | str,
    *,
    from_step: int | None = None,
    overrides: Sequence[str] = (),
    allow_config_change: bool = False,
    logger: Logger | None = None,
    ray_address: str | None = None,
) -> tuple[ResumePlan, Trainer | None]:
    """The plan and its restored trainer, from the newest checkpoint that both verifies and
    restores (or from the one at ``from_step``); the trainer is None for a finished run.

    A checkpoint that verifies but whose state does not plan or restore is skipped with a
    warning saying why (:class:`~hrrl.persistence.store.CheckpointWarning`), and the next older
    one is tried. A config that drifted, or a restore that fails under a changed config, is not
    the checkpoint's fault: refused at once. Nothing on disk changes (:func:`set_aside_later`
    sets the later timeline aside).
    """
    run = Path(run_dir)
    for checkpoint in checkpoints_to_try(run, from_step):
        plan: ResumePlan | None = None
        try:
            plan = plan_from(
                run, checkpoint, overrides=overrides, allow_config_change=allow_config_change
            )
            trainer = (
                None
                if plan.finished is not None
                else restore_trainer(plan, logger=logger, ray_address=ray_address)
            )
        except CheckpointError as exc:
            if from_step is not None or (plan is not None and plan.changes):
                raise
            skip_checkpoint(checkpoint.path, exc)
            continue
        return plan, trainer
    raise CheckpointError(f"no checkpoint of {run} restores (each one is named above with why)")


def set_aside_later(plan: ResumePlan) -> ResumePlan:
    """Move the checkpoints and log rows after the plan's checkpoint aside (one timeline)."""
    folder, moved = abandon_after(plan.run_dir, plan.checkpoint.step)
    return dataclasses.replace(plan, abandoned=folder, abandoned_steps=moved)


def restore_trainer(
    plan: ResumePlan, *, logger: Logger | None = None, ray_address: str | None = None
) -> Trainer:
    """A trainer in exactly the state of the plan's checkpoint, writing into the same run (a
    distributed run's learner; its actors start new episodes)."""
    trainer = build_trainer(
        plan.config, run_dir=plan.run_dir, logger=logger, ray_address=ray_address
    )
    ck = plan.checkpoint
    try:
        trainer.load_state_dict(state_from_checkpoint(ck.state, ck.tensors, ck.arrays))
    except (KeyError, ValueError, RuntimeError, TypeError, CheckpointError) as exc:
        close_task(trainer.task)
        why = "with the changed config" if plan.changes else "(the checkpoint is incomplete)"
        raise CheckpointError(f"cannot continue from {ck.path} {why}: {exc}") from exc
    if trainer.checkpoints is not None:
        trainer.checkpoints.saved_at(ck.step, ck.path)  # a stop right away saves nothing new
    return trainer


def close_task(task: Task) -> None:
    """Release what a task holds outside the process (an async Gymnasium task's workers);
    the puzzle holds nothing and has no ``close``."""
    close = getattr(task, "close", None)
    if close is not None:
        close()
