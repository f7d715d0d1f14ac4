"""Exploration schedules: the epsilon of epsilon-greedy, updated per finished episode or step.

* :class:`LinearSchedule` (per environment step, as in DQN on Atari and Stable-Baselines3)::

      epsilon = start + (end - start) * min(1, steps / linear.decay_steps)

  For tasks whose episode lengths change by orders of magnitude while learning (CartPole: 10
  steps at first, 500 once solved), where a per-episode decay is hard to tune.
* :class:`FixedDecay` (the original prototype): ``epsilon = max(end, start * decay^episodes)``.
  It only ever goes down, whatever happens.
* :class:`AdaptiveExploration` (curriculum-aware): each curriculum stage has its own schedule,
  and a scale that reacts to the stage's success rate. With ``n`` episodes played in stage ``s``::

      base_s    = max(end, e0_s * decay^n)        e0_s = start for the first stage,
                                                  stage_restart for each later stage
      epsilon   = clip(scale_s * base_s, end, start)

  Every ``stall_patience`` episodes of the stage (a check; once ``min_episodes`` are known), with
  ``r`` the success rate over the stage's last ``window`` episodes and ``ref`` the rate at the
  previous check::

      r >= mastered_rate  or  r > ref + improve_margin  ->  scale_s *= lower_factor  (learning)
      otherwise (no improvement, or a drop)             ->  scale_s *= raise_factor  (stalled)
      scale_s kept in [min_scale, min(max_scale, start / base_s)]

  The upper bound ``start / base_s`` stops the scale winding up while epsilon already sits at
  its ceiling, so it comes down at once when success returns. Epsilon itself moves the
  success rate seen in training (more exploration, fewer successes), so the check after a change
  only re-measures ``ref`` under the new epsilon and changes nothing: without that, a raise would
  read as a drop and feed on itself. The defaults (``window`` = 2 x ``stall_patience``) accept a
  half-stale re-measurement for half the noise; in simulation (a stage stuck at 0, a plateau, a
  slow and a fast rise, a collapse, each with and without that feedback) they kept epsilon above
  the fixed decay on stalls and below it on rises, without running away. Returning to an earlier
  stage resumes its schedule where it was left.

  A raise comes at most every other check, and the base decays meanwhile by
  ``decay^(2 stall_patience)`` (0.61 with the defaults), so ``raise_factor`` must beat that for a
  stalled stage's epsilon to climb: the default 2.0 gives x1.2 per cycle (until the ceiling).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, fields
from typing import Any, Literal, Protocol

from hrrl.config import check_choice, check_int, check_range


@dataclass(frozen=True, kw_only=True)
class LinearConfig:
    """The linear schedule's own setting."""

    decay_steps: int = 10_000
    """Environment steps over which epsilon falls from start to end."""

    def __post_init__(self) -> None:
        check_int("exploration.linear.decay_steps", self.decay_steps, low=1)


@dataclass(frozen=True, kw_only=True)
class AdaptiveConfig:
    """The adaptive schedule's own settings (the formulas are in the module doc)."""

    stage_restart: float = 0.5
    """Base epsilon a later curriculum stage begins at (the first begins at start)."""
    window: int = 100
    """Episodes in the stage's rolling success rate."""
    min_episodes: int = 20
    """Episodes of a stage needed before its success rate steers epsilon."""
    stall_patience: int = 50
    """Episodes between checks; a check without improvement raises epsilon."""
    improve_margin: float = 0.0
    """Rise of the success rate since the last check that counts as progress."""
    raise_factor: float = 2.0
    """Scale multiplier on a stall (beat decay^(2 stall_patience) for a net rise)."""
    lower_factor: float = 0.8
    """Scale multiplier on progress."""
    min_scale: float = 0.25
    """Smallest scale (epsilon >= min_scale x base, and >= end)."""
    max_scale: float = 20.0
    """Largest scale (epsilon <= max_scale x base, and <= start)."""
    mastered_rate: float = 0.9
    """A stage at or above this success rate counts as learning (never raised)."""

    def __post_init__(self) -> None:
        name = "exploration.adaptive."
        check_range(name + "stage_restart", self.stage_restart, low=0.0, high=1.0)
        check_int(name + "window", self.window, low=1)
        check_int(name + "min_episodes", self.min_episodes, low=1, high=self.window)
        check_int(name + "stall_patience", self.stall_patience, low=1)
        check_range(name + "improve_margin", self.improve_margin, low=0.0, high=1.0)
        check_range(name + "raise_factor", self.raise_factor, low=1.0)
        check_range(name + "lower_factor", self.lower_factor, low=0.0, high=1.0, low_open=True)
        check_range(name + "min_scale", self.min_scale, low=0.0, high=1.0, low_open=True)
        check_range(name + "max_scale", self.max_scale, low=1.0)
        check_range(name + "mastered_rate", self.mastered_rate, low=0.0, high=1.0)


