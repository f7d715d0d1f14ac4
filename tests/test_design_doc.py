"""Issue 31, item 10: the design notes the modules cite live in the repository.

Before: 21 modules cited "DESIGN §n" from a file that is not in the repository."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DESIGN = ROOT / "docs" / "design.md"


def test_every_cited_section_exists_in_docs_design() -> None:
    sections = set(re.findall(r"^## (\d+)\. ", DESIGN.read_text(encoding="utf-8"), re.M))
    cited: dict[str, list[str]] = {}
    for folder in ("src", "tests", "bench"):
        for path in (ROOT / folder).rglob("*.py"):
            for number in re.findall(r"design §(\d+)", path.read_text(encoding="utf-8"), re.I):
                cited.setdefault(number, []).append(str(path.relative_to(ROOT)))
    assert cited, "no module cites the design notes"
    assert set(cited) <= sections, {n: cited[n] for n in set(cited) - sections}
