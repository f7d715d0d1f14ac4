"""The puzzle section of an experiment: the environment as the agent sees it, the curriculum that
feeds it, and the held-out suite it is evaluated on. A Gymnasium run carries none of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from hrrl.config import check_choice, check_int, check_range
from hrrl.errors import ConfigError
from hrrl.puzzle.core import DEFAULT_ACTIONS
from hrrl.puzzle.curriculum import CurriculumConfig
from hrrl.puzzle.horizon import HORIZON_WINDOWS
from hrrl.puzzle.levels import MAX_LEVELS


@dataclass(frozen=True, kw_only=True)
class PuzzleConfig:
    """The number puzzle (design §1) as a training task."""

    reward: Literal["ordered", "legacy", "steps"] = "ordered"
    """Reward scheme: 'ordered' (every success beats every failure, progress in numbers),
    'steps' (the same order, progress in exact steps to the target: its discounted optimum is
    the shortest route) or 'legacy' (the prototype)."""
    encoder: Literal["relational", "paper", "slots"] = "relational"
    """Observation encoder: 'relational' (scale-free, action-relative, one action set), 'slots'
    (the same ideas per action slot: any action set) or 'paper' (12 features)."""
    window: int | None = None
    """The low-level window of the 'slots' and 'relational' encoders, in largest-action strides
    (null: the encoder's own, 16 and 8): how far ahead the cost-to-go features see. 'paper'
    has none and ignores it (an ablation arm switches the encoder alone)."""
    planner: Literal["constraint", "horizon", "paper", "none"] = "constraint"
    """Subgoal decomposition: constraint-aware, horizon (constraint-aware plus exact waypoints
    from a glance ``horizon`` windows ahead), the paper's rule, or none (target only)."""
    horizon: int = HORIZON_WINDOWS
    """How far the horizon planner looks, in low-level windows (16 largest actions each)."""
    levels: int = MAX_LEVELS
    """Levels of bounded views above the horizon (:mod:`hrrl.puzzle.levels`): level k sees
    8**k windows in blocks of 8**(k-1), so a trap ``D`` numbers deep needs about
    ``log_8(D / W)`` of them; 1 is the single horizon (nothing seen past it), 8 the most."""
    actions: tuple[int, ...] = DEFAULT_ACTIONS
    """The action set (each step adds one of these); training and evaluation puzzles use it."""
    curriculum: CurriculumConfig = field(default_factory=CurriculumConfig)
    """Which training puzzles are drawn, stage by stage."""
    eval_families: tuple[str, ...] = ("in_range", "dense", "trap", "wall", "endgame", "lookahead")
    """Families of the fixed evaluation suite."""
    eval_actions: tuple[tuple[int, ...], ...] = ()
    """Action sets of the evaluation suite, each with every family (empty: ``actions`` only)."""
    eval_count: int = 16
    """Puzzles per evaluation family (0: no evaluation)."""
    eval_seed: int = 20_261_125
    """Seed of the evaluation suite (fixed, held out from training)."""
    eval_max_target: int | None = None
    """Leave the suite's puzzles with a larger target out (null: keep all): an evaluation lasts
    as long as its longest puzzle, and play at scale has its own bench (``bench/eval_scale.py``)."""
    stop_success: float | None = 1.0
    """Stop training once the curriculum is in its last stage and an evaluation's success rate
    reaches this and every family's efficiency stop_efficiency (null: train the whole budget).
    Evaluations rank by success, then efficiency, either way."""
    stop_efficiency: float = 0.995
    """... the mean efficiency (exact optimum / steps over successes) of the suite and of each
    of its families that stop needs too (a family the mean hides is one a bench finds)."""

    def __post_init__(self) -> None:
        check_choice("puzzle.reward", self.reward, ("ordered", "legacy", "steps"))
        check_choice("puzzle.encoder", self.encoder, ("relational", "paper", "slots"))
        check_choice("puzzle.planner", self.planner, ("constraint", "horizon", "paper", "none"))
        if self.window is not None:
            check_int("puzzle.window", self.window, low=1)
        check_int("puzzle.horizon", self.horizon, low=1)
        check_int("puzzle.levels", self.levels, low=1, high=MAX_LEVELS)
        if (
            not self.actions
            or any(a <= 0 for a in self.actions)
            or len(set(self.actions)) != len(self.actions)
        ):
            raise ConfigError(f"puzzle.actions={self.actions!r}: give distinct positive integers")
        check_int("puzzle.eval_count", self.eval_count, low=0)
        check_int("puzzle.eval_seed", self.eval_seed, low=0)
        if self.eval_max_target is not None:
            check_int("puzzle.eval_max_target", self.eval_max_target, low=1)
        if self.stop_success is not None:
            check_range("puzzle.stop_success", self.stop_success, low=0.0, high=1.0)
        check_range("puzzle.stop_efficiency", self.stop_efficiency, low=0.0, high=1.0)
        if self.curriculum.action_sets == "mixed" and self.encoder != "slots":
            raise ConfigError(
                f"puzzle.curriculum.action_sets='mixed' is invalid with puzzle.encoder="
                f"{self.encoder!r}: that encoder plays one action set; use encoder 'slots' or "
                "set puzzle.curriculum.action_sets=fixed"
            )
        for acts in self.eval_actions:
            if not acts or any(a <= 0 for a in acts) or len(set(acts)) != len(acts):
                raise ConfigError(
                    f"puzzle.eval_actions has {list(acts)!r}: give sets of distinct positive "
                    "integers"
                )
        if self.encoder != "slots" and any(
            sorted(acts) != sorted(self.actions) for acts in self.eval_actions
        ):
            raise ConfigError(
                f"puzzle.eval_actions={[list(a) for a in self.eval_actions]} is invalid with "
                f"puzzle.encoder={self.encoder!r}: that encoder plays only puzzle.actions "
                f"{list(self.actions)}; use encoder 'slots' to evaluate other sets"
            )

    @property
    def evaluation_sets(self) -> tuple[tuple[int, ...], ...]:
        """The action sets the evaluation suite is generated for."""
        return self.eval_actions or (self.actions,)
