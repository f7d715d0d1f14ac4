"""The training loop: determinism, exact resume, truncation in replay, stopping, metrics."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from hrrl.config import to_dict
from hrrl.engine.config import log_interval
from hrrl.engine.trainer import Trainer
from hrrl.experiment import ExperimentConfig
from hrrl.monitoring.logger import CONSOLE_KEYS, HPARAM_METRICS, KEY_GROUPS, Logger
from hrrl.persistence.payload import state_from_checkpoint
from hrrl.persistence.store import list_checkpoints, load_checkpoint, save_checkpoint
from hrrl.puzzle.core import Status
from hrrl.run import build_trainer

TinyFactory = Callable[..., ExperimentConfig]

#: Parts of the trainer state that depend on the wall clock, not on the seed.
CLOCK_KEYS = frozenset({"logger", "health", "best_wall_seconds", "wall"})


def assert_same(a: Any, b: Any, path: str = "") -> None:
    """Recursive equality: tensors bit-identical (torch.equal), arrays exactly equal."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype, path
        assert torch.equal(a, b), f"tensor {path} differs"
    elif isinstance(a, np.ndarray):
        assert np.array_equal(a, np.asarray(b)), f"array {path} differs"
    elif isinstance(a, Mapping):
        keys = set(a) - CLOCK_KEYS
        assert keys == set(b) - CLOCK_KEYS, f"keys of {path} differ"
        for k in sorted(keys, key=str):
            assert_same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, Sequence) and not isinstance(a, str):
        assert len(a) == len(b), f"length of {path} differs"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{path}[{i}]")
    else:
        assert a == b or (a != a and b != b), f"{path}: {a!r} != {b!r}"


def weights(trainer: Trainer) -> dict[str, torch.Tensor]:
    tensors: dict[str, torch.Tensor] = trainer.agent.state_dict()["tensors"]
    return tensors


def train(config: ExperimentConfig, **kwargs: Any) -> Trainer:
    trainer = build_trainer(config)
    trainer.run(**kwargs)
    return trainer


@pytest.fixture(scope="module")
def reference(tiny: TinyFactory) -> Trainer:
    """An uninterrupted tiny run (eval at 400 and 800, learning from 160)."""
    return train(tiny())


# --- determinism and resume ---------------------------------------------------------------------
def test_same_seed_gives_bit_identical_weights(reference: Trainer, tiny: TinyFactory) -> None:
    again = train(tiny())
    assert reference.counters.updates > 100
    online = weights(reference)
    assert any(k.startswith("online.") for k in online) and any(
        k.startswith("optim.") for k in online
    )
    assert_same(weights(reference), weights(again))
    assert_same(reference.state_dict(), again.state_dict())


def test_different_seed_gives_different_weights(reference: Trainer, tiny: TinyFactory) -> None:
    other = train(tiny("train.seed=1"))
    a, b = weights(reference), weights(other)
    assert a.keys() == b.keys()
    assert not all(torch.equal(a[k], b[k]) for k in a if k.startswith("online."))


def save_at(trainer: Trainer, step: int, root: Path, saved: list[Path]) -> Callable[[int], None]:
    """A progress callback that saves ``trainer``'s checkpoint once, at env step ``step``."""

    def save(_: int) -> None:
        if trainer.counters.env_steps == step and not saved:
            payload = trainer.payload()
            saved.append(
                save_checkpoint(
                    root,
                    step,
                    tensors=payload.tensors,
                    arrays=payload.arrays,
                    state=payload.state,
                    metrics={},
                )
            )

    return save


def test_resume_from_a_saved_checkpoint_continues_bit_identically(
    reference: Trainer, tiny: TinyFactory, tmp_path: Path
) -> None:
    config = tiny()
    saved: list[Path] = []
    first = build_trainer(config)
    # Between two vector steps, past the start of learning, before the first evaluation.
    first.run(progress=save_at(first, 320, tmp_path, saved))
    assert saved
    # Saving mid-run does not disturb the run.
    assert_same(weights(first), weights(reference))

    loaded = load_checkpoint(saved[0])
    resumed = build_trainer(config)
    resumed.load_state_dict(state_from_checkpoint(loaded.state, loaded.tensors, loaded.arrays))
    assert resumed.counters.env_steps == 320 and resumed.counters.updates > 0
    resumed.run()
    assert_same(weights(resumed), weights(reference))
    assert_same(resumed.state_dict(), reference.state_dict())


