"""Puzzle suites and results files (JSON Lines, design §1), the exact oracle, and per-family tables.

A suite file holds one puzzle per line; a results file holds one result per line, in the same
order. Reading a suite never stops at a bad line: each line becomes a :class:`SuiteEntry` that
holds either a validated :class:`~hrrl.puzzle.core.Puzzle` or the reason it was rejected, and a
rejected line turns into an ``INVALID`` result while the rest of the suite still runs::

    suite.jsonl ──read_suite──> [SuiteEntry] ──solve_suite (exact oracle)──> [Result] ──write_results
                                     │                                          │
                                     └──────────── summarize (rows by family) ──┘

Every efficiency figure is ``optimal_steps / steps`` against the exact optimum (design §1).
"""

from __future__ import annotations

import json
import math
import os
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hrrl.config import utf8_problem
from hrrl.errors import HrrlError, PuzzleError, field_error
from hrrl.puzzle.core import Puzzle, Status
from hrrl.puzzle.solver import optimal_path

#: Family name for puzzles whose ``extra`` has no ``family``.
NO_FAMILY = "-"
#: Family name of the row that sums every family in :func:`summarize`.
ALL_FAMILIES = "all"

PathLike = str | os.PathLike[str]


# --- suites -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class SuiteEntry:
    """One non-blank line of a suite file: the puzzle, or why the line was rejected.

    Exactly one of ``puzzle`` and ``reason`` is set. ``raw`` is the parsed JSON object (``None``
    when the line was not a JSON object), kept so that callers can read extra fields such as
    ``family`` even from a rejected line.
    """

    line: int
    """1-based line number in the file."""
    raw: Mapping[str, Any] | None
    """The line parsed as a JSON object, or None when it was not one."""
    puzzle: Puzzle | None = None
    """The validated puzzle; None when the line was rejected."""
    reason: str | None = None
    """Why the line was rejected; None for a valid line."""

    def __post_init__(self) -> None:
        assert (self.puzzle is None) != (self.reason is None), "set exactly one of puzzle/reason"

    @property
    def valid(self) -> bool:
        return self.puzzle is not None

    @property
    def id(self) -> str:
        """The line's ``id`` when it has a string one, else ``line-<n>``."""
        if self.raw is not None and isinstance(self.raw.get("id"), str) and self.raw["id"]:
            return str(self.raw["id"])
        return f"line-{self.line}"

    @property
    def family(self) -> str:
        """The ``family`` extra field, or ``"-"``."""
        return family_of(self)


def parse_suite_lines(lines: Iterable[str | bytes]) -> list[SuiteEntry]:
    """Parse suite lines (blank lines skipped); bad lines become entries with a ``reason``.

    A line is rejected for bytes that are not UTF-8 (or a byte-order mark), invalid JSON (an
    integer too long to read or arrays nested past the parser's depth included), a value that is
    not an object, a missing or non-string ``id``, an ``id`` used by an earlier
    line, or anything :meth:`Puzzle.from_dict` refuses.
    """
    entries: list[SuiteEntry] = []
    first_line_of: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        problem = utf8_problem(line) if isinstance(line, bytes) else None
        if problem is not None:
            entries.append(SuiteEntry(line=number, raw=None, reason=problem))
            continue
        text = line.decode("utf-8") if isinstance(line, bytes) else line
        if not text.strip():
            continue
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            entries.append(
                SuiteEntry(
                    line=number, raw=None, reason=f"invalid JSON: {exc.msg} at column {exc.colno}"
                )
            )
            continue
        except (ValueError, RecursionError) as exc:  # an integer of thousands of digits, or
            # arrays nested past the parser's depth: this line, not the suite
            why = "nested too deep" if isinstance(exc, RecursionError) else str(exc).split(";")[0]
            entries.append(SuiteEntry(line=number, raw=None, reason=f"unreadable JSON: {why}"))
            continue
        if not isinstance(raw, dict):
            reason = f"a suite line must be a JSON object, got {type(raw).__name__}"
            entries.append(SuiteEntry(line=number, raw=None, reason=reason))
            continue
        try:
            pid = _checked_id(raw)
            if pid in first_line_of:
                raise field_error(
                    PuzzleError,
                    "id",
                    pid,
                    f"it repeats line {first_line_of[pid]}; ids must be unique",
                )
            puzzle = Puzzle.from_dict(raw)
        except (HrrlError, ValueError) as exc:
            entries.append(SuiteEntry(line=number, raw=raw, reason=str(exc)))
            continue
        first_line_of[pid] = number
        entries.append(SuiteEntry(line=number, raw=raw, puzzle=puzzle))
    return entries


