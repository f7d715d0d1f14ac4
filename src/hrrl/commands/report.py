"""``hrrl report RUN_DIR [--out DIR]``: plots and report.html from a run's logs.

Works on a finished, a running and a killed run: it reads whatever ``metrics.jsonl``,
``events.jsonl`` and ``config.yaml`` hold now. Open the printed ``report.html`` in a browser.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "report",
        help="write PNG plots and report.html for a run directory",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="runs/<name> directory")
    parser.add_argument(
        "--out", type=Path, default=None, metavar="DIR", help="output directory (RUN_DIR/report)"
    )
    parser.add_argument(
        "--embed",
        action="store_true",
        help="inline the images as base64 so report.html is a single file to share",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hrrl.monitoring.report import write_report

    result = write_report(args.run_dir, args.out, embed=args.embed)
    for note in result.notes:
        print(f"note: {note}")
    print(f"wrote {len(result.images)} plots and {result.html}")
    return 0
