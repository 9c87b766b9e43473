"""The real bot (`mmbot run --offline`, real emulator, real journal) when its disk stops taking
writes: it goes HALTED at once, pulls its quotes and places nothing new, says why in /healthz,
/status, /metrics and ONE log line, keeps running (no crashing tasks, no error storm), retries with
backoff, resumes through CRISIS when writes succeed again, and a run that ends because of the fault
exits 1 with the reason in its summary. Nothing committed is ever lost.

Two ways to break the disk:

- a real full filesystem: the data directory on a small tmpfs that a filler file fills up
  (needs mount rights: skipped, with the reason, where mounting is impossible);
- fault injection that always runs: the bot's RLIMIT_FSIZE lowered from outside with
  prlimit(2) to the journal's current size, so every write that extends a file fails with EFBIG
  (SQLite: "disk I/O error") -- the kernel, not a hook in mmbot, refuses the writes.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.ops.summary import format_summary
from tests.trading_kit import FAST_AS, write_profile

REPO = Path(__file__).resolve().parents[1]


def config(tmp_path: Path, data_dir: Path, extra: str = "") -> Path:
    write_profile(tmp_path / "strategies", "fast_as", FAST_AS)
    path = tmp_path / "bot.toml"
    path.write_text(f"""
data_dir = "{data_dir}"
[http]
listen = "127.0.0.1:0"
[engines.btc]
venue = "binance_spot"
symbol = "BTCUSDT"
strategy = "fast_as"
[quoting]
strategies_dir = "{tmp_path / "strategies"}"
[estimators]
vol_horizons_s = [2.0, 10.0, 60.0]
vol_warmup_fraction = 0.2
[risk.regimes]
short_horizon_s = 2.0
medium_horizon_s = 10.0
[paper.starting_balances]
USDT = "100000"
BTC = "0.02"
[paper.journal]
retry_initial_s = 0.25
retry_max_s = 1.0
{extra}
""")
    return path


class Bot:
    """The bot as a child process; stderr (JSON logs) read through a pipe -- a pipe, not a file,
    so a file-size limit on the bot cannot touch its logs."""

    def __init__(self, cfg: Path) -> None:
        env = {**os.environ, "MMBOT_LOGGING__FORMAT": "json", "PYTHONPATH": str(REPO)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "run", "--config", str(cfg), "--offline", "--json"],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.url = self._url()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    def events(self, name: str) -> list[dict[str, Any]]:
        out = []
        for line in list(self.lines):
            if line.startswith("{") and f'"event":"{name}' in line.replace(": ", ":"):
                out.append(json.loads(line))
        return out

    def tail(self) -> str:
        return "".join(self.lines[-40:])

    def _url(self) -> str:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            found = self.events("ops http listening")
            if found:
                return str(found[0]["url"])
            assert self.proc.poll() is None, self.tail()
            time.sleep(0.1)
        raise AssertionError("bot did not start: " + self.tail())

    def get(self, path: str) -> tuple[int, Any]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=5) as resp:
                status, body = resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            status, body = exc.code, exc.read().decode()
        return status, (body if path == "/metrics" else json.loads(body))

    def wait(
        self, what: str, predicate: Callable[[dict[str, Any]], bool], timeout: float = 60
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        status: dict[str, Any] = {}
        while time.monotonic() < deadline:
            _, status = self.get("/status")
            if predicate(status):
                return status
            assert self.proc.poll() is None, self.tail()
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}: {json.dumps(status)[:1500]}\n{self.tail()}")

    def finish(self, timeout: float = 30) -> tuple[int, dict[str, Any]]:
        """Wait for the exit; (exit code, JSON summary). stderr stays with the reader thread."""
        assert self.proc.stdout is not None
        holder: list[str] = []
        reader = threading.Thread(target=lambda: holder.append(self.proc.stdout.read()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        self.proc.wait(timeout=timeout)
        reader.join(10)
        self._reader.join(10)
        return self.proc.returncode, json.loads(holder[0])

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def engine(status: dict[str, Any]) -> dict[str, Any]:
    return dict(status["engines"][0])


def quoting(status: dict[str, Any]) -> bool:
    e = engine(status)
    return bool(e["quotes"]["bids"] and e["quotes"]["asks"] and e["open_orders"])


def halted(status: dict[str, Any]) -> bool:
    e = engine(status)
    return e["risk"]["regime"] == "halted" and "journal_failed" in e["risk"]["active_triggers"]


def committed(journal: Path) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(f"file:{journal}?mode=ro", uri=True)) as db:
        return db.execute("SELECT seq, kind, client_id, payload FROM records ORDER BY seq").fetchall()


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


def check_halt(bot: Bot) -> None:
    """Everything the operator should see while the journal cannot write."""
    status = bot.wait("HALTED on the journal fault", halted, timeout=30)
    assert "journal not writable" in engine(status)["quotes"]["note"]
    status = bot.wait(
        "quotes pulled", lambda s: not engine(s)["quotes"]["bids"] and not engine(s)["open_orders"]
    )
    assert engine(status)["journal"]["writable"] is False
    assert engine(status)["journal"]["backlog"] > 0
    code, health = bot.get("/healthz")
    assert code == 503 and "journal" in health["failures"]["journal_writable"]
    _, metrics = bot.get("/metrics")
    assert metric(metrics, "mmbot_journal_writable") == 0.0
    assert metric(metrics, "mmbot_journal_faults_total") == 1.0
    time.sleep(3.0)  # several retries (backoff 0.25 s doubling to 1 s)
    _, later = bot.get("/status")
    assert halted(later) and not engine(later)["open_orders"]
    assert engine(later)["journal"]["write_failures"] >= 3
    # said once, not once per event or per retry; no task crashed, no sink error
    assert len(bot.events("journal write failed")) == 1, bot.tail()
    assert not bot.events("task crashed")
    assert later["adapters"]["binance_spot"]["sink_errors"] == 0


def new_orders(bot: Bot) -> float:
    _, metrics = bot.get("/metrics")
    for line in metrics.splitlines():
        if line.startswith("mmbot_orders_total{") and 'kind="new"' in line:
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError("no order counter")


def recover_and_stop(bot: Bot, journal: Path, before: list[tuple[Any, ...]]) -> None:
    placed = new_orders(bot)
    status = bot.wait("re-entry", lambda s: engine(s)["risk"]["regime"] != "halted", timeout=60)
    assert engine(status)["journal"]["writable"] is True
    bot.wait("quoting again", quoting, timeout=60)
    assert new_orders(bot) > placed
    _, health = bot.get("/healthz")
    assert "journal_writable" not in health["failures"]
    assert len(bot.events("journal writable again")) == 1
    bot.proc.send_signal(signal.SIGTERM)
    rc, summary = bot.finish()
    assert rc == 0, bot.tail()
    assert summary["failure"] is None
    assert summary["engines"][0]["journal"]["faults"] == 1 and summary["engines"][0]["journal"]["lost"] == 0
    after = committed(journal)
    assert after[: len(before)] == before  # nothing committed lost
    assert len(after) > len(before)  # and what happened during the halt was written too
    with contextlib.closing(sqlite3.connect(f"file:{journal}?mode=ro", uri=True)) as db:
        rules = [
            json.loads(p)["rule"]
            for (p,) in db.execute("SELECT payload FROM events WHERE type = 'regime_transition'")
        ]
    assert (
        "trigger.journal_failed" in rules and "halt.cleared" in rules[rules.index("trigger.journal_failed") :]
    )


# ---- fault injection: RLIMIT_FSIZE from outside (always runs) -------------------------------


@contextlib.contextmanager
def file_size_limit(pid: int) -> Iterator[Callable[[int], None]]:
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)

    def limit(size: int) -> None:
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (size, hard))

    try:
        yield limit
    finally:
        with contextlib.suppress(ProcessLookupError):
            resource.prlimit(pid, resource.RLIMIT_FSIZE, (soft, hard))


def test_write_errors_halt_then_the_bot_resumes_and_loses_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    journal = data / "journal" / "btc.sqlite"
    bot = Bot(config(tmp_path, data))
    try:
        bot.wait("quoting", quoting)
        with file_size_limit(bot.proc.pid) as limit:
            before = committed(journal)
            limit(os.path.getsize(f"{journal}-wal"))  # no file may grow: every journal append fails
            check_halt(bot)
            placed = new_orders(bot)
            time.sleep(1.0)
            assert new_orders(bot) == placed  # nothing new while halted
            before = committed(journal)
        recover_and_stop(bot, journal, before)  # the limit is lifted on leaving the block
    finally:
        bot.kill()


def test_a_run_that_gives_up_on_the_journal_exits_1_with_the_reason(tmp_path: Path) -> None:
    data = tmp_path / "data"
    journal = data / "journal" / "btc.sqlite"
    bot = Bot(config(tmp_path, data, "give_up_after_s = 3"))
    try:
        bot.wait("quoting", quoting)
        with file_size_limit(bot.proc.pid) as limit:
            before = committed(journal)
            limit(os.path.getsize(f"{journal}-wal"))
            rc, summary = bot.finish(timeout=60)  # no signal: the bot stops by itself
        assert rc == 1, bot.tail()
        assert "could not write for" in summary["failure"] and "give_up_after_s = 3" in summary["failure"]
        text = format_summary(summary)  # what a run without --json prints
        assert f"FAILED: {summary['failure']}" in text
        assert "btc journal: 1 write fault(s)" in text and "still failing: " in text
        assert len(bot.events("journal write failed")) == 1
        assert bot.events("run ended on a failure")
        assert committed(journal)[: len(before)] == before
    finally:
        bot.kill()


# ---- a real full filesystem (tmpfs) ---------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    try:
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=24m", f"mmbot-test-{uuid.uuid4().hex[:8]}", str(mount)],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot mount a tmpfs here ({exc}); the RLIMIT_FSIZE tests cover the fault")
    if result.returncode != 0:
        pytest.skip(
            f"cannot mount a tmpfs here ({result.stderr.strip()}); the RLIMIT_FSIZE tests cover the fault"
        )
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True, timeout=10, check=False)


def fill(directory: Path) -> Path:
    """Fill the filesystem of ``directory`` to the last byte."""
    filler = directory / "filler"
    chunk = b"\0" * (1 << 16)
    with contextlib.suppress(OSError), filler.open("wb", buffering=0) as handle:
        while True:
            handle.write(chunk)
    with contextlib.suppress(OSError), filler.open("ab", buffering=0) as handle:
        while True:
            handle.write(b"\0")
    return filler


def test_full_filesystem_halts_resumes_then_a_stop_while_full_exits_1(
    tmp_path: Path, small_disk: Path
) -> None:
    data = small_disk / "data"
    journal = data / "journal" / "btc.sqlite"
    bot = Bot(config(tmp_path, data))
    try:
        bot.wait("quoting", quoting)
        before = committed(journal)
        filler = fill(small_disk)
        check_halt(bot)
        assert "full" in engine(bot.get("/status")[1])["journal"]["fault"]
        before = committed(journal)
        filler.unlink()  # space is back
        recover_and_stop(bot, journal, before)
        # once more, and this time the run is stopped while the disk is still full
        bot = Bot(config(tmp_path, data))
        bot.wait("quoting", quoting)
        before = committed(journal)
        filler = fill(small_disk)
        bot.wait("HALTED on the journal fault", halted, timeout=30)
        bot.proc.send_signal(signal.SIGTERM)
        rc, summary = bot.finish()
        assert rc == 1, bot.tail()
        assert "lost" in summary["failure"] and "full" in summary["failure"]
        assert summary["engines"][0]["journal"]["lost"] > 0
        filler.unlink()
        assert committed(journal)[: len(before)] == before
    finally:
        bot.kill()