def test_state_dict_version_is_checked(reference: Trainer, tiny: TinyFactory) -> None:
    state = reference.state_dict()
    state["version"] = 99
    with pytest.raises(ValueError, match="trainer state version 99"):
        build_trainer(tiny()).load_state_dict(state)


# --- replay holds truncation as not-terminated ---------------------------------------------------
def _scripted(tiny: TinyFactory, target: int, action: int) -> tuple[Trainer, list[Any]]:
    """Two envs on puzzles with this target and no forbidden numbers, always playing ``action``."""
    config = tiny(
        "train.num_envs=2",
        "train.learning_starts=1000000",
        "puzzle.curriculum.action_sets=fixed",  # actions 1, 3, 5: index 0 adds 1, 2 adds 5
        f"puzzle.curriculum.stages=[{{targets: [{target}, {target}], forbidden: [0, 0]}}]",
    )
    trainer = build_trainer(config)
    trainer.agent.act = lambda obs, epsilon: np.full(len(obs), action, dtype=np.int64)  # type: ignore[method-assign]
    outcomes = []
    original = trainer.task.step

    def step(actions: np.ndarray) -> Any:
        out = original(actions)
        outcomes.append(out)
        return out

    trainer.task.step = step  # type: ignore[method-assign]
    return trainer, outcomes


def test_truncation_is_stored_as_not_terminated(tiny: TinyFactory) -> None:
    # Target 60, optimum 12 steps, max_steps max(24, 12 + 20) = 32; always +1 reaches 32 < 60.
    trainer, outcomes = _scripted(tiny, target=60, action=0)
    for _ in range(40):
        trainer.collect()
    storage = trainer.replay.storage
    assert len(storage) == 80
    ends = [(k, e) for k, out in enumerate(outcomes) for e in out.ended]
    assert [k for k, _ in ends] == [31, 31]
    assert all(e.status == Status.MAX_STEPS.value and e.length == 32 for _, e in ends)
    assert outcomes[31].truncated.all() and not outcomes[31].terminated.any()
    assert not storage.terminated[:80].any()
    # The stored next_obs of the truncated step is the final observation, not the next puzzle's.
    rows = slice(62, 64)  # vector step 32, both envs
    assert np.array_equal(storage.next_obs[rows], outcomes[31].next_obs)
    assert not np.array_equal(storage.next_obs[rows], storage.obs[64:66])
    assert np.array_equal(storage.obs[64:66], outcomes[31].obs)


def test_terminal_failure_is_stored_as_terminated(tiny: TinyFactory) -> None:
    # Target 61 by +5: 60 after 12 steps, 65 (OVERSHOOT, terminal) at step 13.
    trainer, outcomes = _scripted(tiny, target=61, action=2)
    for _ in range(13):
        trainer.collect()
    storage = trainer.replay.storage
    assert [e.status for e in outcomes[12].ended] == [Status.OVERSHOOT.value] * 2
    expected = np.zeros(26, dtype=bool)
    expected[24:26] = True
    assert np.array_equal(storage.terminated[:26], expected)


# --- stopping -----------------------------------------------------------------------------------
def test_early_stop_on_success(tiny: TinyFactory) -> None:
    # One curriculum stage: the rule's "in the last stage" holds from the start.
    config = tiny(
        "puzzle.stop_success=0.0",
        "puzzle.stop_efficiency=0.0",
        "puzzle.curriculum.stages=[{targets: [5, 30], forbidden: [2, 5]}]",
    )
    result = build_trainer(config).run()
    assert result.stop_reason == "solved"
    assert result.counters.env_steps == 400 and result.counters.evaluations == 1


