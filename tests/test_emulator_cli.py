"""``mmbot emulator`` as a user runs it: a real subprocess that prints its URL, serves
snapshots from the bundled recordings and stops cleanly on SIGTERM; bad arguments
exit 2 with one line naming the problem."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import structlog

from bot.cli import main
from tests.market_harness import REPO


@pytest.fixture(autouse=True)
def _restore_logging() -> object:
    """`mmbot emulator` configures structlog for the process; undo it for later tests."""
    yield
    structlog.reset_defaults()


def read_line(process: subprocess.Popen[str], timeout: float) -> str:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    assert ready, "the emulator printed nothing"
    return process.stdout.readline().strip()


def test_emulator_subprocess_prints_url_serves_and_stops_on_sigterm() -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "emulator", "--port", "0", "--speed", "2", "--fault", "malformed@1"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = read_line(process, 30)
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url), url
        with urllib.request.urlopen(f"{url}/api/v3/depth?symbol=BTCUSDT&limit=5", timeout=5) as response:
            spot = json.load(response)
        assert spot["lastUpdateId"] >= 50093239218 and len(spot["bids"]) == 5
        with urllib.request.urlopen(f"{url}/fapi/v1/depth?symbol=BTCUSDT&limit=5", timeout=5) as response:
            usdm = json.load(response)
        assert len(usdm["asks"]) == 5 and "E" in usdm
        with urllib.request.urlopen(f"{url}/_emulator/status", timeout=5) as response:
            status = json.load(response)
        assert status["playing"] and status["speed"] == 2.0
        time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert out == ""  # the URL line was the only stdout output
    assert "emulator stopped" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--fault", "gap"], "--fault 'gap': missing '@SECONDS'"),
        (["--fault", "flood@3"], "unknown fault kind 'flood'"),
        (["--speed", "fast"], "--speed 'fast': expected a positive number or 'max'"),
        (["--speed", "-2"], "--speed '-2'"),
        (["--replay", "/nonexistent/recording.gz"], "/nonexistent/recording.gz: replay file not found"),
        (["--instrument", "binance_spot:BTCUSDT"], "--instrument applies to --scenario only"),
        (["--port", "70000"], "--port 70000"),
    ],
)
def test_bad_arguments_exit_2_with_a_clear_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["emulator", "--port", "0", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_replay_and_scenario_are_exclusive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["emulator", "--replay", str(Path("x.gz")), "--scenario", "calm"])
    assert info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
