"""Issue 32, item 9: ``best`` and ``latest`` are followed only inside their own run.

Before: ``checkpoints/best`` pointed at another run's step directory made ``export``, ``solve``
and ``Policy.load`` use the other run while ``hrrl checkpoints`` marked a local step of the same
name as best. Now such a link is skipped with a warning naming where it points, and the run's
own newest valid checkpoint is used.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from hrrl.persistence.store import CheckpointWarning, list_checkpoints, resolve_checkpoint

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.mark.parametrize("absolute", [False, True])
def test_a_best_link_into_another_run_is_not_followed(tmp_path: Path, absolute: bool) -> None:
    mine, other = tmp_path / "mine", tmp_path / "other"
    shutil.copytree(FIXTURES / "puzzle-run", mine, symlinks=True)
    shutil.copytree(FIXTURES / "puzzle-run", other, symlinks=True)
    (step,) = [p for p in (mine / "checkpoints").iterdir() if p.name.startswith("step-")]
    foreign = other / "checkpoints" / step.name
    best = mine / "checkpoints" / "best"
    best.unlink()
    os.symlink(foreign if absolute else os.path.relpath(foreign, best.parent), best)
    with pytest.warns(CheckpointWarning, match="points outside the run"):
        loaded = resolve_checkpoint(mine)
    assert loaded.path == step  # this run's own checkpoint, not the other run's
    assert not any(info.is_best for info in list_checkpoints(mine))


def test_a_best_link_inside_the_run_is_followed_absolute_or_relative(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    shutil.copytree(FIXTURES / "puzzle-run", mine, symlinks=True)
    (step,) = [p for p in (mine / "checkpoints").iterdir() if p.name.startswith("step-")]
    best = mine / "checkpoints" / "best"
    for target in (step.name, str(step)):
        best.unlink()
        os.symlink(target, best)
        assert resolve_checkpoint(mine).path == step
        assert [info.is_best for info in list_checkpoints(mine)] == [True]
