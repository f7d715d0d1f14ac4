"""The experiment config (one frozen dataclass per component, grouped by owner) and the presets.

Engine sections (``agent``, ``replay``, ``exploration``, ``guard``, ``train``, ``checkpoint``,
``health``) apply to every run; exactly one domain section says what is trained: ``puzzle`` (the
number puzzle, design §1) or ``gym`` (a Gymnasium id). ``baseline`` is the original prototype,
faithfully; ``default`` turns every fix on. Each fix is its own switch, so an ablation arm is a
preset plus one override (the arms are listed once, in :mod:`hrrl.studies.ablation`). Why each
tuned value is what it is, measured: ``docs/tuning.md``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hrrl.config import check_choice, did_you_mean, from_dict, merge, read_yaml, to_dict
from hrrl.engine.agent import AgentConfig
from hrrl.engine.config import TrainConfig
from hrrl.engine.distributed.config import DistributedConfig
from hrrl.engine.exploration import KIND_FIELDS, ExplorationConfig
from hrrl.engine.guard import GuardConfig
from hrrl.engine.replay.buffer import ReplayConfig
from hrrl.errors import ConfigError, EnvironmentMismatchError
from hrrl.gym.config import GymConfig, is_atari
from hrrl.gym.presets import GYM_PRESETS, GYM_VARIANTS, GymPreset, preset_for
from hrrl.monitoring.health import HealthConfig
from hrrl.persistence.store import CheckpointConfig
from hrrl.puzzle.config import PuzzleConfig
from hrrl.puzzle.curriculum import PAPER_STAGES, CurriculumConfig

PRESETS = ("default", "baseline")
#: Action sets the default preset evaluates on while training (all from its training distribution).
DEFAULT_EVAL_ACTIONS: tuple[tuple[int, ...], ...] = (
    (1, 3, 5),
    (2, 3),
    (1, 4, 10),
    (3, 6, 9),
    (1, 6, 12),
)


@dataclass(frozen=True, kw_only=True)
class ExperimentConfig:
    """Everything a run needs; saved as ``config.yaml`` before the first step."""

    preset: str = "default"
    """Which preset this config started from (informational)."""
    puzzle: PuzzleConfig | None = field(default_factory=PuzzleConfig)
    """The number puzzle as the task (null for a Gymnasium run)."""
    gym: GymConfig | None = None
    """A Gymnasium id as the task instead of the puzzle (null for a puzzle run)."""
    agent: AgentConfig = field(default_factory=AgentConfig)
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    exploration: ExplorationConfig = field(default_factory=ExplorationConfig)
    guard: GuardConfig = field(default_factory=GuardConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    health: HealthConfig = field(default_factory=HealthConfig)
    distributed: DistributedConfig = field(default_factory=DistributedConfig)
    """Ape-X actors on Ray collecting for this process (``actors: 0``: it collects itself)."""

    def __post_init__(self) -> None:
        if (self.puzzle is None) == (self.gym is None):
            raise ConfigError(
                "give exactly one task section: puzzle (the number puzzle) or gym "
                f"(a Gymnasium id); got puzzle={'set' if self.puzzle else 'null'}, "
                f"gym={'set' if self.gym else 'null'}"
            )
        if self.distributed.actors and self.gym is None:
            raise ConfigError(
                f"distributed.actors={self.distributed.actors} is invalid for the number puzzle: "
                "its curriculum and evaluation live in one process (Ape-X actors collect from "
                "a Gymnasium task); set distributed.actors=0"
            )

    @property
    def task_name(self) -> str:
        """What the run trains on: the Gymnasium id, or 'puzzle'."""
        return "puzzle" if self.gym is None else self.gym.id


def puzzle_section(config: ExperimentConfig) -> PuzzleConfig:
    """The puzzle section of a puzzle run; a :class:`ConfigError` for a Gymnasium run."""
    if config.puzzle is None:
        raise ConfigError(f"this run trains on {config.task_name}, not the number puzzle")
    return config.puzzle


# --- reading configs of any age -----------------------------------------------------------------
def migrate_config(data: Mapping[str, Any]) -> dict[str, Any]:
    """A config dict of any hrrl version in today's layout.

    Before the sections were grouped by owner (checkpoints and ``config.yaml`` files of 0.1), the
    puzzle fields sat in ``env`` and ``curriculum`` (with a copy of the action set), a Gymnasium
    run was ``env.env_id``, the evaluation suite was ``train.eval_families/count/seed``, and the
    exploration settings of every schedule kind shared one flat section. Before each task said
    when it is solved, the puzzle's stop rule was ``train.early_stop_success/efficiency``.
    """
    out = _sectioned_layout(data)
    train = out.get("train")
    if isinstance(train, Mapping) and {"early_stop_success", "early_stop_efficiency"} & set(train):
        train = dict(train)
        rule = {
            new: train.pop(old)
            for old, new in (
                ("early_stop_success", "stop_success"),
                ("early_stop_efficiency", "stop_efficiency"),
            )
            if old in train
        }
        out["train"] = train
        if out.get("gym") is None:  # a Gymnasium run's old rule (a success rate) has no heir
            out["puzzle"] = {**rule, **(out.get("puzzle") or {})}
    return out


def _sectioned_layout(data: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(data)
    exploration = out.get("exploration")
    if isinstance(exploration, Mapping):
        out["exploration"] = _sectioned_exploration(exploration)
    if "env" not in out and "curriculum" not in out:
        return out
    env = dict(out.pop("env", None) or {})
    curriculum = dict(out.pop("curriculum", None) or {})
    curriculum.pop("actions", None)  # derived from the puzzle's actions now
    train = dict(out.get("train") or {})
    evaluation = {
        k: train.pop(k) for k in ("eval_families", "eval_count", "eval_seed") if k in train
    }
    out["train"] = train
    env_id = env.pop("env_id", None)
    if env_id is not None:
        gym: dict[str, Any] = {"id": env_id}
        if "eval_count" in evaluation:
            gym["eval_episodes"] = evaluation["eval_count"]
        if "eval_seed" in evaluation:
            gym["eval_seed"] = evaluation["eval_seed"]
        out["puzzle"], out["gym"] = None, gym
    else:
        out["puzzle"] = {**env, "curriculum": curriculum, **evaluation}
        out["gym"] = None
    return out


def _sectioned_exploration(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Exploration fields of 0.1 (every kind's settings side by side) moved into their kind's
    section; a config already in sections passes through."""
    out = dict(flat)
    for kind, names in KIND_FIELDS.items():
        moved = {name: out.pop(name) for name in names if name in out}
        if moved:
            out[kind] = {**dict(out.get(kind) or {}), **moved}
    return out


