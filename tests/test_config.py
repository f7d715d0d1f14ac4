"""Config machinery: YAML round trips, ``--set`` overrides, type and range errors, ``diff``."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from hrrl.config import (
    apply_overrides,
    check_range,
    diff,
    save_yaml,
    to_dict,
)
from hrrl.errors import ConfigError
from hrrl.experiment import PRESETS, ExperimentConfig, config_from_dict, load_config, preset
from hrrl.puzzle.curriculum import Stage


# --- YAML -------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", PRESETS)
def test_yaml_round_trip_of_each_preset(name: str, tmp_path: Path) -> None:
    config = preset(name)
    path = tmp_path / "config.yaml"
    save_yaml(config, path)
    assert load_config(path) == config
    # Plain YAML only (no python/tuple tags): any YAML reader can open a run's config.
    data = yaml.safe_load(path.read_text())
    assert data == to_dict(config)
    assert data["puzzle"]["actions"] == [1, 3, 5] and data["gym"] is None
    assert isinstance(data["puzzle"]["curriculum"]["stages"], list)


@pytest.mark.parametrize("name", PRESETS)
def test_dict_round_trip_restores_tuples(name: str) -> None:
    config = config_from_dict(to_dict(preset(name)))
    assert config == preset(name)
    assert isinstance(config.puzzle.actions, tuple)
    assert isinstance(config.puzzle.curriculum.stages, tuple)
    assert all(
        isinstance(s, Stage) and isinstance(s.targets, tuple)
        for s in config.puzzle.curriculum.stages
    )


def test_empty_yaml_is_the_default_config(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert load_config(path) == ExperimentConfig()


def test_yaml_file_with_unknown_key_names_it(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("agent:\n  lr: 0.001\n  lrr: 2\n")
    with pytest.raises(ConfigError, match=r"'agent\.lrr'.*known keys here are .*'lr'"):
        load_config(path)


def test_yaml_file_with_1e_notation_reads_a_float(tmp_path: Path) -> None:
    # PyYAML (YAML 1.1) reads 3e-4 without a dot as a string; a float field still takes it.
    path = tmp_path / "c.yaml"
    path.write_text("agent:\n  lr: 3e-4\n")
    assert load_config(path).agent.lr == 3e-4


# --- --set ------------------------------------------------------------------------------------
def test_overrides_parse_yaml_typed_values() -> None:
    base = preset("default")
    config = apply_overrides(
        base,
        [
            "agent.lr=3e-4",
            "agent.double=false",
            "train.seed=7",
            "exploration.kind=decay",
            "agent.max_grad_norm=null",
            "puzzle.eval_families=[in_range, dense]",
            "puzzle.curriculum.stages=[{targets: [5, 10]}, {targets: [20, 100], density: [0.1, 0.2]}]",
        ],
    )
    assert config.agent.lr == 3e-4 and isinstance(config.agent.lr, float)
    assert config.agent.double is False
    assert config.train.seed == 7
    assert config.exploration.kind == "decay"
    assert config.agent.max_grad_norm is None
    assert config.puzzle.eval_families == ("in_range", "dense")
    assert config.puzzle.curriculum.stages == (
        Stage(targets=(5, 10)),
        Stage(targets=(20, 100), density=(0.1, 0.2)),
    )
    # Untouched fields keep the preset's values; the input is not modified (frozen).
    assert config.agent.gamma == base.agent.gamma
    assert base.agent.double is True


def test_override_list_becomes_tuple_and_int_becomes_float() -> None:
    config = apply_overrides(preset("default"), ["puzzle.actions=[1, 3, 5]", "agent.gamma=1"])
    assert config.puzzle.actions == (1, 3, 5)
    assert config.agent.gamma == 1.0 and isinstance(config.agent.gamma, float)


def test_later_override_wins_and_null_then_value() -> None:
    config = apply_overrides(
        preset("default"),
        ["train.early_stop_patience=3", "train.early_stop_patience=null", "agent.lr=0.1"],
    )
    assert config.train.early_stop_patience is None
    config = apply_overrides(config, ["train.early_stop_patience=4"])
    assert config.train.early_stop_patience == 4


def test_section_mapping_override_keeps_other_fields() -> None:
    base = preset("baseline")
    config = apply_overrides(base, ["agent={lr: 0.001, tau: 0.01}"])
    assert config.agent.lr == 0.001 and config.agent.tau == 0.01
    # The baseline's other agent fields survive (not reset to AgentConfig's defaults).
    assert config.agent.double is False and config.agent.max_grad_norm is None
    assert diff(base, config) == ["agent.lr: 0.0005 -> 0.001", "agent.tau: 0.005 -> 0.01"]


def test_value_may_contain_equals_sign() -> None:
    # Only the first '=' splits key from value.
    config = apply_overrides(preset("default"), ["preset=a=b"])
    assert config.preset == "a=b"


@pytest.mark.parametrize(
    ("item", "pattern"),
    [
        (
            "agent.lrr=1",
            r"unknown key 'lrr' \(did you mean 'lr'\?\); known keys here are \[.*'lr'.*\]",
        ),
        ("nope.x=1", r"'nope' is not a config section; sections here are \[.*'agent'.*\]"),
        ("agent.lr.x=1", r"'lr' is not a config section"),
        ("agentlr", r"section\.field=value"),
        ("=3", r"section\.field=value"),
        ("agent.lr=[1, 2", r"not valid YAML"),
    ],
)
def test_bad_override_is_named(item: str, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        apply_overrides(preset("default"), [item])


def test_gamma_out_of_range_names_field_and_range() -> None:
    with pytest.raises(ConfigError) as info:
        apply_overrides(preset("default"), ["agent.gamma=1.5"])
    message = str(info.value)
    assert "agent.gamma=1.5" in message
    assert "[0.0, 1.0]" in message


@pytest.mark.parametrize(
    ("item", "pattern"),
    [
        ("agent.lr=abc", r"agent\.lr='abc' is invalid: it must be a number"),
        ("train.num_envs=1.5", r"train\.num_envs=1\.5 is invalid: it must be an integer"),
        ("train.seed=true", r"train\.seed=True is invalid: it must be an integer"),
        ("train.total_episodes=many", r"train\.total_episodes='many' is invalid"),
        ("agent.double=1", r"agent\.double=1 is invalid: use true or false"),
        ("checkpoint.enabled=3", r"checkpoint\.enabled=3 is invalid: use true or false"),
        ("train.device=1", r"train\.device=1 is invalid: it must be a string"),
        ("puzzle.actions=5", r"puzzle\.actions=5 is invalid: give a list"),
        ("puzzle.actions=[1, 2.5]", r"puzzle\.actions\[1\]=2\.5 is invalid: it must be an integer"),
        (
            "puzzle.reward=5",
            r"puzzle\.reward=5 is not allowed: choose one of \['ordered', 'legacy', 'steps'\]",
        ),
        ("agent=3", r"agent=3 is invalid: it is a section"),
        (
            "puzzle.curriculum.stages=[{targets: [5, 10, 20]}]",
            r"curriculum\.stages\[0\]\.targets=\[5, 10, 20\] is invalid: give a list of 2 items",
        ),
        (
            "puzzle.curriculum.stages=[{targets: [5, 10], foo: 1}]",
            r"'puzzle\.curriculum\.stages\[0\]\.foo'",
        ),
        ("puzzle.curriculum.stages=[]", r"curriculum\.stages is empty"),
        ("agent.lr=0", r"agent\.lr=0\.0 is out of range: it must be in \(0\.0, 1\.0\]"),
        ("agent.lr=.nan", r"agent\.lr=nan is out of range"),
        ("replay.kind=ring", r"replay\.kind='ring' is not allowed"),
        ("train.num_envs=0", r"train\.num_envs=0 is out of range"),
    ],
)
def test_bad_value_names_field_and_value(item: str, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        apply_overrides(preset("default"), [item])


@settings(max_examples=50, deadline=None)
@given(st.floats(min_value=0.0, max_value=1.0))
def test_any_float_repr_overrides_exactly(gamma: float) -> None:
    # repr gives forms like 1e-05 that YAML 1.1 reads as strings; the value must still be exact.
    config = apply_overrides(preset("default"), [f"agent.gamma={gamma!r}"])
    assert config.agent.gamma == gamma
    assert config_from_dict(to_dict(config)) == config


# --- diff -------------------------------------------------------------------------------------
def test_diff_lists_each_changed_leaf() -> None:
    base = preset("default")
    new = apply_overrides(
        base, ["agent.lr=0.001", "puzzle.reward=legacy", "train.total_episodes=9"]
    )
    assert diff(base, new) == [
        "agent.lr: 0.002 -> 0.001",
        "puzzle.reward: 'steps' -> 'legacy'",
        "train.total_episodes: None -> 9",
    ]
    assert diff(base, base) == []
    assert diff(new, base)[0] == "agent.lr: 0.001 -> 0.002"


def test_diff_between_presets_names_the_fixes() -> None:
    changed = {line.split(":")[0] for line in diff(preset("default"), preset("baseline"))}
    for key in (
        "preset",
        "agent.double",
        "agent.max_grad_norm",
        "replay.kind",
        "exploration.kind",
        "puzzle.reward",
        "puzzle.encoder",
        "puzzle.planner",
        "puzzle.curriculum.mode",
        "guard.enabled",
    ):
        assert key in changed


# --- range helper -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "kwargs", "ok"),
    [
        (0.0, {"low": 0.0}, True),
        (0.0, {"low": 0.0, "low_open": True}, False),
        (1.0, {"high": 1.0}, True),
        (1.0, {"high": 1.0, "high_open": True}, False),
        (-math.inf, {}, True),
        (math.nan, {}, False),
        (5, {"low": 1, "high": 4}, False),
    ],
)
def test_check_range_bounds(value: float, kwargs: dict[str, object], ok: bool) -> None:
    if ok:
        check_range("x", value, **kwargs)  # type: ignore[arg-type]
    else:
        with pytest.raises(ConfigError, match=r"x=.* is out of range: it must be in"):
            check_range("x", value, **kwargs)  # type: ignore[arg-type]
