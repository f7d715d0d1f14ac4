"""Seeded suites: ``count`` puzzles of each family (:mod:`hrrl.puzzle.families`) per action set.

A family's generator is seeded by the suite seed, the family's name and (off the default) the
action set, so its puzzles do not depend on which other families or sets share the suite. Each
puzzle carries ``extra["family"]``; ids are ``<family>-0000`` (``<family>-a1-2-7-0000`` for
another action set).
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from hrrl.errors import ConfigError, PuzzleError, field_error
from hrrl.puzzle.core import DEFAULT_ACTIONS, Puzzle
from hrrl.puzzle.families import FAMILIES, SCALE_FAMILIES, Family

#: Every family a suite can name: ``all`` is :data:`FAMILIES`, the rest are asked for by name.
NAMED_FAMILIES: dict[str, Family] = {**FAMILIES, **SCALE_FAMILIES}


# --- suites -----------------------------------------------------------------------------------
def check_families(families: Sequence[str]) -> list[str]:
    """The family names, validated: known, not repeated, at least one. ``"all"`` means every one
    of :data:`~hrrl.puzzle.families.FAMILIES` (not the scale families, named one by one)."""
    names = list(FAMILIES) if list(families) == ["all"] else list(families)
    known = ", ".join(NAMED_FAMILIES)
    if not names:
        raise field_error(PuzzleError, "family", [], f"give at least one of {known}")
    for name in names:
        if name not in NAMED_FAMILIES:
            raise field_error(PuzzleError, "family", name, f"use one of {known}")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise field_error(PuzzleError, "family", repeated, "name each family once")
    return names


def family_rng(
    family: str, seed: int, actions: Sequence[int] = DEFAULT_ACTIONS
) -> np.random.Generator:
    """The generator of one family: seeded by ``(seed, crc32(family))`` (and the action set, when
    it is not the default), so a family's puzzles do not depend on which other families or
    action sets share the suite."""
    key = [seed, zlib.crc32(family.encode())]
    if tuple(actions) != DEFAULT_ACTIONS:
        key.append(zlib.crc32(actions_label(actions).encode()))
    return np.random.default_rng(key)


def actions_label(actions: Sequence[int]) -> str:
    """``"1-2-7"``: an action set as it appears in puzzle ids and table rows."""
    return "-".join(str(a) for a in actions)


def check_actions(actions: Sequence[int]) -> tuple[int, ...]:
    """An action set validated as a puzzle would (distinct positive integers)."""
    return Puzzle(target=1, forbidden=frozenset(), actions=tuple(actions), max_steps=1).actions


def iter_family(
    family: str, count: int, seed: int, actions: Sequence[int] = DEFAULT_ACTIONS
) -> Iterator[Puzzle]:
    """``count`` puzzles of one family for ``actions``, deterministic for ``seed``; ids are
    ``<family>-0000`` on (``<family>-a<1-2-7>-0000`` for another action set than the default).

    The arguments are checked here, before the first puzzle is asked for.
    """
    (name,) = check_families([family])
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise field_error(ConfigError, "count", count, "give a whole number >= 0")
    action_tuple = check_actions(actions)
    return _puzzles(name, count, family_rng(name, seed, action_tuple), action_tuple)


def _puzzles(
    name: str, count: int, rng: np.random.Generator, actions: tuple[int, ...]
) -> Iterator[Puzzle]:
    make = NAMED_FAMILIES[name]
    prefix = name if actions == DEFAULT_ACTIONS else f"{name}-a{actions_label(actions)}"
    for i in range(count):
        puzzle = make(rng, actions)
        yield dataclasses.replace(
            puzzle, id=f"{prefix}-{i:04d}", extra={"family": name, **puzzle.extra}
        )


def generate_suite(
    families: Sequence[str],
    count: int,
    seed: int,
    actions: Sequence[int] | Sequence[Sequence[int]] = DEFAULT_ACTIONS,
) -> list[Puzzle]:
    """``count`` puzzles of each family, family by family in the order given; for several action
    sets (a sequence of sets), set by set."""
    sets = _action_sets(actions)
    names = check_families(families)
    return [p for acts in sets for name in names for p in iter_family(name, count, seed, acts)]


def _action_sets(actions: Sequence[int] | Sequence[Sequence[int]]) -> list[tuple[int, ...]]:
    items: list[Any] = list(actions)
    if items and all(isinstance(a, int) for a in items):
        return [tuple(int(a) for a in items)]
    return [tuple(int(a) for a in acts) for acts in items]
