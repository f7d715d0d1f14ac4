"""``hrrl dashboard RUN_DIR [--port 6006]``: TensorBoard for one run, on localhost.

Starts ``python -m tensorboard.main --logdir RUN_DIR --host 127.0.0.1 --port PORT``, prints the
URL to open, and waits until TensorBoard exits or Ctrl-C (or SIGTERM) stops it, taking
TensorBoard down with it. A port already in use is refused up front, with a free one
suggested. Point RUN_DIR at ``runs/`` to compare several runs (the hparams tab lines up their
configs and final metrics).
"""

from __future__ import annotations

import argparse
import signal
import socket
import subprocess
import sys
from pathlib import Path

from hrrl.errors import ConfigError, field_error

DEFAULT_PORT = 6006
HOST = "127.0.0.1"
#: Exit status after SIGTERM (128 + 15), as a shell reports a process it terminated.
EXIT_SIGTERM = 143


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "dashboard",
        help="start TensorBoard on localhost for a run directory",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="runs/<name> (or runs/)")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port to serve on ({DEFAULT_PORT})"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print the TensorBoard command instead of running it"
    )
    parser.set_defaults(func=run)


def tensorboard_command(run_dir: Path, port: int) -> list[str]:
    """The command line that serves ``run_dir`` on ``HOST:port``; checks both first."""
    if not run_dir.is_dir():
        raise FileNotFoundError(
            f"run directory {str(run_dir)!r} does not exist (pass the directory `hrrl train` wrote)"
        )
    if isinstance(port, bool) or not 1 <= port <= 65535:
        raise field_error(ConfigError, "port", port, "use a TCP port in 1..65535")
    return [
        sys.executable, "-m", "tensorboard.main",
        "--logdir", str(run_dir), "--host", HOST, "--port", str(port),
    ]  # fmt: skip


def port_taken(port: int, host: str = HOST) -> bool:
    """Whether something already listens on (or holds) ``host:port``: a bind attempt."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def free_port_near(port: int, host: str = HOST, tries: int = 20) -> int | None:
    """The first free port after ``port`` (within ``tries``), to suggest."""
    return next(
        (p for p in range(port + 1, min(port + tries, 65535) + 1) if not port_taken(p, host)), None
    )


class _Terminated(Exception):
    """SIGTERM arrived: stop TensorBoard and exit 143."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Terminated


def run(args: argparse.Namespace) -> int:
    command = tensorboard_command(args.run_dir, args.port)
    if args.dry_run:
        print(" ".join(command))
        return 0
    if port_taken(args.port):
        other = free_port_near(args.port)
        hint = f": pass --port {other}" if other is not None else ": pass another --port"
        raise ConfigError(
            f"port {args.port} on {HOST} is already in use (another TensorBoard or dashboard?)"
            f"{hint}"
        )
    print(f"TensorBoard for {args.run_dir}: open http://{HOST}:{args.port}/ (Ctrl-C stops it)")
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    process = subprocess.Popen(command)
    try:
        return process.wait()
    except KeyboardInterrupt:
        return 0
    except _Terminated:
        return EXIT_SIGTERM
    finally:
        signal.signal(signal.SIGTERM, previous)
        if process.poll() is None:  # stopped by Ctrl-C, SIGTERM or an error: TensorBoard too
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