def _checked_id(raw: Mapping[str, Any]) -> str:
    if "id" not in raw:
        raise PuzzleError("id is missing: every suite line needs an 'id' string")
    pid = raw["id"]
    if not isinstance(pid, str) or not pid:
        raise field_error(PuzzleError, "id", pid, "it must be a non-empty string")
    return pid


def read_suite(path: PathLike) -> list[SuiteEntry]:
    """Read a suite file (design §1); see :func:`parse_suite_lines` for what a bad line becomes."""
    with open(path, "rb") as fh:
        return parse_suite_lines(fh)


def format_rejected(entries: Sequence[SuiteEntry], path: PathLike) -> str:
    """The lines of ``path`` that became ``INVALID``, one a line with the reason ("" for none)."""
    rejected = [e for e in entries if not e.valid]
    if not rejected:
        return ""
    head = f"{len(rejected)} INVALID line{'' if len(rejected) == 1 else 's'} in {path}:"
    return "\n".join([head, *(f"  line {e.line} ({e.id}): {e.reason}" for e in rejected)])


def write_suite(path: PathLike, puzzles: Iterable[Puzzle]) -> int:
    """Write puzzles as a suite file, one JSON object a line; returns the number written."""
    return _write_jsonl(path, (p.to_dict() for p in puzzles))


# --- results ----------------------------------------------------------------------------------
_TERMINAL_RESULT = frozenset(Status) - {Status.IN_PROGRESS}
#: Results of lines that were never played: rejected (INVALID) or beyond the policy (UNSUPPORTED).
_NOT_PLAYED = frozenset({Status.INVALID, Status.UNSUPPORTED})