@pytest.mark.parametrize("stop", [True, False], ids=["stop-rule", "no-stop-rule"])
def test_entering_the_last_stage_is_evaluated_when_the_stop_rule_waits_for_it(
    tiny: TinyFactory, stop: bool
) -> None:
    """Issue 26: a policy that meets the stop rule before the last stage waited for the next
    scheduled evaluation after reaching it (the default preset's runs: up to 6,000 env steps,
    a third of their time). Now the step the curriculum enters its last stage is evaluated, and
    such a run ends there; without a stop rule the cadence alone decides (only the final
    evaluation here)."""
    config = tiny(
        "puzzle.stop_success=0.0" if stop else "puzzle.stop_success=null",
        "puzzle.stop_efficiency=0.0",
        "puzzle.curriculum.mode=episodes",
        "puzzle.curriculum.episodes_per_stage=40",
        "puzzle.curriculum.stages=[{targets: [5, 30], forbidden: [2, 5]},"
        " {targets: [5, 40], forbidden: [2, 5]}]",
        "train.eval_every=100000",
        "train.total_env_steps=4000",
    )
    trainer = build_trainer(config)
    stages: list[tuple[int, int]] = []
    trainer.run(progress=lambda _: stages.append((trainer.counters.env_steps, trainer.task.stage)))
    entered = next(step for step, stage in stages if stage == 1)
    c = trainer.counters
    assert c.evaluations == 1
    if stop:
        assert c.env_steps == c.last_eval_step == entered < 4000
        assert trainer.last_metrics["eval/stage"] == 1.0
    else:
        assert c.env_steps == c.last_eval_step == 4000  # the final evaluation only


def test_no_early_stop_without_a_level(tiny: TinyFactory) -> None:
    result = build_trainer(tiny("train.total_env_steps=480")).run()
    assert result.stop_reason == "total_env_steps"
    assert result.counters.env_steps == 480


def test_early_stop_on_patience(tiny: TinyFactory) -> None:
    # No learning: the greedy policy never changes, so the second evaluation cannot improve.
    config = tiny(
        "train.learning_starts=1000000", "train.early_stop_patience=1", "train.total_env_steps=4000"
    )
    result = build_trainer(config).run()
    assert result.stop_reason == "early_stop_patience"
    assert result.counters.evaluations == 2 and result.counters.env_steps == 800
    assert result.counters.updates == 0
    assert result.history[0]["eval/success_rate"] == result.history[1]["eval/success_rate"]


def test_improvement_is_success_then_efficiency_and_a_tie_goes_to_the_later(
    tiny: TinyFactory,
) -> None:
    trainer = build_trainer(tiny())
    script = iter([(0.5, 0.9), (0.5, 0.9), (0.5, 0.95), (0.4, 1.0), (0.6, 0.1), (0.6, 0.1)])

    def evaluate(policy: Any) -> dict[str, float]:
        success, efficiency = next(script)
        return {"eval/success_rate": success, "eval/efficiency": efficiency}

    trainer.task.evaluate = evaluate  # type: ignore[method-assign]
    improved, waits = [], []
    for _ in range(6):
        improved.append(trainer.evaluate())
        waits.append(trainer.counters.evals_without_improvement)
    # A tie is the new best (the policy trained longer) but no improvement to a patience.
    assert improved == [True, True, True, False, True, True]
    assert waits == [0, 1, 0, 1, 0, 1]
    best = {k: v for k, v in trainer.best_metrics.items() if k.startswith("eval/")}
    assert best == {"eval/success_rate": 0.6, "eval/efficiency": 0.1}


def test_the_task_alone_says_what_better_is(tiny: TinyFactory) -> None:
    # A task that ranks by efficiency alone: the trainer follows it, naming no metric itself.
    trainer = build_trainer(tiny())
    script = iter([(0.5, 0.9), (1.0, 0.8), (0.1, 0.95)])

    def evaluate(policy: Any) -> dict[str, float]:
        success, efficiency = next(script)
        return {"eval/success_rate": success, "eval/efficiency": efficiency}

    trainer.task.evaluate = evaluate  # type: ignore[method-assign]
    trainer.task.score = lambda m: (m["eval/efficiency"],)  # type: ignore[method-assign]
    assert [trainer.evaluate() for _ in range(3)] == [True, False, True]
    assert trainer.counters.best_score == [0.95]


