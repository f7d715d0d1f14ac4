"""The ``hrrl`` command: one sub-command a module under :mod:`hrrl.commands`.

Each command module exposes ``register(subparsers)``, which adds its parser and sets
``func=run`` where ``run(args) -> int`` returns the exit code. Any :class:`~hrrl.errors.HrrlError`
(and any ``ValueError`` from bad input) becomes one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from hrrl.commands.signals import Interrupted
from hrrl.errors import HrrlError

#: Sub-command modules, in the order ``hrrl --help`` lists them.
COMMANDS: tuple[str, ...] = (
    "suite",
    "check_reward",
    "train",
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hrrl",
        description="Hierarchical relational reinforcement learning for the number puzzle.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"hrrl.commands.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (HrrlError, ValueError, FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        message = " ".join(str(exc).split())  # one line, whatever the exception wrote
        print(f"hrrl {args.command}: error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Interrupted as exc:
        print(f"hrrl {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"hrrl {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