@dataclass(frozen=True)
class Result:
    """How one puzzle ended: a results-file line (design §1).

    ``path`` is every number visited, starting with ``start`` (the last one is where the episode
    ended, forbidden or past the target included), so ``steps == len(path) - 1``. ``UNSOLVABLE``
    has ``path == (start,)`` and ``steps == 0``; ``INVALID`` and ``UNSUPPORTED`` have an empty path
    and a ``reason``.
    """

    id: str
    """The puzzle's id (``line-<n>`` for a suite line without one)."""
    status: Status
    """How it ended: SUCCESS, FORBIDDEN, OVERSHOOT, MAX_STEPS, UNSOLVABLE or INVALID."""
    steps: int
    """Steps taken (0 for UNSOLVABLE and INVALID)."""
    path: tuple[int, ...]
    """Every number visited, starting with start."""
    optimal_steps: int | None
    """The exact optimum within max_steps; None when unsolvable or invalid."""
    reason: str | None = None
    """Why an INVALID line was rejected; None otherwise."""

    def __post_init__(self) -> None:
        if not isinstance(self.status, Status) or self.status not in _TERMINAL_RESULT:
            raise field_error(
                PuzzleError, "status", self.status, "use a terminal status such as SUCCESS"
            )
        if self.status in _NOT_PLAYED:
            if not self.reason or self.path or self.steps != 0:
                raise field_error(
                    PuzzleError,
                    "reason",
                    self.reason,
                    f"{self.status.value} needs a reason, steps 0, no path",
                )
            return
        if self.reason is not None:
            raise field_error(
                PuzzleError, "reason", self.reason, "only INVALID and UNSUPPORTED results carry one"
            )
        if self.status is Status.UNSOLVABLE and (len(self.path) != 1 or self.steps != 0):
            raise field_error(PuzzleError, "path", list(self.path), "UNSOLVABLE has path [start]")
        if self.steps != len(self.path) - 1:
            raise field_error(
                PuzzleError, "steps", self.steps, f"it must be len(path) - 1 = {len(self.path) - 1}"
            )

    @classmethod
    def invalid(cls, id: str, reason: str) -> Result:
        return cls(
            id=id, status=Status.INVALID, steps=0, path=(), optimal_steps=None, reason=reason
        )

    @classmethod
    def unsupported(cls, id: str, reason: str) -> Result:
        """A valid puzzle the policy cannot play (design §1: path empty, ``reason`` says why)."""
        return cls(
            id=id, status=Status.UNSUPPORTED, steps=0, path=(), optimal_steps=None, reason=reason
        )

    @classmethod
    def unsolvable(cls, puzzle: Puzzle) -> Result:
        return cls(
            id=puzzle.id,
            status=Status.UNSOLVABLE,
            steps=0,
            path=(puzzle.start,),
            optimal_steps=None,
        )

    @classmethod
    def from_path(
        cls, puzzle: Puzzle, path: Sequence[int], status: Status, optimal_steps: int | None
    ) -> Result:
        """Result of a played episode; ``path`` starts with ``puzzle.start``."""
        return cls(
            id=puzzle.id,
            status=status,
            steps=len(path) - 1,
            path=tuple(int(x) for x in path),
            optimal_steps=optimal_steps,
        )

    @property
    def efficiency(self) -> float | None:
        """``optimal_steps / steps`` for a success, else None (1.0 means an optimal path)."""
        if self.status is not Status.SUCCESS or not self.optimal_steps or self.steps <= 0:
            return None
        return self.optimal_steps / self.steps

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "status": self.status.value,
            "steps": self.steps,
            "path": list(self.path),
            "optimal_steps": self.optimal_steps,
        }
        if self.reason is not None:
            out["reason"] = self.reason
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Result:
        if not isinstance(data, Mapping):
            raise PuzzleError(f"a result must be a JSON object, got {type(data).__name__}")
        for name in ("id", "status", "steps", "path"):
            if name not in data:
                raise PuzzleError(f"{name} is missing: every result needs id, status, steps, path")
        try:
            status = Status(data["status"])
        except ValueError:
            allowed = ", ".join(s.value for s in _TERMINAL_RESULT)
            raise field_error(
                PuzzleError, "status", data["status"], f"use one of {allowed}"
            ) from None
        path = data["path"]
        if not isinstance(path, list) or not all(_is_int(x) for x in path):
            raise field_error(PuzzleError, "path", path, "give a list of integers")
        steps, optimal = data["steps"], data.get("optimal_steps")
        if not _is_int(steps):
            raise field_error(PuzzleError, "steps", steps, "it must be an integer")
        if optimal is not None and not _is_int(optimal):
            raise field_error(PuzzleError, "optimal_steps", optimal, "give an integer or null")
        return cls(
            id=str(data["id"]),
            status=status,
            steps=steps,
            path=tuple(path),
            optimal_steps=optimal,
            reason=data.get("reason"),
        )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def write_results(path: PathLike, results: Iterable[Result]) -> int:
    """Write a results file, one JSON object a line; returns the number written."""
    return _write_jsonl(path, (r.to_dict() for r in results))


def read_results(path: PathLike) -> list[Result]:
    """Read a results file; a bad line raises :class:`PuzzleError` naming the line."""
    results: list[Result] = []
    with open(path, encoding="utf-8") as fh:
        for number, text in enumerate(fh, start=1):
            if not text.strip():
                continue
            try:
                results.append(Result.from_dict(json.loads(text)))
            except (json.JSONDecodeError, PuzzleError) as exc:
                raise PuzzleError(f"{os.fspath(path)} line {number}: {exc}") from exc
    return results


# --- the exact oracle -------------------------------------------------------------------------
def solve_entry(entry: SuiteEntry) -> Result:
    """The exact optimum of one suite line as a result (INVALID lines keep their reason)."""
    if entry.puzzle is None:
        return Result.invalid(entry.id, entry.reason or "rejected")
    puzzle = entry.puzzle
    path = optimal_path(puzzle)
    if path is None:
        return Result.unsolvable(puzzle)
    return Result.from_path(puzzle, path, Status.SUCCESS, optimal_steps=len(path) - 1)


def solve_suite(entries: Iterable[SuiteEntry]) -> list[Result]:
    """Exact oracle for a whole suite: SUCCESS along an optimal path, UNSOLVABLE when no path
    lands on the target within ``max_steps``, INVALID for rejected lines."""
    return [solve_entry(e) for e in entries]


# --- tables by family -------------------------------------------------------------------------
def family_of(item: Puzzle | SuiteEntry | None) -> str:
    """The ``family`` extra field of a puzzle or suite line (``"-"`` when absent)."""
    if isinstance(item, SuiteEntry):
        extra: Mapping[str, Any] = item.puzzle.extra if item.puzzle is not None else item.raw or {}
    elif isinstance(item, Puzzle):
        extra = item.extra
    else:
        extra = {}
    family = extra.get("family")
    return family if isinstance(family, str) and family else NO_FAMILY


