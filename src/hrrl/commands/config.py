"""``hrrl config show``: the resolved config as YAML, each field's meaning as a comment above it.

What ``hrrl train`` with the same ``--preset``, ``--config``, ``--env``, ``--set`` and ``--seed``
would run, as a file ``--config`` reads back. Example::

    hrrl config show --preset baseline --set agent.lr=3e-4 > mine.yaml
    hrrl train --config mine.yaml
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hrrl.commands import PRESET_NAMES


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "config",
        help="print the resolved config, every field documented",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    actions = parser.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    show = actions.add_parser(
        "show",
        help="print the config a train command would run, with each field's documentation",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    show.add_argument("--preset", choices=PRESET_NAMES, help="starting config (default 'default')")
    show.add_argument("--env", metavar="ID", help="a Gymnasium id instead of the puzzle")
    show.add_argument("--config", type=Path, metavar="FILE", help="a YAML config over the preset")
    show.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one field, e.g. --set agent.lr=3e-4 (repeatable)",
    )
    show.add_argument("--seed", type=int, help="shortcut for --set train.seed=N")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hrrl.commands.train import resolve_config
    from hrrl.config import commented_yaml

    print(commented_yaml(resolve_config(args)), end="")
    return 0