def test_a_run_ends_with_an_evaluation_of_its_final_policy(
    tiny: TinyFactory, tmp_path: Path
) -> None:
    config = tiny(
        "train.total_env_steps=480", "checkpoint.enabled=true", "checkpoint.every_steps=200"
    )
    trainer = build_trainer(config, run_dir=tmp_path)
    result = trainer.run()
    assert [h["env_steps"] for h in result.history] == [400, 480]
    assert trainer.counters.last_eval_step == 480
    # Only an evaluated policy's checkpoint carries an evaluation and a score.
    rows = {info.step: info for info in list_checkpoints(tmp_path)}
    assert rows[200].metrics == {} and rows[200].score is None
    assert rows[480].metrics == result.last_metrics
    assert rows[480].score == list(trainer.task.score(result.last_metrics))
    best = max((i for i in rows.values() if i.score), key=lambda i: (i.score or [], i.step))
    assert best.is_best  # the latest of the best scores


def test_throughput_leaves_the_evaluation_out(tiny: TinyFactory) -> None:
    sink = RecordingSink()
    trainer = build_trainer(tiny("train.total_env_steps=400"), logger=Logger([sink]))
    inner = trainer.task.evaluate

    def slow(q_values: Any) -> dict[str, float]:
        time.sleep(1.0)
        return inner(q_values)

    trainer.task.evaluate = slow  # type: ignore[method-assign]
    trainer.run()
    (row,) = [row for _, row in sink.rows if "perf/eval_seconds" in row]
    assert row["perf/eval_seconds"] >= 1.0
    # 200 env steps in the interval: counting the one-second pause would give under 200/s.
    assert row["perf/env_steps_per_s"] > 200


def test_the_puzzle_evaluation_measures_q_bias_beside_success(tiny: TinyFactory) -> None:
    trainer = build_trainer(tiny())
    trainer.evaluate()
    assert {"eval/success_rate", "eval/efficiency", "train/q_bias"} <= set(trainer.last_metrics)
    assert math.isfinite(trainer.last_metrics["train/q_bias"])  # small eval puzzles exist


def test_total_episodes_caps_the_run(tiny: TinyFactory) -> None:
    result = build_trainer(tiny("train.num_envs=1", "train.total_episodes=7")).run()
    assert result.stop_reason == "total_episodes"
    assert result.counters.episodes == 7


def test_baseline_preset_runs_a_few_episodes(tmp_path: Path) -> None:
    from hrrl.config import apply_overrides
    from hrrl.experiment import preset

    config = apply_overrides(
        preset("baseline"),
        ["train.total_episodes=40", "puzzle.eval_count=2", "checkpoint.enabled=false"],
    )
    trainer = build_trainer(config)
    result = trainer.run()
    assert result.stop_reason == "total_episodes"
    assert result.counters.episodes == 40
    assert result.counters.env_steps > 64 and result.counters.updates > 0
    assert trainer.exploration.epsilon == pytest.approx(0.995**40)
    assert trainer.task.stage == 0
    assert "eval/success_rate" in result.last_metrics