def config_from_dict(data: Mapping[str, Any]) -> ExperimentConfig:
    """An :class:`ExperimentConfig` from plain data of any hrrl version (see :func:`migrate_config`)."""
    return from_dict(ExperimentConfig, migrate_config(data))


def saved_puzzle_section(config: Mapping[str, Any], source: Path) -> dict[str, Any]:
    """The puzzle section of a checkpoint's saved config (any hrrl version); an
    :class:`EnvironmentMismatchError` naming ``source`` when it was trained on a Gymnasium task."""
    section = migrate_config(config).get("puzzle")
    if not isinstance(section, Mapping):
        gym = migrate_config(config).get("gym") or {}
        raise EnvironmentMismatchError(
            f"{source} was trained on the Gymnasium task {gym.get('id')!r}, not the number "
            f"puzzle: evaluate it with `hrrl eval --env {gym.get('id')} --checkpoint ...`"
        )
    return dict(section)


#: The fields of the puzzle section that fix how a policy sees and plays a puzzle.
STACK_KEYS = ("reward", "encoder", "window", "planner", "actions", "horizon", "levels")


def stack_config(section: Mapping[str, Any]) -> PuzzleConfig:
    """A puzzle section holding only the environment stack's fields (no evaluation suite), for
    playing a trained policy; the other fields keep their defaults."""
    # A section saved before a key existed (``horizon``, ``levels``) takes that key's default.
    kept = {k: section[k] for k in STACK_KEYS if k in section}
    return from_dict(PuzzleConfig, {**kept, "eval_count": 0})


def _read_mapping(path: Path) -> Mapping[str, Any]:
    data = read_yaml(path)
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"{path} holds a YAML {type(data).__name__}, not a config: write a mapping of "
            "sections, e.g. 'agent: {lr: 0.001}' on one line ('hrrl config show' prints one)"
        )
    return data


