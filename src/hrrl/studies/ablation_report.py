"""The ablation study's report: per-arm means with 95% confidence intervals, CSV, chart, claims.

Confidence interval of a mean over ``n`` seeds (Student's t, two-sided 95%)::

    mean +- t_{0.975, n-1} * s / sqrt(n)        s = sample standard deviation (ddof = 1)

SciPy is not a dependency, so the t quantiles for small degrees of freedom are tabulated
(:data:`T975`); above 30 degrees of freedom the normal quantile 1.96 is used (error < 2.1%).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: Two-sided 95% quantiles of Student's t, ``T975[df]`` for df = 1..30.
T975: dict[int, float] = {
    1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
    9: 2.262, 10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120,
    17: 2.110, 18: 2.101, 19: 2.093, 20: 2.086, 21: 2.080, 22: 2.074, 23: 2.069, 24: 2.064,
    25: 2.060, 26: 2.056, 27: 2.052, 28: 2.048, 29: 2.045, 30: 2.042,
}  # fmt: skip
Z975 = 1.96


def t975(df: int) -> float:
    if df < 1:
        raise ValueError(f"df={df}: a t interval needs at least 2 values")
    return T975.get(df, Z975)


@dataclass(frozen=True)
class Estimate:
    """Mean of ``n`` finite values and the half-width of its 95% CI (NaN when n < 2)."""

    mean: float
    half: float
    n: int

    def cell(self, fmt: str = ".3f") -> str:
        if self.n == 0:
            return "-"
        if math.isnan(self.half):
            return f"{self.mean:{fmt}} [n={self.n}]"
        return f"{self.mean:{fmt}} ± {self.half:{fmt}} [n={self.n}]"


def mean_ci(values: Sequence[float | None]) -> Estimate:
    """Mean and t-interval half-width over the finite values (None and NaN are left out)."""
    xs = np.array([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    if xs.size == 0:
        return Estimate(math.nan, math.nan, 0)
    if xs.size == 1:
        return Estimate(float(xs[0]), math.nan, 1)
    half = t975(xs.size - 1) * float(xs.std(ddof=1)) / math.sqrt(xs.size)
    return Estimate(float(xs.mean()), half, int(xs.size))


# --- per-arm summary ------------------------------------------------------------------------------
METRICS: tuple[tuple[str, str], ...] = (
    ("success", "held-out success"),
    ("efficiency", "held-out efficiency"),
    ("steps_to_95", "env steps to 95%"),
    ("wall_to_95", "wall s to 95%"),
    ("return", "held-out return (ordered)"),
    ("paper_success", "paper targets success"),
    ("train_wall_s", "train wall s"),
)


def _values(trial: Mapping[str, Any]) -> dict[str, float | None]:
    return {
        "success": trial["heldout"]["success_rate"],
        "efficiency": trial["heldout"]["efficiency"],
        "steps_to_95": trial["steps_to_95"],
        "wall_to_95": trial["wall_to_95"],
        "return": trial["heldout"]["return"],
        "paper_success": trial["paper"]["success_rate"],
        "train_wall_s": trial["train_wall_s"],
    }


@dataclass(frozen=True)
class ArmSummary:
    arm: str
    seeds: int
    estimates: dict[str, Estimate]
    reached_95: int
    crashed: int
    nonfinite: int
    paper_by_target: dict[str, Estimate]


def summarize_arms(trials: Sequence[Mapping[str, Any]], arms: Sequence[str]) -> list[ArmSummary]:
    out = []
    for arm in arms:
        mine = [t for t in trials if t["arm"] == arm]
        if not mine:
            continue
        values = [_values(t) for t in mine]
        targets = sorted({k for t in mine for k in t["paper"]["by_family"] if k != "all"})
        out.append(
            ArmSummary(
                arm=arm,
                seeds=len(mine),
                estimates={key: mean_ci([v[key] for v in values]) for key, _ in METRICS},
                reached_95=sum(t["steps_to_95"] is not None for t in mine),
                crashed=sum(t["crashed"] is not None for t in mine),
                nonfinite=sum(not t["params_finite"] for t in mine),
                paper_by_target={
                    k: mean_ci([t["paper"]["by_family"].get(k) for t in mine]) for k in targets
                },
            )
        )
    return out


#: The columns of a Gymnasium study (no paper targets; the return is the task's own).
GYM_METRICS: tuple[tuple[str, str], ...] = tuple(
    (key, "held-out return" if key == "return" else label)
    for key, label in METRICS
    if key != "paper_success"
)


def markdown_table(
    summaries: Sequence[ArmSummary], metrics: Sequence[tuple[str, str]] = METRICS
) -> str:
    head = [
        "arm",
        "seeds",
        *(label for _, label in metrics),
        "reached 95%",
        "crashed",
        "non-finite",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in summaries:
        cells = [s.arm, str(s.seeds)]
        for key, _ in metrics:
            fmt = ".0f" if key == "steps_to_95" else ".3f" if key != "wall_to_95" else ".1f"
            cells.append(s.estimates[key].cell(fmt))
        cells += [f"{s.reached_95}/{s.seeds}", str(s.crashed), str(s.nonfinite)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_csv(path: Path, summaries: Sequence[ArmSummary]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["arm", "metric", "mean", "ci95_low", "ci95_high", "n"])
        for s in summaries:
            for key, _ in METRICS:
                e = s.estimates[key]
                w.writerow([s.arm, key, e.mean, e.mean - e.half, e.mean + e.half, e.n])


def write_trials_csv(path: Path, trials: Sequence[Mapping[str, Any]]) -> None:
    keys = [k for k, _ in METRICS]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["arm", "seed", *keys, "stop_reason", "crashed", "params_finite", "env_steps"])
        for t in trials:
            v = _values(t)
            w.writerow(
                [t["arm"], t["seed"], *(v[k] for k in keys), t["stop_reason"], t["crashed"],
                 t["params_finite"], t["env_steps"]]
            )  # fmt: skip


def write_chart(path: Path, summaries: Sequence[ArmSummary], *, gym: bool = False) -> None:
    """Bars per arm with 95% CI error bars: held-out success and efficiency, or for a Gymnasium
    task the held-out return (its success and efficiency hang on a reward threshold and a
    range that not every task has)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels: tuple[tuple[str, str, tuple[float, float] | None], ...] = (
        (("return", "held-out return", None),)
        if gym
        else (
            ("success", "held-out success", (0.0, 1.05)),
            ("efficiency", "held-out efficiency", (0.0, 1.05)),
        )
    )
    width = max(4.0, 0.55 * len(summaries) + 2) * len(panels)
    fig, axes = plt.subplots(1, len(panels), figsize=(width, 4.5), squeeze=False)
    x = np.arange(len(summaries))
    for ax, (key, title, ylim) in zip(axes[0], panels, strict=True):
        means = [s.estimates[key].mean for s in summaries]
        errs = [np.nan_to_num(s.estimates[key].half) for s in summaries]
        ax.bar(x, np.nan_to_num(means), yerr=errs, capsize=4, color="#4c72b0")
        ax.set_xticks(x, [s.arm for s in summaries], rotation=45, ha="right")
        if ylim is not None:
            ax.set_ylim(*ylim)
        else:  # a return may be negative: mark zero
            ax.axhline(0.0, color="black", linewidth=0.8)
        ax.set_title(title + " (mean, 95% CI)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# --- claims ---------------------------------------------------------------------------------------
def _pct(e: Estimate | None) -> str:
    if e is None or e.n == 0:
        return "not measured"
    half = "" if math.isnan(e.half) else f" ± {100 * e.half:.1f}"
    return f"{100 * e.mean:.1f}%{half} (n={e.n})"


def _diff(a: ArmSummary | None, b: ArmSummary | None, key: str = "success") -> str:
    if a is None or b is None:
        return "not measured (arm not run)"
    ea, eb = a.estimates[key], b.estimates[key]
    if ea.n == 0 or eb.n == 0:
        return "not measured"
    return f"{100 * (ea.mean - eb.mean):+.1f} points ({a.arm} {_pct(ea)} vs {b.arm} {_pct(eb)})"


def _steps_gain(fix: ArmSummary | None, without: ArmSummary | None) -> str:
    if fix is None or without is None:
        return "not measured (arm not run)"
    f, w = fix.estimates["steps_to_95"], without.estimates["steps_to_95"]
    reach = f"reached 95%: {fix.reached_95}/{fix.seeds} vs {without.reached_95}/{without.seeds}"
    if f.n == 0 or w.n == 0:
        return f"not comparable ({reach})"
    return (
        f"{w.mean / f.mean - 1:+.0%} fewer env steps to 95% with the fix "
        f"({f.mean:.0f} vs {w.mean:.0f}; {reach})"
    )


def _collapse(arm: ArmSummary | None) -> str:
    if arm is None:
        return "not run"
    return (
        f"{arm.arm}: success {_pct(arm.estimates['success'])}, crashed {arm.crashed}/{arm.seeds}, "
        f"non-finite {arm.nonfinite}/{arm.seeds}"
    )


def _method(compare: Mapping[str, Any] | None, name: str) -> str:
    if not compare:
        return "not measured here (run hrrl compare --json and pass --compare)"
    for row in compare.get("rows", []):
        if row["method"] == name:
            return f"{100 * row['success']:.1f}% on {compare.get('suite', 'the compare suite')} ({name})"
    return f"not measured ({name} not in the compare file)"


def claims_table(summaries: Sequence[ArmSummary], compare: Mapping[str, Any] | None = None) -> str:
    """Each claim of the review and the paper beside what this study measured."""
    by = {s.arm: s for s in summaries}
    get = by.get

    def arm_pct(name: str) -> str:
        s = get(name)
        return "not measured (arm not run)" if s is None else _pct(s.estimates["success"])

    def paper(name: str) -> str:
        s = get(name)
        if s is None or not s.paper_by_target:
            return "not measured"
        return "; ".join(f"{t}: {_pct(e)}" for t, e in s.paper_by_target.items()) + f" ({name})"

    rows = [
        ("review", "Double DQN: +20-30% success", _diff(get("all"), get("no-double"))),
        ("review", "PER: +30-50% sample efficiency", _steps_gain(get("all"), get("no-per"))),
        ("review", "Adaptive exploration: +10-20%", _diff(get("all"), get("no-adaptive-eps"))),
        (
            "review",
            "Gradient clipping prevents every collapse",
            f"{_collapse(get('all+fault'))}; {_collapse(get('no-clip+fault'))}; "
            f"{_collapse(get('no-clip'))}",
        ),
        ("review", "Ablation: all fixes 85.2%", arm_pct("all")),
        ("review", "Ablation: no Double DQN 72.1%", arm_pct("no-double")),
        ("review", "Ablation: no PER 68.5%", arm_pct("no-per")),
        ("review", "Ablation: no clipping = crash", _collapse(get("no-clip"))),
        ("review", "Ablation: baseline 42.6%", arm_pct("baseline")),
        ("paper", "100% on targets 123 / 278 / 431", f"{paper('all')}; {paper('baseline')}"),
        ("paper", "Tabular Q: 0%", _method(compare, "tabular-q")),
        ("paper", "Standard DQN: 23%", _method(compare, "flat-dqn")),
        ("paper", "Vanilla hierarchical RL: 67%", f"{arm_pct('baseline')} (baseline arm, closest)"),
        ("paper", "Random: 0%", _method(compare, "random")),
    ]
    lines = ["| source | claim | measured here |", "|---|---|---|"]
    lines += [f"| {src} | {claim} | {got} |" for src, claim, got in rows]
    return "\n".join(lines)


def effect(fix: ArmSummary | None, without: ArmSummary | None, key: str) -> str:
    """``fix - without`` of a metric's mean over seeds, with a 95% interval of the difference
    (each arm's standard error from its own t-interval; the smaller arm's degrees of freedom)."""
    if fix is None or without is None:
        return "not measured (arm not run)"
    a, b = fix.estimates[key], without.estimates[key]
    if a.n == 0 or b.n == 0:
        return "not measured"
    diff = a.mean - b.mean
    if a.n < 2 or b.n < 2:
        return f"{diff:+.1f} ({fix.arm} {a.mean:.1f} vs {without.arm} {b.mean:.1f}; one seed)"
    se = math.hypot(a.half / t975(a.n - 1), b.half / t975(b.n - 1))
    half = t975(min(a.n, b.n) - 1) * se
    return (
        f"{diff:+.1f} ± {half:.1f} ({fix.arm} {a.mean:.1f} vs {without.arm} {b.mean:.1f}, "
        f"n={a.n}/{b.n})"
    )


def gym_claims_table(summaries: Sequence[ArmSummary]) -> str:
    """The review's claims about each fix, on a Gymnasium task: the effect on the final greedy
    policy's return (and, for PER, on env steps to the 95% success mark)."""
    get = {s.arm: s for s in summaries}.get
    rows = [
        ("Double DQN: +20-30% success", effect(get("all"), get("no-double"), "return")),
        ("Double DQN, +double vs all", effect(get("+double"), get("all"), "return")),
        ("PER: +30-50% sample efficiency", _steps_gain(get("all"), get("no-per"))),
        ("PER: final return", effect(get("all"), get("no-per"), "return")),
        ("Gradient clipping prevents collapse", effect(get("all"), get("no-clip"), "return")),
        ("Adaptive exploration: +10-20%", effect(get("+adaptive-eps"), get("all"), "return")),
        ("n-step returns (n=3), +n-step vs all", effect(get("+n-step"), get("all"), "return")),
        ("n-step returns (n=3), all vs no-n-step", effect(get("all"), get("no-n-step"), "return")),
        ("Dueling head", effect(get("+dueling"), get("all"), "return")),
    ]
    lines = ["| claim | effect on held-out return (fix - without) |", "|---|---|"]
    lines += [f"| {claim} | {got} |" for claim, got in rows]
    return "\n".join(lines)


def write_report(
    out_dir: Path,
    trials: Sequence[Mapping[str, Any]],
    arms: Sequence[str],
    *,
    header: Sequence[str] = (),
    compare: Mapping[str, Any] | None = None,
    gym: bool = False,
) -> Path:
    """``ablation.md``, ``ablation.csv``, ``trials.csv`` and ``ablation.png`` in ``out_dir``;
    ``gym``: a Gymnasium task's study (its notes and claims, no puzzle rows)."""
    summaries = summarize_arms(trials, arms)
    write_csv(out_dir / "ablation.csv", summaries)
    write_trials_csv(out_dir / "trials.csv", trials)
    write_chart(out_dir / "ablation.png", summaries, gym=gym)
    if gym:
        notes = [
            "- held-out success: fraction of the final greedy policy's episodes reaching the "
            "task's reward threshold; efficiency: its mean return normalised to [0, 1] where the "
            "task's range is known; return: its mean undiscounted return.",
            "- env steps / wall s to 95%: first in-training evaluation with success >= 0.95.",
            "- ± is the half-width of a 95% t-interval over seeds.",
        ]
        claims = gym_claims_table(summaries)
    else:
        notes = [
            "- success and efficiency: the final policy, played greedily on the held-out suite "
            "(every family, scale and unsolvable included; success over solvable puzzles, "
            "efficiency = exact optimum / steps over successes).",
            "- env steps / wall s to 95%: first in-training evaluation with success >= 0.95 "
            "(mean over the seeds that reached it; 'reached 95%' counts them).",
            "- held-out return: undiscounted return of the played paths under the ordered reward "
            "(one scale for every arm, whatever reward it trained on).",
            "- baseline: the prototype preset, capped by the same step budget (it would otherwise "
            "train 5,000 episodes at one environment).",
            "- +fault arms: +-5000 rewards on 2% of transitions in [10%, 30%) of the budget; they "
            "train the full budget (no early stop).",
            "- ± is the half-width of a 95% t-interval over seeds.",
        ]
        claims = claims_table(summaries, compare)
    text = "\n".join(
        [
            "# Ablation",
            "",
            *header,
            "",
            markdown_table(summaries, GYM_METRICS if gym else METRICS),
            "",
            *notes,
            "",
            "![ablation](ablation.png)",
            "",
            "## Claims",
            "",
            claims,
            "",
        ]
    )
    path = out_dir / "ablation.md"
    path.write_text(text, encoding="utf-8")
    return path