# --- metrics ------------------------------------------------------------------------------------
class RecordingSink:
    """Keeps everything a logger sends."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, dict[str, float]]] = []
        self.configs: list[Mapping[str, Any]] = []
        self.events: list[tuple[str, str, int]] = []
        self.closed = False

    def write(self, values: Mapping[str, float], step: int, elapsed: float) -> None:
        self.rows.append((step, dict(values)))

    def write_config(self, config: Mapping[str, Any]) -> None:
        self.configs.append(config)

    def write_event(self, kind: str, message: str, step: int, elapsed: float) -> None:
        self.events.append((kind, message, step))

    def close(self) -> None:
        self.closed = True


DOCUMENTED_KEYS = {
    "rollout/epsilon",
    "rollout/success_rate",
    "rollout/episode_return",
    "rollout/episode_length",
    "rollout/stage",
    "rollout/episodes",
    "rollout/stage_0/success_rate",
    "train/loss",
    "train/td_error",
    "train/q_mean",
    "train/q_max",
    "train/grad_norm",
    "train/updates",
    "eval/success_rate",
    "eval/efficiency",
    "eval/in_range/success_rate",
    "eval/lookahead/success_rate",  # efficiency is NaN (not logged) while a family has no success
    "perf/env_steps_per_s",
    "perf/updates_per_s",
    "perf/replay_size",
    "health/anomalies",
    "health/rollbacks",
    "health/rollbacks_total",
    "health/screened",
    *HPARAM_METRICS,
    *CONSOLE_KEYS,
}


def test_logger_receives_the_documented_metrics(tiny: TinyFactory) -> None:
    sink = RecordingSink()
    config = tiny()
    trainer = build_trainer(config, logger=Logger([sink]))
    trainer.write_config()
    trainer.run()
    assert sink.configs == [to_dict(config)]
    keys = {k for _, row in sink.rows for k in row}
    assert keys >= DOCUMENTED_KEYS, sorted(DOCUMENTED_KEYS - keys)
    assert any(k.startswith("rollout/status/") for k in keys)
    statuses = {k.removeprefix("rollout/status/") for k in keys if k.startswith("rollout/status/")}
    assert statuses <= {s.value for s in Status}
    assert all(k.split("/")[0] in KEY_GROUPS for k in keys)
    steps = [step for step, _ in sink.rows]
    assert steps == sorted(steps) and steps[0] == 200 and steps[-1] == 800
    for _, row in sink.rows:
        assert 0.0 <= row.get("rollout/epsilon", 0.0) <= 1.0
        assert 0.0 <= row.get("rollout/success_rate", 0.0) <= 1.0
    # Counters in the last row match the run.
    last = sink.rows[-1][1]
    assert last["train/updates"] == trainer.counters.updates
    assert last["rollout/episodes"] == trainer.counters.episodes
    assert last["perf/replay_size"] == len(trainer.replay)


def test_resumed_run_logs_the_rows_the_uninterrupted_run_logs(
    tiny: TinyFactory, tmp_path: Path
) -> None:
    """A checkpoint taken on a logging boundary holds an empty interval: the resumed run's
    ``metrics.jsonl`` rows after it are the uninterrupted run's rows (same steps, same values)."""
    config = tiny("checkpoint.enabled=true", "checkpoint.every_steps=400")
    full_sink = RecordingSink()
    build_trainer(config, run_dir=tmp_path / "a", logger=Logger([full_sink])).run()

    loaded = load_checkpoint(tmp_path / "a" / "checkpoints" / "step-000000400")
    resumed_sink = RecordingSink()
    resumed = build_trainer(config, run_dir=tmp_path / "b", logger=Logger([resumed_sink]))
    resumed.load_state_dict(state_from_checkpoint(loaded.state, loaded.tensors, loaded.arrays))
    resumed.run()

    after = [(step, row) for step, row in full_sink.rows if step > 400]
    assert [step for step, _ in resumed_sink.rows] == [step for step, _ in after]
    for (_, want), (_, got) in zip(after, resumed_sink.rows, strict=True):
        assert want.keys() == got.keys()
        for key in want:
            # Throughput, and the throughput alert it may raise, follow the wall clock.
            if not key.startswith("perf/") and key != "health/alerts_active":
                assert got[key] == want[key], key


def restored_at(config: ExperimentConfig, env_steps: int, tmp_path: Path) -> Trainer:
    """A fresh trainer loaded from the checkpoint a run of ``config`` saved at ``env_steps``."""
    saved: list[Path] = []
    first = build_trainer(config)
    first.run(progress=save_at(first, env_steps, tmp_path, saved))
    loaded = load_checkpoint(saved[0])
    resumed = build_trainer(config)
    resumed.load_state_dict(state_from_checkpoint(loaded.state, loaded.tensors, loaded.arrays))
    return resumed


