"""``hrrl tune`` (issue 29, its first part): a short study end to end, a checked search space,
a study that resumes after a kill, and the best config as a file ``hrrl train --config`` reads."""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import hrrl
from hrrl.cli import main
from hrrl.experiment import gym_preset, load_config
from hrrl.studies import tune

optuna = pytest.importorskip("optuna", reason="the tune extra (make test installs it)")

TINY = ["--env", "CartPole-v1", "--seeds", "1", "--budget-steps", "1200", "--sampler", "random"]


def test_a_short_study_writes_its_table_best_config_and_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "study"
    assert main(["tune", *TINY, "--trials", "4", "--out", str(out)]) == 0
    printed = capsys.readouterr()
    text = printed.out
    assert text.startswith("study study: ") and "| trial | value | seed scores | params |" in text
    # A line as each trial ended, before the table.
    lines = [line for line in printed.err.splitlines() if line.startswith("trial ")]
    assert lines[0].startswith("trial 0 (base): ") and len(lines) == 4
    assert [line.split("; ")[1] for line in lines] == [f"{n} of 4 finished" for n in range(1, 5)]
    # Each of the 4 trials trains (at most) 1 seed x 1,200 steps; pruning's saving is counted.
    assert re.search(r"env steps trained of 4,800 unpruned \(\d+% saved by pruning\)", text)
    # best.yaml trains the preset's budget, not the study's: said, with how to check it.
    assert "the study scored 1,200" in text and "bench/tune_rerun.py" in text
    config = load_config(out / "best.yaml")  # what `hrrl train --config` reads
    assert config.gym is not None and config.gym.id == "CartPole-v1"
    study = optuna.load_study(study_name="study", storage=tune.sqlite_url(out))
    finished = [t for t in study.trials if t.state.is_finished()]
    assert len(finished) == 4
    best = study.best_trial
    assert config.agent.lr == best.params["agent.lr"]
    assert len(best.user_attrs["seed_scores"]) == 1
    # The first trial ran the preset itself (its values inside the space), the others samples.
    base = gym_preset("CartPole-v1")
    own = tune.base_params(tune.StudySpec(base=base, space=tune.default_space(base)))
    assert len(own) >= 5 and {k: study.trials[0].params[k] for k in own} == own
    assert all(t.params != study.trials[0].params for t in study.trials[1:])
    assert 'id="history"' in (out / "report.html").read_text()
    # Run again with a larger --trials: the study goes on from its 4 trials.
    assert main(["tune", *TINY, "--trials", "5", "--out", str(out)]) == 0
    assert len([t for t in study.trials if t.state.is_finished()]) == 5


