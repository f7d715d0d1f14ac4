"""--config composes (preset, then the file, then --set) and records what ran; `hrrl config show`
prints the resolved config with each field's documentation; unknown keys suggest the nearest."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hrrl.cli import main
from hrrl.config import apply_overrides, field_docs, from_dict, plain_text
from hrrl.engine.agent import AgentConfig
from hrrl.errors import ConfigError
from hrrl.experiment import ExperimentConfig, compose_config, load_config, preset


def _show(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(["config", "show", *argv]) == 0
    return capsys.readouterr().out


def test_config_show_prints_the_resolved_config_with_field_docs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = _show(capsys, "--preset", "baseline", "--set", "agent.lr=3e-4", "--seed", "4")
    assert from_dict(ExperimentConfig, yaml.safe_load(text)) == apply_overrides(
        preset("baseline"), ["agent.lr=3e-4", "train.seed=4"]
    )
    lines = text.splitlines()
    lr = lines.index("  lr: 0.0003")
    assert lines[lr - 1] == "  # Adam learning rate."
    assert "  # Polyak coefficient of a soft sync." in lines
    assert "# The Q-network and its update rule." in lines  # a section: its class docstring
    assert "``" not in text and ":class:" not in text


def test_field_docs_are_read_from_the_source() -> None:
    docs = field_docs(AgentConfig)
    assert docs["lr"] == "Adam learning rate."
    assert docs["double"].startswith("Double DQN target")
    assert plain_text("see :class:`~hrrl.engine.agent.AgentConfig` and ``x``::") == (
        "see AgentConfig and x:"
    )


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        (["agent.lrr=0.1"], "unknown key 'lrr' (did you mean 'lr'?)"),
        (["agnt.lr=0.1"], "'agnt' is not a config section (did you mean 'agent'?)"),
        (["train.log_evry=5"], "(did you mean 'log_every'?)"),
    ],
)
def test_an_unknown_key_suggests_the_nearest(overrides: list[str], needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        apply_overrides(preset("default"), overrides)
    assert needle in str(info.value)


def test_from_dict_suggests_the_nearest_key() -> None:
    with pytest.raises(ConfigError, match=r"'agent.gama' \(did you mean 'gamma'\?\)"):
        from_dict(ExperimentConfig, {"agent": {"gama": 0.5}})


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_a_partial_file_is_laid_over_its_preset_then_set(tmp_path: Path) -> None:
    """Not over the hidden class defaults (lr 5e-4, gamma 0.99): over the preset."""
    partial = _write(tmp_path / "p.yaml", "agent: {hidden: 64}\n")
    config = compose_config(yaml.safe_load(partial.read_text()))
    assert config == apply_overrides(preset("default"), ["agent.hidden=64"])
    assert (config.agent.gamma, config.agent.lr) == (0.9, 2e-3)
    own = _write(tmp_path / "b.yaml", "preset: baseline\ntrain: {seed: 3}\n")
    assert compose_config(yaml.safe_load(own.read_text())) == apply_overrides(
        preset("baseline"), ["train.seed=3"]
    )
    assert compose_config({}, preset_name="baseline") == preset("baseline")
    with pytest.raises(ConfigError, match="--preset default but the config says preset: baseline"):
        compose_config({"preset": "baseline"}, preset_name="default")
    with pytest.raises(
        ConfigError, match=r"preset='defualt' is unknown \(did you mean 'default'\?\)"
    ):
        compose_config({"preset": "defualt"})
    # A Gymnasium run's config names its id as the preset.
    cartpole = compose_config({"gym": {"id": "CartPole-v1"}})
    assert cartpole.preset == "CartPole-v1" and cartpole.puzzle is None


def test_train_config_records_what_ran(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny_overrides: tuple[str, ...]
) -> None:
    config_file = _write(tmp_path / "c.yaml", "preset: baseline\nagent: {hidden: 32}\n")
    run_dir = tmp_path / "run"
    argv = ["train", "--config", str(config_file), "--run-dir", str(run_dir), "--quiet"]
    argv += [
        "--no-tensorboard",
        "--set",
        "train.total_env_steps=200",
        "--set",
        "puzzle.eval_count=1",
    ]
    assert main(argv) == 0
    saved = load_config(run_dir / "config.yaml")
    assert saved.preset == "baseline" and saved.agent.hidden == 32
    assert saved.agent.lr == preset("baseline").agent.lr and not saved.agent.double
    assert saved.train.total_env_steps == 200


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("preset: nope\n", "preset='nope' is unknown"),
        ("- 1\n- 2\n", "holds a YAML list, not a config: write a mapping of sections"),
        ("agent: {lr: 0.001} # caf\xe9\n", "line 1, column 25: byte 0xe9 is not UTF-8"),
    ],
    ids=["unknown preset", "a list", "latin-1"],
)
def test_a_bad_config_file_is_one_line_and_exit_2(
    text: str, needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(text.encode("latin-1"))
    run_dir = tmp_path / "run"
    assert main(["train", "--config", str(path), "--run-dir", str(run_dir), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("hrrl train: error: ")
    assert needle in err[0] and str(path) in err[0]
    assert not run_dir.exists()


def test_a_yaml_file_with_a_bom_still_reads(tmp_path: Path) -> None:
    """YAML allows a leading byte-order mark."""
    path = tmp_path / "c.yaml"
    path.write_bytes(b"\xef\xbb\xbfagent:\n  lr: 0.001\n")
    assert load_config(path).agent.lr == 0.001