def test_n_step_and_dueling_resume_bit_identically(tiny: TinyFactory, tmp_path: Path) -> None:
    """A checkpoint between vector steps holds the n-step folder's pending transitions."""
    config = tiny(
        "agent.network=mlp", "agent.dueling=true", "agent.n_step=3", "train.total_env_steps=480"
    )
    whole = build_trainer(config)
    whole.run()
    resumed = restored_at(config, 240, tmp_path)
    assert any(resumed.returns.state_dict()["pending"][i]["actions"] for i in range(8))
    resumed.run()
    assert_same(weights(resumed), weights(whole))
    assert resumed.replay.storage.discounts is not None
    assert set(np.unique(resumed.replay.storage.discounts[: len(resumed.replay)])) <= {
        np.float32(g) for g in (0.9, 0.9**2, 0.9**3)
    }


def test_annealed_learning_rate_resumes_bit_identically(tiny: TinyFactory, tmp_path: Path) -> None:
    """The rate is a function of env steps: a resumed run anneals exactly as the whole one."""
    config = tiny("agent.lr=0.002", "agent.lr_end=0.0", "train.total_env_steps=480")
    whole = build_trainer(config)
    whole.run()
    # The last learning step runs once the 480th env step is in: at lr_end.
    assert whole.agent.optimizer.param_groups[0]["lr"] == 0.0
    resumed = restored_at(config, 240, tmp_path)
    resumed.run()
    assert_same(weights(resumed), weights(whole))
    constant = weights(train(tiny("agent.lr=0.002", "train.total_env_steps=480")))
    assert any(not torch.equal(constant[k], w) for k, w in weights(whole).items())


def test_n_step_waits_for_a_batch_in_the_replay(tiny: TinyFactory) -> None:
    """32 envs, n=3: after two vector steps 64 env steps are in, but no transition is folded yet."""
    config = tiny(
        "train.num_envs=32", "train.learning_starts=0", "agent.n_step=3",
        "agent.batch_size=64", "train.total_env_steps=320",
        "puzzle.curriculum.stages=[{targets: [100, 100], forbidden: [0, 0]}]",
    )  # fmt: skip
    trainer = build_trainer(config)
    trainer.collect()
    trainer.collect()
    assert trainer.counters.env_steps == 64 and len(trainer.replay) == 0
    trainer.learn()  # nothing to sample yet (sampling would raise): no update
    assert trainer.counters.updates == 0
    trainer.run()
    assert trainer.counters.updates > 0


# --- logging cadence ----------------------------------------------------------------------------
def test_the_automatic_cadence_doubles_after_every_hundred_dumps() -> None:
    steps, step = [], 0
    while step < 200_000:
        step += log_interval(step, None)
        steps.append(step)
    assert steps[:3] == [256, 512, 768] and steps[99] == 25_600
    assert steps[100] - steps[99] == 512 and steps[200] - steps[199] == 1_024
    assert log_interval(12_345, 5_000) == 5_000
    assert ExperimentConfig().train.log_every is None  # the presets log automatically


def test_logging_cadence_changes_the_rows_not_the_weights(tiny: TinyFactory) -> None:
    """Dumps every 256 steps or every 5,000: the same weights, bit for bit (logging draws no
    random numbers and moves no evaluation); only the rows differ."""
    rows: dict[str, list[int]] = {}
    trained = {}
    for every in ("null", "5000"):
        sink = RecordingSink()
        trainer = build_trainer(tiny(f"train.log_every={every}"), logger=Logger([sink]))
        trainer.run()
        trained[every] = weights(trainer)
        rows[every] = [step for step, _ in sink.rows]
    assert_same(trained["null"], trained["5000"])
    assert rows["null"][:3] == [256, 512, 768] and len(rows["null"]) >= 4
    assert rows["5000"] == [800]  # only the closing dump of an 800-step run


def test_a_stage_change_is_an_event_at_its_step(tiny: TinyFactory) -> None:
    sink = RecordingSink()
    trainer = build_trainer(tiny("train.total_env_steps=1600"), logger=Logger([sink]))
    trainer.run()
    stages = [(step, message) for kind, message, step in sink.events if kind == "stage"]
    assert len(stages) == trainer.task.stage >= 1
    assert stages[0][1] == "curriculum stage 0 -> 1"