def test_a_space_file_is_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    space = tmp_path / "space.yaml"
    space.write_text("agent.lrr: {low: 0.0001, high: 0.001}\n")
    argv = ["tune", *TINY, "--trials", "1", "--out", str(tmp_path / "s"), "--space", str(space)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "lrr" in err and "did you mean 'lr'" in err


def test_the_gym_space_searches_the_field_of_the_presets_target_sync() -> None:
    """Before, every Gymnasium study searched agent.target_update_interval (100-1000), which on a
    soft-sync preset (Acrobot: tau 0.01 every update) only spaced the Polyak steps: the target
    barely moved and the first Acrobot trial scored -500 on every seed."""
    acrobot = tune.default_space(gym_preset("Acrobot-v1"))
    assert "agent.tau" in acrobot and "agent.target_update_interval" not in acrobot
    lunar = tune.default_space(gym_preset("LunarLander-v3"))
    assert "agent.target_update_interval" in lunar and "agent.tau" not in lunar


def _running(db: Path) -> bool:
    """Whether the study file holds a running trial (read with sqlite3: opening it through
    Optuna would race the writer creating its tables)."""
    if not db.exists():
        return False
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:
            return bool(con.execute("SELECT 1 FROM trials WHERE state = 'RUNNING'").fetchall())
    except sqlite3.Error:
        return False


def test_a_killed_study_resumes_and_reruns_the_killed_trial(tmp_path: Path) -> None:
    out = tmp_path / "study"
    argv = ["tune", *TINY, "--trials", "3", "--out", str(out), "--heartbeat", "1"]
    argv += ["--budget-steps", "4000"]  # a trial of a few seconds: time for its first heartbeat
    env = {**os.environ, "PYTHONPATH": str(Path(hrrl.__file__).parents[1])}
    proc = subprocess.Popen([sys.executable, "-m", "hrrl.cli", *argv], env=env)
    storage = tune.sqlite_url(out)
    deadline = time.monotonic() + 120
    while not _running(out / "study.db"):  # kill it while its first trial runs
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(1.0)  # its heartbeat is recorded: a trial that never beat is never stale
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # No wait for three missed heartbeats: a trial that still looks alive when the study is
    # opened is failed as soon as it is stale, and the study still ends on --trials.
    assert main(argv) == 0
    study = optuna.load_study(study_name="study", storage=storage)
    states = [t.state.name for t in study.trials]
    assert states.count("FAIL") == 1 and states.count("RUNNING") == 0
    assert len([t for t in study.trials if t.state.is_finished() and t.state.name != "FAIL"]) == 3
    failed = next(t for t in study.trials if t.state.name == "FAIL")
    again = [t for t in study.trials if t.system_attrs.get("failed_trial") == failed.number]
    assert again and again[0].params == failed.params  # its parameters ran again
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    # Nothing twice: the resumed process does not draw again what the killed one drew.
    assert len({tuple(sorted(t.params.items())) for t in done}) == len(done)


def _stat(stat: Path) -> list[str]:
    """The fields of a /proc/<pid>/stat after the command name (state, parent, ...); none for
    a process gone meanwhile."""
    try:
        return stat.read_text().rsplit(")", 1)[1].split()
    except OSError:
        return []


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    stats = Path("/proc").glob("[0-9]*/stat")
    return [int(stat.parent.name) for stat in stats if _stat(stat)[1:2] == [str(pid)]]


def _alive(pid: int) -> bool:
    return _stat(Path(f"/proc/{pid}/stat"))[:1] not in ([], ["Z"])


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_killing_tune_ends_its_worker_processes(tmp_path: Path) -> None:
    """A SIGKILL (or SIGTERM) to ``hrrl tune --workers 2`` reaches the command only: its workers
    must not go on running trials on their own."""
    argv = ["tune", *TINY, "--trials", "20", "--out", str(tmp_path / "study"), "--workers", "2"]
    argv += ["--budget-steps", "20000"]
    env = {**os.environ, "PYTHONPATH": str(Path(hrrl.__file__).parents[1])}
    proc = subprocess.Popen([sys.executable, "-m", "hrrl.cli", *argv], env=env)
    deadline = time.monotonic() + 120
    while not _running(tmp_path / "study" / "study.db"):  # the workers run trials
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    workers = [pid for pid in _children(proc.pid) if "spawn_main" in _cmdline(pid)]
    assert len(workers) == 2
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_two_tune_processes_on_one_study_end_on_exactly_its_trials(tmp_path: Path) -> None:
    """Two `hrrl tune` commands on one study file, started together: each counts the other's
    running trial as taken, so they end on exactly --trials. Before, each ran until it saw
    --trials finished, so the one whose trial was still running ran one more (5 for 3)."""
    out = tmp_path / "study"
    argv = ["tune", *TINY, "--trials", "3", "--out", str(out), "--pruner", "none"]
    env = {**os.environ, "PYTHONPATH": str(Path(hrrl.__file__).parents[1])}
    command = [sys.executable, "-m", "hrrl.cli", *argv]
    procs = [
        subprocess.Popen(
            [*command, "--sampler-seed", str(seed)], env=env, stdout=subprocess.DEVNULL
        )
        for seed in (0, 1)
    ]
    assert [proc.wait(timeout=300) for proc in procs] == [0, 0]
    study = optuna.load_study(study_name="study", storage=tune.sqlite_url(out))
    done = [t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(done) == 3
    assert len({tuple(sorted(t.params.items())) for t in done}) == 3
    # A trial sampled past the count in a race failed before it trained: no work done twice.
    assert all("seed_scores" not in t.user_attrs for t in study.trials if t.state.name == "FAIL")


@pytest.mark.parametrize("how", ["processes", "ray"])
def test_workers_on_one_study_finish_exactly_its_trials(
    how: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two workers (spawned processes, or Ray tasks on a local Ray) share one study: the trials
    still to run are shared out, so it ends on exactly --trials, each sampled apart."""
    if how == "ray":
        pytest.importorskip("ray", reason="the ray extra (make test installs it)")
    out = tmp_path / "study"
    argv = ["tune", *TINY, "--trials", "4", "--out", str(out), "--workers", "2"]
    assert main([*argv, *(["--ray"] if how == "ray" else [])]) == 0
    assert capsys.readouterr().out.startswith("study study: ")
    study = optuna.load_study(study_name="study", storage=tune.sqlite_url(out))
    done = [t for t in study.trials if t.state.is_finished()]
    assert len(study.trials) == len(done) == 4
    assert len({tuple(sorted(t.params.items())) for t in done}) == 4


def test_a_sqlite_study_reads_a_queued_trial_under_the_write_lock(tmp_path: Path) -> None:
    """Starting a queued trial reads that it waits, then writes it running: two processes must
    not both read it waiting (both would run it, and the second fail as it reported, as the
    base trial did under two Ray workers). A transaction on the study's SQLite holds the write
    lock from its first read, so another process's write waits for it."""
    db = tmp_path / "study.db"
    storage = tune._rdb_storage(tune.sqlite_url(tmp_path), heartbeat=30)
    with storage.engine.connect() as connection, connection.begin():
        connection.exec_driver_sql("SELECT count(*) FROM trials").scalar()
        other = sqlite3.connect(db, timeout=0.1)
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            other.execute("UPDATE trials SET state = 'RUNNING'")
        other.close()


def test_the_median_rule_waits_out_the_warmup(tmp_path: Path) -> None:
    """Three trials that scored 10 at step 100: a fourth at 0 there lags, and is pruned unless
    step 100 is inside the warmup (evaluations that early say little about a run's end)."""

    def lags(warmup: int) -> bool:
        place = tune.StudyPlace(
            out=tmp_path, storage=None, name=f"w{warmup}", sampler="random", pruner="median",
            seed=0, warmup=warmup,
        )  # fmt: skip
        study = place.open()
        for _ in range(3):
            study.add_trial(optuna.trial.create_trial(value=10.0, intermediate_values={100: 10.0}))
        trial = study.ask()
        trial.report(0.0, 100)
        return trial.should_prune()

    assert lags(warmup=0) and not lags(warmup=150)


def test_score_final_reads_each_seeds_final_evaluation() -> None:
    """--score final scores a seed by its final policy's evaluation (which a late collapse
    lowers), --score best by its best evaluation, --score tail by the mean of its last three;
    the same trial, each way."""
    from hrrl.run import build_trainer, run_trainer

    base = gym_preset("CartPole-v1")
    values = {"agent.lr": 0.002}
    space = {key: {"choices": [value]} for key, value in values.items()}
    spec = tune.StudySpec(base=base, space=space, seeds=(0,), budget_steps=2000)
    trainer = build_trainer(tune.trial_config(spec, [f"{k}={v}" for k, v in values.items()], 0))
    result = run_trainer(trainer, bar=False)
    tail = [tune.score_value(trainer, row) for row in result.history[-3:]]
    want = {
        "best": tune.score_value(trainer, result.best_metrics),
        "final": tune.score_value(trainer, result.last_metrics),
        "tail": sum(tail) / 3,
    }
    assert want["final"] < want["best"]  # this seed's final policy is below its best
    assert len(result.history) > 3 and len(set(tail)) > 1  # the tail is not the final alone
    assert want["tail"] not in (want["best"], want["final"])
    for score in ("best", "final", "tail"):
        study = optuna.create_study(direction="maximize")
        study.optimize(tune.objective(dataclasses.replace(spec, score=score)), n_trials=1)
        assert study.trials[0].value == want[score], score


def test_score_time_ranks_solved_seeds_by_their_seconds_and_unsolved_ones_below() -> None:
    """--score time: a seed that meets the stop rule scores minus its seconds to the evaluation
    that met it; one that never does scores below every solved one, however fast it ran."""
    from hrrl.config import apply_overrides

    base = gym_preset("CartPole-v1")
    space = {"agent.lr": {"choices": [0.002]}}
    values, reports = {}, {}
    for name, stop in (("solved", 100.0), ("unsolved", 1e9)):
        spec = tune.StudySpec(
            base=apply_overrides(base, [f"gym.stop_return={stop}"]),
            space=space,
            seeds=(0,),
            budget_steps=2000,
            score="time",
        )
        study = optuna.create_study(direction="maximize")
        study.optimize(tune.objective(spec), n_trials=1)
        values[name] = study.trials[0].value
        reports[name] = list(study.trials[0].intermediate_values.values())
    assert -tune.UNSOLVED_SECONDS < values["solved"] < 0  # seconds to its stop rule
    assert values["unsolved"] < -tune.UNSOLVED_SECONDS < values["solved"]
    # The pruner sees the same numbers: unsolved so far, then the seconds to the rule.
    assert all(v < -tune.UNSOLVED_SECONDS for v in reports["unsolved"] + reports["solved"][:-1])
    assert reports["solved"][-1] == pytest.approx(values["solved"], abs=0.05)


def test_score_time_needs_a_stop_rule(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["tune", *TINY, "--trials", "1", "--score", "time", "--out", str(tmp_path / "s")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "gym.stop_return" in err
    assert not (tmp_path / "s" / "study.db").exists()  # refused before the study was made


def test_the_saving_counts_pruning_not_runs_a_stop_rule_ended_early() -> None:
    """Two complete trials whose runs a stop rule ended at 10,000 and 20,000 steps and one
    pruned at 5,000: pruning saved what a complete trial trains on average less 5,000 (10,000),
    not the distance of every trial from the longest (25,000 of 60,000)."""
    study = optuna.create_study(direction="maximize")
    for state, steps in (("COMPLETE", 10_000), ("COMPLETE", 20_000), ("PRUNED", 5_000)):
        study.add_trial(
            optuna.trial.create_trial(
                state=optuna.trial.TrialState[state],
                value=1.0 if state == "COMPLETE" else None,
                intermediate_values={steps // 2: 0.5, steps: 1.0},
            )
        )
    assert tune.trial_steps(study) == (35_000, 45_000)
    assert "35,000 env steps trained of 45,000 unpruned (22% saved by pruning)" in tune.summary(
        study
    )


def test_a_second_trial_of_the_base_config_fails_before_training() -> None:
    """Two processes opening a new study at once may both queue the base config: the second
    copy fails at once instead of training the same parameters again."""
    base = gym_preset("CartPole-v1")
    spec = tune.StudySpec(base=base, space=tune.default_space(base), seeds=(0,), budget_steps=300)
    study = optuna.create_study(direction="maximize")
    tune.enqueue_base(study, spec)
    tune.enqueue_base(study, spec)  # a study that holds a trial is not queued the base again
    assert len(study.trials) == 1
    # Two processes that both saw the study empty:
    study.enqueue_trial(tune.base_params(spec), user_attrs={tune.BASE_ATTR: True})
    study.optimize(tune.objective(spec), n_trials=2, catch=(tune.DuplicateTrial,))
    states = [t.state for t in study.trials]
    assert states == [optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL]
    assert "\n| 0 (base) | " in tune.best_table(study)


def test_a_study_whose_best_is_the_base_config_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tune", *TINY, "--trials", "1", "--out", str(tmp_path / "study")]) == 0
    text = capsys.readouterr().out
    assert "\n| 0 (base) | " in text and "the best trial is the base config's own values" in text


def test_score_time_counts_to_the_first_evaluation_that_met_the_stop_rule() -> None:
    """The puzzle's rule waits for the last curriculum stage: a run whose first evaluation
    (stage 3) scored as well as the one that then met the rule in stage 4 keeps the first as its
    best. Its time is the seconds to the second, and it is solved (it scored as unsolved when
    the best evaluation was asked)."""
    from types import SimpleNamespace

    from hrrl.engine.run_state import Counters, TrainResult
    from hrrl.puzzle.config import PuzzleConfig
    from hrrl.puzzle.task import PuzzleRule

    rule = PuzzleRule(PuzzleConfig())
    first = {"eval/success_rate": 1.0, "eval/efficiency": 0.9972, "eval/stage": 3.0}
    second = {**first, "eval/stage": 4.0}
    assert rule.score(first) == rule.score(second) and rule.solved(second)
    result = TrainResult(
        counters=Counters(best_wall_seconds=5.0),
        best_metrics=first,
        last_metrics=second,
        stop_reason="solved",
        wall_seconds=9.0,
        history=[
            {"env_steps": 10_240, "wall": 5.0, **first},
            {"env_steps": 17_120, "wall": 8.0, **second},
        ],
    )
    trainer = SimpleNamespace(task=rule)
    assert tune.seed_score("time", trainer, result) == -8.0
    unsolved = dataclasses.replace(
        result, history=result.history[:1], stop_reason="total_env_steps"
    )
    assert tune.seed_score("time", trainer, unsolved) == -(tune.UNSOLVED_SECONDS + 9.0)


def test_the_commands_score_choices_are_the_studys_scores() -> None:
    """``hrrl tune --score`` offers exactly the scores a study knows (the command does not
    import Optuna to build its parser, so it lists them itself)."""
    from hrrl.cli import build_parser

    parser = build_parser()
    (tune_parser,) = (
        choice
        for action in parser._subparsers._group_actions  # type: ignore[union-attr]
        for name, choice in action.choices.items()
        if name == "tune"
    )
    (score,) = (action for action in tune_parser._actions if action.dest == "score")
    assert tuple(score.choices) == tune.SCORES


def test_a_pruned_trials_line_names_the_seed_and_step_it_stopped_at() -> None:
    """A trial reports at the env steps of all its seeds so far; its line says which seed, and
    the step within that seed, the pruner stopped it at, and the study's best so far."""
    spec = tune.StudySpec(base=gym_preset("CartPole-v1"), space={}, seeds=(5, 6), budget_steps=300)
    study = optuna.create_study(direction="maximize")
    complete = optuna.trial.create_trial(
        value=20.5, user_attrs={"seed_scores": [20.0, 21.0]}, intermediate_values={300: 20.0}
    )
    pruned = optuna.trial.create_trial(
        state=optuna.trial.TrialState.PRUNED, intermediate_values={300: 9.0, 400: 7.25}
    )
    study.add_trials([complete, pruned])
    announce = tune.Announce(spec, trials=10)
    assert announce.line(study, study.trials[0]) == (
        "trial 0: 20.5 (seeds 20, 21) after 0.0 min; 2 of 10 finished; best so far trial 0, 20.5"
    )
    assert announce.line(study, study.trials[1]) == (
        "trial 1: pruned at env step 100 of seed 6 (last evaluation 7.25) after 0.0 min; "
        "2 of 10 finished; best so far trial 0, 20.5"
    )


def test_aggregate_worst_values_a_trial_by_its_lowest_seed() -> None:
    """--aggregate worst: the trial's value is its lowest seed's score (a config good on every
    seed), --aggregate mean their mean; the same trial's seeds, each way."""
    base = gym_preset("CartPole-v1")
    space = {"agent.lr": {"choices": [0.002]}}
    values = {}
    for how in tune.AGGREGATES:
        spec = tune.StudySpec(
            base=base, space=space, seeds=(0, 1), budget_steps=1200, aggregate=how
        )
        study = optuna.create_study(direction="maximize")
        study.optimize(tune.objective(spec), n_trials=1)
        values[how] = study.trials[0].value
        seeds = study.trials[0].user_attrs["seed_scores"]
    assert min(seeds) < max(seeds)  # the seeds differ, so the two values do
    assert values == {"mean": sum(seeds) / 2, "worst": min(seeds)}


def test_a_study_refuses_a_process_that_asks_other_terms(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A study records its score, aggregate, seeds and budget; a second `hrrl tune` on it with
    another aggregate (or score, seeds, budget) is refused in one line before any trial, since
    its values would not compare with the study's, and the study is left as it was."""
    out = tmp_path / "s"
    assert main(["tune", *TINY, "--trials", "1", "--out", str(out)]) == 0
    capsys.readouterr()
    for other in (["--aggregate", "worst"], ["--score", "final"], ["--budget-steps", "1300"]):
        argv = ["tune", *TINY, "--trials", "2", "--out", str(out), *other]
        assert main(argv) == 2, other
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "holds trials scored with" in err, err
    study = optuna.load_study(study_name="s", storage=tune.sqlite_url(out))
    assert len(study.trials) == 1
    assert study.user_attrs == {
        "score": "best",
        "aggregate": "mean",
        "seeds": [0],
        "budget_steps": 1200,
    }
    # Its own terms join it.
    assert main(["tune", *TINY, "--trials", "2", "--out", str(out)]) == 0
    assert len(study.trials) == 2


def test_carry_starts_a_study_with_anothers_trials_valued_by_its_aggregate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--carry DIR copies a study's finished trials into a new one (a warm start), each complete
    trial valued anew from its seeds' scores under the new study's --aggregate; a study scored
    another way is refused; the new study then samples on to its --trials."""
    two = [*TINY, "--seeds", "2", "--pruner", "none"]
    first, second = tmp_path / "mean", tmp_path / "worst"
    assert main(["tune", *two, "--trials", "2", "--out", str(first)]) == 0
    other = ["tune", *two, "--budget-steps", "1300", "--carry", str(first), "--out", str(second)]
    assert main([*other, "--trials", "3"]) == 2
    assert "scored with budget_steps=1200 (asked 1300)" in capsys.readouterr().err
    argv = ["tune", *two, "--aggregate", "worst", "--carry", str(first), "--out", str(second)]
    assert main([*argv, "--trials", "3"]) == 0
    assert "carried 2 trials from" in capsys.readouterr().out
    source = optuna.load_study(study_name="mean", storage=tune.sqlite_url(first))
    study = optuna.load_study(study_name="worst", storage=tune.sqlite_url(second))
    assert len(study.trials) == 3 and study.user_attrs["aggregate"] == "worst"
    for old, new in zip(source.trials, study.trials[:2], strict=True):
        scores = old.user_attrs["seed_scores"]
        assert scores[0] != scores[1]
        assert old.value == sum(scores) / 2 and new.value == min(scores)
        assert new.params == old.params and new.user_attrs["carried_from"] == f"mean/{old.number}"
    assert tune.CARRIED_ATTR not in study.trials[2].user_attrs  # sampled here
    # Resumed with the same command, it carries nothing again.
    assert main([*argv, "--trials", "3"]) == 0
    assert "none carried" in capsys.readouterr().out and len(study.trials) == 3
