"""Project exceptions: few, and each says what was wrong and how to fix it.

Bad input is refused with ``ValueError`` subclasses so that callers who only know the standard
library still catch it; the CLI turns any :class:`HrrlError` into one line on stderr and exit code 2.
"""

from __future__ import annotations


class HrrlError(Exception):
    """Base class of every error hrrl raises on purpose."""

    exit_code = 2
    """The command line's exit status for it (2: the input was refused)."""


class RunFailedError(HrrlError):
    """A run that could not go on or could not keep what it learned: its environment raised, or
    its final state could not be saved (a full disk). The message says what is left on disk."""

    exit_code = 1


class PuzzleError(HrrlError, ValueError):
    """A puzzle (or a suite line) that breaks the contract of design §1."""


class ConfigError(HrrlError, ValueError):
    """A configuration value out of range, of the wrong type, or unknown."""


class CheckpointError(HrrlError):
    """A checkpoint that cannot be found, verified or loaded."""


class RunDirectoryError(HrrlError):
    """A run directory that cannot be used: someone else's files, a run there already, a lock."""


class RunLockedError(RunDirectoryError):
    """Another live process is training or resuming this run directory."""


class EnvironmentMismatchError(HrrlError, ValueError):
    """A Gymnasium environment the engine cannot handle (continuous actions, dict observations)."""


def field_error(cls: type[HrrlError], field: str, value: object, fix: str) -> HrrlError:
    """Build the project's standard message: the field, the bad value and the fix."""
    return cls(f"{field}={value!r} is invalid: {fix}")