@dataclass(frozen=True, kw_only=True)
class ExplorationConfig:
    """The epsilon schedule: its kind, the range every kind shares, then each kind's settings."""

    kind: Literal["decay", "adaptive", "linear"] = "adaptive"
    """"decay" (fixed per-episode decay), "adaptive" (per curriculum stage, reacts to success) or
    "linear" (start to end over linear.decay_steps environment steps)."""
    start: float = 1.0
    """Epsilon at the first episode, and the ceiling."""
    end: float = 0.01
    """Floor of epsilon."""
    decay: float = 0.995
    """Per-episode multiplicative decay ('decay', and the base schedule of 'adaptive')."""
    linear: LinearConfig = field(default_factory=LinearConfig)
    adaptive: AdaptiveConfig = field(default_factory=AdaptiveConfig)

    def __post_init__(self) -> None:
        check_choice("exploration.kind", self.kind, ("decay", "adaptive", "linear"))
        check_range("exploration.start", self.start, low=0.0, high=1.0)
        check_range("exploration.end", self.end, low=0.0, high=self.start)
        check_range("exploration.decay", self.decay, low=0.0, high=1.0, low_open=True)
        check_range(
            "exploration.adaptive.stage_restart",
            self.adaptive.stage_restart,
            low=self.end,
            high=self.start,
        )


#: The fields of the adaptive and linear sections, for configs written before they had sections.
KIND_FIELDS = {
    "adaptive": tuple(f.name for f in fields(AdaptiveConfig)),
    "linear": tuple(f.name for f in fields(LinearConfig)),
}


class Exploration(Protocol):
    """What the trainer needs from a schedule."""

    @property
    def epsilon(self) -> float: ...

    def on_episode_end(self, *, success: bool, stage: int) -> None: ...

    def on_stage_change(self, stage: int) -> None: ...

    def on_env_steps(self, n: int) -> None:
        """``n`` more environment steps were taken (per-step schedules count them)."""
        ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class FixedDecay:
    """``epsilon = max(end, start * decay^episodes)``; success and stages are ignored."""

    def __init__(self, config: ExplorationConfig) -> None:
        self.config = config
        self.episodes = 0

    @property
    def epsilon(self) -> float:
        c = self.config
        return max(c.end, c.start * c.decay**self.episodes)

    def on_episode_end(self, *, success: bool, stage: int) -> None:
        self.episodes += 1

    def on_stage_change(self, stage: int) -> None:
        """The fixed schedule does not know about stages."""

    def on_env_steps(self, n: int) -> None:
        """Per-episode schedule: steps are ignored."""

    def state_dict(self) -> dict[str, Any]:
        return {"kind": "decay", "episodes": self.episodes}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        _check_kind(state, "decay")
        self.episodes = int(state["episodes"])


@dataclass
class _Stage:
    """Schedule state of one curriculum stage."""

    e0: float
    recent: deque[bool]
    episodes: int = 0
    scale: float = 1.0
    reference: float | None = None  # success rate at the previous check
    settling: bool = False  # the scale just changed: the next check only re-measures


