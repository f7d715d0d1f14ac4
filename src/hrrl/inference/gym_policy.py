"""The greedy policy of a checkpoint trained on a Gymnasium environment (``hrrl eval --env``)."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from hrrl.engine.task import PolicyFn
from hrrl.errors import CheckpointError, EnvironmentMismatchError
from hrrl.experiment import migrate_config
from hrrl.inference.network import greedy_actions, load_online_network, run_config
from hrrl.persistence.store import resolve_checkpoint


def load_greedy_policy(path: Path | str, *, env_id: str) -> tuple[PolicyFn, Path]:
    """The greedy policy of a run or checkpoint directory trained on ``env_id``, and the
    checkpoint it came from. Refuses a checkpoint trained on another environment."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path} does not exist: give a run or checkpoint directory")
    ck = resolve_checkpoint(path)
    trained_on = (migrate_config(run_config(ck)).get("gym") or {}).get("id")
    if trained_on != env_id:
        fix = f"pass --env {trained_on}" if trained_on else "evaluate it with --suite"
        what = repr(trained_on) if trained_on else "the number puzzle"
        raise EnvironmentMismatchError(f"{ck.path} was trained on {what}, not {env_id!r}: {fix}")
    return partial(greedy_actions, load_online_network(ck)), ck.path
