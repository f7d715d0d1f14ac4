"""Ape-X: the actor's collection and priorities (in process), the learner's faults (real Ray).

The Ray tests run on a real local Ray, as the ablation's does: an actor SIGKILLed mid-run is
replaced and the run finishes its budget; an actor whose environment raises is replaced, and
past ``distributed.max_restarts`` the run ends with its last whole step saved, which ``hrrl
resume`` continues with fresh actors; a SIGTERM to the learner leaves a checkpoint that ``hrrl
resume`` continues to the budget.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

import hrrl
from hrrl.cli import main
from hrrl.config import apply_overrides
from hrrl.engine.agent import DQNAgent
from hrrl.engine.distributed.actor import Actor
from hrrl.engine.distributed.config import DistributedConfig, ladder_epsilon
from hrrl.engine.distributed.learner import ActorPool, DistributedTrainer
from hrrl.engine.dqn import td_targets
from hrrl.engine.replay.buffer import Batch
from hrrl.engine.trainer import Trainer
from hrrl.errors import ConfigError
from hrrl.experiment import ExperimentConfig, gym_preset
from hrrl.persistence.store import list_checkpoints
from hrrl.run import actor_config, make_task

#: CI installs the ray extra (``make test``): there these tests must run, not skip.
RAY_MISSING = importlib.util.find_spec("ray") is None and not os.environ.get("CI")
TinyFactory = Callable[..., ExperimentConfig]
needs_ray = pytest.mark.skipif(RAY_MISSING, reason="ray is not installed (pip install '.[ray]')")

#: A short CartPole run: 2 actors of 2 envs, chunks of 8 vector steps (16 transitions),
#: learning from 128 steps, one evaluation at the end.
SETS = (
    "distributed.actors=2",
    "distributed.chunk_steps=8",
    "train.num_envs=2",
    "train.total_env_steps=3000",
    "train.learning_starts=128",
    "train.eval_every=100000",
    "gym.eval_episodes=2",
    "agent.hidden=32",
    "replay.capacity=4000",
)


def test_the_epsilon_ladder_is_ape_x() -> None:
    # eps_i = 0.4 ** (1 + 7 i / (N - 1)), worked out by hand for N = 4.
    assert ladder_epsilon(0.4, 0, 4, 7.0) == 0.4
    assert ladder_epsilon(0.4, 1, 4, 7.0) == pytest.approx(0.4 ** (10 / 3))
    assert ladder_epsilon(0.4, 1, 4, 7.0) == pytest.approx(0.047156, rel=1e-4)
    assert ladder_epsilon(0.4, 3, 4, 7.0) == pytest.approx(0.00065536)
    assert ladder_epsilon(0.4, 0, 1, 7.0) == 0.4  # one actor: the base
    assert ladder_epsilon(0.4, 2, 4, 0.0) == 0.4  # alpha 0: every actor the base


@pytest.mark.parametrize(("alpha", "rungs"), [(0.0, [0.5] * 4), (3.0, [0.5, 0.25, 0.125, 0.0625])])
def test_with_no_base_the_ladder_rides_the_runs_schedule(alpha: float, rungs: list[float]) -> None:
    # The default (epsilon null): each request carries schedule ** (1 + alpha i / (N - 1)).
    learner = SimpleNamespace(
        exploration=SimpleNamespace(epsilon=0.5),
        apex=DistributedConfig(actors=4, alpha=alpha, chunk_steps=8),
    )
    requests = [DistributedTrainer._request(learner, i) for i in range(4)]  # type: ignore[arg-type]
    assert requests == [(8, pytest.approx(r)) for r in rungs]


@pytest.mark.parametrize(
    ("actors", "num_envs", "per_actor", "envs"),
    [(4, 4, None, 1), (3, 4, None, 2), (8, 4, None, 1), (2, 5, None, 3), (4, 4, 4, 4)],
)
def test_the_actors_share_the_runs_envs(
    actors: int, num_envs: int, per_actor: int | None, envs: int
) -> None:
    config = apply_overrides(
        gym_preset("CartPole-v1"),
        [f"distributed.actors={actors}", f"train.num_envs={num_envs}"]
        + ([] if per_actor is None else [f"distributed.envs_per_actor={per_actor}"]),
    )
    assert actor_config(config).train.num_envs == envs
    assert actor_config(config).train.updates_per_train == config.train.updates_per_train


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("actors", -1),
        ("envs_per_actor", 0),
        ("chunk_steps", 0),
        ("in_flight", 0),
        ("epsilon", 1.5),
        ("alpha", -1.0),
        ("priorities", "median"),
    ],
)
def test_bad_distributed_fields_are_refused(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"distributed.{field}"):
        DistributedConfig(**{field: value})  # type: ignore[arg-type]


def test_the_puzzle_is_refused_actors(tiny: TinyFactory) -> None:
    with pytest.raises(
        ConfigError, match=r"distributed\.actors=2 is invalid for the number puzzle"
    ):
        tiny("distributed.actors=2")


@pytest.mark.parametrize("n_step", [1, 3])
def test_an_actor_plays_the_learners_weights_and_scores_their_td_errors(n_step: int) -> None:
    config = apply_overrides(
        gym_preset("CartPole-v1"), ["train.num_envs=3", f"agent.n_step={n_step}"]
    )
    learner = DQNAgent(obs_dim=4, n_actions=2, config=config.agent, seed=9)
    weights = {k: v.numpy() for k, v in learner.online.state_dict().items()}
    make = functools.partial(make_task, config)
    actor = Actor(make, config.agent, index=0, seed=5, epsilon=0.0, weights={}, version=-1)
    actor.set_weights(7, weights)  # as the learner sends them, taken at the next step
    chunk = actor.collect(20, 1.0)
    t = chunk.transitions
    assert (chunk.env_steps, chunk.vector_steps, chunk.weights_version) == (60, 20, 7)
    assert chunk.epsilon == 0.0  # its own rung, not the base
    # n-step returns hold each env's last n - 1 transitions back (fewer just after a reset).
    assert 60 - 3 * (n_step - 1) <= len(t.rewards) <= 60
    # Greedy on the learner's weights: every stored action is the learner's argmax.
    np.testing.assert_array_equal(t.actions, learner.q_values(t.obs).argmax(axis=1))
    # The priority of each transition is |Q(s, a) - y| with the learner's net as both nets.
    batch = Batch(
        obs=torch.from_numpy(t.obs),
        actions=torch.from_numpy(t.actions),
        rewards=torch.from_numpy(t.rewards),
        next_obs=torch.from_numpy(t.next_obs),
        terminated=torch.from_numpy(t.terminated.astype(np.float32)),
        discounts=None if t.discounts is None else torch.from_numpy(t.discounts),
    )
    with torch.no_grad():
        q_sa = learner.online(batch.obs).q.gather(1, batch.actions[:, None]).squeeze(1)
        y = td_targets(batch, learner.online, learner.online, gamma=0.99, double=True)
    np.testing.assert_allclose(chunk.priorities, (q_sa - y).abs().numpy(), rtol=1e-5)
    # No epsilon of its own: the base the learner sends.
    other = Actor(make, config.agent, index=1, seed=5, epsilon=None, weights=weights, version=7)
    assert other.collect(1, 0.25).epsilon == 0.25
    # priorities=max: the actor leaves the scoring to the replay (stored at its maximum).
    unscored = Actor(
        make, config.agent, index=2, seed=5, epsilon=0.0, weights={}, version=-1, score=False
    )
    assert unscored.collect(2, 0.0).priorities is None
    unscored.close()
    actor.close()
    other.close()


class FakeRay:
    """Ray's ``wait``/``get``/``kill`` over requests that are all done at once, ``wait``
    listing the ready ones newest first (as Ray did for a learner slower than its actors)."""

    class exceptions:
        RayError = RuntimeError

    def wait(self, refs: list[Any], *, num_returns: int, timeout: float | None = None) -> Any:
        return list(reversed(refs))[:num_returns], []

    def get(self, ref: Any) -> Any:
        return ref

    def kill(self, actor: Any, *, no_restart: bool) -> None:
        pass


class FakeActor:
    def __init__(self, index: int) -> None:
        self.index, self.requests = index, 0
        self.collect = self

    def remote(self, *args: Any) -> tuple[int, int]:
        self.requests += 1
        return (self.index, self.requests)


def test_the_pool_serves_the_oldest_finished_request_first() -> None:
    config = DistributedConfig(actors=3, in_flight=2)
    pool = ActorPool(FakeRay(), lambda i, _g: FakeActor(i), lambda i: (), config)
    served = [pool.next_chunk() for _ in range(9)]
    # Round robin over the actors, each request in the order it was queued (before: the
    # newest ready request each time, one actor served and the others starved).
    assert served == [(0, 1), (0, 2), (1, 1), (1, 2), (2, 1), (2, 2), (0, 3), (0, 4), (1, 3)]


class KillActor(hrrl.Callback):
    """SIGKILLs actor 0's process once the run passes ``at`` env steps."""

    def __init__(self, at: int) -> None:
        self.at, self.killed = at, 0

    def on_step(self, trainer: Trainer) -> None:
        pool = getattr(trainer, "pool", None)
        if not self.killed and trainer.counters.env_steps >= self.at and pool is not None:
            self.killed = pool.pids()[0]
            os.kill(self.killed, signal.SIGKILL)


