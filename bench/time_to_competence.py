"""Time to competence: wall time and environment steps until 95% success on a fixed suite.

Competence = greedy success rate >= ``--goal`` (0.95) on a fixed generated evaluation suite
(``generate_suite(families, 20, seed)``, played by :class:`hrrl.puzzle.player.BatchPlayer`, the
player of ``hrrl eval`` and of training-time evaluation): by default
the five families ``in_range dense trap wall endgame`` (100 puzzles); ``--families all`` takes
every solvable family of the held-out bar (adds ``scale``, targets up to 10,000, and
``lookahead``, the dense puzzles that a one-step-lookahead greedy player fails: 140 puzzles).
Every arm is evaluated on that suite every ``--eval-every`` environment steps, while it trains.
Two points are timed: **first** competence, the first evaluation at the goal (what the issue
asks), and **stable** competence, the first evaluation from which every evaluation over the
next ``--hold-steps`` (512) env steps stays at the goal: a policy that reaches 95% and falls
back to 20% on the next evaluation is not yet competent. A run stops at stable competence or
at its budget cap. Arms (each for ``--seeds`` seeds, run one after another in one process):

* ``hrrl default``: ``build_trainer(preset("default"))`` (slot encoder, horizon planner, steps
  reward, prioritized replay, gated curriculum, 32 puzzles at once);
* ``hrrl default+`` (``default-tuned``): the default preset plus ``--tuned-set`` overrides
  (by default ``agent.lr=5e-4 train.learning_starts=256``: the default preset before
  2026-11-26, to show in the same run what its lr 2e-3 and learning from step 64 are worth);
* ``hrrl baseline``: ``preset("baseline")`` (the prototype), capped, evaluated every
  ``--eval-every-baseline`` steps (it needs far more steps; a fine cadence would be all eval);
* ``sb3 defaults``: Stable-Baselines3 ``DQN("MlpPolicy", env)`` with its defaults;
* ``sb3 zoo``: SB3 DQN with RL-Zoo-style hyper-parameters (the zoo's CartPole/MountainCar DQN:
  lr 2.3e-3, buffer 100k, learning_starts 1000, batch 64, gamma 0.99, target_update_interval 10,
  train_freq 256, gradient_steps 128, exploration_fraction 0.16, final eps 0.04, net [256, 256]).

SB3 trains on the default preset's environment stack through Gymnasium: ``PuzzleEnv(reward,
generator=...) -> HierarchyWrapper(planner) -> EncodedObservation(encoder)`` with the preset's
reward, planner and encoder (8 action slots, its window), where the generator draws from the
default curriculum's last stage (its dense stage, plus 25% from the earlier stages) on the action set
(1, 3, 5), since SB3 has no success-gated curriculum. It is evaluated by a callback with
``model.predict(obs, deterministic=True)`` through the same player on the same suite.

Times: ``train s`` is wall time to the evaluation *minus the time spent evaluating* (so the
evaluation cadence does not favour anyone; the per-run lines give wall time as well). For
hrrl the evaluation is the trainer's whole evaluation phase: the greedy play and the
``train/q_bias`` diagnostic (its exact DP tables are worked out at the first evaluation; until
2026-11-26 it was counted as training time, about 0.1 s of the 0.2 s hrrl default reported
then). Every process uses
``torch.set_num_threads(1)`` (hrrl's ``train.threads`` default; two threads only oversubscribe
a 2-core machine that is doing anything else). A run that never reaches the goal counts as
+inf in the median and reads "not reached"; the note gives each unstable run's cap and best
success. The default ``--eval-every`` is 32 env steps (one hrrl vector step).

Usage::

    python bench/time_to_competence.py                         # 3 seeds, every arm
    python bench/time_to_competence.py --seeds 0 1 2 3 4 --arms default sb3-zoo
    python bench/time_to_competence.py --cap-seconds 120 --cap-steps 100000
    python bench/time_to_competence.py --families all --arms default sb3-zoo
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

import numpy as np
import torch

import _common  # noqa: F401  (puts src/ on sys.path)
from _common import ZOO, machine, table
from hrrl.config import apply_overrides
from hrrl.experiment import preset, puzzle_section
from hrrl.puzzle.core import Puzzle
from hrrl.puzzle.curriculum import Curriculum, CurriculumConfig
from hrrl.puzzle.encoders import EncodedObservation
from hrrl.puzzle.env import PuzzleEnv
from hrrl.puzzle.evaluate import eval_metrics
from hrrl.puzzle.generate import generate_suite
from hrrl.puzzle.hierarchy import HierarchyWrapper
from hrrl.puzzle.player import BatchPlayer
from hrrl.puzzle.stack import stack_adapter, stack_of
from hrrl.run import build_trainer

T = TypeVar("T")
FAMILIES = ("in_range", "dense", "trap", "wall", "endgame")
#: Every solvable family of the held-out bar (``--families all``).
ALL_FAMILIES = ("in_range", "scale", "dense", "trap", "endgame", "wall", "lookahead")
ARMS = ("default", "default-tuned", "baseline", "sb3-defaults", "sb3-zoo")
#: The RL-Zoo CartPole-v1 DQN setting, without its step budget.
ZOO_SETTING: dict[str, Any] = {k: v for k, v in ZOO["CartPole-v1"].items() if k != "n_timesteps"}


class Eval(NamedTuple):
    """One evaluation: where it happened (env steps, train s = wall s minus the time spent
    evaluating, wall s) and the success rate it measured."""

    steps: int
    train: float
    wall: float
    success: float


@dataclass
class Run:
    """One arm, one seed: evaluation history, first and stable competence."""

    arm: str
    seed: int
    history: list[Eval] = field(default_factory=list)
    eval_seconds: float = 0.0
    reached: Eval | None = None  # the first competent evaluation
    stable: Eval | None = None  # the first from which every evaluation stays competent
    streak: Eval | None = None  # the first of the current run of competent evaluations
    total_steps: int = 0
    total_wall: float = 0.0
    stop: str = ""


class Clock:
    """Wall time since start, with the time spent inside ``evaluating()`` kept apart."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.in_eval = 0.0

    @property
    def wall(self) -> float:
        return time.perf_counter() - self.start

    def evaluate(self, fn: Callable[[], T]) -> T:
        began = time.perf_counter()
        try:
            return fn()
        finally:
            self.in_eval += time.perf_counter() - began


