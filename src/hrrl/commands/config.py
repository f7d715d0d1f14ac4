"""``hrrl config show``: the resolved config as YAML, each field's meaning as a comment above it.

What ``hrrl train`` with the same ``--preset``, ``--config``, ``--env``, ``--set`` and ``--seed``
would run, as a file ``--config`` reads back. Example::

    hrrl config show --preset baseline --set agent.lr=3e-4 > mine.yaml
    hrrl train --config mine.yaml
"""

from __future__ import annotations

import argparse

from hrrl.commands.train import add_config_arguments


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
    add_config_arguments(show)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hrrl.commands.train import resolve_config
    from hrrl.config import commented_yaml

    print(commented_yaml(resolve_config(args)), end="")
    return 0