def events(run: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (run / "events.jsonl").read_text().splitlines()]


@needs_ray
def test_a_killed_actor_is_replaced_and_the_run_finishes_its_budget(tmp_path: Path) -> None:
    kill = KillActor(at=1000)
    run = hrrl.train("CartPole-v1", overrides=SETS, run_dir=tmp_path / "run", callbacks=[kill])
    assert kill.killed
    assert run.result.stop_reason == "total_env_steps"
    assert run.result.counters.env_steps >= 3000
    [failure] = [e for e in events(run.run_dir) if e["kind"] == "error/actor"]
    assert failure["message"].startswith("actor 0 failed (ActorDiedError")
    assert failure["step"] >= 1000
    last = json.loads((run.run_dir / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["health/actor_failures_total"] == 1 and last["perf/actors"] == 2
    rows = [json.loads(row) for row in (run.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert all(f"perf/actor_{i}/env_steps_per_s" in row for row in rows for i in (0, 1))

    # The learner made the updates of the run's ratio (updates_per_train per vector step).
    tc, counters = run.config.train, run.result.counters
    per_env_step = tc.updates_per_train / (tc.train_every * tc.num_envs)
    assert counters.updates == int((counters.env_steps - 128) * per_env_step) + tc.updates_per_train


@needs_ray
def test_an_env_class_given_to_train_reaches_the_actors() -> None:
    from gymnasium.envs.classic_control import CartPoleEnv

    class Mine(CartPoleEnv):  # a class of this process only: the actors import no module of it
        pass

    class Built(hrrl.Callback):
        def __init__(self) -> None:
            self.pids: list[int] = []

        def on_step(self, trainer: Trainer) -> None:  # waits for every actor to be built
            self.pids = self.pids or trainer.pool.pids()  # type: ignore[attr-defined]

    built = Built()
    sets = (*SETS, "train.total_env_steps=1000", "distributed.max_restarts=0")
    run = hrrl.train("default", env=Mine, overrides=sets, callbacks=[built])
    # Before, each actor failed to make hrrl-user/Mine-v0 (registered in the learner only).
    assert run.result.stop_reason == "total_env_steps"
    assert len(set(built.pids)) == 2


@needs_ray
def test_an_actor_whose_env_raises_is_replaced_until_max_restarts_then_resumed(
    tmp_path: Path,
    flaky_module: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("FLAKY_FAIL_AT", "300")  # each copy, at its 300th step
    run = tmp_path / "run"
    argv = ["train", "--env", flaky_module, "--run-dir", str(run), "--quiet"]
    sets = [f"--set={s}" for s in (*SETS, "distributed.max_restarts=1")]
    assert main([*argv, *sets, "--no-tensorboard"]) == 1
    err = capsys.readouterr().err
    assert "RuntimeError: sensor lost" in err and "hrrl resume" in err
    failures = [e for e in events(run) if e["kind"] == "error/actor"]
    assert len(failures) == 1 and "RuntimeError: sensor lost" in failures[0]["message"]
    [error] = [e for e in events(run) if e["kind"] == "error/env"]
    saved = max(info.step for info in list_checkpoints(run))
    assert saved == error["step"] < 3000
    # The environment works again: fresh actors take the run from its last whole step to the end.
    monkeypatch.delenv("FLAKY_FAIL_AT")
    assert main(["resume", str(run), "--quiet", "--no-tensorboard"]) == 0
    assert max(info.step for info in list_checkpoints(run)) >= 3000


def wait_for_step(run: Path, step: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        rows = (run / "metrics.jsonl").read_text().splitlines() if run.exists() else []
        try:
            if rows and json.loads(rows[-1])["step"] >= step:
                return
        except ValueError:  # a row half-written
            pass
        time.sleep(0.2)
    raise AssertionError(f"the run did not reach step {step}")


@needs_ray
def test_a_sigterm_to_the_learner_saves_and_resume_restarts_the_actors(tmp_path: Path) -> None:
    run = tmp_path / "run"
    sets = [a for s in (*SETS, "train.total_env_steps=4000") for a in ("--set", s)]
    argv = ["train", "--env", "CartPole-v1", "--run-dir", str(run), "--no-tensorboard", *sets]
    log = tmp_path / "log.txt"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "hrrl.cli", *argv], stdout=out, stderr=out)
        wait_for_step(run, 1000, proc)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 143, log.read_text()
    assert "Traceback" not in log.read_text() and "SIGTERM received" not in log.read_text()
    stopped = max(info.step for info in list_checkpoints(run))
    assert 1000 <= stopped < 4000
    assert main(["resume", str(run), "--quiet", "--no-tensorboard"]) == 0
    assert max(info.step for info in list_checkpoints(run)) >= 4000
    # The resumed learner serves both of its new actors (first come, first served).
    rows = [json.loads(row) for row in (run / "metrics.jsonl").read_text().splitlines()]
    resumed = [row for row in rows if row["step"] > stopped]
    for i in (0, 1):
        assert sum(row[f"perf/actor_{i}/env_steps_per_s"] for row in resumed) > 0
    kinds = [(e["kind"], e["step"]) for e in events(run)]
    assert ("resume", stopped) in kinds and ("actors", stopped) in kinds
