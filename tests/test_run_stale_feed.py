"""Kill the feed of a running `mmbot run --offline` (a real process): the in-process emulator is
reached over its own control API (`POST /_emulator/fault`, its URL is in the "offline: emulator
started" log line). While the feed is gone /healthz answers 503 naming the instrument and the
reason, and the bot has no open paper order (quotes pulled); when the feed comes back /healthz
returns to 200 and quoting resumes.

Two faults: ``drop`` (every websocket aborted, reconnects refused for a while: disconnected
book) and ``stall`` (the connection stays open but silent: stale feed)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.trading_kit import FAST_AS, write_profile

REPO = Path(__file__).resolve().parents[1]
KEY = "binance_spot:BTCUSDT"


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "bot.toml"
    path.write_text(f"""
data_dir = "{tmp_path / "data"}"
[http]
listen = "127.0.0.1:0"
[market]
stale_after_s = 2.0
[engines.btc]
venue = "binance_spot"
symbol = "BTCUSDT"
strategy = "fast_as"
[venues.binance_spot]
stale_after_s = 30.0
reconnect_max_s = 1.0
[quoting]
strategies_dir = "{tmp_path / "strategies"}"
[estimators]
vol_horizons_s = [2.0, 10.0, 60.0]
vol_warmup_fraction = 0.2
[risk.regimes]
short_horizon_s = 2.0
medium_horizon_s = 10.0
[risk.triggers]
feed_cooldown_s = 1.0
[paper.starting_balances]
USDT = "100000"
BTC = "0.02"
""")
    return path


def _request(url: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


class Running:
    def __init__(self, tmp_path: Path) -> None:
        write_profile(tmp_path / "strategies", "fast_as", FAST_AS)
        self.log_path = tmp_path / "run.log"
        self.log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "run", "--config", str(_config(tmp_path)), "--offline", "--json"],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO), "MMBOT_LOGGING__FORMAT": "json"},
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        urls: dict[str, str] = {}
        deadline = time.monotonic() + 30
        while len(urls) < 2 and time.monotonic() < deadline:
            for line in self.log_path.read_text().splitlines():
                record = json.loads(line) if line.startswith("{") else {}
                if record.get("event") in ("ops http listening", "offline: emulator started"):
                    urls[record["event"]] = record["url"]
            assert self.proc.poll() is None, self.log_path.read_text()[-3000:]
            time.sleep(0.1)
        self.ops = urls["ops http listening"]
        self.emulator = urls["offline: emulator started"]

    def until(self, what: str, check: Callable[[], bool], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            assert self.proc.poll() is None, self.log_path.read_text()[-3000:]
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}")

    def health(self) -> tuple[int, Any]:
        return _request(self.ops + "/healthz")

    def engine(self) -> dict[str, Any]:
        return dict(_request(self.ops + "/status")[1]["engines"][0])

    def quoting(self) -> bool:
        engine = self.engine()
        return bool(engine["open_orders"]) and bool(engine["quotes"]["bids"] or engine["quotes"]["asks"])

    def fault(self, **body: Any) -> None:
        status, answer = _request(self.emulator + "/_emulator/fault", body)
        assert status == 200 and answer["ok"], answer

    def outage(self, reason_words: tuple[str, ...], check: str) -> list[str]:
        """Wait for 503; while it lasts, no open paper order. Returns the reasons seen."""
        reasons: list[str] = []

        def unhealthy() -> bool:
            code, body = self.health()
            if code == 503 and check in body["failures"]:
                reasons.append(body["failures"][check])
                return all(any(w in r for r in reasons) for w in reason_words)
            return False

        self.until(f"503 {reason_words}", unhealthy, timeout=20)
        assert all(KEY in r for r in reasons)
        # quotes are pulled: every open paper order is cancelled within a moment
        self.until("quotes pulled", lambda: not self.engine()["open_orders"], timeout=3)
        samples = 0
        while self.health()[0] == 503 and samples < 10:
            engine = self.engine()
            if self.health()[0] == 503:  # still unhealthy after reading the status
                assert engine["open_orders"] == [], engine["open_orders"]
                assert not engine["quotes"]["bids"] and not engine["quotes"]["asks"]
            samples += 1
            time.sleep(0.2)
        assert samples >= 2, "the outage was too short to observe"
        return reasons

    def stop(self) -> dict[str, Any]:
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=20)
        self.log.close()
        assert self.proc.returncode == 0, self.log_path.read_text()[-3000:]
        return dict(json.loads(out))


def test_dropped_and_stalled_feed_pull_quotes_and_recover(tmp_path: Path) -> None:
    bot = Running(tmp_path)
    try:
        bot.until("healthy", lambda: bot.health()[0] == 200, timeout=30)
        bot.until("quoting", bot.quoting, timeout=60)

        # 1. the emulator aborts the connection and refuses reconnects for 3 s
        bot.fault(kind="drop", venue="binance_spot", duration=3)
        reasons = bot.outage(("disconnected",), "books_valid")
        assert any("disconnected" in r for r in reasons)
        bot.until("healthy after reconnect", lambda: bot.health()[0] == 200, timeout=30)
        bot.until("quoting again", bot.quoting, timeout=30)

        # 2. the connection stays up but goes silent for 4.5 s: the core's staleness rule (2 s)
        bot.fault(kind="stall", venue="binance_spot", duration=4.5)
        reasons = bot.outage(("silent",), "feeds_fresh")
        assert any("silent" in r for r in reasons)
        bot.until("healthy after the stall", lambda: bot.health()[0] == 200, timeout=30)
        bot.until("quoting after the stall", bot.quoting, timeout=30)
        summary = bot.stop()
    finally:
        if bot.proc.poll() is None:
            bot.proc.kill()
    adapter = summary["adapters"]["binance_spot"]
    assert adapter["connections_opened"] >= 2  # reconnected after the drop
    row = summary["instruments"][0]
    assert row["resyncs"] >= 2 and row["valid"]
    assert summary["engines"][0]["open_orders"] == 0