class AdaptiveExploration:
    """Per-stage decay times a success-driven scale (the rule is in the module docstring)."""

    def __init__(self, config: ExplorationConfig) -> None:
        self.config = config
        self.stages: dict[int, _Stage] = {}
        self.stage: int | None = None

    @property
    def epsilon(self) -> float:
        c = self.config
        if self.stage is None:
            return c.start
        st = self.stages[self.stage]
        return min(c.start, max(c.end, st.scale * self._base(st)))

    @property
    def scale(self) -> float:
        """The current stage's scale (1.0 before any stage)."""
        return 1.0 if self.stage is None else self.stages[self.stage].scale

    @property
    def success_rate(self) -> float | None:
        """Rolling success rate of the current stage (None before its first episode)."""
        if self.stage is None or not self.stages[self.stage].recent:
            return None
        recent = self.stages[self.stage].recent
        return sum(recent) / len(recent)

    def on_stage_change(self, stage: int) -> None:
        """Switch to ``stage``: a new stage starts its own schedule, a known one resumes."""
        if stage not in self.stages:
            e0 = self.config.start if not self.stages else self.config.adaptive.stage_restart
            self.stages[stage] = _Stage(e0=e0, recent=deque(maxlen=self.config.adaptive.window))
        self.stage = stage

    def on_episode_end(self, *, success: bool, stage: int) -> None:
        c = self.config.adaptive
        if stage != self.stage:
            self.on_stage_change(stage)
        st = self.stages[stage]
        st.episodes += 1
        st.recent.append(bool(success))
        if len(st.recent) < c.min_episodes or st.episodes % c.stall_patience:
            return
        rate = sum(st.recent) / len(st.recent)
        if st.reference is None or st.settling:
            st.reference, st.settling = rate, False
            return
        if rate >= c.mastered_rate or rate > st.reference + c.improve_margin:
            st.scale = max(c.min_scale, st.scale * c.lower_factor)
        else:
            base = self._base(st)
            ceiling = min(c.max_scale, self.config.start / base) if base > 0 else c.max_scale
            st.scale = min(ceiling, st.scale * c.raise_factor)
        st.reference, st.settling = rate, True

    def on_env_steps(self, n: int) -> None:
        """Per-episode schedule: steps are ignored."""

    def _base(self, st: _Stage) -> float:
        c = self.config
        return max(c.end, st.e0 * c.decay**st.episodes)

    def state_dict(self) -> dict[str, Any]:
        return {
            "kind": "adaptive",
            "stage": self.stage,
            "stages": {
                str(k): {
                    "e0": s.e0,
                    "recent": list(s.recent),
                    "episodes": s.episodes,
                    "scale": s.scale,
                    "reference": s.reference,
                    "settling": s.settling,
                }
                for k, s in self.stages.items()
            },
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        _check_kind(state, "adaptive")
        self.stages = {
            int(k): _Stage(
                e0=float(s["e0"]),
                recent=deque((bool(x) for x in s["recent"]), maxlen=self.config.adaptive.window),
                episodes=int(s["episodes"]),
                scale=float(s["scale"]),
                reference=None if s["reference"] is None else float(s["reference"]),
                settling=bool(s["settling"]),
            )
            for k, s in state["stages"].items()
        }
        self.stage = None if state["stage"] is None else int(state["stage"])


class LinearSchedule:
    """``epsilon = start + (end - start) * min(1, steps / decay_steps)``; episodes are ignored."""

    def __init__(self, config: ExplorationConfig) -> None:
        self.config = config
        self.steps = 0

    @property
    def epsilon(self) -> float:
        c = self.config
        return c.start + (c.end - c.start) * min(1.0, self.steps / c.linear.decay_steps)

    def on_episode_end(self, *, success: bool, stage: int) -> None:
        """Per-step schedule: episodes are ignored."""

    def on_stage_change(self, stage: int) -> None:
        """Per-step schedule: stages are ignored."""

    def on_env_steps(self, n: int) -> None:
        self.steps += n

    def state_dict(self) -> dict[str, Any]:
        return {"kind": "linear", "steps": self.steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        _check_kind(state, "linear")
        self.steps = int(state["steps"])


def _check_kind(state: dict[str, Any], kind: str) -> None:
    if state.get("kind") != kind:
        raise ValueError(
            f"exploration state is for {state.get('kind')!r}, this schedule is {kind!r}: "
            "build it with the saved exploration.kind"
        )


def make_exploration(config: ExplorationConfig) -> Exploration:
    """The schedule ``config.kind`` names."""
    if config.kind == "decay":
        return FixedDecay(config)
    if config.kind == "linear":
        return LinearSchedule(config)
    return AdaptiveExploration(config)
