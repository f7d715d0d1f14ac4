"""Hyper-parameter studies with Optuna: a search space per task kind, trials of several seeds,
pruning fed by the training-time evaluations, a study that survives a kill.

::

    space (YAML or the defaults) ──> sampler (TPE multivariate | random) ──> trial's overrides
        ──> for each seed: train (budget steps; each evaluation reported to the pruner,
                           a trial behind the median stops there) ──> the task's score
        ──> the trial's value: the mean over seeds (every seed's score kept in the trial)

* **Space.** Config paths to Optuna distributions, ``{"agent.lr": {"low": 1e-4, "high": 3e-3,
  "log": true}, "agent.batch_size": {"choices": [32, 64, 128]}, ...}`` (:data:`GYM_SPACE`,
  :data:`PUZZLE_SPACE`); a ``--space`` file replaces or adds entries, checked against the
  config (an unknown path gets a did-you-mean).
* **Score.** A Gymnasium task's best evaluation return; the puzzle's best success, then
  efficiency (``success + efficiency / 1000``: success first, as the puzzle ranks). With
  ``--score final``, the evaluation of each seed's final policy instead (a run ends with one):
  the best evaluation cannot see a policy that collapses late (Acrobot, docs/tuning.md).
  With ``--score tail``, the mean of each seed's last ``TAIL_EVALUATIONS`` evaluations (the
  final one included): the quality a config ends with, read from three policies and three
  times the episodes rather than from one evaluation of one policy (docs/tuning.md, the
  LunarLander studies).
  With ``--score time``, how fast a seed meets the task's stop rule: minus the wall seconds of
  training to the first evaluation that met it, and an unsolved seed ``UNSOLVED_SECONDS``
  below its run's seconds (so every solved seed ranks above every unsolved one). Wall time
  makes such a study depend on the machine and its load, unlike the other two scores.
* **Aggregate.** A trial's value is the mean of its seeds' scores, or with ``--aggregate
  worst`` the lowest of them: a config good on every seed rather than on average. The
  LunarLander studies chose on the mean, and each best lost the preset's worst fresh seed by a
  seed of its own (docs/tuning.md). A study records its score, aggregate, seeds and budget, and
  a process that joins it asking for others is refused: their values would not compare.
* **Carry.** A new study may start with another's finished trials (:func:`carry`), complete
  ones valued anew under its aggregate: the LunarLander study ranked by the worst seed began
  from the 28 trials of the one ranked by the mean.
* **Storage.** SQLite in the study's folder by default, any Optuna storage URL otherwise, so
  several processes on several machines work on one study. A trial whose process was killed
  stops sending heartbeats; the next process to open the study marks it failed and runs its
  parameters again (``RetryFailedTrialCallback``).
"""

from __future__ import annotations

import dataclasses
import html
import json
import math
import os
import sys
import threading
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from hrrl.config import apply_overrides, read_yaml, save_yaml, to_dict
from hrrl.engine.callbacks import Callback
from hrrl.engine.distributed.ray_session import ray_session
from hrrl.engine.run_state import TrainResult
from hrrl.engine.trainer import Trainer
from hrrl.errors import ConfigError
from hrrl.experiment import ExperimentConfig
from hrrl.monitoring.logger import Logger
from hrrl.monitoring.sinks import flatten_config
from hrrl.run import build_trainer, close_task, run_trainer

#: What a Gymnasium study searches by default (the DQN fields that matter most there), with the
#: target sync's own field added by :func:`default_space`.
GYM_SPACE: dict[str, dict[str, Any]] = {
    "agent.lr": {"low": 1e-4, "high": 3e-3, "log": True},
    "agent.gamma": {"choices": [0.98, 0.99, 0.995]},
    "agent.batch_size": {"choices": [32, 64, 128]},
    "agent.hidden": {"choices": [64, 128, 256]},
    "agent.n_step": {"choices": [1, 3]},
    "exploration.linear.decay_steps": {"low": 5_000, "high": 50_000, "log": True},
    "replay.alpha": {"low": 0.3, "high": 0.8},
    "train.updates_per_train": {"choices": [1, 2, 4]},
}
#: The target sync's field, by ``agent.target_update``: a hard copy's interval in updates, or a
#: soft sync's Polyak rate (an interval there only spaces the Polyak steps: at tau 0.01 every
#: 100 updates the target barely moves, and Acrobot never learnt).
TARGET_SPACE: dict[str, tuple[str, dict[str, Any]]] = {
    "hard": ("agent.target_update_interval", {"choices": [100, 250, 500, 1000]}),
    "soft": ("agent.tau", {"low": 0.002, "high": 0.05, "log": True}),
}
#: What a puzzle study searches by default (its learning fields).
PUZZLE_SPACE: dict[str, dict[str, Any]] = {
    "agent.lr": {"low": 1e-4, "high": 3e-3, "log": True},
    "agent.gamma": {"choices": [0.9, 0.95, 0.99]},
    "agent.batch_size": {"choices": [32, 64, 128]},
    "agent.hidden": {"choices": [64, 128, 256]},
    "replay.alpha": {"low": 0.3, "high": 0.8},
}


