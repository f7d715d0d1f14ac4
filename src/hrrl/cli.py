"""The ``hrrl`` command: one sub-command a module under ``hrrl.commands``.

Each command module exposes ``register(subparsers)``, which adds its parser and sets
``func=run`` where ``run(args) -> int`` returns the exit code. Any ``HrrlError`` (and any
``ValueError`` from bad input) becomes one line on stderr and exit code 2; a warning (a
checkpoint skipped, say) becomes one ``warning:`` line, printed once.

Building the parser imports no command's machinery (torch, matplotlib, TensorBoard): each
``run`` imports what it needs, so ``hrrl --help`` and usage errors answer at once.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from collections.abc import Sequence
from typing import Any, TextIO

from hrrl.commands.signals import Interrupted
from hrrl.config import plain_text
from hrrl.errors import HrrlError

#: Sub-command modules, in the order ``hrrl --help`` lists them.
COMMANDS: tuple[str, ...] = (
    "suite",
    "check_reward",
    "train",
    "config",
    "eval",
    "solve",
    "checkpoints",
    "resume",
    "export",
    "report",
    "dashboard",
    "compare",
    "ablate",
)

EXIT_BAD_INPUT = 2
#: Exit status of a command the machine stopped (a full disk, an I/O error).
EXIT_FAILED = 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hrrl",
        description="Hierarchical relational reinforcement learning for the number puzzle.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"hrrl.commands.{name}").register(subparsers)
    _plain_help(parser)
    return parser


def _plain_help(parser: argparse.ArgumentParser) -> None:
    """Drop the reST markup (double backquotes, ``:mod:`` roles) that docstrings bring into help."""
    if parser.description:
        parser.description = plain_text(parser.description)
    if parser.epilog:
        parser.epilog = plain_text(parser.epilog)
    for action in parser._actions:
        if isinstance(action.help, str):
            action.help = plain_text(action.help)
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                if isinstance(choice.help, str):
                    choice.help = plain_text(choice.help)
            for sub in action.choices.values():
                _plain_help(sub)


class _WarningLines:
    """``warnings.showwarning`` for the CLI: ``hrrl CMD: warning: message`` on stderr, each
    distinct message once, without the Python source location."""

    def __init__(self, command: str) -> None:
        self.command = command
        self.seen: set[str] = set()

    def __call__(
        self,
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        text = " ".join(str(message).split())
        if text in self.seen:
            return
        self.seen.add(text)
        print(f"hrrl {self.command}: warning: {text}", file=file or sys.stderr)


def _error_line(command: str, exc: BaseException) -> None:
    message = " ".join(str(exc).split())  # one line, whatever the exception wrote
    print(f"hrrl {command}: error: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    shown: Any = warnings.showwarning
    warnings.showwarning = _WarningLines(args.command)
    try:
        return int(args.func(args))
    except (HrrlError, ValueError, FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        _error_line(args.command, exc)
        return exc.exit_code if isinstance(exc, HrrlError) else EXIT_BAD_INPUT
    except OSError as exc:  # the machine said no (a full disk, a failing mount): one line too
        _error_line(args.command, exc)
        return EXIT_FAILED
    except Interrupted as exc:
        print(f"hrrl {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"hrrl {args.command}: interrupted", file=sys.stderr)
        return 130
    finally:
        warnings.showwarning = shown


if __name__ == "__main__":
    sys.exit(main())
