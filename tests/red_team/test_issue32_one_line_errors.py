"""Issue 32, item 11 (five of its cases): one line instead of a traceback or a wrong word.

Before: an absurd ``agent.hidden`` from ``--set`` ended in PyTorch's allocator traceback
(``RuntimeError: DefaultCPUAllocator``), a ``.lock`` that is a symlink in an ``OSError``
(``ELOOP``) traceback, and resuming a Gymnasium run printed ``eval success nan``. Now the width
is refused by name with its bound, the lock in one line (its target untouched), and the resume
line shows the return. An ``--output`` file torn inside a UTF-8 character stopped
``hrrl eval --resume`` (``UnicodeDecodeError``); the torn line is now dropped and played again.
A bundle whose manifest claims an absurd ``obs_dim`` ended in the allocator's traceback too; the
network's size is now checked before anything is allocated.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from hrrl.cli import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def test_an_absurd_width_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["train", "--run-dir", str(tmp_path / "run"), "--set", "agent.hidden=100000000"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "agent.hidden" in err and "16384" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_a_resumed_gymnasium_run_names_its_return(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    shutil.copytree(FIXTURES / "cartpole-run", run, symlinks=True)
    # What a Gymnasium evaluation records: a return, and no success rate without a threshold.
    (state,) = (run / "checkpoints").glob("step-*/state.json")
    manifest = json.loads(state.read_text())
    manifest["metrics"] = {"eval/mean_return": 9.5, "eval/success_rate": math.nan}
    state.write_text(json.dumps(manifest))
    argv = ["resume", str(run), "--allow-config-change", "--set=train.total_env_steps=1600"]
    assert main([*argv, "--quiet", "--no-tensorboard"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("resuming"))
    assert "nan" not in line and "eval mean return 9.5" in line


def test_a_symlinked_lock_is_one_line_and_its_target_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    shutil.copytree(FIXTURES / "cartpole-run", run, symlinks=True)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (run / ".lock").unlink(missing_ok=True)
    (run / ".lock").symlink_to(victim)
    argv = ["resume", str(run), "--allow-config-change", "--set=train.total_env_steps=1600"]
    assert main([*argv, "--quiet", "--no-tensorboard"]) == 2
    err = capsys.readouterr().err
    assert "symbolic link" in err and "Traceback" not in err
    assert victim.read_text() == "precious"


def test_an_output_torn_inside_a_character_resumes(tmp_path: Path) -> None:
    suite, out = tmp_path / "suite.jsonl", tmp_path / "out.jsonl"
    lines = [f'{{"id": "p{k}", "target": {10 + k}, "forbidden": []}}' for k in range(3)]
    suite.write_text("\n".join(lines) + "\n")
    bundle = FIXTURES / "puzzle-bundle"
    argv = ["eval", "--checkpoint", str(bundle), "--suite", str(suite), "--output", str(out)]
    assert main(argv) == 0
    whole = out.read_bytes()
    first = whole.splitlines(keepends=True)[0]
    out.write_bytes(first + b'{"id": "p1", "reason": "\xc3')  # killed mid-character
    assert main([*argv, "--resume"]) == 0
    assert sorted(json.loads(x)["id"] for x in out.read_text().splitlines()) == ["p0", "p1", "p2"]


@pytest.mark.parametrize(("field", "value"), [("obs_dim", 10**9), ("hidden", 10**7)])
def test_an_absurd_size_in_a_bundle_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str, value: int
) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(FIXTURES / "puzzle-bundle", bundle)
    manifest = json.loads((bundle / "policy.json").read_text())
    if field == "hidden":
        manifest["agent"]["hidden"] = value
    else:
        manifest[field] = value
    (bundle / "policy.json").write_text(json.dumps(manifest))
    assert main(["solve", "--checkpoint", str(bundle), "--target", "20"]) == 2
    err = capsys.readouterr().err
    assert "1 GiB" in err and "Traceback" not in err