def record(run: Run, clock: Clock, steps: int, success: float, args: argparse.Namespace) -> bool:
    """Note one evaluation; returns whether the run is done: competent at every evaluation of
    the last ``args.hold_steps`` env steps (then ``run.stable`` is the first of those)."""
    now = Eval(steps, clock.wall - clock.in_eval, clock.wall, success)
    run.history.append(now)
    run.eval_seconds = clock.in_eval
    if success < args.goal:
        run.streak = None
        return False
    run.reached = run.reached or now
    run.streak = run.streak or now
    if steps - run.streak.steps >= args.hold_steps:
        run.stable = run.streak
    return run.stable is not None


# --- hrrl arms ----------------------------------------------------------------------------------
def run_hrrl(name: str, seed: int, args: argparse.Namespace) -> Run:
    tuned = name == "default-tuned"
    name = "default" if tuned else name
    is_default = name == "default"
    overrides = [
        f"train.seed={seed}",
        f"puzzle.eval_families=[{', '.join(args.families)}]",
        f"puzzle.eval_count={args.per_family}",
        f"puzzle.eval_seed={args.suite_seed}",
        f"train.eval_every={args.eval_every if is_default else args.eval_every_baseline}",
        "puzzle.stop_success=null",  # the run stops once record() says it is done
        f"train.total_env_steps={args.cap_steps if is_default else args.cap_steps_baseline}",
        f"train.max_wall_seconds={args.cap_seconds}",
        "train.threads=1",
        "checkpoint.enabled=false",
    ]
    if tuned:
        overrides += args.tuned_set
    config = apply_overrides(preset(name), overrides)
    trainer = build_trainer(config)
    label = "hrrl default+" if tuned else f"hrrl {name}"
    run, clock = Run(arm=label, seed=seed), Clock()
    inner = trainer.evaluate

    def timed_evaluate() -> bool:
        # The whole evaluation phase: greedy play of the suite and the Q-bias diagnostic (exact
        # DP tables of the small evaluation puzzles, once a run), neither of which is training.
        improved = clock.evaluate(inner)
        success = trainer.last_metrics["eval/success_rate"]
        record(run, clock, trainer.counters.env_steps, success, args)
        return improved

    inner_stop = trainer.stop_reason

    def stop_reason() -> str | None:
        return "goal" if run.stable else inner_stop()

    trainer.evaluate = timed_evaluate  # type: ignore[method-assign]
    trainer.stop_reason = stop_reason  # type: ignore[method-assign]
    result = trainer.run()
    run.total_steps, run.total_wall, run.stop = (
        result.counters.env_steps,
        clock.wall,
        (result.stop_reason),
    )
    return run


