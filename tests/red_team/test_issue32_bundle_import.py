"""Issue 32, item 6: a bundle is data and never chooses what is imported.

A bundle whose ``policy.json`` names the Gymnasium id ``evil_env:X-v0`` made
``hrrl.GymPolicy.load(bundle).evaluate()`` import ``evil_env`` (``gymnasium.make`` imports the
module before ``:``). The baseline behaviour is reproduced by naming the id as a user would
(``env_id=...``: the caller's choice); loading without naming it is now refused and nothing runs.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hrrl.errors import EnvironmentMismatchError
from hrrl.inference.export import MANIFEST_FILE, export_policy
from hrrl.inference.gym_policy import GymPolicy

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

EVIL = """
from pathlib import Path
Path(__file__).with_name("ran.marker").write_text("imported")
"""


@pytest.fixture
def planted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A CartPole bundle whose manifest was edited to name ``evil_env:CartPole-v1``, and an
    importable ``evil_env`` that leaves a marker when imported."""
    run = tmp_path / "run"
    shutil.copytree(FIXTURES / "cartpole-run", run)
    bundle = export_policy(run, tmp_path / "bundle")
    manifest = json.loads((bundle / MANIFEST_FILE).read_text())
    manifest["env"]["id"] = "evil_env:CartPole-v1"
    (bundle / MANIFEST_FILE).write_text(json.dumps(manifest))
    (tmp_path / "evil_env.py").write_text(EVIL)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(__import__("sys").modules, "evil_env", raising=False)
    return bundle, tmp_path / "ran.marker"


def test_a_bundle_naming_a_module_is_refused_and_nothing_runs(planted: tuple[Path, Path]) -> None:
    bundle, marker = planted
    with pytest.raises(EnvironmentMismatchError, match="would import the module 'evil_env'"):
        GymPolicy.load(bundle).evaluate(episodes=1)
    assert not marker.exists()


def test_the_same_bundle_imports_the_module_when_the_caller_names_it(
    planted: tuple[Path, Path],
) -> None:
    # What loading did before without being asked: the module runs. Named by the caller, it is
    # the caller's choice, as ``gymnasium.make("evil_env:CartPole-v1")`` would be.
    bundle, marker = planted
    result = GymPolicy.load(bundle, env_id="evil_env:CartPole-v1").evaluate(episodes=1)
    assert marker.read_text() == "imported" and result.env_id == "evil_env:CartPole-v1"
