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
import contextlib
import importlib
import os
import re
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
    "tune",
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
        text = one_line(str(message))
        if text in self.seen:
            return
        self.seen.add(text)
        print(f"hrrl {self.command}: warning: {text}", file=file or sys.stderr)


#: A terminal colour code (Gymnasium colours its warnings): not for a line a log may keep.
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def one_line(text: str) -> str:
    """``text`` on one line, without terminal colour codes."""
    return " ".join(_ANSI.sub("", text).split())


def _error_line(command: str, exc: BaseException) -> None:
    print(f"hrrl {command}: error: {one_line(str(exc))}", file=sys.stderr)


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """``parse_args``, but an unknown flag gets the usage of its sub-command, not the top's."""
    args, extra = parser.parse_known_args(argv)
    if extra:
        sub = next(
            action.choices[args.command]
            for action in parser._actions
            if isinstance(action, argparse._SubParsersAction)
        )
        sub.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


#: Exit status when the reader of stdout went away (``hrrl eval ... | head``): 128 + SIGPIPE.
EXIT_BROKEN_PIPE = 141


def _quiet_broken_pipe() -> int:
    """The reader of stdout is gone: send what is left to /dev/null (Python would otherwise
    report the failed flush at exit) and end as a command killed by SIGPIPE would."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return EXIT_BROKEN_PIPE


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = _parse(parser, argv)
    shown: Any = warnings.showwarning
    warnings.showwarning = _WarningLines(args.command)
    try:
        code = int(args.func(args))
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return code
    except BrokenPipeError:
        return _quiet_broken_pipe()
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
