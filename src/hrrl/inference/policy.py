"""A trained puzzle policy for inference: load a checkpoint, solve puzzles.

``Policy.load(path)`` accepts a run directory (its ``best`` checkpoint, else the newest valid
one), a checkpoint directory ``step-*``, or an exported inference bundle. It rebuilds the online
Q-network and the exact environment stack it was trained with (encoder, planner, action set)
from the saved config, so a policy is always played the way it learned. A run, checkpoint or
bundle trained on a Gymnasium task is refused with one line: it loads with
:meth:`hrrl.GymPolicy.load` (:mod:`hrrl.inference.gym_policy`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hrrl.engine.networks import width_free
from hrrl.errors import CheckpointError, EnvironmentMismatchError, PuzzleError
from hrrl.experiment import saved_puzzle_section, stack_config
from hrrl.inference.export import is_bundle, read_bundle
from hrrl.inference.network import (
    GreedyCache,
    build_network,
    load_online_network,
    observation_rows,
    q_table,
    run_config,
)
from hrrl.persistence.store import resolve_checkpoint
from hrrl.puzzle.config import PuzzleConfig
from hrrl.puzzle.core import MAX_ACTIONS, Puzzle
from hrrl.puzzle.evaluate import PlayHooks
from hrrl.puzzle.player import BatchPlayer
from hrrl.puzzle.rewards import Unscored
from hrrl.puzzle.stack import n_actions_of, stack_adapter, stack_of
from hrrl.puzzle.suite import Result


@dataclass
class Policy:
    """Greedy policy of a trained online network with its environment stack."""

    network: torch.nn.Module
    env_config: PuzzleConfig
    source: Path

    threads: int = 1
    """torch intra-op threads while playing (1 is fastest for these small networks)."""

    def __post_init__(self) -> None:
        self.network.eval()
        # Play needs statuses and paths, not rewards: the stack prices no step.
        self.encoder, self._factory = stack_of(self.env_config, reward=Unscored())
        self._adapt = stack_adapter(self.encoder, width_free=width_free(self.network))
        self._greedy = GreedyCache(self.network)
        self._player = BatchPlayer(
            encoder=self.encoder,
            planner=self.env_config.planner,
            greedy=self.greedy,
            horizon=self.env_config.horizon,
            levels=self.env_config.levels,
        )

    @property
    def any_action_set(self) -> bool:
        """Whether this policy plays any action set (a slot network) or only its trained one."""
        return getattr(self.encoder, "slots", None) is not None

    @property
    def max_actions(self) -> int:
        """The widest action set :meth:`play` plays: any puzzle's (``core.MAX_ACTIONS``) for a
        width-free network (a set wider than the environment's slots is played in its own
        width), else the network's output width."""
        return MAX_ACTIONS if width_free(self.network) else n_actions_of(self.encoder)

    def unsupported_reason(self, puzzle: Puzzle) -> str | None:
        """Why this policy cannot play ``puzzle`` (None when it can)."""
        playable = self._adapt(puzzle)
        return playable if isinstance(playable, str) else None

    @classmethod
    def load(cls, path: Path | str) -> Policy:
        """The policy of a run directory, checkpoint directory or exported bundle."""
        path = Path(path)
        if not path.exists():
            raise CheckpointError(f"{path} does not exist: give a run or checkpoint directory")
        if is_bundle(path):
            b = read_bundle(path)
            if b.env_id is not None:
                raise EnvironmentMismatchError(
                    f"{b.path} is a policy for the Gymnasium task {b.env_id!r}, not the number "
                    f"puzzle: play it with `hrrl eval --env {b.env_id} --checkpoint {b.path}` "
                    "(hrrl.GymPolicy.load)"
                )
            return cls.from_parts(b.env, b.agent, b.weights, b.obs_dim, source=b.path)
        ck = resolve_checkpoint(path)
        env_config = stack_config(saved_puzzle_section(run_config(ck), ck.path))
        return cls(network=load_online_network(ck), env_config=env_config, source=ck.path)

    @classmethod
    def from_parts(
        cls,
        env: dict[str, Any],
        agent: dict[str, Any],
        weights: dict[str, torch.Tensor],
        obs_dim: int,
        *,
        source: Path,
    ) -> Policy:
        """Rebuild from the saved env and agent config sections and the online weights."""
        env_config = stack_config(env)
        encoder, _ = stack_of(env_config)
        network = build_network(
            agent, weights, obs_dim=obs_dim, n_actions=n_actions_of(encoder), source=source
        )
        return cls(network=network, env_config=env_config, source=source)

    @property
    def env_factory(self) -> Callable[[], Any]:
        return self._factory

    def greedy(self, obs: np.ndarray) -> np.ndarray:
        """``argmax_a Q(obs, a)`` for a batch of encoded observations (memoised, exact)."""
        return self._greedy(obs)

    def __call__(self, obs: Any) -> Any:
        """The greedy action of one encoded observation (an ``int``; what this policy's stack,
        ``env_factory()``, returns, or ``gymnasium.make("hrrl/NumberPuzzle-v0")`` for a
        ``default``-preset policy), or of each in a batch (an int64 array)."""
        rows, single = observation_rows(obs, (self.encoder.dim,))
        actions = self.greedy(rows)
        return int(actions[0]) if single else actions

    def q_values(self, obs: Any) -> np.ndarray:
        """``Q(obs, a)`` for every action of one encoded observation, or of each in a batch."""
        rows, single = observation_rows(obs, (self.encoder.dim,))
        q = q_table(self.network, rows)
        return q[0] if single else q

    def play(
        self,
        puzzles: Sequence[Puzzle],
        *,
        progress: Callable[[int], object] | None = None,
        hooks: PlayHooks | None = None,
        num_envs: int = 128,
    ) -> list[Result]:
        """Play every puzzle greedily, up to ``num_envs`` at once with one batched forward pass
        a step: UNSOLVABLE reported before any step, UNSUPPORTED (with the reason) for a puzzle
        this policy cannot play, each line with its own action set. Played on plain integers
        (:class:`~hrrl.puzzle.player.BatchPlayer`), exactly as through :attr:`env_factory`'s
        Gymnasium stack."""
        threads = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            return self._player.play(
                puzzles, num_envs=num_envs, progress=progress, adapt=self._adapt, hooks=hooks
            )
        finally:
            torch.set_num_threads(threads)

    def solve(self, puzzle: Puzzle | Mapping[str, Any]) -> Result:
        """Status, steps and path of one puzzle: a :class:`~hrrl.puzzle.core.Puzzle`, or a
        mapping of its fields (``{"target": 10, "forbidden": [3]}``; ``actions`` defaults to the
        policy's, ``forbidden`` to none, ``max_steps`` to the exact optimum's budget)."""
        if isinstance(puzzle, Mapping):
            puzzle = Puzzle.from_dict(
                {"forbidden": [], "actions": list(self.env_config.actions), **puzzle}
            )
        elif not isinstance(puzzle, Puzzle):
            raise PuzzleError(
                f"puzzle={puzzle!r} is invalid: give a hrrl.Puzzle or a mapping such as "
                "{'target': 10, 'forbidden': [3]}"
            )
        return self.play([puzzle])[0]
