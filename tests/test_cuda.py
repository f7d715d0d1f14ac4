"""The agent and the trainer on a CUDA device (skipped where torch sees no GPU).

CI has no GPU; these run where one is lent (``pytest tests/test_cuda.py`` on that machine).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from hrrl.config import apply_overrides
from hrrl.engine.agent import AgentConfig, DQNAgent
from hrrl.engine.guard import Guard, GuardConfig
from hrrl.engine.replay.buffer import Batch
from hrrl.experiment import ExperimentConfig, preset
from hrrl.persistence.layout import CHECKPOINTS_DIR, LATEST_LINK
from hrrl.persistence.payload import state_from_checkpoint
from hrrl.persistence.store import load_checkpoint
from hrrl.run import build_trainer

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def batches(n: int, obs_dim: int, seed: int) -> list[Batch]:
    """Random 0/1 observations and rewards with importance weights, as replay gives them."""
    rng = np.random.default_rng(seed)

    def one() -> Batch:
        b = 64
        return Batch(
            obs=torch.from_numpy(rng.integers(0, 2, (b, obs_dim)).astype(np.float32)),
            actions=torch.from_numpy(rng.integers(0, 3, b)),
            rewards=torch.from_numpy(rng.normal(size=b).astype(np.float32)),
            next_obs=torch.from_numpy(rng.integers(0, 2, (b, obs_dim)).astype(np.float32)),
            terminated=torch.from_numpy((rng.random(b) < 0.1).astype(np.float32)),
            weights=torch.from_numpy(rng.uniform(0.5, 1.0, b).astype(np.float32)),
        )

    return [one() for _ in range(n)]


def test_guarded_agent_learns_on_cuda_as_on_cpu() -> None:
    """Same seed, same batches: the CUDA agent ends where the CPU agent does (float tolerance:
    the kernels differ), and every update is applied on both."""
    config = AgentConfig(hidden=64, lr=1e-3, target_update_interval=1, tau=0.01)
    agents = {
        device: DQNAgent(
            obs_dim=40,
            n_actions=3,
            config=config,
            seed=7,
            device=device,
            guard=Guard(GuardConfig()),
        )
        for device in ("cpu", "cuda")
    }
    for batch in batches(60, 40, seed=1):
        for agent in agents.values():
            stats = agent.learn(batch)
            assert stats.applied, stats.anomaly
            agent.after_update()
    cpu, cuda = (agents[d].tensor_state() for d in ("cpu", "cuda"))
    assert cpu.keys() == cuda.keys()
    for key in cpu:
        assert cuda[key].device.type == "cpu"  # the state is always handed out on the CPU
        torch.testing.assert_close(cuda[key], cpu[key], rtol=1e-3, atol=1e-4, msg=key)
    probe = np.random.default_rng(2).integers(0, 2, (16, 40)).astype(np.float32)
    np.testing.assert_allclose(
        agents["cuda"].q_values(probe), agents["cpu"].q_values(probe), rtol=1e-3, atol=1e-4
    )


def test_guard_rolls_back_cuda_weights() -> None:
    """Weights gone non-finite on the GPU are found and replaced by the guard's snapshot."""
    agent = DQNAgent(
        obs_dim=40,
        n_actions=3,
        config=AgentConfig(hidden=64),
        seed=0,
        device="cuda",
        guard=Guard(GuardConfig()),
    )
    before = agent.tensor_state()  # the snapshot the guard took at construction
    with torch.no_grad():
        next(agent.online.parameters()).fill_(float("nan"))
    stats = agent.learn(batches(1, 40, seed=3)[0])
    assert not stats.applied and stats.anomaly == "nonfinite_params"
    after = agent.tensor_state()
    for key, value in before.items():
        assert torch.equal(after[key], value), key


def cuda_config(*overrides: str) -> ExperimentConfig:
    return apply_overrides(
        preset("default"),
        [
            "train.device=cuda",
            "train.total_env_steps=3000",
            "train.eval_every=500",
            "puzzle.eval_count=8",
            "puzzle.stop_success=0.95",
            "puzzle.stop_efficiency=0.0",
            "puzzle.curriculum.stages=[{targets: [5, 100], forbidden: [2, 5]}]",
            "checkpoint.enabled=false",
            *overrides,
        ],
    )


def test_default_preset_reaches_competence_on_cuda() -> None:
    """The default preset on the GPU solves its evaluation suite within 3,000 env steps (on the
    CPU it takes about 500)."""
    trainer = build_trainer(cuda_config())
    result = trainer.run()
    assert next(trainer.agent.online.parameters()).device.type == "cuda"
    assert result.stop_reason == "solved", result.last_metrics
    assert result.last_metrics["eval/success_rate"] >= 0.95


def test_cuda_checkpoint_resumes_on_the_cpu(tmp_path: Path) -> None:
    """A checkpoint written by a GPU run loads into a CPU trainer (``train.device=cpu``) and
    training goes on there."""
    gpu = build_trainer(
        cuda_config(
            "train.total_env_steps=640", "puzzle.stop_success=null", "checkpoint.enabled=true"
        ),
        run_dir=tmp_path,
    )
    gpu.run()  # ends with a forced save: the latest checkpoint is the final state
    loaded = load_checkpoint((tmp_path / CHECKPOINTS_DIR / LATEST_LINK).resolve())
    cpu = build_trainer(
        apply_overrides(gpu.config, ["train.device=cpu", "train.total_env_steps=1280"])
    )
    cpu.load_state_dict(state_from_checkpoint(loaded.state, loaded.tensors, loaded.arrays))
    for key, value in gpu.agent.tensor_state().items():
        assert torch.equal(cpu.agent.tensor_state()[key], value), key
    updates = cpu.counters.updates
    cpu.run()
    assert cpu.counters.env_steps >= 1280 and cpu.counters.updates > updates