@dataclasses.dataclass(frozen=True)
class StudySpec:
    """Everything a study's trials depend on."""

    base: ExperimentConfig
    space: Mapping[str, Mapping[str, Any]]
    seeds: tuple[int, ...] = (0, 1, 2)
    budget_steps: int = 50_000
    score: str = "best"
    """A seed's score: its best evaluation (``best``), its final policy's (``final``), the mean of
    its last ``TAIL_EVALUATIONS`` (``tail``), or minus its seconds to the task's stop rule
    (``time``)."""
    aggregate: str = "mean"
    """A trial's value from its seeds' scores: their ``mean`` or the ``worst`` of them."""

    def __post_init__(self) -> None:
        if self.score not in SCORES:
            raise ConfigError(f"score={self.score!r}: give one of {', '.join(SCORES)}")
        if self.aggregate not in AGGREGATES:
            raise ConfigError(f"aggregate={self.aggregate!r}: give one of {', '.join(AGGREGATES)}")
        if self.score == "time" and not has_stop_rule(self.base):
            raise ConfigError(
                "score=time ranks trials by their seconds to the task's stop rule, and this "
                "config has none: set puzzle.stop_success (the puzzle) or gym.stop_return "
                "(a Gymnasium task)"
            )


#: The ways a seed is scored (:attr:`StudySpec.score`).
SCORES = ("best", "final", "tail", "time")
#: How a trial's value is made from its seeds' scores (:attr:`StudySpec.aggregate`).
AGGREGATES = ("mean", "worst")
#: The evaluations ``score="tail"`` averages (the last ones of a seed, the final one included).
TAIL_EVALUATIONS = 3
#: Seconds an unsolved seed scores below its own run's under ``score="time"``: more than any run
#: a study of seconds-long trials takes, so a trial with an unsolved seed ranks last.
UNSOLVED_SECONDS = 1_000.0


def aggregate(how: str, scores: Sequence[float]) -> float:
    """A trial's value from its seeds' ``scores``: their mean, or the worst of them."""
    return min(scores) if how == "worst" else sum(scores) / len(scores)


#: What a study's values depend on beyond the trial's parameters, kept as its user attributes.
TERMS = ("score", "aggregate", "seeds", "budget_steps")


def terms(spec: StudySpec) -> dict[str, Any]:
    """``spec``'s :data:`TERMS` as a study stores them (JSON: the seeds a list)."""
    return {key: json.loads(json.dumps(getattr(spec, key))) for key in TERMS}


def mismatched_terms(study: optuna.Study, spec: StudySpec, ignore: Sequence[str] = ()) -> list[str]:
    """``key=held (asked wanted)`` for each of ``study``'s recorded :data:`TERMS` (those not in
    ``ignore``) that ``spec`` asks otherwise."""
    wanted, held = terms(spec), study.user_attrs
    return [
        f"{key}={held[key]} (asked {wanted[key]})"
        for key in TERMS
        if key not in ignore and key in held and held[key] != wanted[key]
    ]


def claim(study: optuna.Study, spec: StudySpec) -> None:
    """Record ``spec``'s :data:`TERMS` on a study that has none, or check them against the ones it
    has: a process joining a study of final scores with ``--score best``, or of means with
    ``--aggregate worst``, would add values that do not compare with the others, and the best
    trial would be whichever way scores higher."""
    differ = mismatched_terms(study, spec)
    if differ:
        raise ConfigError(
            f"study {study.study_name} holds trials scored with {', '.join(differ)}: join it "
            "with its own terms, or start another study (--study NAME or another --out)"
        )
    held = study.user_attrs  # a read of the storage
    for key, value in terms(spec).items():
        if key not in held:
            study.set_user_attr(key, value)