def load_config(path: Path) -> ExperimentConfig:
    """A ``config.yaml`` of any hrrl version, as saved (fields it lacks take the class
    defaults): how a run's own config is read back. Bad bytes, malformed YAML or a file that is
    not a mapping are a :class:`ConfigError` naming it."""
    return config_from_dict(_read_mapping(path))


def read_config_file(path: Path, *, preset_name: str | None = None) -> ExperimentConfig:
    """A config file composed over its preset (what ``--config`` means): see
    :func:`compose_config`."""
    return compose_config(_read_mapping(path), preset_name=preset_name, source=str(path))


def compose_config(
    data: Mapping[str, Any], *, preset_name: str | None = None, source: str = "the config"
) -> ExperimentConfig:
    """``data`` (a config of any hrrl version, whole or partial) laid over its preset.

    The preset is ``preset_name``, or the file's own ``preset`` field (the two must agree when
    both are given), or for neither ``default`` (the Gymnasium id's preset when ``data`` has
    only a ``gym`` section); :func:`named_preset` refuses an unknown one. The result records the
    preset it started from.
    """
    data = migrate_config(data)
    named = data.get("preset")
    if named is not None and not isinstance(named, str):
        raise ConfigError(f"{source}: preset={named!r} is invalid: give a preset name")
    if preset_name is not None and named is not None and preset_name != named:
        raise ConfigError(
            f"--preset {preset_name} but {source} says preset: {named}: drop one of them"
        )
    gym = data.get("gym")
    gym_id = gym.get("id") if isinstance(gym, Mapping) else None
    gym_only = isinstance(gym_id, str) and "puzzle" not in data
    name = preset_name or named or (gym_id if gym_only else "default")
    assert isinstance(name, str)
    try:
        start = named_preset(name, gym_id=gym_id if isinstance(gym_id, str) else None)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    base = to_dict(start)
    if gym_only:
        base["puzzle"] = None
    merged = merge(base, {k: v for k, v in data.items() if k != "preset"})
    return from_dict(ExperimentConfig, {**merged, "preset": name})


# --- presets ------------------------------------------------------------------------------------
def preset(name: str) -> ExperimentConfig:
    """The named preset: 'default' (every fix on) or 'baseline' (the prototype)."""
    check_choice("preset", name, PRESETS)
    if name == "default":
        return ExperimentConfig(
            preset="default",
            # Polyak every update: the target moves smoothly, so the guard's spike test stays
            # meaningful. gamma 0.9: a ~10-step horizon, what the relational encoder's window of
            # 8 max-size actions sees (0.99 decays efficiency to 0.65). lr 2e-3 from the 64th
            # env step: competent after 192 env steps, not 576. All measured: docs/tuning.md.
            # One policy for every action set: the slot encoder and the set network (one
            # scorer shared by every action beside a max-pooled summary of the whole set, so
            # the same weights play 1 to 64 actions; issue 27), trained on the mixed
            # distribution of hrrl.puzzle.action_sets and evaluated on five of its sets; the
            # held-out sets are never trained on. Reward `steps` (progress in exact steps to
            # the target: its discounted optimum is the shortest route, which `ordered`'s is
            # not) and a 32-stride window: the worst held-out family cell 0.996, where
            # `ordered` at 16 strides left 0.980 (docs/tuning.md, stop 44). Evaluation: 3
            # puzzles a family and set, `wide` sets of 9-32 actions among them (the policy's
            # quality on them dips mid-run; a stop there played them at 0.88), targets up to
            # 3,000 (the first evaluation's cost is its longest puzzles'), every 10,240 env
            # steps and when the curriculum enters its last stage, stopping once that stage
            # plays the suite at success 1 and every family at efficiency 0.995 (10,000-12,500
            # steps: two evaluations, under a tenth of the run's time).
            puzzle=PuzzleConfig(
                reward="steps",
                encoder="slots",
                planner="horizon",
                window=32,
                curriculum=CurriculumConfig(action_sets="mixed"),
                eval_families=(*PuzzleConfig.eval_families, "wide"),
                eval_actions=DEFAULT_EVAL_ACTIONS,
                eval_count=3,
                eval_max_target=3_000,
            ),
            agent=AgentConfig(
                network="set",
                hidden=64,
                target_update="soft",
                tau=0.01,
                target_update_interval=1,
                gamma=0.9,
                lr=2e-3,
            ),
            train=TrainConfig(learning_starts=64, total_env_steps=64_000, eval_every=10_240),
        )
    return ExperimentConfig(
        preset="baseline",
        puzzle=PuzzleConfig(
            reward="legacy",
            encoder="paper",
            planner="paper",
            curriculum=CurriculumConfig(
                mode="episodes", stages=PAPER_STAGES, episodes_per_stage=1000, mix_previous=0.0
            ),
            stop_success=None,
        ),
        agent=dataclasses.replace(
            AgentConfig(),
            network="phase_adaptive",
            hidden=256,
            lr=5e-4,
            gamma=0.99,
            batch_size=64,
            double=False,
            max_grad_norm=None,
            target_update="soft",
            tau=0.005,
            target_update_interval=200,
        ),
        replay=ReplayConfig(kind="uniform", capacity=10_000),
        exploration=ExplorationConfig(kind="decay", start=1.0, end=0.01, decay=0.995),
        guard=GuardConfig(enabled=False),
        train=TrainConfig(
            num_envs=1,
            total_env_steps=10**9,
            total_episodes=5_000,
            learning_starts=64,
            train_every=1,
            updates_per_train=1,
            eval_every=50_000,
        ),
    )


