"""The ablation study: every arm on every seed, in parallel, resumable, then a report.

An *arm* is a preset plus overrides (the table in :mod:`hrrl.experiment`), optionally with
``+fault`` appended: the run's training rewards then pass through a
:class:`~hrrl.studies.fault.FaultInjectingTask` (+-5000 rewards inside a window; see
:func:`fault_for`)::

    arm              overrides on --preset
    all              (none: every fix on)
    no-double        agent.double=false
    no-per           replay.kind=uniform
    no-clip          agent.max_grad_norm=null guard.enabled=false
    no-adaptive-eps  exploration.kind=decay
    legacy-reward    puzzle.reward=legacy
    paper-encoder    puzzle.encoder=paper
    no-hierarchy     puzzle.planner=none
    paper-planner    puzzle.planner=paper
    constraint-only  puzzle.planner=constraint (no glance beyond the low-level window)
    no-curriculum    puzzle.curriculum.stages=[<last stage of the preset>]
    baseline         the ``baseline`` preset itself (the prototype), whatever --preset is
    <arm>+fault      <arm>, rewards corrupted in [0.1, 0.3) x budget, no early stop

Every arm then gets the same study settings (:func:`study_overrides`): ``train.seed``, the step
budget ``train.total_env_steps``, the evaluation cadence, no checkpoints, one torch thread. The
``baseline`` preset trains 5,000 episodes at one environment; the step budget caps it too
(whichever comes first), so in a short study the prototype is cut off early: the report says so.

A *trial* (:func:`run_trial`) is a pure function of its :class:`TrialSpec`: build the config,
train, then play the final policy on a held-out suite (every family, deep_trap and maze
included: the ones only a high level that sees past the window solves) and on the paper's targets
123, 278 and 431. Trials run in local processes (spawn) or as Ray tasks; either way the same spec
gives the same numbers (wall times aside). Each finished trial is written to
``<out>/trials/<arm>__seed<s>.json`` with the hash of everything it depends on; a restarted study
skips trials whose file exists with the same hash.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hrrl.config import apply_overrides, to_dict
from hrrl.engine.distributed.ray_session import ray_session
from hrrl.engine.trainer import Trainer
from hrrl.errors import ConfigError
from hrrl.experiment import ExperimentConfig, preset, puzzle_section
from hrrl.puzzle.core import Puzzle, Status
from hrrl.puzzle.evaluate import eval_metrics
from hrrl.puzzle.exact import path_return
from hrrl.puzzle.generate import generate_suite
from hrrl.puzzle.rewards import make_reward
from hrrl.puzzle.sampling import PAPER_DENSITY, sample_puzzle
from hrrl.puzzle.task import PuzzleTask
from hrrl.run import puzzle_task
from hrrl.studies.fault import FaultConfig, FaultInjectingTask
from hrrl.studies.gym_trial import GYM_ARMS, gym_trial_config, run_gym_trial
from hrrl.studies.trial import train_recording_crash, training_summary

#: Bump when a trial's meaning changes: old result files are then rerun.
TRIAL_VERSION = 2  # 2: the held-out suite gained deep_trap and maze
FAULT_SUFFIX = "+fault"
ARM_OVERRIDES: dict[str, tuple[str, ...]] = {
    "all": (),
    "no-double": ("agent.double=false",),
    "no-per": ("replay.kind=uniform",),
    "no-clip": ("agent.max_grad_norm=null", "guard.enabled=false"),
    "no-adaptive-eps": ("exploration.kind=decay",),
    "legacy-reward": ("puzzle.reward=legacy",),
    # The paper's 12 features play one action set: its network has one head per action.
    "paper-encoder": (
        "puzzle.encoder=paper",
        "agent.network=phase_adaptive",
        "puzzle.curriculum.action_sets=fixed",
        "puzzle.eval_actions=[]",
    ),
    "no-hierarchy": ("puzzle.planner=none",),
    "paper-planner": ("puzzle.planner=paper",),
    "constraint-only": ("puzzle.planner=constraint",),
    "no-curriculum": (),  # built from the preset's last stage in arm_overrides
    "baseline": (),  # the baseline preset
}
DEFAULT_ARMS: tuple[str, ...] = (*ARM_OVERRIDES, "no-clip+fault", "all+fault")
#: The paper's headline targets (100% success claimed on each).
PAPER_TARGETS: tuple[int, ...] = (123, 278, 431)
#: Fault window as fractions of the step budget.
FAULT_WINDOW = (0.1, 0.3)


@dataclass(frozen=True, kw_only=True)
class TrialSpec:
    """Everything a trial depends on (its result is a pure function of this)."""

    arm: str
    """Arm name (see the module table), e.g. 'no-per' or 'no-clip+fault'."""
    seed: int
    """train.seed of the run."""
    preset: str = "default"
    """Preset the arms modify ('baseline' always uses the baseline preset)."""
    budget_steps: int = 30_000
    """train.total_env_steps for every arm (caps the baseline's 5,000 episodes too)."""
    eval_every: int = 1_000
    """Environment steps between evaluations during training (steps-to-95% resolution)."""
    eval_count: int = 8
    """Puzzles per family of the in-training evaluation suite."""
    heldout_count: int = 10
    """Puzzles per family of the held-out suite (every family) played after training."""
    heldout_seed: int = 7
    """Seed of the held-out suite."""
    paper_count: int = 5
    """Puzzles per paper target (123, 278, 431; paper density of forbidden numbers)."""
    env: str | None = None
    """A Gymnasium id to run the study on (its tuned preset, :mod:`hrrl.studies.gym_trial`);
    None: the number puzzle."""

    def __post_init__(self) -> None:
        base, fault = split_arm(self.arm)
        if self.env is not None and (base not in GYM_ARMS or fault):
            raise ConfigError(
                f"arm={self.arm!r} does not apply to a Gymnasium task: use one of "
                f"{', '.join(GYM_ARMS)}"
            )
        if self.env is None and base not in ARM_OVERRIDES:
            raise ConfigError(
                f"arm={self.arm!r} is unknown: use one of {', '.join(ARM_OVERRIDES)} "
                f"(optionally with {FAULT_SUFFIX})"
            )
        for name in ("budget_steps", "eval_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)!r}: give an integer >= 1")

    @property
    def filename(self) -> str:
        return f"{self.arm}__seed{self.seed}.json"


def split_arm(arm: str) -> tuple[str, bool]:
    """``("no-clip", True)`` for ``"no-clip+fault"``."""
    if arm.endswith(FAULT_SUFFIX):
        return arm[: -len(FAULT_SUFFIX)], True
    return arm, False


def parse_arms(text: str, *, env: str | None = None) -> list[str]:
    """Comma-separated arm names, validated (for ``env``'s study, if given); repeats refused."""
    arms = [a.strip() for a in text.split(",") if a.strip()]
    if not arms:
        raise ConfigError("--arms is empty: give e.g. all,no-double")
    for arm in arms:
        TrialSpec(arm=arm, seed=0, env=env)  # validates the name
    if len(set(arms)) != len(arms):
        raise ConfigError(f"--arms {text!r} names an arm twice")
    return arms


def arm_overrides(arm: str, base_preset: str) -> tuple[str, list[str]]:
    """The preset an arm starts from and its overrides (without the study settings)."""
    base, _ = split_arm(arm)
    if base == "baseline":
        return "baseline", []
    if base == "no-curriculum":
        last = to_dict(puzzle_section(preset(base_preset)).curriculum)["stages"][-1]
        return base_preset, [f"puzzle.curriculum.stages=[{json.dumps(last)}]"]
    return base_preset, list(ARM_OVERRIDES[base])


def study_overrides(spec: TrialSpec) -> list[str]:
    """Settings every arm shares in a study."""
    out = [
        f"train.seed={spec.seed}",
        f"train.total_env_steps={spec.budget_steps}",
        f"train.eval_every={spec.eval_every}",
        f"puzzle.eval_count={spec.eval_count}",
        "train.threads=1",
        "checkpoint.enabled=false",
    ]
    if split_arm(spec.arm)[1]:
        out.append("puzzle.stop_success=null")  # train through the fault and after it
    return out


def fault_for(spec: TrialSpec) -> FaultConfig | None:
    """The fault of a ``+fault`` arm: +-5000 on 2% of rewards in [0.1, 0.3) of the budget."""
    if not split_arm(spec.arm)[1]:
        return None
    lo, hi = FAULT_WINDOW
    return FaultConfig(
        start_step=int(lo * spec.budget_steps),
        stop_step=int(hi * spec.budget_steps),
        seed=spec.seed,
    )


def trial_config(spec: TrialSpec) -> ExperimentConfig:
    if spec.env is not None:
        return gym_trial_config(spec)
    name, overrides = arm_overrides(spec.arm, spec.preset)
    return apply_overrides(preset(name), [*overrides, *study_overrides(spec)])


def config_hash(spec: TrialSpec) -> str:
    """SHA-256 of the resolved config, the fault, the evaluation settings and the version."""
    fault = fault_for(spec)
    blob = {
        "version": TRIAL_VERSION,
        "config": to_dict(trial_config(spec)),
        "fault": None if fault is None else dataclasses.asdict(fault),
        # A puzzle spec hashes as before the env field existed, so finished trials are kept.
        "spec": {k: v for k, v in dataclasses.asdict(spec).items() if k != "env" or v is not None},
    }
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()[:16]


# --- one trial ------------------------------------------------------------------------------------
@lru_cache(maxsize=4)
def heldout_suite(count: int, seed: int) -> tuple[Puzzle, ...]:
    return tuple(generate_suite(["all"], count, seed))


@lru_cache(maxsize=4)
def paper_suite(count: int) -> tuple[Puzzle, ...]:
    """``count`` puzzles per paper target, forbidden numbers at the paper's density."""
    rng = np.random.default_rng(431)
    out = []
    for target in PAPER_TARGETS:
        for i in range(count):
            p = sample_puzzle(rng, target_range=(target, target), density=PAPER_DENSITY)
            out.append(
                dataclasses.replace(p, id=f"paper-{target}-{i}", extra={"family": str(target)})
            )
    return tuple(out)


def _score(trainer: Trainer, task: PuzzleTask, puzzles: Sequence[Puzzle]) -> dict[str, Any]:
    results = task.play(trainer.greedy, puzzles)
    metrics, rows = eval_metrics(results, puzzles)
    ordered = make_reward("ordered")
    solvable = [
        (p, r) for p, r in zip(puzzles, results, strict=True) if r.status is not Status.UNSOLVABLE
    ]
    returns = [path_return(p, ordered, list(r.path)).ret for p, r in solvable]
    steps = [r.steps for _, r in solvable if r.status is Status.SUCCESS]
    return {
        "success_rate": metrics["eval/success_rate"],
        "efficiency": metrics["eval/efficiency"],
        "mean_steps": float(np.mean(steps)) if steps else math.nan,
        "return": float(np.mean(returns)) if returns else math.nan,
        "by_family": {row.family: row.success_rate for row in rows},
    }


def run_trial(spec: TrialSpec) -> dict[str, Any]:
    """Train one arm on one seed and score it; returns a JSON-able dict (see the module doc)."""
    if spec.env is not None:
        return {**run_gym_trial(spec, config_hash(spec)), "spec": dataclasses.asdict(spec)}
    torch.set_num_threads(1)
    start = time.perf_counter()
    config = trial_config(spec)
    fault = fault_for(spec)
    inner = puzzle_task(config)
    task = inner if fault is None else FaultInjectingTask(inner, fault)
    trainer = Trainer(config, task=task)
    stop_reason, crashed = train_recording_crash(trainer)
    return {
        "arm": spec.arm,
        "seed": spec.seed,
        "config_hash": config_hash(spec),
        "spec": dataclasses.asdict(spec),
        **training_summary(
            trainer,
            stop_reason=stop_reason,
            crashed=crashed,
            history_keys=("eval/success_rate", "eval/efficiency"),
        ),
        "fault": None
        if not isinstance(task, FaultInjectingTask)
        else {"extreme": task.n_extreme, "nan": task.n_nan, **dataclasses.asdict(task.config)},
        "heldout": _score(trainer, inner, heldout_suite(spec.heldout_count, spec.heldout_seed)),
        "paper": _score(trainer, inner, paper_suite(spec.paper_count)),
        "trial_wall_s": time.perf_counter() - start,
    }


# --- the study ------------------------------------------------------------------------------------
def load_finished(path: Path, spec: TrialSpec) -> dict[str, Any] | None:
    """The saved result of ``spec`` if its file exists and its hash matches, else None."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    ok = isinstance(data, dict) and data.get("config_hash") == config_hash(spec)
    return data if ok else None


def _save(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1, allow_nan=True), encoding="utf-8")
    os.replace(tmp, path)


def run_study(
    specs: Sequence[TrialSpec],
    out_dir: Path,
    *,
    workers: int = 2,
    use_ray: bool = False,
    ray_address: str | None = None,
    on_done: Callable[[dict[str, Any], bool], object] | None = None,
) -> list[dict[str, Any]]:
    """Run every spec not already finished in ``out_dir/trials``; results in spec order.

    ``workers`` local processes (0: in this process), or Ray tasks when ``use_ray`` (a local
    instance with ``workers`` CPUs, or the cluster at ``ray_address``). ``on_done(result,
    skipped)`` hears of each trial as it finishes (or is found finished).
    """
    trials = out_dir / "trials"
    trials.mkdir(parents=True, exist_ok=True)
    results: dict[int, dict[str, Any]] = {}
    todo: list[int] = []
    for i, spec in enumerate(specs):
        found = load_finished(trials / spec.filename, spec)
        if found is None:
            todo.append(i)
        else:
            results[i] = found
            if on_done:
                on_done(found, True)

    def finish(i: int, data: dict[str, Any]) -> None:
        _save(trials / specs[i].filename, data)
        results[i] = data
        if on_done:
            on_done(data, False)

    if todo and (use_ray or ray_address):
        _run_ray(specs, todo, finish, workers=workers, address=ray_address)
    elif todo and workers == 0:
        for i in todo:
            finish(i, run_trial(specs[i]))
    elif todo:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = {pool.submit(run_trial, specs[i]): i for i in todo}
            for future in as_completed(futures):
                finish(futures[future], future.result())
    return [results[i] for i in range(len(specs))]


def _run_ray(
    specs: Sequence[TrialSpec],
    todo: Sequence[int],
    finish: Callable[[int, dict[str, Any]], None],
    *,
    workers: int,
    address: str | None,
) -> None:
    with ray_session(workers=workers, address=address) as ray:
        remote = ray.remote(num_cpus=1)(run_trial)
        pending = {remote.remote(specs[i]): i for i in todo}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                finish(pending.pop(ref), ray.get(ref))


def make_specs(arms: Sequence[str], seeds: Sequence[int], **settings: Any) -> list[TrialSpec]:
    """One spec per (arm, seed), arm-major."""
    return [TrialSpec(arm=a, seed=s, **settings) for a in arms for s in seeds]
