"""The signal handlers of ``hrrl train`` / ``hrrl resume``: abort before the run exists, then
stop on the first signal, ignore the second, abort on the third (signals raised in-process)."""

from __future__ import annotations

import signal

import pytest

from hrrl.commands.signals import GracefulStop, Interrupted


def test_before_arm_a_signal_ends_the_command_at_once() -> None:
    with pytest.raises(Interrupted) as info, GracefulStop("train"):
        signal.raise_signal(signal.SIGTERM)
    assert info.value.exit_code == 143 and "before training started" in str(info.value)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_first_stops_second_is_ignored_third_aborts(
    signum: signal.Signals, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    step = [96]
    with GracefulStop("train") as stop:
        request = stop.arm(lambda: step[0])
        signal.raise_signal(signum)
        assert request.requested and request.reason == signum.name
        assert "stopping after the step in flight" in capsys.readouterr().err
        assert stop.exit_code == code and stop.received_at == 96
        step[0] = 112
        signal.raise_signal(signum)  # during the save: a note, nothing else
        assert "finishing the checkpoint first" in capsys.readouterr().err
        assert stop.received_at == 96
        with pytest.raises(Interrupted) as info:
            signal.raise_signal(signal.SIGTERM)
    assert info.value.exit_code == 143 and "the checkpoint in progress was dropped" in str(
        info.value
    )


def test_the_previous_handlers_come_back() -> None:
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    with GracefulStop("resume"):
        assert signal.getsignal(signal.SIGTERM) is not before[signal.SIGTERM]
    assert {s: signal.getsignal(s) for s in before} == before