def carry(study: optuna.Study, source: optuna.Study, spec: StudySpec) -> int:
    """Copy ``source``'s finished trials into a new ``study`` (a warm start: the sampler and the
    pruner see them as the study's own), each complete one valued anew from its seeds' scores
    under ``spec``'s aggregate (a pruned one's evaluations do not depend on it); failed and
    running trials stay behind. ``source`` must have scored its seeds as ``spec`` does (its
    recorded score, seeds and budget, where it recorded them). Returns the trials copied."""
    if study.trials:
        raise ConfigError(
            f"study {study.study_name} already holds {len(study.trials)} trials: carry "
            "another study's into a new one"
        )
    differ = mismatched_terms(source, spec, ignore=("aggregate",))
    if differ:
        raise ConfigError(f"study {source.study_name} scored with {', '.join(differ)}")
    copies = []
    for t in source.get_trials(deepcopy=False, states=FINISHED):
        complete = t.state == optuna.trial.TrialState.COMPLETE
        copies.append(
            optuna.trial.create_trial(
                state=t.state,
                value=aggregate(spec.aggregate, t.user_attrs["seed_scores"]) if complete else None,
                params=t.params,
                distributions=t.distributions,
                user_attrs={**t.user_attrs, CARRIED_ATTR: f"{source.study_name}/{t.number}"},
                intermediate_values=t.intermediate_values,
            )
        )
    study.add_trials(copies)
    return len(copies)


#: The user attribute that names the study and trial a carried trial came from.
CARRIED_ATTR = "carried_from"


def has_stop_rule(config: ExperimentConfig) -> bool:
    """Whether ``config``'s task ends a run early once an evaluation is good enough."""
    if config.gym is not None:
        return config.gym.stop_return is not None
    return config.puzzle is not None and config.puzzle.stop_success is not None


def default_space(config: ExperimentConfig) -> dict[str, dict[str, Any]]:
    """:data:`PUZZLE_SPACE`, or :data:`GYM_SPACE` with the field of ``config``'s target sync."""
    if config.gym is None:
        return dict(PUZZLE_SPACE)
    key, spec = TARGET_SPACE[config.agent.target_update]
    return {**GYM_SPACE, key: spec}


def read_space(path: Path, base: ExperimentConfig) -> dict[str, dict[str, Any]]:
    """The default space of ``base``'s task with ``path``'s entries over it, each checked."""
    data = read_yaml(path)
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: a search space is a mapping of config paths to ranges")
    space = default_space(base)
    for key, value in data.items():
        if value is None:  # a path set to null leaves the search
            space.pop(str(key), None)
            continue
        space[str(key)] = dict(value) if isinstance(value, Mapping) else {"choices": value}
    check_space(space, base, source=str(path))
    return space


def check_space(
    space: Mapping[str, Mapping[str, Any]], base: ExperimentConfig, source: str
) -> None:
    """Each entry a range or a list of choices, on a config path that exists (one line
    otherwise, with a did-you-mean from the config machinery)."""
    for key, spec in space.items():
        if "choices" in spec:
            values = list(spec["choices"])
            if not values:
                raise ConfigError(f"{source}: {key}: give at least one choice")
        elif {"low", "high"} <= set(spec):
            if not float(spec["low"]) < float(spec["high"]):
                raise ConfigError(f"{source}: {key}: low must be below high")
            values = [spec["low"]]
        else:
            raise ConfigError(
                f"{source}: {key}: give {{low: L, high: H[, log: true]}} or {{choices: [...]}}"
            )
        try:
            apply_overrides(base, [f"{key}={json.dumps(values[0])}"])
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from exc


