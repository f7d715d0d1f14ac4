"""The presets against design §3, the ablation switches, and cross-field checks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hrrl.config import apply_overrides, diff, to_dict
from hrrl.engine.config import TrainConfig
from hrrl.errors import ConfigError
from hrrl.experiment import (
    STACK_KEYS,
    ExperimentConfig,
    config_from_dict,
    gym_preset,
    preset,
    puzzle_section,
    stack_config,
)
from hrrl.puzzle.config import PuzzleConfig
from hrrl.puzzle.curriculum import PAPER_STAGES, Curriculum, Stage
from hrrl.puzzle.rewards import OrderedReward, make_reward
from hrrl.run import puzzle_task


def test_baseline_is_the_prototype_field_by_field() -> None:
    c = preset("baseline")
    assert c.preset == "baseline"
    # Learner: vanilla max target, no clipping, Adam 5e-4, batch 64, gamma 0.99, 256 hidden,
    # soft target update with tau 0.005 every 200 steps.
    assert c.agent.double is False
    assert c.agent.max_grad_norm is None
    assert c.agent.lr == 5e-4
    assert c.agent.batch_size == 64
    assert c.agent.gamma == 0.99
    assert c.agent.hidden == 256
    assert c.agent.network == "phase_adaptive"
    assert (c.agent.target_update, c.agent.tau, c.agent.target_update_interval) == (
        "soft",
        0.005,
        200,
    )
    assert c.guard.enabled is False
    # Replay: uniform, 10,000.
    assert (c.replay.kind, c.replay.capacity) == ("uniform", 10_000)
    # Exploration: 1.0 decayed by 0.995 per episode to 0.01.
    assert (c.exploration.kind, c.exploration.start, c.exploration.decay, c.exploration.end) == (
        "decay",
        1.0,
        0.995,
        0.01,
    )
    # Environment: legacy reward, 12 paper features, the paper's decomposition.
    assert c.puzzle is not None and c.gym is None
    p = c.puzzle
    assert (p.reward, p.encoder, p.planner, p.actions) == ("legacy", "paper", "paper", (1, 3, 5))
    # Curriculum: 4 stages by episode count, 1,000 each; targets 5-10, 12-18, 20-30, 5-100 with
    # 2-5 forbidden numbers; nothing mixed in.
    assert c.puzzle.curriculum.mode == "episodes"
    assert c.puzzle.curriculum.episodes_per_stage == 1000
    assert c.puzzle.curriculum.mix_previous == 0.0
    assert c.puzzle.curriculum.stages == PAPER_STAGES
    assert [s.targets for s in c.puzzle.curriculum.stages] == [
        (5, 10),
        (12, 18),
        (20, 30),
        (5, 100),
    ]
    assert all(s.forbidden == (2, 5) and s.density is None for s in c.puzzle.curriculum.stages)
    # 5,000 episodes on one environment, no early stop.
    assert c.train.total_episodes == 5_000
    assert c.train.num_envs == 1
    assert puzzle_section(c).stop_success is None


def test_baseline_curriculum_switches_at_1000_2000_3000_episodes() -> None:
    curriculum = Curriculum(puzzle_section(preset("baseline")).curriculum)
    switches = []
    for episode in range(1, 5_001):
        if curriculum.on_episode_end(success=episode % 2 == 0):
            switches.append(episode)
    assert switches == [1000, 2000, 3000]
    assert curriculum.stage == 3 and curriculum.final_stage


def test_default_has_every_fix_on() -> None:
    c = preset("default")
    assert c.preset == "default"
    assert c.agent.double is True
    assert c.agent.max_grad_norm is not None and c.agent.max_grad_norm > 0
    assert c.guard.enabled is True
    assert c.replay.kind == "prioritized"
    assert c.exploration.kind == "adaptive"
    # `steps` is `ordered` with its progress counted in exact steps: the same proven order.
    assert puzzle_section(c).reward == "steps"
    assert isinstance(make_reward(puzzle_section(c).reward), OrderedReward)
    assert puzzle_section(c).encoder == "slots"
    assert c.agent.network == "set"
    assert puzzle_section(c).curriculum.action_sets == "mixed"
    assert puzzle_section(c).planner == "horizon"
    assert c.puzzle.curriculum.mode == "gated"
    # The paper's stages come first; later ones keep every training target at or below 100.
    assert c.puzzle.curriculum.stages[: len(PAPER_STAGES)] == PAPER_STAGES
    assert all(s.targets[1] <= 100 for s in c.puzzle.curriculum.stages)


@pytest.mark.parametrize(
    ("overrides", "changed"),
    [
        (["agent.double=false"], {"agent.double"}),
        (["replay.kind=uniform"], {"replay.kind"}),
        (
            ["agent.max_grad_norm=null", "guard.enabled=false"],
            {"agent.max_grad_norm", "guard.enabled"},
        ),
        (["exploration.kind=decay"], {"exploration.kind"}),
        (["puzzle.reward=legacy"], {"puzzle.reward"}),
        (
            [
                "puzzle.encoder=paper",
                "agent.network=phase_adaptive",
                "puzzle.curriculum.action_sets=fixed",
                "puzzle.eval_actions=[]",
            ],
            {
                "puzzle.encoder",
                "agent.network",
                "puzzle.curriculum.action_sets",
                "puzzle.eval_actions",
            },
        ),
        (["puzzle.planner=none"], {"puzzle.planner"}),
        (
            ["puzzle.curriculum.stages=[{targets: [20, 100], density: [0.08, 0.25]}]"],
            {"puzzle.curriculum.stages"},
        ),
    ],
)
def test_each_ablation_is_one_switch(overrides: list[str], changed: set[str]) -> None:
    base = preset("default")
    arm = apply_overrides(base, overrides)
    assert {line.split(":")[0] for line in diff(base, arm)} == changed


def test_unknown_preset_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"preset='fast' is not allowed: choose one of"):
        preset("fast")


def test_the_curriculum_plays_the_puzzle_action_set() -> None:
    with pytest.raises(ConfigError, match=r"unknown key 'actions'"):
        apply_overrides(preset("default"), ["puzzle.curriculum.actions=[1, 2]"])
    with pytest.raises(ConfigError, match=r"action_sets=fixed"):
        apply_overrides(preset("default"), ["puzzle.encoder=relational"])
    fixed = ["puzzle.actions=[1, 2]", "puzzle.curriculum.action_sets=fixed", "puzzle.eval_count=1"]
    config = apply_overrides(preset("default"), fixed)
    task = puzzle_task(config)
    assert task.curriculum.actions == (1, 2)
    assert task.curriculum.sample(np.random.default_rng(0)).actions == (1, 2)


def test_the_default_curriculum_mixes_action_sets_but_never_the_held_out_ones() -> None:
    from hrrl.puzzle.action_sets import is_held_out

    task = puzzle_task(preset("default"))
    rng = np.random.default_rng(0)
    sets = {task.curriculum.sample(rng).actions for _ in range(300)}
    assert len(sets) > 30 and not any(is_held_out(s) for s in sets)
    assert any(math.gcd(*s) > 1 for s in sets)
    # The evaluation suite covers every family at each evaluation set, other sets included; its
    # `wide` puzzles draw their own sets of 9-32 actions (none trained on, none held out).
    narrow = {p.actions for p in task.eval_puzzles if p.extra["family"] != "wide"}
    assert narrow == set(puzzle_section(preset("default")).eval_actions)
    wide = [p.actions for p in task.eval_puzzles if p.extra["family"] == "wide"]
    assert wide and all(len(s) >= 9 and not is_held_out(s) for s in wide)


def test_a_run_has_exactly_one_task_section() -> None:
    with pytest.raises(ConfigError, match="exactly one task section"):
        apply_overrides(preset("default"), ["gym={id: CartPole-v1}"])
    with pytest.raises(ConfigError, match="exactly one task section"):
        apply_overrides(preset("default"), ["puzzle=null"])
    gym = apply_overrides(preset("default"), ["puzzle=null", "gym={id: CartPole-v1}"])
    assert gym.gym is not None and gym.gym.id == "CartPole-v1" and gym.task_name == "CartPole-v1"


@pytest.mark.parametrize("actions", [(), (1, 1), (0, 1), (-1, 3)])
def test_env_actions_distinct_positive(actions: tuple[int, ...]) -> None:
    with pytest.raises(ConfigError, match=r"puzzle\.actions=.*distinct positive integers"):
        PuzzleConfig(actions=actions)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"num_envs": 0}, "train.num_envs"),
        ({"total_env_steps": 0}, "train.total_env_steps"),
        ({"total_episodes": 0}, "train.total_episodes"),
        ({"threads": 0}, "train.threads"),
        ({"device": "tpu"}, "train.device"),
    ],
)
def test_train_config_names_bad_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        TrainConfig(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [{"targets": (0, 5)}, {"targets": (10, 5)}, {"targets": (5, 10), "forbidden": (3, 2)}],
)
def test_stage_validation(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match="stage"):
        Stage(**kwargs)  # type: ignore[arg-type]


def test_configs_are_frozen_and_keyword_only() -> None:
    config = ExperimentConfig()
    with pytest.raises(AttributeError):
        config.preset = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        TrainConfig(0)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ("puzzle.stop_success=1.5", "puzzle.stop_success"),
        ("puzzle.stop_efficiency=-0.1", "puzzle.stop_efficiency"),
    ],
)
def test_the_puzzle_stop_rule_names_a_bad_field(override: str, field: str) -> None:
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        apply_overrides(preset("default"), [override])


def test_a_gymnasium_stop_return_must_be_a_finite_number() -> None:
    for bad in ("nan", "true", "'high'"):
        with pytest.raises(ConfigError, match=r"gym\.stop_return"):
            apply_overrides(gym_preset("CartPole-v1"), [f"gym.stop_return={bad}"])
    config = apply_overrides(gym_preset("CartPole-v1"), ["gym.stop_return=475"])
    assert config.gym is not None and config.gym.stop_return == 475


def test_the_old_train_stop_rule_moves_to_the_puzzle_section() -> None:
    old = to_dict(preset("default"))
    old["train"] |= {"early_stop_success": 0.9, "early_stop_efficiency": 0.98}
    del old["puzzle"]["stop_success"], old["puzzle"]["stop_efficiency"]
    config = config_from_dict(old)
    assert (puzzle_section(config).stop_success, puzzle_section(config).stop_efficiency) == (
        0.9,
        0.98,
    )
    gym = to_dict(gym_preset("CartPole-v1"))
    gym["train"] |= {"early_stop_success": None, "early_stop_efficiency": 0.995}
    assert config_from_dict(gym).gym == gym_preset("CartPole-v1").gym  # a success rate has no heir


def test_a_played_policy_keeps_every_field_of_its_stack() -> None:
    """What ``Policy.load`` reads of a run's puzzle section keeps every stack field it was
    trained with (a policy trained at ``puzzle.window=32`` once played with the encoder's own 16
    and lost a tenth of its efficiency on wide sets)."""
    section = {
        "reward": "steps",
        "encoder": "slots",
        "window": 24,
        "planner": "constraint",
        "actions": [1, 2],
        "horizon": 4,
        "levels": 2,
    }
    assert set(section) == set(STACK_KEYS)
    config = stack_config({**section, "eval_count": 7})
    for key, value in section.items():
        assert getattr(config, key) == (tuple(value) if key == "actions" else value), key
    assert config.eval_count == 0  # the evaluation suite is not the stack's
