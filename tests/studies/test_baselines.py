"""Baselines and ``hrrl compare``: hand-worked plays, the tabular update, the raw view, a smoke run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hrrl.cli import main
from hrrl.errors import ConfigError
from hrrl.puzzle.core import Puzzle, Status
from hrrl.puzzle.curriculum import Stage
from hrrl.puzzle.env import PuzzleEnv
from hrrl.puzzle.generate import generate_suite
from hrrl.puzzle.suite import write_suite
from hrrl.studies.baselines import (
    RAW_SCALE,
    RawScaled,
    TabularQ,
    TabularQConfig,
    exact_results,
    flat_dqn_config,
    greedy_results,
    random_results,
    raw_puzzle_task,
)
from hrrl.studies.compare import compare, format_rows

# 0 -> 10 with 5 forbidden: greedy tries +5 (forbidden), takes +3; from 3 takes +5 to 8; from 8
# only +1 fits (9), then +1 (10). Four steps; an odd number of odd steps cannot sum to 10 and two
# steps would be 5 + 5, so four is also the optimum.
HAND = Puzzle.create(target=10, forbidden=[5], id="hand")
SEALED = Puzzle.create(target=30, forbidden=range(25, 30), id="sealed")


def test_greedy_hand_worked() -> None:
    (r,) = greedy_results([HAND])
    assert r.status is Status.SUCCESS and r.path == (0, 3, 8, 9, 10)
    assert r.optimal_steps == 4 and r.efficiency == 1.0


def test_unsolvable_reported_before_any_step_by_every_player() -> None:
    for results in (
        greedy_results([SEALED]),
        exact_results([SEALED]),
        random_results([SEALED], seed=0),
    ):
        assert results[0].status is Status.UNSOLVABLE and results[0].path == (0,)


def test_exact_is_optimal_and_random_is_seeded() -> None:
    puzzles = generate_suite(["in_range", "trap"], 5, 3)
    assert all(r.status is Status.SUCCESS and r.efficiency == 1.0 for r in exact_results(puzzles))
    a, b = random_results(puzzles, seed=4), random_results(puzzles, seed=4)
    assert [r.path for r in a] == [r.path for r in b]


def test_raw_scaled_divides_the_raw_numbers() -> None:
    env = RawScaled(PuzzleEnv())
    obs, _ = env.reset(options={"puzzle": HAND})
    np.testing.assert_allclose(obs, np.array([0, 10, 0, HAND.max_steps]) / RAW_SCALE, rtol=1e-6)
    assert obs.dtype == np.float32


def test_tabular_update_by_hand() -> None:
    # One episode on target 1 (action 0 = +1 hits it): with epsilon 0, argmax of zeros is 0.
    agent = TabularQ(config=TabularQConfig(lr=0.5, epsilon_start=0.0, epsilon_end=0.0), seed=0)
    puzzle = Puzzle.create(target=1)
    env = PuzzleEnv()
    env.reset(options={"puzzle": puzzle})
    _, reward, terminated, _, _ = env.step(0)
    assert terminated
    agent.train(1, stage=Stage(targets=(1, 1), forbidden=(0, 0)))
    # Terminal step: Q <- 0 + 0.5 * (r - 0).
    np.testing.assert_allclose(agent.q(0, 1), [0.5 * reward, 0.0, 0.0])
    assert agent.greedy(np.array([[0, 1, 0, 1], [7, 99, 0, 1]], dtype=np.float32)).tolist() == [
        0,
        0,
    ]
    clone = TabularQ(config=agent.config, seed=1)
    clone.load_state_dict(agent.state_dict())
    np.testing.assert_array_equal(clone.q(0, 1), agent.q(0, 1))
    assert clone.rng.random() == agent.rng.random()


def test_tabular_config_validated() -> None:
    with pytest.raises(ConfigError, match=r"tabular\.lr"):
        TabularQConfig(lr=0.0)


def test_raw_task_shows_four_scaled_numbers() -> None:
    config = flat_dqn_config(seed=0, env_steps=100, extra=["puzzle.eval_count=1"])
    task = raw_puzzle_task(config, seed=0)
    obs = task.reset()
    assert obs.shape == (8, 4) and task.obs_dim == 4
    assert np.all(obs[:, 1] <= 1.0) and np.all(obs[:, 1] >= 0.05)  # targets 5..100 / 100


def test_compare_cheap_methods() -> None:
    puzzles = [HAND, SEALED, *generate_suite(["in_range"], 4, 1)]
    rows = compare(puzzles, methods=["random", "greedy", "exact", "tabular-q"], seeds=2, budget=300)
    by = {r.method: r for r in rows}
    assert by["exact"].success.mean == 1.0 and by["exact"].efficiency.mean == 1.0
    assert by["exact"].success.n == 1 and by["random"].success.n == 2  # deterministic: once
    assert "tabular-q" in format_rows(rows)
    with pytest.raises(ConfigError, match="method"):
        compare(puzzles, methods=["oracle"])


def test_compare_cli_every_method(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = tmp_path / "suite.jsonl"
    # A mixed suite: two lines of another action set never abort the comparison.
    puzzles = [*generate_suite(["in_range"], 3, 2), *generate_suite(["in_range"], 2, 2, (1, 2, 7))]
    write_suite(suite, puzzles)
    out = tmp_path / "compare.json"
    assert main(["compare", "--suite", str(suite), "--budget", "200", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    for method in ("random", "greedy", "tabular-q", "flat-dqn", "prototype", "hrrl", "exact"):
        assert f"| {method} |" in text
    data = json.loads(out.read_text())
    assert {r["method"] for r in data["rows"]} >= {"random", "exact"} and data["budget"] == 200
    unsupported = {r["method"]: r["unsupported"] for r in data["rows"]}
    assert unsupported == {
        "random": 0,  # no network: it plays any action set, as greedy does
        "greedy": 0,
        "tabular-q": 2,
        "flat-dqn": 2,
        "prototype": 2,
        "hrrl": 0,
        "exact": 0,
    }


def test_compare_cli_bad_suite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert main(["compare", "--suite", str(empty)]) == 2
    assert "no valid puzzles" in capsys.readouterr().err