def named_preset(name: str, *, gym_id: str | None = None) -> ExperimentConfig:
    """The preset a config's ``preset`` field names: ``default``, ``baseline``, a Gymnasium id
    (its tuned preset, or the generic one when ``gym_id`` is that id) or ``<preset>:<id>`` (that
    preset retargeted, as ``hrrl train --preset P --env ID`` records it)."""
    if name in PRESETS:
        return preset(name)
    base, sep, env_id = name.partition(":")
    if sep and (base in PRESETS or base in GYM_VARIANTS) and env_id:
        return gym_preset(env_id, base=base)
    if name in GYM_PRESETS or name == gym_id or is_atari(name):
        return gym_preset(name)
    if name in GYM_VARIANTS:
        raise ConfigError(
            f"preset={name!r} is for a Gymnasium id of your choice: give it with one, "
            f"e.g. --preset {name} --env ALE/Breakout-v5"
        )
    known = [*PRESETS, *GYM_PRESETS]
    raise ConfigError(
        f"preset={name!r} is unknown{did_you_mean(name, known)}: use one of {', '.join(known)}, "
        "or a Gymnasium id together with a gym section naming it"
    )


def gym_preset(env_id: str, *, base: str | None = None) -> ExperimentConfig:
    """The tuned preset of ``env_id`` (:mod:`hrrl.gym.presets`; the generic one for another id);
    with a ``base`` preset named, that preset retargeted to ``env_id`` instead (a puzzle preset,
    or one of :data:`~hrrl.gym.presets.GYM_VARIANTS` such as ``atari-100k``)."""
    if base in GYM_VARIANTS:
        variant = _retarget(env_id, GYM_VARIANTS[base])
        return dataclasses.replace(variant, preset=f"{base}:{env_id}")
    if base is not None:
        start = preset(base)
        return dataclasses.replace(
            start,
            preset=f"{base}:{env_id}",
            puzzle=None,
            gym=GymConfig(id=env_id),
        )
    return _retarget(env_id, preset_for(env_id))


def _retarget(env_id: str, values: GymPreset) -> ExperimentConfig:
    """The default preset (every fix on) on ``env_id``: linear exploration, a fixed budget with 10
    evaluations of 10 greedy episodes, 50 log lines; then the preset's values."""
    base = preset("default")
    total = int(values.train["total_env_steps"])
    return dataclasses.replace(
        base,
        preset=env_id,
        puzzle=None,
        gym=GymConfig(id=env_id, **values.gym),
        agent=dataclasses.replace(base.agent, **values.agent),
        replay=dataclasses.replace(base.replay, **{"kind": "prioritized", **values.replay}),
        exploration=dataclasses.replace(base.exploration, kind="linear", **values.exploration),
        guard=dataclasses.replace(base.guard, **values.guard),
        train=dataclasses.replace(
            base.train,
            **{
                "learning_starts": 1_000,
                "eval_every": max(total // 10, 1),
                "log_every": max(total // 50, 1),
                **values.train,
            },
        ),
    )
