"""Issue 32, item 7: a config's YAML is bounded: no alias bombs, no nesting past a depth.

Before: a "billion laughs" of aliases in a scalar field grew to gigabytes (the error message
built the ``repr`` of the whole expansion), and 5,000-deep nesting gave a ``RecursionError``
traceback. Here a smaller bomb (10^5 leaves, so the old code answers in seconds) shows the old
error message expanding it; now an alias is refused in one short line, and so is deep nesting.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hrrl.cli import main
from hrrl.config import apply_overrides
from hrrl.errors import ConfigError
from hrrl.experiment import preset, read_config_file

BOMB = "\n".join(
    ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    + [f"{chr(98 + k)}: &{chr(98 + k)} [{', '.join([f'*{chr(97 + k)}'] * 10)}]" for k in range(4)]
    + ["agent:", "  lr: *e"]
)


def test_an_alias_bomb_is_refused_in_one_short_line(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB)
    with pytest.raises(ConfigError) as caught:
        read_config_file(path)
    message = str(caught.value)
    assert "aliases" in message and len(message) < 500


def test_deep_nesting_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("agent: " + "[" * 5000 + "]" * 5000 + "\n")
    assert main(["train", "--config", str(path), "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "nested deeper than" in err and "Traceback" not in err
    with pytest.raises(ConfigError, match="nested deeper"):
        apply_overrides(preset("default"), ["agent.lr=" + "[" * 5000 + "]" * 5000])


def test_plain_configs_still_read(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(
        "agent:\n  lr: 0.001\npuzzle:\n  curriculum:\n    stages:\n    - {targets: [5, 10]}\n"
    )
    config = read_config_file(path)
    assert config.agent.lr == 0.001