# --- Stable-Baselines3 arms -----------------------------------------------------------------------
def sb3_env(seed: int) -> Any:
    """The default preset's stack (its encoder and window, reward, planner and levels) with
    puzzles from the default curriculum's last stage (and its mix) on the action set (1, 3, 5)."""
    section = puzzle_section(preset("default"))
    curriculum = Curriculum(CurriculumConfig(), stage=len(CurriculumConfig().stages) - 1)
    encoder, _ = stack_of(section)

    def generator(rng: np.random.Generator) -> Puzzle:
        return curriculum.sample(rng)

    slots = getattr(encoder, "slots", None)
    base = PuzzleEnv(reward=section.reward, generator=generator, slots=slots)
    hierarchy = HierarchyWrapper(
        base, planner=section.planner, horizon=section.horizon, levels=section.levels
    )
    return EncodedObservation(hierarchy, encoder)


def run_sb3(name: str, seed: int, args: argparse.Namespace, suite: Sequence[Puzzle]) -> Run:
    from stable_baselines3 import DQN
    from stable_baselines3.common.callbacks import BaseCallback

    env = sb3_env(seed)
    section = puzzle_section(preset("default"))
    kwargs = dict(ZOO_SETTING) if name == "sb3-zoo" else {}
    model = DQN("MlpPolicy", env, seed=seed, device="cpu", verbose=0, **kwargs)
    run, clock = Run(arm=name.replace("-", " "), seed=seed), Clock()

    def policy(obs: np.ndarray) -> np.ndarray:
        return np.asarray(model.predict(obs, deterministic=True)[0], dtype=np.int64)

    def evaluate() -> dict[str, float]:
        encoder = env.get_wrapper_attr("encoder")
        player = BatchPlayer(
            encoder=encoder, planner=section.planner, greedy=policy, horizon=section.horizon
        )
        metrics, _ = eval_metrics(player.play(suite, adapt=stack_adapter(encoder)), suite)
        return metrics

    class EvalStop(BaseCallback):
        next_eval = args.eval_every

        def _on_step(self) -> bool:
            if self.num_timesteps >= self.next_eval:
                self.next_eval += args.eval_every
                metrics = clock.evaluate(evaluate)
                if record(run, clock, self.num_timesteps, metrics["eval/success_rate"], args):
                    run.stop = "goal"
                    return False
            if clock.wall >= args.cap_seconds:
                run.stop = "max_wall_seconds"
                return False
            return True

    model.learn(total_timesteps=args.cap_steps, callback=EvalStop())
    run.total_steps, run.total_wall = int(model.num_timesteps), clock.wall
    run.stop = run.stop or "total_env_steps"
    return run