@dataclass(frozen=True)
class FamilyRow:
    """Summary of the results of one family (or of every family, ``family == "all"``).

    ``solvable`` counts results that are neither UNSOLVABLE, INVALID nor UNSUPPORTED; ``success_rate`` is
    ``solved / solvable``; ``mean_efficiency`` averages ``optimal_steps / steps`` over the
    successes; ``mean_optimal_steps`` averages the exact optimum over the solvable puzzles.
    NaN marks a mean over nothing.
    """

    family: str
    puzzles: int
    solvable: int
    solved: int
    unsolvable: int
    invalid: int
    success_rate: float
    mean_efficiency: float
    mean_optimal_steps: float
    unsupported: int = 0
    """Valid puzzles the policy could not play (reported UNSUPPORTED, left out of ``solvable``)."""
    statuses: Mapping[str, int] = field(default_factory=dict)
    """Count of each status in this family."""


def summarize(
    results: Sequence[Result], puzzles: Sequence[Puzzle | SuiteEntry | None] | None = None
) -> list[FamilyRow]:
    """Rows by family (first-seen order) and a final ``"all"`` row.

    ``puzzles`` is aligned with ``results`` and only supplies the family (``extra["family"]``);
    leave it out to get a single family ``"-"``. The optimum comes from each result's
    ``optimal_steps``, so the same function scores the oracle and a trained agent.
    """
    if puzzles is not None and len(puzzles) != len(results):
        raise ValueError(f"summarize: {len(results)} results but {len(puzzles)} puzzles")
    groups: dict[str, list[Result]] = {}
    for i, result in enumerate(results):
        family = family_of(puzzles[i]) if puzzles is not None else NO_FAMILY
        groups.setdefault(family, []).append(result)
    rows = [_row(name, group) for name, group in groups.items()]
    rows.append(_row(ALL_FAMILIES, list(results)))
    return rows


def _row(family: str, results: Sequence[Result]) -> FamilyRow:
    statuses: dict[str, int] = {}
    for r in results:
        statuses[r.status.value] = statuses.get(r.status.value, 0) + 1
    unsolvable = statuses.get(Status.UNSOLVABLE.value, 0)
    invalid = statuses.get(Status.INVALID.value, 0)
    unsupported = statuses.get(Status.UNSUPPORTED.value, 0)
    solved = statuses.get(Status.SUCCESS.value, 0)
    solvable = len(results) - unsolvable - invalid - unsupported
    efficiencies = [e for r in results if (e := r.efficiency) is not None]
    optima = [
        r.optimal_steps
        for r in results
        if r.optimal_steps is not None
        and r.status not in (Status.UNSOLVABLE, Status.INVALID, Status.UNSUPPORTED)
    ]
    return FamilyRow(
        family=family,
        puzzles=len(results),
        solvable=solvable,
        solved=solved,
        unsolvable=unsolvable,
        invalid=invalid,
        unsupported=unsupported,
        success_rate=solved / solvable if solvable else math.nan,
        mean_efficiency=_mean(efficiencies),
        mean_optimal_steps=_mean(optima),
        statuses=statuses,
    )


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def format_table(rows: Sequence[FamilyRow], columns: Sequence[str]) -> str:
    """Plain-text table of ``rows`` with the given :class:`FamilyRow` attribute names as columns.

    Floats print with 3 decimals (rates and efficiencies) and NaN as ``-``.
    """
    header = ["family", *columns]
    body = [[row.family, *(_cell(getattr(row, c)) for c in columns)] for row in rows]
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))
        return "  ".join([first, *rest]).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(r) for r in body)])


def _cell(value: object) -> str:
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.3f}"
    return str(value)


# --- files ------------------------------------------------------------------------------------
def _write_jsonl(
    path: PathLike, objects: Iterator[dict[str, Any]] | Iterable[dict[str, Any]]
) -> int:
    """Write objects one a line, atomically: a reader never sees half a file.

    The temporary sibling is created by ``open(..., "x")``, not ``tempfile.mkstemp``: mkstemp
    makes files mode 0600, and ``os.replace`` would hand that mode on to the output; a plain
    create gets the permissions of the user's umask, like any other file the user writes.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    count = 0
    try:
        with tmp.open("x", encoding="utf-8") as fh:
            for obj in objects:
                fh.write(json.dumps(obj) + "\n")
                count += 1
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return count
