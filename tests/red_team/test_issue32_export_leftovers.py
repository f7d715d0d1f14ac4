"""Issue 32, item 10: an export killed mid-write leaves nothing that blocks the next one.

Before: the bundle was written into ``--out`` itself, so a kill left a half bundle there (its
weights, or their temporary file, and no manifest) that neither ``--out`` nor ``--out --force``
would reuse (``--out ... is not empty``). Now an export writes into a hidden sibling and renames
it into place; a directory holding only an unfinished export's pieces is reused.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hrrl.errors import CheckpointError
from hrrl.inference import export
from hrrl.inference.export import MANIFEST_FILE, WEIGHTS_FILE, export_policy, read_bundle

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture
def run(tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(FIXTURES / "cartpole-run", copy, symlinks=True)
    return copy


@pytest.mark.parametrize(
    "left", [[WEIGHTS_FILE], [f".{WEIGHTS_FILE}.tmp"], [WEIGHTS_FILE, f".{MANIFEST_FILE}.tmp"]]
)
def test_what_a_killed_export_left_is_reused(run: Path, tmp_path: Path, left: list[str]) -> None:
    out = tmp_path / "bundle"
    out.mkdir()
    for name in left:
        (out / name).write_bytes(b"half written")
    read_bundle(export_policy(run, out))  # a whole, verified bundle


def test_a_kill_during_the_write_leaves_out_as_it_was(
    run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "bundle"
    first = read_bundle(export_policy(run, out))
    real = export.formats.write_safetensors

    def killed(path: Path, *args: object, **kwargs: object) -> None:
        real(path, *args, **kwargs)  # type: ignore[arg-type]
        raise KeyboardInterrupt  # the signal arrives mid-export

    monkeypatch.setattr(export.formats, "write_safetensors", killed)
    with pytest.raises(KeyboardInterrupt):
        export_policy(run, out, overwrite=True)
    assert read_bundle(out).manifest == first.manifest  # the old bundle, untouched
    monkeypatch.undo()
    read_bundle(export_policy(run, out, overwrite=True))
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".bundle")] == []


def test_a_directory_of_other_files_is_still_refused(run: Path, tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(CheckpointError, match="is not empty"):
        export_policy(run, out, overwrite=True)
    assert (out / "notes.txt").read_text() == "mine"
