"""Gymnasium bundles and GymPolicy: export a CartPole run, play it exactly like its checkpoint,
refuse the other kind of policy with one clear error."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

import hrrl
from hrrl import GymPolicy, Policy
from hrrl.errors import CheckpointError, EnvironmentMismatchError
from hrrl.inference.export import (
    BUNDLE_VERSION,
    GYM_TASK,
    MANIFEST_FILE,
    WEIGHTS_FILE,
    export_policy,
    read_bundle,
)
from hrrl.inference.network import load_online_network
from hrrl.persistence import formats
from hrrl.persistence.store import resolve_checkpoint

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CARTPOLE_RUN = FIXTURES / "cartpole-run"
PUZZLE_RUN = FIXTURES / "puzzle-run"
PUZZLE_BUNDLE = FIXTURES / "puzzle-bundle"


@pytest.fixture
def gym_bundle(tmp_path: Path) -> Path:
    return export_policy(CARTPOLE_RUN, tmp_path / "cartpole-bundle")


def test_gym_bundle_holds_the_id_the_network_and_the_obs_shape(gym_bundle: Path) -> None:
    assert sorted(p.name for p in gym_bundle.iterdir()) == [MANIFEST_FILE, WEIGHTS_FILE]
    manifest = json.loads((gym_bundle / MANIFEST_FILE).read_text())
    assert manifest["format_version"] == BUNDLE_VERSION and manifest["task"] == GYM_TASK
    assert manifest["env"] == {"id": "CartPole-v1"}
    assert manifest["agent"] == {"network": "mlp", "hidden": 16}
    assert (manifest["obs_dim"], manifest["obs_shape"], manifest["n_actions"]) == (4, [4], 2)
    bundle = read_bundle(gym_bundle)
    assert bundle.env_id == "CartPole-v1" and bundle.obs_shape == (4,)
    # The online network only, bit for bit.
    online = load_online_network(resolve_checkpoint(CARTPOLE_RUN)).state_dict()
    assert bundle.weights.keys() == online.keys()
    for key, tensor in online.items():
        assert torch.equal(bundle.weights[key], tensor)


def test_gym_policy_plays_the_bundle_like_the_run(gym_bundle: Path) -> None:
    from_run, from_bundle = GymPolicy.load(CARTPOLE_RUN), GymPolicy.load(gym_bundle)
    assert from_run.env_id == from_bundle.env_id == "CartPole-v1"
    obs = np.random.default_rng(0).normal(size=(32, 4)).astype(np.float32)
    np.testing.assert_array_equal(from_run(obs), from_bundle(obs))
    a, b = from_run.evaluate(episodes=2, seed=0), from_bundle.evaluate(episodes=2, seed=0)
    assert a == b
    # What hrrl a762fc9 got with these weights (tests/persistence/test_fixtures.py).
    assert a.mean_return == 13.5 and len(a.returns) == 2
    assert a.return_std == pytest.approx(float(np.std(a.returns)))
    assert "mean return 13.50 +/- " in str(a) and "seeds 0..1" in str(a)


def test_gym_policy_is_public_and_refuses_bad_arguments(gym_bundle: Path) -> None:
    assert hrrl.GymPolicy is GymPolicy and "GymPolicy" in hrrl.__all__
    policy = GymPolicy.load(gym_bundle, env_id="CartPole-v1")
    with pytest.raises(ValueError, match="episodes"):
        policy.evaluate(episodes=0)
    with pytest.raises(CheckpointError, match="does not exist"):
        GymPolicy.load(gym_bundle / "nope")


@pytest.mark.parametrize("source", [PUZZLE_RUN, PUZZLE_BUNDLE], ids=["run", "bundle"])
def test_gym_policy_refuses_a_puzzle_policy(source: Path) -> None:
    with pytest.raises(EnvironmentMismatchError, match=r"number puzzle.*hrrl\.Policy\.load"):
        GymPolicy.load(source)


def test_puzzle_policy_refuses_a_gym_bundle(gym_bundle: Path) -> None:
    with pytest.raises(EnvironmentMismatchError, match=r"'CartPole-v1'.*GymPolicy\.load"):
        Policy.load(gym_bundle)


def test_a_gym_bundle_of_another_id_is_refused(gym_bundle: Path) -> None:
    with pytest.raises(EnvironmentMismatchError, match="pass --env CartPole-v1"):
        GymPolicy.load(gym_bundle, env_id="Acrobot-v1")


def test_a_pickle_in_a_gym_bundle_is_refused(gym_bundle: Path) -> None:
    weights = gym_bundle / WEIGHTS_FILE
    weights.write_bytes(pickle.dumps({"weight": [1.0]}, protocol=4))
    manifest = json.loads((gym_bundle / MANIFEST_FILE).read_text())
    manifest["weights"].update(sha256=formats.sha256_file(weights), bytes=weights.stat().st_size)
    (gym_bundle / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="a Python pickle"):
        GymPolicy.load(gym_bundle)


def test_an_unknown_task_is_refused(gym_bundle: Path) -> None:
    manifest = json.loads((gym_bundle / MANIFEST_FILE).read_text())
    (gym_bundle / MANIFEST_FILE).write_text(json.dumps({**manifest, "task": "chess"}))
    with pytest.raises(CheckpointError, match="'task' is 'chess'"):
        read_bundle(gym_bundle)


def test_gym_policy_takes_one_observation_or_a_batch(gym_bundle: Path) -> None:
    """Issue 31, item 1: ``policy(obs)`` on what ``env.reset()`` returns raised ``IndexError``."""
    import gymnasium

    env = gymnasium.make("CartPole-v1")
    obs, _ = env.reset(seed=0)
    for policy in (GymPolicy.load(CARTPOLE_RUN), GymPolicy.load(gym_bundle)):
        action = policy(obs)
        assert isinstance(action, int) and env.action_space.contains(action)
        assert policy(list(obs)) == action  # a list too
        batch = np.stack([obs, -obs, 2 * obs])
        actions = policy(batch)
        assert actions.shape == (3,) and actions[0] == action
        q = policy.q_values(obs)
        assert q.shape == (2,) and int(np.argmax(q)) == action
        np.testing.assert_allclose(policy.q_values(batch)[0], q, rtol=1e-6)
        np.testing.assert_array_equal(policy.q_values(batch).argmax(axis=1), actions)
        env.step(action)  # what an env takes
    with pytest.raises(ValueError, match=r"observations of shape \(4,\)"):
        GymPolicy.load(CARTPOLE_RUN)(np.zeros(5))
