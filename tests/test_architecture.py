"""The import contract (pyproject.toml, ``[tool.importlinter]``): kept by the tree, and broken by
the import it exists to forbid."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter not installed")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def copy_tree(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(
        REPO / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    return root


def test_the_tree_keeps_the_contract(tmp_path: Path) -> None:
    result = lint_imports(copy_tree(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout


def test_an_engine_import_of_the_puzzle_breaks_it(tmp_path: Path) -> None:
    root = copy_tree(tmp_path)
    agent = root / "src/hrrl/engine/agent.py"
    agent.write_text(agent.read_text() + "\nfrom hrrl.puzzle.core import Puzzle  # noqa\n")
    result = lint_imports(root)
    assert result.returncode != 0
    assert "The engine knows no domain" in result.stdout and "BROKEN" in result.stdout
    assert "hrrl.engine.agent -> hrrl.puzzle.core" in result.stdout


def test_the_engine_and_persistence_name_no_evaluation_metric() -> None:
    # What a better evaluation is belongs to the task (Task.score, Task.solved): the trainer,
    # the early stop and the checkpoint store rank by its score and name no metric of their own.
    named = [
        f"{path.relative_to(REPO)}:{n}: {line.strip()}"
        for layer in ("engine", "persistence")
        for path in sorted((REPO / "src/hrrl" / layer).rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if "eval/" in line
    ]
    assert named == []
