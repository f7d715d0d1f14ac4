"""Issue 32, item 8: one byte that is not UTF-8 in ``metrics.jsonl`` does not block a resume.

Before: ``hrrl resume RUN --from STEP`` (which moves the rows logged after STEP aside) read the
log as text and stopped with exit 2 (``'utf-8' codec can't decode byte 0xff``, no file named),
though every checkpoint was valid. Now the log is split as bytes: a line that does not parse
stays where it was, byte for byte, and the run resumes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hrrl.cli import main

QUIET = ["--quiet", "--no-tensorboard"]


def test_a_stray_byte_in_the_metrics_log_is_kept_and_the_run_resumes(
    tmp_path: Path, tiny_overrides: tuple[str, ...]
) -> None:
    run = tmp_path / "run"
    sets = [*tiny_overrides, "checkpoint.enabled=true", "checkpoint.every_steps=400"]
    assert main(["train", "--run-dir", str(run), *QUIET, *(f"--set={s}" for s in sets)]) == 0
    log = run / "metrics.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    assert json.loads(lines[0])["step"] <= 400  # a row the resume keeps
    lines[0] = lines[0][:10] + b"\xff" + lines[0][10:]
    log.write_bytes(b"".join(lines))
    assert main(["resume", str(run), "--from", "400", *QUIET]) == 0
    assert log.read_bytes().splitlines(keepends=True)[0] == lines[0]
    steps = [json.loads(line)["step"] for line in log.read_bytes().splitlines()[1:]]
    assert steps == sorted(steps) and steps[-1] == 800  # the resumed run logged on to the end


@pytest.mark.parametrize("junk", [b"\xff\xfe", b"{not json"])
def test_an_unparsable_line_after_the_step_stays_too(
    tmp_path: Path, tiny_overrides: tuple[str, ...], junk: bytes
) -> None:
    run = tmp_path / "run"
    sets = [*tiny_overrides, "checkpoint.enabled=true", "checkpoint.every_steps=400"]
    assert main(["train", "--run-dir", str(run), *QUIET, *(f"--set={s}" for s in sets)]) == 0
    log = run / "metrics.jsonl"
    log.write_bytes(log.read_bytes() + junk + b"\n")
    assert main(["resume", str(run), "--from", "400", *QUIET]) == 0
    assert junk + b"\n" in log.read_bytes()
