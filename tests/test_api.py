"""The public Python API: hrrl.train -> Run, hrrl.Puzzle's friendly form, Policy.solve on a
mapping, __version__, help(hrrl); and the README's example, executed as written."""

from __future__ import annotations

import contextlib
import io
import os
import pydoc
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import hrrl
import hrrl.api
from hrrl.config import apply_overrides
from hrrl.errors import ConfigError, PuzzleError
from hrrl.experiment import preset
from hrrl.puzzle.core import Puzzle, Status

README = Path(__file__).resolve().parents[1] / "README.md"


def test_puzzle_takes_the_friendly_form_and_the_old_keywords() -> None:
    p = hrrl.Puzzle(target=10, forbidden=[3])
    assert p == Puzzle.create(target=10, forbidden=[3])
    assert (p.forbidden, p.actions, p.max_steps, p.start) == (frozenset({3}), (1, 3, 5), 22, 0)
    old = Puzzle(target=10, forbidden=frozenset({3}), actions=(1, 3, 5), max_steps=22)
    assert old == p and hash(old) == hash(p)
    assert Puzzle(target=12, actions=[2, 3], max_steps=5).actions == (2, 3)
    with pytest.raises(PuzzleError, match="target=3 is invalid"):
        Puzzle(target=3, start=5)
    with pytest.raises(PuzzleError, match="forbidden"):
        Puzzle(target=10, forbidden=[10])
    # An unsolvable puzzle still gets a budget, so it can be reported UNSOLVABLE.
    walled = Puzzle(target=20, forbidden=range(10, 15))
    assert walled.max_steps == max(2 * 4, 4 + 20)


def test_version_and_help_list_the_api() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+.*|0\+unknown", hrrl.__version__)
    text = pydoc.render_doc(hrrl, renderer=pydoc.plaintext)
    for name in ("class Policy", "class Puzzle", "class Run", "train("):
        assert name in text
    assert hrrl.Policy.__name__ == "Policy"


def test_train_takes_a_preset_name_a_mapping_or_a_config(tiny_overrides: tuple[str, ...]) -> None:
    run = hrrl.train("default", overrides=tiny_overrides)
    assert isinstance(run, hrrl.Run) and run.run_dir is None
    assert run.config.preset == "default" and run.env_steps >= 800
    assert run.stop_reason == "total_env_steps"
    mapping = hrrl.api.as_config({"preset": "baseline", "agent": {"lr": 1e-3}})
    assert mapping == apply_overrides(preset("baseline"), ["agent.lr=1e-3"])
    # An in-memory run's policy is its final network; solve takes a mapping too.
    result = run.policy().solve({"target": 9, "forbidden": [4]})
    assert result.status in set(Status) and result.path[0] == 0
    with pytest.raises(PuzzleError, match=r"give a hrrl\.Puzzle or a mapping"):
        run.policy().solve(9)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="preset='fast' is unknown"):
        hrrl.train("fast")


def _readme_example() -> str:
    section = README.read_text(encoding="utf-8").split("### From Python", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None, "README.md has no python block under '### From Python'"
    return match.group(1)


def test_the_readme_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    namespace: dict[str, Any] = {}
    with contextlib.redirect_stdout(out):
        exec(compile(_readme_example(), "README.md", "exec"), namespace)
    run_dir = tmp_path / "runs" / "python-demo"
    assert (run_dir / "config.yaml").is_file() and (run_dir / "metrics.jsonl").is_file()
    assert (run_dir / "checkpoints" / "best").exists()
    lines = out.getvalue().splitlines()
    assert len(lines) == 3 and lines[0].startswith(("total_env_steps 20", "early_stop"))
    assert lines[1].split()[0] in {s.value for s in Status}
    assert namespace["run"].config.train.total_env_steps == 2000


def test_import_hrrl_is_light_and_still_registers_the_id() -> None:
    """``import hrrl`` loads neither torch nor numpy; Gymnasium imported afterwards (or
    before) knows ``hrrl/NumberPuzzle-v0``."""
    env = {**os.environ, "PYTHONPATH": str(Path(hrrl.__file__).parents[1])}
    after = (
        "import sys, hrrl\n"
        "assert not {'torch', 'numpy', 'gymnasium'} & set(sys.modules), sorted(sys.modules)\n"
        "import gymnasium\n"
        "print(gymnasium.make('hrrl/NumberPuzzle-v0').reset(seed=0)[1]['stage'])\n"
    )
    before = "import gymnasium, hrrl\nprint(hrrl.ENV_ID in gymnasium.registry)\n"
    for code, expected in ((after, "0"), (before, "True")):
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == expected
