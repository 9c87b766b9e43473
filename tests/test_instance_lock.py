"""The instance lock that cannot go stale (bot/store/locks.py): an flock held by `mmbot run` for its
whole life with the pidfile written under it (pid, process start time, command line). A pidfile
left by a dead bot -- even one naming a pid that now belongs to an unrelated process -- is ignored:
`mmbot kill` does not signal that process and `mmbot run` starts; a live bot is found and refused
a second instance."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from bot.errors import MmbotError
from bot.store.locks import InstanceLock, PidRecord, pid_path, process_start_ticks, running_instance
from tests.trading_kit import FAST_AS, write_profile

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO), "MMBOT_LOGGING__FORMAT": "json"}

HOLDER = """
import sys, time
from pathlib import Path
from bot.store.locks import InstanceLock
lock = InstanceLock.acquire(Path(sys.argv[1]))
print("locked", flush=True)
time.sleep(60)
"""


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """An unrelated process: the pid a stale pidfile may come to name after a reboot or reuse."""
    proc = subprocess.Popen(["sleep", "60"])
    yield proc
    proc.kill()
    proc.wait()


def holder(data_dir: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(data_dir)], env=ENV, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def mmbot(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=REPO,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_the_lock_names_its_holder_and_dies_with_it(tmp_path: Path) -> None:
    proc = holder(tmp_path)
    try:
        record = running_instance(tmp_path)
        assert record is not None and record.pid == proc.pid
        assert record.start_ticks == process_start_ticks(proc.pid)
        with pytest.raises(MmbotError, match=rf"another mmbot \(pid {proc.pid}, started .*\) is running"):
            InstanceLock.acquire(tmp_path)
    finally:
        proc.send_signal(signal.SIGKILL)  # the kernel drops the flock; the pidfile stays behind
        proc.wait()
    assert PidRecord.parse(pid_path(tmp_path).read_text()).pid == proc.pid  # type: ignore[union-attr]
    with capture_logs() as logs:
        assert running_instance(tmp_path) is None
        with InstanceLock.acquire(tmp_path) as lock:
            assert running_instance(tmp_path) == lock.record
            assert lock.record.pid == os.getpid()
    assert [e["event"] for e in logs if e["event"].startswith("stale pidfile ignored")] == [
        "stale pidfile ignored: nobody holds its lock (the bot is not running)",
        "stale pidfile ignored: its process is gone (nobody held the lock)",
    ]
    assert pid_path(tmp_path).read_text() == ""  # emptied on release, not removed


def test_a_pid_that_does_not_hold_the_lock_or_was_reused_is_never_named(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    proc = holder(tmp_path)
    try:
        real = PidRecord.parse(pid_path(tmp_path).read_text())
        assert real is not None
        # the file names another process (the lock is held, but not by that pid)
        pid_path(tmp_path).write_text(
            json.dumps({"pid": sleeper.pid, "start_ticks": process_start_ticks(sleeper.pid), "cmdline": None})
        )
        assert running_instance(tmp_path) is None
        # the right pid, but another start time: the pid was reused
        pid_path(tmp_path).write_text(
            json.dumps({"pid": proc.pid, "start_ticks": (real.start_ticks or 0) + 1, "cmdline": real.cmdline})
        )
        assert running_instance(tmp_path) is None
        # the right pid and start time, another command line: not the mmbot that wrote the file
        pid_path(tmp_path).write_text(
            json.dumps({"pid": proc.pid, "start_ticks": real.start_ticks, "cmdline": ["not-mmbot"]})
        )
        assert running_instance(tmp_path) is None
        pid_path(tmp_path).write_text(real.to_json())
        assert running_instance(tmp_path) == real
    finally:
        proc.kill()
        proc.wait()
    assert sleeper.poll() is None


def test_stale_pidfile_with_a_reused_pid_kill_refuses_and_run_starts(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    # what `kill -9` of a bot leaves behind, and the pid now belongs to `sleep`
    pid_path(data).write_text(
        json.dumps(
            {
                "pid": sleeper.pid,
                "start_ticks": process_start_ticks(sleeper.pid),
                "cmdline": ["python", "-m", "bot", "run"],
            }
        )
    )
    result = mmbot("kill", "--data-dir", str(data), "--reason", "stale test")
    assert result.returncode == 0, result.stderr
    assert "no bot running" in result.stdout and "pending" in result.stdout
    assert "stale pidfile ignored" in result.stderr
    time.sleep(0.3)
    assert sleeper.poll() is None, "mmbot kill signalled an unrelated process"
    (data / "control" / "kill.json").unlink()  # the pending kill is not what this test is about
    pid_path(data).write_text(f"{sleeper.pid}\n")  # an old plain-pid file: just as stale
    write_profile(tmp_path / "strategies", "fast_as", FAST_AS)
    cfg = tmp_path / "bot.toml"
    cfg.write_text(f"""
data_dir = "{data}"
[http]
enabled = false
[engines.btc]
venue = "binance_spot"
symbol = "BTCUSDT"
strategy = "fast_as"
[quoting]
strategies_dir = "{tmp_path / "strategies"}"
[estimators]
vol_horizons_s = [2.0, 10.0, 60.0]
[risk.regimes]
short_horizon_s = 2.0
medium_horizon_s = 10.0
""")
    run = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bot",
            "run",
            "--config",
            str(cfg),
            "--offline",
            "--duration",
            "120",
            "--json",
        ],
        cwd=REPO,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while running_instance(data) is None:
            assert run.poll() is None and time.monotonic() < deadline, "the bot did not start"
            time.sleep(0.1)
        record = running_instance(data)
        assert record is not None and record.pid == run.pid
        # a second bot on the same data directory is refused, naming the first
        second = mmbot("run", "--config", str(cfg), "--offline", "--duration", "5")
        assert second.returncode == 1
        assert f"another mmbot (pid {run.pid}, started" in second.stderr
        # and `mmbot kill` reaches the real one
        result = mmbot("kill", "--data-dir", str(data), "--reason", "lock test")
        assert result.returncode == 0 and f"kill sent to pid {run.pid}" in result.stdout, result.stderr
        journal = data / "journal" / "btc.sqlite"
        deadline = time.monotonic() + 30
        while not kills(journal):  # the kill lands (journaled), then a clean stop
            assert run.poll() is None and time.monotonic() < deadline, "the kill never landed"
            time.sleep(0.2)
        run.send_signal(signal.SIGTERM)
        out, err = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 0, err[-3000:]
    assert "stale pidfile ignored" in err
    assert json.loads(out)["engines"][0]["regime"] == "halted"  # the kill landed
    assert sleeper.poll() is None
    assert pid_path(data).read_text() == ""


def kills(journal: Path) -> list[str]:
    import contextlib
    import sqlite3

    if not journal.exists():
        return []
    with contextlib.closing(sqlite3.connect(f"file:{journal}?mode=ro", uri=True)) as db:
        return [row[0] for row in db.execute("SELECT payload FROM events WHERE type = 'risk_kill'")]


def test_kill_reason_is_bounded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    assert main(["kill", "--data-dir", str(tmp_path), "--reason", "x" * 201]) == 2
    assert "at most 200" in capsys.readouterr().err
    assert not (tmp_path / "control" / "kill.json").exists()
