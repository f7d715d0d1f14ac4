"""Training from Python: ``hrrl.train(config) -> Run``, what ``hrrl train`` does without the CLI.

::

    run = hrrl.train("default", run_dir="runs/demo")     # a preset name, a mapping or a config
    run.stop_reason, run.env_steps, run.best_metrics     # what the run reached
    run.policy().solve(hrrl.Puzzle(target=10, forbidden=[3]))
    hrrl.train({"gym": {"id": "CartPole-v1"}}).gym_policy().evaluate(episodes=10)

A config given as a mapping is composed like ``--config``: its preset (its own ``preset`` field,
or ``default``) first, then the mapping over it (:func:`hrrl.experiment.compose_config`).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from hrrl.config import apply_overrides, to_dict
from hrrl.engine.callbacks import Callback
from hrrl.engine.trainer import Trainer, TrainResult
from hrrl.errors import ConfigError, EnvironmentMismatchError
from hrrl.experiment import (
    ExperimentConfig,
    compose_config,
    gym_preset,
    named_preset,
    puzzle_section,
)
from hrrl.gym.config import GymConfig
from hrrl.inference.gym_policy import GymPolicy
from hrrl.inference.policy import Policy
from hrrl.monitoring.logger import Logger, make_sinks
from hrrl.persistence.run_dir import RunDirectory, check_new_run_dir
from hrrl.run import build_trainer, run_trainer

#: ``Policy.source`` of a policy taken from a run that kept no files.
IN_MEMORY = Path("<in memory>")


@dataclass(frozen=True)
class Run:
    """A finished training run: its config, where its files are, and what it reached."""

    config: ExperimentConfig
    """The config that ran (what ``config.yaml`` holds when there is a run directory)."""
    run_dir: Path | None
    """The run directory (config.yaml, metrics.jsonl, checkpoints/); None: nothing was written."""
    result: TrainResult
    """The trainer's own account: counters, best and last evaluation, evaluation history."""
    trainer: Trainer
    """The trainer, still holding the final networks, replay and state."""

    def __repr__(self) -> str:
        where = "in memory" if self.run_dir is None else str(self.run_dir)
        best = self.result.best_metrics
        score = (
            f"best eval return {best['eval/mean_return']:.1f}"
            if "eval/mean_return" in best
            else f"best eval success {best.get('eval/success_rate', float('nan')):.3f}"
        )
        return (
            f"Run({self.config.task_name}, seed {self.config.train.seed}: {self.stop_reason} "
            f"after {self.env_steps:,} env steps, {score}; {where})"
        )

    @property
    def stop_reason(self) -> str:
        """Why training stopped: ``total_env_steps``, ``solved`` (the task's stop rule), ..."""
        return self.result.stop_reason

    @property
    def env_steps(self) -> int:
        return self.result.counters.env_steps

    @property
    def best_metrics(self) -> dict[str, float]:
        """The best evaluation's metrics (``eval/success_rate``, ``eval/efficiency``, ...)."""
        return self.result.best_metrics

    def policy(self) -> Policy:
        """The puzzle policy: the ``best`` checkpoint when the run kept files, else the final
        online network (a :class:`ConfigError` for a Gymnasium run)."""
        section = puzzle_section(self.config)
        if self.run_dir is not None and self.config.checkpoint.enabled:
            return Policy.load(self.run_dir)
        weights = {
            k: v.detach().cpu().clone() for k, v in self.trainer.agent.online.state_dict().items()
        }
        return Policy.from_parts(
            to_dict(section),
            to_dict(self.config.agent),
            weights,
            self.trainer.task.obs_dim,
            source=IN_MEMORY,
        )

    def gym_policy(self) -> GymPolicy:
        """The Gymnasium policy: the ``best`` checkpoint when the run kept files, else the final
        online network (an :class:`EnvironmentMismatchError` for a puzzle run)."""
        if self.config.gym is None:
            raise EnvironmentMismatchError(
                "this run trained on the number puzzle, not a Gymnasium task: use run.policy()"
            )
        if self.run_dir is not None and self.config.checkpoint.enabled:
            return GymPolicy.load(self.run_dir, env_id=self.config.gym.id)  # the id it trained
        network = copy.deepcopy(self.trainer.agent.online).cpu()
        task = self.trainer.task
        return GymPolicy(
            network=network,
            env_id=self.config.gym.id,
            source=IN_MEMORY,
            obs_shape=task.obs_shape,
            n_actions=task.n_actions,
        )


def as_config(config: ExperimentConfig | str | Mapping[str, Any]) -> ExperimentConfig:
    """An :class:`ExperimentConfig` from a config, a preset name or a (partial) mapping."""
    if isinstance(config, ExperimentConfig):
        return config
    if isinstance(config, str):
        return named_preset(config)
    if isinstance(config, Mapping):
        return compose_config(config, source="the config mapping")
    raise ConfigError(
        f"config={config!r} is invalid: give an ExperimentConfig, a preset name ('default') or "
        "a mapping of sections"
    )


if TYPE_CHECKING:
    from gymnasium.vector import VectorEnv

    #: What ``hrrl.train(env=...)`` takes: a Gymnasium id, an env class, a function returning an
    #: env, or a ``gymnasium.vector`` env (:func:`hrrl.gym.vector.vector_source`).
    EnvSource: TypeAlias = str | Callable[..., Any] | VectorEnv[Any, Any, Any]


