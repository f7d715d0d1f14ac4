"""A trained puzzle policy for inference: load a checkpoint, solve puzzles.

``Policy.load(path)`` accepts a run directory (its ``best`` checkpoint, else the newest valid
one), a checkpoint directory ``step-*``, or an exported inference bundle. It rebuilds the online
Q-network and the exact environment stack it was trained with (encoder, planner, action set)
from the saved config, so a policy is always played the way it learned.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hrrl.engine.networks import make_network
from hrrl.errors import CheckpointError
from hrrl.experiment import saved_puzzle_section, stack_config
from hrrl.inference.export import ONLINE_PREFIX, is_bundle, read_bundle
from hrrl.persistence.store import resolve_checkpoint
from hrrl.puzzle.config import PuzzleConfig
from hrrl.puzzle.core import Puzzle
from hrrl.puzzle.evaluate import make_stack, play
from hrrl.puzzle.suite import Result


@dataclass
class Policy:
    """Greedy policy of a trained online network with its environment stack."""

    network: torch.nn.Module
    env_config: PuzzleConfig
    source: Path

    def __post_init__(self) -> None:
        self.network.eval()
        _, self._factory = make_stack(
            encoder_name=self.env_config.encoder,
            reward=self.env_config.reward,
            planner=self.env_config.planner,
            actions=self.env_config.actions,
        )

    @classmethod
    def load(cls, path: Path | str) -> Policy:
        """The policy of a run directory, checkpoint directory or exported bundle."""
        path = Path(path)
        if not path.exists():
            raise CheckpointError(f"{path} does not exist: give a run or checkpoint directory")
        if is_bundle(path):
            b = read_bundle(path)
            return cls.from_parts(b.env, b.agent, b.weights, b.obs_dim, source=b.path)
        ck = resolve_checkpoint(path)
        config = ck.state.get("config")
        if not isinstance(config, dict):
            raise CheckpointError(f"{ck.path} holds no run config: it is not an hrrl training run")
        weights = {
            k[len(ONLINE_PREFIX) :]: v for k, v in ck.tensors.items() if k.startswith(ONLINE_PREFIX)
        }
        obs_dim = int(ck.state["agent"]["meta"]["obs_dim"])
        env = saved_puzzle_section(config, ck.path)
        return cls.from_parts(env, config["agent"], weights, obs_dim, source=ck.path)

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
        network = make_network(
            agent["network"],
            obs_dim=obs_dim,
            n_actions=len(env_config.actions),
            hidden=int(agent["hidden"]),
            generator=torch.Generator().manual_seed(0),
        )
        try:
            network.load_state_dict(weights)
        except RuntimeError as exc:
            raise CheckpointError(
                f"{source}: the weights do not fit the saved config: {exc}"
            ) from exc
        return cls(network=network, env_config=env_config, source=source)

    @property
    def env_factory(self) -> Callable[[], Any]:
        return self._factory

    def greedy(self, obs: np.ndarray) -> np.ndarray:
        """``argmax_a Q(obs, a)`` for a batch of encoded observations."""
        with torch.inference_mode():
            q = self.network(torch.as_tensor(obs, dtype=torch.float32)).q
        return q.argmax(dim=1).cpu().numpy().astype(np.int64)

    def play(
        self, puzzles: Sequence[Puzzle], *, progress: Callable[[int], object] | None = None
    ) -> list[Result]:
        """Play every puzzle greedily (UNSOLVABLE reported before any step)."""
        return play(self.greedy, puzzles, self._factory, progress=progress)

    def solve(self, puzzle: Puzzle) -> Result:
        """Status, steps and path of one puzzle."""
        return self.play([puzzle])[0]