# --- report -----------------------------------------------------------------------------------------
def median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def summarize(runs: list[Run], reference: str) -> str:
    """One row per arm: medians over seeds (a run that never got there counts as +inf) of the
    env steps and train seconds to first and to stable competence, each with its ratio to the
    reference arm's train seconds."""
    arms: dict[str, list[Run]] = {}
    for r in runs:
        arms.setdefault(r.arm, []).append(r)

    def at(rs: list[Run], which: str) -> tuple[float, float]:
        points = [getattr(r, which) for r in rs]
        return (
            median([p.steps if p else math.inf for p in points]),
            median([p.train if p else math.inf for p in points]),
        )

    def ratio(rs: list[Run], which: str) -> str:
        if reference not in arms:
            return "-"
        mine, ref = at(rs, which)[1], at(arms[reference], which)[1]
        if not math.isfinite(ref):
            return "-"
        if math.isfinite(mine):
            return f"{mine / ref:.1f}x"
        spent = median([r.total_wall - r.eval_seconds for r in rs])  # a lower bound
        return f"> {spent / ref:.0f}x"

    def num(x: float, fmt: str) -> str:
        return format(x, fmt) if math.isfinite(x) else "not reached"

    rows = []
    for arm, rs in arms.items():
        cells = [arm]
        for which in ("reached", "stable"):
            steps, train = at(rs, which)
            n = sum(getattr(r, which) is not None for r in rs)
            cells += [f"{n}/{len(rs)}", num(steps, ",.0f"), num(train, ".2f"), ratio(rs, which)]
        short = [
            f"s{r.seed}: {r.stop} @ {r.total_steps:,} steps / {r.total_wall:.0f} s, best "
            f"{max((h.success for h in r.history), default=0.0):.2f}"
            for r in rs
            if r.stable is None
        ]
        rows.append([*cells, f"not stable: {', '.join(short)}" if short else ""])
    header = ["arm"]
    for which in ("first", "stable"):
        header += [f"{which}: runs", "env steps", "train s", f"vs {reference}"]
    return table([*header, "note"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds")
    parser.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS), help="which arms")
    parser.add_argument("--goal", type=float, default=0.95, help="success rate that counts")
    parser.add_argument(
        "--hold-steps",
        type=int,
        default=512,
        help="stable competence: every evaluation over this many env steps at the goal",
    )
    parser.add_argument(
        "--families",
        nargs="+",
        default=list(FAMILIES),
        choices=[*ALL_FAMILIES, "all"],
        help="suite families ('all': every solvable one of the held-out bar)",
    )
    parser.add_argument("--per-family", type=int, default=20, help="suite puzzles per family")
    parser.add_argument("--suite-seed", type=int, default=20_261_125, help="suite seed")
    parser.add_argument("--eval-every", type=int, default=32, help="env steps between evals")
    parser.add_argument(
        "--eval-every-baseline", type=int, default=5_000, help="... for the baseline preset"
    )
    parser.add_argument(
        "--tuned-set",
        nargs="*",
        default=["agent.lr=5e-4", "train.learning_starts=256"],
        metavar="KEY=VALUE",
        help="overrides of the 'default-tuned' arm (hrrl default+) on top of the default preset",
    )
    parser.add_argument("--cap-steps", type=int, default=200_000, help="env-step cap (hrrl, SB3)")
    parser.add_argument(
        "--cap-steps-baseline", type=int, default=200_000, help="env-step cap of the baseline"
    )
    parser.add_argument("--cap-seconds", type=float, default=300.0, help="wall cap per run")
    args = parser.parse_args()
    if "all" in args.families:
        args.families = list(ALL_FAMILIES)
    torch.set_num_threads(1)
    print(machine())
    suite = generate_suite(args.families, args.per_family, args.suite_seed)
    print(
        f"suite: {len(suite)} puzzles ({', '.join(args.families)} x {args.per_family}, seed "
        f"{args.suite_seed}); goal success >= {args.goal}; eval every {args.eval_every:,} env "
        f"steps (baseline {args.eval_every_baseline:,}); hrrl default+ = default with "
        f"{' '.join(args.tuned_set)}; caps {args.cap_steps:,} env steps (baseline {args.cap_steps_baseline:,}) or "
        f"{args.cap_seconds:.0f} s a run"
    )
    runs: list[Run] = []
    for seed in args.seeds:
        for arm in args.arms:
            torch.set_num_threads(1)
            if arm in ("default", "default-tuned", "baseline"):
                run = run_hrrl(arm, seed, args)
            else:
                run = run_sb3(arm, seed, args, suite)
            torch.set_num_threads(1)
            runs.append(run)
            got = ", ".join(
                f"{which} at {p.steps:,} steps, {p.train:.2f} s train ({p.wall:.2f} s wall)"
                if p
                else f"{which} not reached ({run.stop}, {run.total_steps:,} steps)"
                for which, p in (("first", run.reached), ("stable", run.stable))
            )
            curve = " ".join(f"{h.steps}:{h.success:.2f}" for h in run.history[:12])
            print(f"  {run.arm:14s} seed {seed}: {got}; success by env steps {curve}", flush=True)
    print()
    print(summarize(runs, "hrrl default"))


if __name__ == "__main__":
    main()