def on_env(config: ExperimentConfig | str | Mapping[str, Any], env: EnvSource) -> ExperimentConfig:
    """``config`` retargeted to ``env`` (as ``hrrl train --env ID [--config FILE]`` does): a
    preset name or ``default`` becomes ``env``'s own preset, a mapping is laid over it, a config
    keeps its sections with ``gym.id`` set. A class or function is registered first
    (:func:`register_env`). A ``gymnasium.vector`` env also sets ``train.num_envs`` and
    ``gym.vector`` to its own: hrrl builds its own copies of it (to seed and checkpoint each),
    and leaves the instance, open, to its owner."""
    import gymnasium

    vector = None
    if isinstance(env, gymnasium.vector.VectorEnv):
        from hrrl.gym.vector import vector_source

        vector = vector_source(env)
        source, name = vector.env, vector.name
    elif isinstance(env, str) or callable(env):
        source, name = env, None
    else:
        raise ConfigError(
            f"env={type(env).__name__} is invalid: give a Gymnasium id, an env class, a "
            "function that returns one env, or a gymnasium.vector env"
        )
    env_id = source if isinstance(source, str) else register_env(source, name)
    retargeted = _retarget(config, env_id)
    if vector is None:
        return retargeted
    return apply_overrides(
        retargeted, [f"train.num_envs={vector.num_envs}", f"gym.vector={vector.mode}"]
    )


def _retarget(config: ExperimentConfig | str | Mapping[str, Any], env_id: str) -> ExperimentConfig:
    if isinstance(config, ExperimentConfig):
        gym = config.gym or GymConfig(id=env_id)
        return dataclasses.replace(config, puzzle=None, gym=dataclasses.replace(gym, id=env_id))
    if isinstance(config, str):
        return gym_preset(env_id) if config == "default" else gym_preset(env_id, base=config)
    mapping = {k: v for k, v in config.items() if k != "puzzle"}
    gym_section = {**dict(mapping.get("gym") or {}), "id": env_id}
    return compose_config({**mapping, "preset": env_id, "gym": gym_section}, source="env=")


def register_env(env: Callable[..., Any], name: str | None = None) -> str:
    """Register an env class or a function returning an env (wrappers and all) with Gymnasium
    as ``hrrl-user/<name>-v0`` (by default its ``__name__``), for this process; returns the id.
    A later ``hrrl resume`` of the run, or ``GymPolicy.evaluate``, needs that id registered
    again (import the module that calls this, or register it yourself)."""
    import gymnasium

    if name is None:
        name = getattr(env, "__name__", type(env).__name__)
    env_id = f"hrrl-user/{name.strip('<>') or 'env'}-v0"
    spec = gymnasium.registry.get(env_id)
    if spec is None or spec.entry_point is not env:
        if spec is not None:
            del gymnasium.registry[env_id]  # the same name, another env: the newest wins
        gymnasium.register(id=env_id, entry_point=env)
    return env_id


def train(
    config: ExperimentConfig | str | Mapping[str, Any] = "default",
    *,
    env: EnvSource | None = None,
    run_dir: str | Path | None = None,
    overrides: Sequence[str] = (),
    tensorboard: bool = False,
    progress: bool = False,
    callbacks: Sequence[Callback] = (),
) -> Run:
    """Train ``config`` (then each ``section.field=value`` of ``overrides``) to its stop.

    With ``run_dir`` the run writes what ``hrrl train`` writes there (``config.yaml`` before the
    first step, ``metrics.jsonl``, checkpoints; TensorBoard events with ``tensorboard=True``);
    without, it keeps nothing on disk. ``progress=True`` shows a tqdm bar over the budget
    (nothing else is printed). ``callbacks`` (:class:`hrrl.Callback`) hear of every step,
    evaluation and checkpoint, and stop the run by answering False. ``env`` trains on your own
    environment instead of the config's task: a Gymnasium id, an env class, or a function that
    returns an env (where your wrappers go), or a ``gymnasium.vector`` env, whose copies and
    sync/async mode hrrl takes over (:func:`on_env`).
    """
    base = as_config(config) if env is None else on_env(config, env)
    resolved = apply_overrides(base, overrides)
    logger = Logger([])
    if run_dir is None:
        trainer = build_trainer(resolved, logger=logger)
        with logger:
            result = run_trainer(trainer, bar=progress, callbacks=callbacks)
        return Run(config=resolved, run_dir=None, result=result, trainer=trainer)
    # As ``hrrl train`` does: check and build everything, then create and lock the directory.
    directory = Path(run_dir)
    check_new_run_dir(directory)
    trainer = build_trainer(resolved, run_dir=directory, logger=logger)
    with RunDirectory.create(directory) as created:
        logger.attach(make_sinks(directory, tensorboard=tensorboard, console=False))
        with logger:
            trainer.write_config()
            created.started()
            result = run_trainer(trainer, bar=progress, callbacks=callbacks)
    return Run(config=resolved, run_dir=directory, result=result, trainer=trainer)


def train_seeds(
    config: ExperimentConfig | str | Mapping[str, Any] = "default",
    seeds: Sequence[int] = (0, 1, 2),
    *,
    run_dir: str | Path | None = None,
    **kwargs: Any,
) -> list[Run]:
    """:func:`train` once per seed, one after another (``train.seed`` set to each); with
    ``run_dir``, seed ``s`` writes ``run_dir/seed<s>``. Other keywords go to :func:`train`."""
    if not seeds or len(set(seeds)) != len(seeds):
        raise ConfigError(f"seeds={list(seeds)!r} is invalid: give distinct seeds")
    overrides = list(kwargs.pop("overrides", ()))
    return [
        train(
            config,
            run_dir=None if run_dir is None else Path(run_dir) / f"seed{seed}",
            overrides=[*overrides, f"train.seed={seed}"],
            **kwargs,
        )
        for seed in seeds
    ]