def suggest(trial: optuna.Trial, space: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The trial's values for ``space``, as ``--set`` overrides."""
    overrides = []
    for key, spec in space.items():
        if "choices" in spec:
            value: Any = trial.suggest_categorical(key, list(spec["choices"]))
        elif isinstance(spec["low"], int) and isinstance(spec["high"], int):
            value = trial.suggest_int(key, spec["low"], spec["high"], log=bool(spec.get("log")))
        else:
            low, high = float(spec["low"]), float(spec["high"])
            value = trial.suggest_float(key, low, high, log=bool(spec.get("log")))
        overrides.append(f"{key}={json.dumps(value)}")
    return overrides


def score_value(trainer: Trainer, metrics: Mapping[str, float]) -> float:
    """One number to maximise from the task's score of ``metrics`` (see the module doc)."""
    if not metrics:
        return -math.inf
    score = trainer.task.score(metrics)
    return float(score[0]) + (float(score[1]) / 1000 if len(score) > 1 else 0.0)


def time_value(solved_at: float | None, seconds: float) -> float:
    """``score="time"``'s number: minus the seconds at which the stop rule was met, or, not met
    after ``seconds``, ``UNSOLVED_SECONDS`` below them."""
    return -solved_at if solved_at is not None else -(UNSOLVED_SECONDS + seconds)


def seed_score(score: str, trainer: Trainer, result: TrainResult) -> float:
    """One seed's score under ``score`` (:attr:`StudySpec.score`)."""
    if score == "time":  # the first evaluation that met the rule (not the best: the puzzle's
        # rule waits for the last curriculum stage, after an evaluation that scored as well)
        met = (row["wall"] for row in result.history if trainer.task.solved(row))
        return time_value(next(met, None), result.wall_seconds)
    if score == "tail":
        tail = result.history[-TAIL_EVALUATIONS:]
        return sum(score_value(trainer, row) for row in tail) / len(tail) if tail else -math.inf
    return score_value(trainer, result.best_metrics if score == "best" else result.last_metrics)


def base_params(spec: StudySpec) -> dict[str, Any]:
    """The base config's own values of the space's fields, those inside the space (a choice
    listed, a number within its range): the trial that runs the hand-tuned starting point."""
    flat = flatten_config(to_dict(spec.base))
    params = {}
    for key, dist in spec.space.items():
        value = flat.get(key)
        inside = (
            value in dist["choices"]
            if "choices" in dist
            else isinstance(value, int | float) and dist["low"] <= value <= dist["high"]
        )
        if inside:
            params[key] = value
    return params


#: The user attribute that marks the trial of the base config.
BASE_ATTR = "base"


def enqueue_base(study: optuna.Study, spec: StudySpec) -> None:
    """A new study's first trial runs the base config (its values inside the space; the sampler
    draws the rest), so the best it reports is at least the starting point on its own seeds and
    budget, and the table shows the hand-tuned preset beside what the search found."""
    if not study.trials:
        study.enqueue_trial(base_params(spec), user_attrs={BASE_ATTR: True})


class Reporter(Callback):
    """Reports each evaluation to the trial (step: the env steps of all its seeds so far) and
    stops the run when the pruner says the trial lags. Under ``score="time"`` an evaluation
    reports its :func:`time_value` (a trial behind is one slower to the same step, unsolved),
    otherwise its :func:`score_value`."""

    def __init__(self, trial: optuna.Trial, offset: int, score: str) -> None:
        self.trial, self.offset, self.score = trial, offset, score
        self.pruned = False

    def on_evaluation(self, trainer: Trainer, metrics: Mapping[str, float]) -> bool:
        if self.score == "time":  # the clock the run's history (and seed_score) reads
            now = trainer.history[-1]["wall"]
            value = time_value(now if trainer.task.solved(metrics) else None, now)
        else:
            value = score_value(trainer, metrics)
        self.trial.report(value, self.offset + trainer.counters.env_steps)
        self.pruned = self.trial.should_prune()
        return not self.pruned


def trial_config(spec: StudySpec, overrides: Sequence[str], seed: int) -> ExperimentConfig:
    """The config one seed of a trial trains: the base, the budget, the trial's values."""
    budget = spec.budget_steps
    fixed = [f"train.total_env_steps={budget}", f"train.seed={seed}", "checkpoint.enabled=false"]
    config = apply_overrides(spec.base, [*fixed, *overrides])
    if config.train.eval_every > budget:  # the pruner needs evaluations inside the budget
        config = apply_overrides(config, [f"train.eval_every={max(budget // 5, 1)}"])
    return config


class DuplicateTrial(Exception):
    """A second trial of the base config (two processes that opened a new study at once both
    queued it): it fails at once, before any training."""


class SurplusTrial(Exception):
    """A trial sampled after the study already held its ``--trials`` (another process took the
    last one in the same moment): it fails at once, before any training."""


#: Trials that ended: complete or pruned.
FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
#: Trials that count toward ``--trials``: done, or being run (a killed one's heartbeat fails it).
LIVE = (
    optuna.trial.TrialState.COMPLETE,
    optuna.trial.TrialState.PRUNED,
    optuna.trial.TrialState.RUNNING,
)


def objective(spec: StudySpec, trials: int | None = None) -> Any:
    """The function Optuna calls for each trial: every seed in turn, their scores'
    :func:`aggregate` (each kept in the trial's ``seed_scores``); pruned as soon as an
    evaluation lags. With ``trials``, a trial numbered after the study's first ``trials`` live
    or queued ones is :class:`SurplusTrial` (trial numbers are the storage's order, so exactly
    those run)."""

    def run_trial(trial: optuna.Trial) -> float:
        if trials is not None:
            ahead = trial.study.get_trials(
                deepcopy=False, states=(*LIVE, optuna.trial.TrialState.WAITING)
            )
            if sum(t.number < trial.number for t in ahead) >= trials:
                trial.study.stop()
                raise SurplusTrial(f"the study held its {trials} trials when this one was sampled")
        overrides = suggest(trial, spec.space)
        if is_base(trial):
            for other in trial.study.get_trials(deepcopy=False, states=LIVE):
                if other.number < trial.number and is_base(other):
                    raise DuplicateTrial(f"trial {other.number} runs the base config")
        scores = []
        for index, seed in enumerate(spec.seeds):
            trainer = build_trainer(trial_config(spec, overrides, seed), logger=Logger([]))
            reporter = Reporter(trial, offset=index * spec.budget_steps, score=spec.score)
            result = run_trainer(trainer, bar=False, callbacks=[reporter])
            close_task(trainer.task)
            if reporter.pruned:
                raise optuna.TrialPruned(
                    f"seed {seed} lagged at env step {result.counters.env_steps:,}"
                )
            scores.append(seed_score(spec.score, trainer, result))
            trial.set_user_attr("seed_scores", scores)
        return aggregate(spec.aggregate, scores)

    return run_trial


def _retry() -> dict[str, Any]:
    """The RDB storage's keyword for re-running a trial whose process died (its name changed
    in Optuna 4.9)."""
    storages = optuna.storages
    if hasattr(storages, "RetryHeartbeatStaleTrialCallback"):
        callback = storages.RetryHeartbeatStaleTrialCallback(max_retry=2)
        return {"heartbeat_stale_trial_callback": callback}
    return {"failed_trial_callback": storages.RetryFailedTrialCallback(max_retry=2)}


def fail_stale(study: optuna.Study) -> None:
    """Fail the running trials of killed processes (heartbeat silent for three beats); the
    storage's retry callback queues their parameters again."""
    with warnings.catch_warnings():  # heartbeats are "experimental"
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def _rdb_storage(url: str, heartbeat: int, attempts: int = 5) -> optuna.storages.RDBStorage:
    """Optuna's RDB storage on ``url``, which two processes may be creating at once: the loser
    of that race (its schema or version row already written) opens it again."""
    import sqlalchemy.exc

    sqlite = url.startswith("sqlite")

    def make() -> optuna.storages.RDBStorage:
        storage = optuna.storages.RDBStorage(
            url,
            engine_kwargs={"connect_args": {"timeout": SQLITE_WAIT_S}} if sqlite else None,
            heartbeat_interval=heartbeat,
            grace_period=3 * heartbeat,
            **_retry(),
        )
        if sqlite:
            _begin_immediate(storage.engine)
        return storage

    for attempt in range(1, attempts):
        try:
            return make()
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.OperationalError):
            time.sleep(0.2 * attempt)
    return make()


