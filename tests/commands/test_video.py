"""Issue 31, item 7: a rollout can be watched. Before: no ``--video`` anywhere, and the puzzle
env declared no render modes. Now the puzzle env renders ``ansi`` and ``rgb_array`` (so
Gymnasium's ``RecordVideo`` films it), ``hrrl eval --video DIR`` films a Gymnasium policy's
episodes and ``hrrl solve --video DIR`` the play of one puzzle."""

from __future__ import annotations

from pathlib import Path

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import hrrl  # noqa: F401  (registers hrrl/NumberPuzzle-v0)
from hrrl.cli import main
from hrrl.puzzle.core import Puzzle
from hrrl.puzzle.env import PuzzleEnv
from hrrl.puzzle.render import WINDOW

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture
def moviepy() -> None:
    pytest.importorskip("moviepy", reason="the video extra (make test installs it)")


def test_the_puzzle_renders_text_and_pictures() -> None:
    puzzle = Puzzle.create(target=31, forbidden=[11, 15])
    text = PuzzleEnv(render_mode="ansi")
    text.reset(options={"puzzle": puzzle})
    text.step(np.int64(2))  # +5
    head, row = text.render().splitlines()  # type: ignore[union-attr]
    assert head == f"step 1/{puzzle.max_steps}  x=5  target 31  (IN_PROGRESS)"
    assert "[5]" in row and row.count("X") == 2 and row.endswith("T")
    picture = PuzzleEnv(render_mode="rgb_array")
    picture.reset(options={"puzzle": puzzle})
    first = picture.render()
    picture.step(np.int64(2))
    second = picture.render()
    assert isinstance(first, np.ndarray) and first.dtype == np.uint8
    assert first.shape == second.shape and first.shape[1] == WINDOW * 16  # one size a video
    assert not np.array_equal(first, second)
    env = gymnasium.make("hrrl/NumberPuzzle-v0", render_mode="rgb_array")
    check_env(env.unwrapped)  # Gymnasium's checker, render included


def test_eval_films_a_gymnasium_policy(
    moviepy: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    videos = tmp_path / "videos"
    argv = ["eval", "--checkpoint", str(FIXTURES / "cartpole-run"), "--episodes", "2"]
    assert main([*argv, "--video", str(videos)]) == 0
    assert f"video: 2 episodes in {videos}" in capsys.readouterr().out
    films = sorted(videos.glob("*.mp4"))
    assert [f.name for f in films] == ["CartPole-v1-episode-0.mp4", "CartPole-v1-episode-1.mp4"]
    assert all(f.stat().st_size > 1000 for f in films)


def test_solve_films_one_puzzle(
    moviepy: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    videos = tmp_path / "videos"
    argv = ["solve", "--checkpoint", str(FIXTURES / "puzzle-run"), "--target", "20"]
    assert main([*argv, "--forbidden", "7", "--video", str(videos)]) == 0
    assert f"video: {videos / 'cli-episode-0.mp4'}" in capsys.readouterr().out
    assert (videos / "cli-episode-0.mp4").stat().st_size > 1000


def test_video_with_a_suite_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = tmp_path / "suite.jsonl"
    suite.write_text('{"id": "a", "target": 10, "forbidden": []}\n')
    argv = ["eval", "--checkpoint", str(FIXTURES / "puzzle-run"), "--suite", str(suite)]
    assert main([*argv, "--video", str(tmp_path / "v")]) == 2
    assert "hrrl solve --video DIR" in capsys.readouterr().err
