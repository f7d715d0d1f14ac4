"""The curriculum: which puzzles training sees, stage by stage.

The paper's four stages (targets 5-10, 12-18, 20-30, then 5-100; 2-5 forbidden numbers each) are
switched either by episode count (the prototype: every 1,000 episodes) or by a success gate (the
fix): a stage is left once the rolling success rate of its last ``gate_window`` episodes reaches
``gate_success``. In the last stage, a fraction ``mix_previous`` of the puzzles is drawn from the
earlier stages so that what was learnt there is not forgotten.

Stages may set a forbidden *density* instead of a count, which is how the default preset adds
dense stages (the situations of the dense, trap, wall and lookahead families) while keeping every
training target at or below 100.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from hrrl.config import check_choice, check_int, check_range
from hrrl.errors import ConfigError
from hrrl.puzzle.action_sets import sample_action_set
from hrrl.puzzle.core import DEFAULT_ACTIONS, Puzzle
from hrrl.puzzle.families import scaled
from hrrl.puzzle.sampling import sample_puzzle


@dataclass(frozen=True, kw_only=True)
class Stage:
    """One stage of the curriculum."""

    targets: tuple[int, int]
    """Inclusive range the target is drawn from (uniformly)."""
    forbidden: tuple[int, int] = (2, 5)
    """Inclusive range of the number of forbidden numbers (used when ``density`` is unset)."""
    density: tuple[float, float] | None = None
    """Inclusive range of the fraction of numbers in (start, target) that are forbidden."""

    def __post_init__(self) -> None:
        lo, hi = self.targets
        if not 1 <= lo <= hi:
            raise ConfigError(f"stage targets={self.targets!r}: need 1 <= low <= high")
        if not 0 <= self.forbidden[0] <= self.forbidden[1]:
            raise ConfigError(f"stage forbidden={self.forbidden!r}: need 0 <= low <= high")
        if self.density is not None:
            check_range("stage density low", self.density[0], low=0.0, high=0.5)
            check_range("stage density high", self.density[1], low=self.density[0], high=0.5)


PAPER_STAGES: tuple[Stage, ...] = (
    Stage(targets=(5, 10)),
    Stage(targets=(12, 18)),
    Stage(targets=(20, 30)),
    Stage(targets=(5, 100)),
)

#: The paper's stages, then dense ones: the local situations of every held-out family, with
#: targets still at most 100 (the paper's training range).
DENSE_STAGES: tuple[Stage, ...] = (
    *PAPER_STAGES,
    Stage(targets=(20, 100), density=(0.08, 0.25)),
)


@dataclass(frozen=True, kw_only=True)
class CurriculumConfig:
    """How training puzzles are drawn and when the curriculum moves on."""

    mode: Literal["episodes", "gated"] = "gated"
    """'episodes': switch every ``episodes_per_stage`` episodes (the prototype); 'gated': switch
    when the stage's rolling success rate reaches ``gate_success``."""
    stages: tuple[Stage, ...] = DENSE_STAGES
    """The stages, easiest first."""
    episodes_per_stage: int = 1000
    """Episodes per stage in 'episodes' mode."""
    gate_success: float = 0.9
    """Rolling success rate that opens the gate to the next stage ('gated' mode)."""
    gate_window: int = 100
    """Episodes in the rolling success rate; also the minimum episodes spent in a stage."""
    mix_previous: float = 0.25
    """In the last stage, the fraction of puzzles drawn from an earlier stage."""
    action_sets: Literal["fixed", "mixed"] = "fixed"
    """'fixed': every puzzle plays the puzzle section's actions; 'mixed': each puzzle draws its
    own set from the training distribution (hrrl.puzzle.action_sets: 2-5 actions, largest 2-12,
    a quarter sharing a divisor, the held-out sets never), its targets in units of that set."""

    def __post_init__(self) -> None:
        check_choice("curriculum.mode", self.mode, ("episodes", "gated"))
        check_choice("curriculum.action_sets", self.action_sets, ("fixed", "mixed"))
        if not self.stages:
            raise ConfigError("curriculum.stages is empty: give at least one stage")
        check_int("curriculum.episodes_per_stage", self.episodes_per_stage, low=1)
        check_range("curriculum.gate_success", self.gate_success, low=0.0, high=1.0)
        check_int("curriculum.gate_window", self.gate_window, low=1)
        check_range("curriculum.mix_previous", self.mix_previous, low=0.0, high=1.0)


@dataclass
class Curriculum:
    """Stage state and puzzle sampling. Stateful parts round-trip through ``state_dict``."""

    config: CurriculumConfig
    actions: tuple[int, ...] = DEFAULT_ACTIONS
    """The action set of every puzzle drawn (the puzzle section's, never a second copy)."""
    stage: int = 0
    episodes_in_stage: int = 0
    total_episodes: int = 0
    _recent: deque[bool] = field(default_factory=deque)

    @property
    def final_stage(self) -> bool:
        return self.stage == len(self.config.stages) - 1

    def success_rate(self) -> float:
        """Rolling success rate of the current stage (0 before any episode)."""
        return float(np.mean(self._recent)) if self._recent else 0.0

    def sample(self, rng: np.random.Generator) -> Puzzle:
        """A solvable training puzzle from the current stage (or, in the last, a mix)."""
        index = self.stage
        if self.final_stage and self.stage > 0 and rng.random() < self.config.mix_previous:
            index = int(rng.integers(0, self.stage))
        return self._sample_stage(self.config.stages[index], rng)

    def _sample_stage(self, stage: Stage, rng: np.random.Generator) -> Puzzle:
        actions, targets = self.actions, stage.targets
        if self.config.action_sets == "mixed":
            actions = sample_action_set(rng)
            targets = (scaled(targets[0], actions), scaled(targets[1], actions))
        if stage.density is not None:
            return sample_puzzle(rng, target_range=targets, density=stage.density, actions=actions)
        return sample_puzzle(
            rng, target_range=targets, forbidden_count=stage.forbidden, actions=actions
        )

    def on_episode_end(self, success: bool) -> bool:
        """Record an episode of the current stage; return True when the stage advanced."""
        self.total_episodes += 1
        self.episodes_in_stage += 1
        self._recent.append(success)
        while len(self._recent) > self.config.gate_window:
            self._recent.popleft()
        if self.final_stage:
            return False
        if self.config.mode == "episodes":
            ready = self.episodes_in_stage >= self.config.episodes_per_stage
        else:
            ready = (
                len(self._recent) >= self.config.gate_window
                and self.success_rate() >= self.config.gate_success
            )
        if ready:
            self.stage += 1
            self.episodes_in_stage = 0
            self._recent.clear()
        return ready

    def state_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "episodes_in_stage": self.episodes_in_stage,
            "total_episodes": self.total_episodes,
            "recent": [bool(r) for r in self._recent],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.stage = int(state["stage"])
        self.episodes_in_stage = int(state["episodes_in_stage"])
        self.total_episodes = int(state["total_episodes"])
        self._recent = deque(bool(r) for r in state["recent"])