#: Seconds a process waits for another's SQLite transaction before giving up.
SQLITE_WAIT_S = 60.0


def _begin_immediate(engine: Any) -> None:
    """Every transaction on ``engine`` (SQLite) takes the write lock as it begins. Optuna starts
    a queued trial by reading that it waits and writing it running in one transaction; SQLite
    (through Python's driver) takes no lock for the read, so two processes could both read it
    waiting and both run it, the second failing as it reported (optuna/optuna#4002: two workers
    ran the study's first trial, the preset's queued values). With the lock first, the second
    reads it running and samples a trial of its own. SQLAlchemy's recipe for pysqlite: the
    driver's own transaction handling off, ``BEGIN IMMEDIATE`` on each begin."""
    from sqlalchemy import event

    def no_driver_transactions(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    def begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    event.listen(engine, "connect", no_driver_transactions)
    event.listen(engine, "begin", begin)
    engine.dispose()  # connections opened before the listeners reopen with them


def sqlite_url(out: Path) -> str:
    """The storage URL of the SQLite study file in the study folder ``out``."""
    return f"sqlite:///{(out / 'study.db').resolve()}"


@dataclasses.dataclass(frozen=True)
class StudyPlace:
    """Where a study lives and how it samples: what a worker needs to join it."""

    out: Path
    storage: str | None
    name: str
    sampler: str
    pruner: str
    seed: int
    heartbeat: int = 30
    warmup: int = 0
    """Steps (of a trial's first seed) whose evaluations the median rule never prunes on."""

    def open(self, worker: int = 0) -> optuna.Study:
        """Create or join the study (SQLite in ``out`` unless ``storage`` names another), with
        a sampler seeded from ``(seed, worker, the trials the study holds)`` (workers sample
        apart, and a resumed study does not draw again what its killed process drew). A running
        trial beats every ``heartbeat`` seconds; one silent for three beats is failed (here,
        and before each new trial) and its parameters run again (RDB storages)."""
        url = self.storage or sqlite_url(self.out)
        samplers: dict[str, Any] = {
            "tpe": lambda seed: optuna.samplers.TPESampler(multivariate=True, seed=seed),
            "random": lambda seed: optuna.samplers.RandomSampler(seed=seed),
        }
        pruners = {
            "median": lambda: optuna.pruners.MedianPruner(
                n_startup_trials=3, n_warmup_steps=self.warmup
            ),
            "halving": lambda: optuna.pruners.SuccessiveHalvingPruner(),
            "none": lambda: optuna.pruners.NopPruner(),
        }
        with warnings.catch_warnings():  # heartbeats and their retry are "experimental"
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            backend: Any
            if url.startswith("journal:"):
                from optuna.storages.journal import JournalFileBackend

                path = url.removeprefix("journal:")
                backend = optuna.storages.JournalStorage(JournalFileBackend(path))
            else:
                backend = _rdb_storage(url, self.heartbeat)
            study = optuna.create_study(
                storage=backend,
                study_name=self.name,
                direction="maximize",
                pruner=pruners[self.pruner](),
                load_if_exists=True,
            )
        fail_stale(study)
        entropy = [self.seed, worker, len(study.trials)]
        study.sampler = samplers[self.sampler](
            int(np.random.SeedSequence(entropy).generate_state(1)[0])
        )
        return study


def optimize(spec: StudySpec, place: StudyPlace, trials: int, worker: int = 0) -> None:
    """Run trials until the study holds ``trials`` finished ones (complete or pruned). Any
    number of processes can do this on one study: each counts the trials others are running as
    taken (it stops when finished and running ones reach ``trials``), and a trial sampled past
    the count in a race fails before it trains (:class:`SurplusTrial`), so the study ends on
    exactly ``trials`` with no work done twice. A trial whose process was killed is failed as
    soon as its heartbeat is stale (before the count is taken) and its parameters queued to run
    again."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # a worker process's own logger too
    study = place.open(worker)
    until = _Until(trials)
    if until.reached(study):
        return
    study.optimize(
        objective(spec, trials),
        callbacks=[Announce(spec, trials), until],
        catch=(SurplusTrial, DuplicateTrial),
    )


class Announce:
    """Prints a line to stderr as each trial a process ran ends, complete or pruned: a study
    runs for an hour or more, and its table comes at the end. ::

        trial 7: pruned at env step 80,000 of seed 0 (last evaluation 120.3) after 2.1 min;
        8 of 40 finished; best so far trial 0 (base), 251.43
    """

    def __init__(self, spec: StudySpec, trials: int) -> None:
        self.spec, self.trials = spec, trials

    def line(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> str | None:
        if trial.state == optuna.trial.TrialState.COMPLETE:
            what = f"{_score(trial.value)} (seeds {_seed_scores(trial)})"
        elif trial.state == optuna.trial.TrialState.PRUNED and trial.intermediate_values:
            step = max(trial.intermediate_values)
            index = (step - 1) // self.spec.budget_steps
            what = (
                f"pruned at env step {step - index * self.spec.budget_steps:,} of seed "
                f"{self.spec.seeds[index]} (last evaluation "
                f"{_score(trial.intermediate_values[step])})"
            )
        else:  # failed: a surplus or duplicate trial, or one re-run after its process died
            return None
        took = ""
        if trial.datetime_start and trial.datetime_complete:
            minutes = (trial.datetime_complete - trial.datetime_start).total_seconds() / 60
            took = f" after {minutes:.1f} min"
        best = _best(study, 1)
        lead = f"; best so far trial {_label(best[0])}, {_score(best[0].value)}" if best else ""
        done = len(finished(study))
        return f"trial {_label(trial)}: {what}{took}; {done} of {self.trials} finished{lead}"

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        line = self.line(study, trial)
        if line is not None:
            print(line, file=sys.stderr, flush=True)


class _Until:
    """Stops a study's loop once its live trials reach ``trials``, counted after failing the
    trials of killed processes (a dead trial that still looked alive would end the loop one
    short)."""

    def __init__(self, trials: int) -> None:
        self.trials = trials

    def reached(self, study: optuna.Study) -> bool:
        fail_stale(study)
        return len(study.get_trials(deepcopy=False, states=LIVE)) >= self.trials

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if self.reached(study):
            study.stop()


def optimize_in_parallel(
    spec: StudySpec,
    place: StudyPlace,
    trials: int,
    *,
    workers: int,
    use_ray: bool = False,
    ray_address: str | None = None,
) -> None:
    """:func:`optimize` in ``workers`` processes on one study (spawned here, or Ray tasks on a
    local Ray of ``workers`` CPUs or the cluster at ``ray_address``: its storage must be one
    every node reaches). Each takes the next trial as it finishes one, until the study holds
    ``trials`` (a share fixed up front left a worker idle while the other ran a long tail of
    complete trials: their length is what pruning decides)."""
    study = place.open()
    left = trials - len(study.get_trials(deepcopy=False, states=LIVE))
    jobs = [(spec, place, trials, i) for i in range(min(workers, left))]
    if use_ray or ray_address:
        with ray_session(workers=workers, address=ray_address) as ray:
            remote = ray.remote(num_cpus=1)(optimize)
            ray.get([remote.remote(*job) for job in jobs])
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_exit_with, initargs=(os.getpid(),)
    ) as pool:
        for future in [pool.submit(optimize, *job) for job in jobs]:
            future.result()


def _exit_with(parent: int) -> None:
    """A worker process ends when ``parent`` (its ``hrrl tune``) does: a SIGTERM or SIGKILL to
    the command would otherwise leave its workers running trials (Ctrl-C reaches the whole
    process group, a ``kill`` only the command). Its trial is left running, and failed and run
    again by the next process on the study, as for any killed one."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def finished(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return study.get_trials(deepcopy=False, states=FINISHED)


def _best(study: optuna.Study, top: int) -> list[optuna.trial.FrozenTrial]:
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    return sorted(done, key=lambda t: -(t.value if t.value is not None else -math.inf))[:top]


def trial_steps(study: optuna.Study) -> tuple[int, int]:
    """``(trained, unpruned)``: the env steps the finished trials trained (a trial's last report
    is at the steps of all its seeds so far), and what they would have trained unpruned: a
    complete trial what it trained, a pruned one what a complete one trains on average (the
    full seeds x budget, or less where a stop rule ends runs early: only pruning is counted)."""
    done = finished(study)
    last = [max(t.intermediate_values, default=0) for t in done]
    complete = [t.state == optuna.trial.TrialState.COMPLETE for t in done]
    runs = [s for s, whole in zip(last, complete, strict=True) if whole]
    typical = sum(runs) / len(runs) if runs else 0
    unpruned = sum(s if whole else max(s, typical) for s, whole in zip(last, complete, strict=True))
    return sum(last), round(unpruned)


def summary(study: optuna.Study) -> str:
    """How many trials in each state, and the steps pruning saved."""
    counts = {s.name.lower(): 0 for s in optuna.trial.TrialState}
    for t in study.trials:
        counts[t.state.name.lower()] += 1
    trained, unpruned = trial_steps(study)
    saved = f"; {trained:,} env steps trained of {unpruned:,} unpruned" if unpruned else ""
    if unpruned:
        saved += f" ({1 - trained / unpruned:.0%} saved by pruning)"
    return (
        f"study {study.study_name}: {counts['complete']} complete, {counts['pruned']} pruned, "
        f"{counts['fail']} failed, {counts['running']} running{saved}"
    )


def best_table(study: optuna.Study, top: int = 5) -> str:
    """The best completed trials: value, every seed's score, the parameters."""
    lines = [summary(study), "| trial | value | seed scores | params |", "|---|---|---|---|"]
    for t in _best(study, top):
        seeds = _seed_scores(t)
        params = ", ".join(f"{k}={_short(v)}" for k, v in t.params.items())
        lines.append(f"| {_label(t)} | {_score(t.value)} | {seeds} | {params} |")
    return "\n".join(lines)


def _seed_scores(trial: optuna.trial.FrozenTrial) -> str:
    return ", ".join(_score(s) for s in trial.user_attrs.get("seed_scores", []))


def _label(trial: optuna.trial.FrozenTrial) -> str:
    """A trial's number, marked where it ran the base config."""
    return f"{trial.number} (base)" if is_base(trial) else str(trial.number)


def is_base(trial: optuna.Trial | optuna.trial.FrozenTrial) -> bool:
    """Whether ``trial`` ran the base config's own values (:func:`enqueue_base`)."""
    return bool(trial.user_attrs.get(BASE_ATTR))


def best_html(study: optuna.Study, top: int = 10) -> str:
    """:func:`best_table` as an HTML table, a column per parameter."""
    best = _best(study, top)
    keys = list(dict.fromkeys(k for t in best for k in t.params))
    head = "".join(f"<th>{html.escape(k)}</th>" for k in ["trial", "value", "seed scores", *keys])
    rows = []
    for t in best:
        seeds = _seed_scores(t)
        cells = [_label(t), _score(t.value), seeds]
        cells += [_short(t.params[k]) if k in t.params else "" for k in keys]
        rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _score(value: float | None) -> str:
    """A score with the digits that tell trials apart (the puzzle's is success + efficiency /
    1000: 1.0009969 is success 1, efficiency 0.9969)."""
    return "-" if value is None else f"{value:.8g}"


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def write_best(study: optuna.Study, spec: StudySpec, path: Path) -> ExperimentConfig | None:
    """The best trial's config at the base's own budget, as a file ``hrrl train --config`` runs."""
    try:
        best = study.best_trial
    except ValueError:  # no trial completed yet
        return None
    config = params_config(spec.base, best.params)
    save_yaml(config, path)
    return config


def params_config(base: ExperimentConfig, params: Mapping[str, Any]) -> ExperimentConfig:
    """``base`` with a trial's parameters set (its budget and seed untouched)."""
    return apply_overrides(base, [f"{k}={json.dumps(v)}" for k, v in params.items()])


def write_plots(study: optuna.Study, out: Path) -> list[Path]:
    """The optimisation history and the parameter importances as PNGs, and an HTML page."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as views

    made = []
    plots: list[tuple[str, Any]] = [("history", views.plot_optimization_history)]
    if len([t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]) >= 2:
        plots.append(("importances", views.plot_param_importances))
    for name, plot in plots:
        try:
            with warnings.catch_warnings():  # Optuna marks its matplotlib views experimental
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                axes = plot(study)
        except (ValueError, RuntimeError):  # too few trials or a constant parameter
            continue
        figure: Any = axes.figure if hasattr(axes, "figure") else plt.gcf()
        path = out / f"{name}.png"
        figure.savefig(path, dpi=100, bbox_inches="tight")
        plt.close(figure)
        made.append(path)
    body = "\n".join(f'<h2>{p.stem}</h2><img id="{p.stem}" src="{p.name}">' for p in made)
    style = (
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "table{font-size:85%}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right;"
        "white-space:nowrap}img{max-width:100%}"
    )
    (out / "report.html").write_text(
        f"<html><head><meta charset='utf-8'><title>{html.escape(study.study_name)}</title>"
        f"<style>{style}</style></head><body><h1>{html.escape(study.study_name)}</h1>"
        f"<p>{html.escape(summary(study))}</p><h2>best trials</h2>{best_html(study)}{body}"
        "</body></html>",
        encoding="utf-8",
    )
    return made
