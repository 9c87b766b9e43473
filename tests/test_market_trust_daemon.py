"""Market data you can trust, end to end: the real `mmbot run` process against the emulator
replaying the real recordings over the venues' real protocols, four ways the data goes wrong.

1. The depth stream stops while bookTicker and trades go on (emulator fault ``stall_depth``):
   the book is invalid within the tolerance, naming the two tops (or the silence), quotes are
   pulled, /healthz says why; when the stream resumes the book resyncs and quoting resumes.
2. The bot is stopped with SIGSTOP for 4 s (a separate `mmbot emulator` process keeps sending):
   the backlog arrives with fresh local stamps but 4 s old exchange times; the book is
   untradeable ("falling behind"), quotes are pulled, then it catches up.
3. A quiet USD-M start: the snapshot id equals the last diff's ``u`` and the next diff chains on
   it with ``pu == L``: one snapshot, no retry, valid on that diff.
4. A REST weight budget exhausted by forced gaps: the resync waits for weight, /status and
   /healthz say "waiting for REST weight, N s", /metrics and the log show the wait, quotes are
   pulled; the book recovers when the window frees up.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.trading_kit import FAST_AS, write_profile

REPO = Path(__file__).resolve().parents[1]
SPOT = "binance_spot:BTCUSDT"
USDM = "binance_usdm:BTCUSDT"
USDM_2023 = REPO / "tests" / "data" / "binance_usdm_btcusdt_20230404.dat.gz"
ENV = {**os.environ, "PYTHONPATH": str(REPO), "MMBOT_LOGGING__FORMAT": "json"}


def _request(url: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if not url.endswith("/metrics") else raw.decode()
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def config(tmp_path: Path, venue: str, extra: str = "") -> Path:
    profile = FAST_AS if venue == "binance_spot" else FAST_AS.replace('size = "0.001"', 'size = "0.005"')
    assert venue == "binance_spot" or 'size = "0.005"' in profile  # USD-M: above the 100 USDT minimum
    write_profile(tmp_path / "strategies", "fast_as", profile)
    path = tmp_path / "bot.toml"
    path.write_text(f"""
data_dir = "{tmp_path / "data"}"
[http]
listen = "127.0.0.1:0"
[engines.btc]
venue = "{venue}"
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
[risk.triggers]
feed_cooldown_s = 1.0
cooldown_s = 2.0
jump_clear_s = 2.0
[paper.starting_balances]
USDT = "100000"
BTC = "0.02"
{extra}
""")
    return path


class Emulator:
    """A `mmbot emulator` process; its URL is the one line it prints when ready."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        self.log = (tmp_path / "emulator.log").open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "emulator", "--port", "0", *args],
            cwd=REPO,
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        assert self.url.startswith("http://"), self.url
        self.ws = self.url.replace("http://", "ws://")

    def status(self) -> dict[str, Any]:
        return dict(_request(self.url + "/_emulator/status")[1])

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=20)
        self.log.close()


class Bot:
    """A `mmbot run` process (JSON logs on stderr)."""

    def __init__(self, tmp_path: Path, cfg: Path, *, offline: bool) -> None:
        self.log_path = tmp_path / "run.log"
        self.log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bot",
                "run",
                "--config",
                str(cfg),
                "--json",
                *(["--offline"] if offline else []),
            ],
            cwd=REPO,
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        wanted = {"ops http listening", *({"offline: emulator started"} if offline else ())}
        urls: dict[str, str] = {}
        self.until("started", lambda: self._urls(urls, wanted), timeout=30)
        self.ops = urls["ops http listening"]
        self.emulator = urls.get("offline: emulator started", "")

    def _urls(self, urls: dict[str, str], wanted: set[str]) -> bool:
        for record in self.records():
            if record.get("event") in wanted:
                urls[record["event"]] = record["url"]
        return set(urls) == wanted

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line.startswith("{")]

    def until(self, what: str, check: Callable[[], bool], timeout: float = 60, every: float = 0.1) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            assert self.proc.poll() is None, self.log_path.read_text()[-3000:]
            time.sleep(every)
        raise AssertionError(f"timed out waiting for {what}: {self.log_path.read_text()[-2000:]}")

    def health(self) -> tuple[int, Any]:
        return _request(self.ops + "/healthz")

    def status(self) -> dict[str, Any]:
        return dict(_request(self.ops + "/status")[1])

    def line(self, key: str) -> dict[str, Any]:
        return next(row for row in self.status()["instruments"] if row["instrument"] == key)

    def metrics(self) -> str:
        return str(_request(self.ops + "/metrics")[1])

    def engine(self) -> dict[str, Any]:
        return dict(self.status()["engines"][0])

    def quoting(self) -> bool:
        engine = self.engine()
        return bool(engine["open_orders"]) and bool(engine["quotes"]["bids"] or engine["quotes"]["asks"])

    def fault(self, **body: Any) -> None:
        code, answer = _request(self.emulator + "/_emulator/fault", body)
        assert code == 200 and answer["ok"], answer

    def outage(self, check: str, words: tuple[str, ...], timeout: float = 20) -> list[str]:
        """Wait for /healthz 503 from ``check`` with any of ``words``; while it lasts no paper order
        rests and no quote is wanted. Returns the reasons seen."""
        reasons: list[str] = []

        def unhealthy() -> bool:
            code, body = self.health()
            if code == 503 and check in body["failures"]:
                reasons.append(body["failures"][check])
                return any(word in reasons[-1] for word in words)
            return False

        self.until(f"503 {check} {words}", unhealthy, timeout=timeout, every=0.02)
        self.until("quotes pulled", lambda: not self.engine()["open_orders"], timeout=3, every=0.02)
        engine = self.engine()
        if self.health()[0] == 503:
            assert (
                engine["open_orders"] == [] and not engine["quotes"]["bids"] and not engine["quotes"]["asks"]
            )
            assert engine["quotes"]["note"].startswith(("book not quotable", "pulled"))
        return reasons

    def recover(self, timeout: float = 40) -> None:
        self.until("healthy", lambda: self.health()[0] == 200, timeout=timeout)
        self.until("quoting again", self.quoting, timeout=timeout)

    def stop(self) -> dict[str, Any]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=30)
        self.log.close()
        assert self.proc.returncode == 0, self.log_path.read_text()[-3000:]
        return dict(json.loads(out))

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def metric(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        named = line.startswith((name + "{", name + " "))
        if named and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} {labels} not in /metrics")


# ---- 1. the depth stream stops, bookTicker and trades go on -----------------------------------------


def test_frozen_depth_stream_is_caught_while_trades_and_book_ticker_flow(tmp_path: Path) -> None:
    cfg = config(
        tmp_path, "binance_spot", "[venues.binance_spot]\nstale_after_s = 30.0\nreconnect_max_s = 1.0\n"
    )
    bot = Bot(tmp_path, cfg, offline=True)
    try:
        bot.recover(timeout=60)
        bot.fault(kind="stall_depth", venue="binance_spot", duration=6)
        reasons = bot.outage("books_valid", (SPOT,), timeout=10)
        # the cause stays visible while the resync waits (for the first diff after its snapshot)
        line = bot.line(SPOT)
        assert not line["valid"] and line["last_break"].startswith(
            ("top of book contradicted", "top of book wrong", "depth stream silent")
        ), (line, reasons)
        assert line["stream_age_s"]["top"] < 1.0 and line["stream_age_s"]["trades"] < 5
        if "contradicted" in line["last_break"]:  # both tops, in prices
            assert re.search(
                r"venue update \d+ bid [\d.]+ / ask [\d.]+, book update \d+ bid [\d.]+ / ask",
                line["last_break"],
            )
        # caught within the tolerances (1 s top of book, 2 s silence), well before the 5 s any-stream rule
        records = bot.records()
        injected = next(r for r in records if r.get("event") == "fault injected")["timestamp"]
        caught = next(
            r for r in records if r.get("event") == "book invalid" and r["reason"] == line["last_break"]
        )
        assert 0 < _seconds(caught["timestamp"]) - _seconds(injected) < 3.0
        metrics = bot.metrics()
        flagged = sum(
            metric(metrics, f"mmbot_book_{name}_total", instrument=SPOT)
            for name in ("top_mismatches", "depth_silences", "trade_mismatches")
        )
        assert flagged >= 1
        assert metric(metrics, "mmbot_book_tradeable", instrument=SPOT) == 0.0
        bot.recover(timeout=40)
        line = bot.line(SPOT)
        assert line["valid"] and line["tradeable"] and line["stream_age_s"]["depth"] < 2
        summary = bot.stop()
    finally:
        bot.kill()
    row = summary["instruments"][0]
    assert row["valid"] and row["resyncs"] >= 1
    invalid = [r for r in bot.records() if r.get("event") == "book invalid"]
    assert any("top of book" in r["reason"] or "depth stream silent" in r["reason"] for r in invalid)


# ---- 2. the bot stopped for a few seconds --------------------------------------------------------


def test_bot_paused_with_sigstop_falls_behind_then_catches_up(tmp_path: Path) -> None:
    emulator = Emulator(tmp_path, "--speed", "1")
    try:
        cfg = config(
            tmp_path,
            "binance_spot",
            f"""
[metadata]
source = "cache"
[market]
lag_recovery_s = 3.0
[venues.binance_spot]
ws_url = "{emulator.ws}"
rest_url = "{emulator.url}"
stale_after_s = 30.0
""",
        )
        bot = Bot(tmp_path, cfg, offline=False)
        try:
            bot.recover(timeout=60)
            os.kill(bot.proc.pid, signal.SIGSTOP)
            time.sleep(4.0)
            os.kill(bot.proc.pid, signal.SIGCONT)
            reasons = bot.outage("feeds_current", ("falling behind",), timeout=5)
            match = re.search(
                r"falling behind: depth update (\d+\.\d+)s late at worst, [\d.]+s now", reasons[-1]
            )
            assert match is not None and 3.0 < float(match.group(1)) < 6.0, reasons
            line = bot.line(SPOT)
            assert line["valid"] and not line["tradeable"]  # the chain is intact: only late, no resync
            assert line["behind"].startswith("falling behind")
            assert metric(bot.metrics(), "mmbot_book_behind_episodes_total", instrument=SPOT) == 1.0
            bot.recover(timeout=30)
            line = bot.line(SPOT)
            assert line["tradeable"] and line["exchange_lag_s"] < 1.0 and line["resyncs"] == 0
            summary = bot.stop()
        finally:
            bot.kill()
    finally:
        emulator.stop()
    assert summary["instruments"][0]["gaps"] == 0
    events = [r["event"] for r in bot.records()]
    assert "book untradeable" in events


# ---- 3. a quiet USD-M start ----------------------------------------------------------------------


def _with_quiet_gap(source: Path, target: Path, *, after_s: float, gap_s: float) -> None:
    """The real recording with every message from ``after_s`` on delayed by ``gap_s``: receive time
    and exchange times (``E``, and ``T`` except markPrice's next funding time) alike -- a quiet spell
    on the exchange, nothing lost, nothing reordered."""
    with gzip.open(source, "rt") as handle:
        lines = handle.read().splitlines()
    start = int(lines[0].split(" ", 1)[0])
    unit = 1_000_000 if start < 10**17 else 1_000_000_000  # µs (2023 files) or ns per second
    shift_ms = int(gap_s * 1000)
    out = []
    for line in lines:
        stamp, payload = line.split(" ", 1)
        if int(stamp) - start >= after_s * unit:
            stamp = str(int(stamp) + int(gap_s * unit))
            payload = re.sub(r'"E":(\d+)', lambda m: f'"E":{int(m.group(1)) + shift_ms}', payload)
            if "@markPrice" not in payload:
                payload = re.sub(r'"T":(\d+)', lambda m: f'"T":{int(m.group(1)) + shift_ms}', payload)
        out.append(f"{stamp} {payload}")
    with gzip.open(target, "wt") as handle:
        handle.write("\n".join(out) + "\n")


def test_quiet_usdm_start_syncs_on_the_diff_that_chains_onto_the_snapshot(tmp_path: Path) -> None:
    quiet = tmp_path / "binance_usdm_btcusdt_quiet.dat.gz"
    _with_quiet_gap(USDM_2023, quiet, after_s=4.0, gap_s=14.0)
    emulator = Emulator(tmp_path, "--speed", "1", "--replay", str(quiet), "--no-loop")
    try:
        deadline = time.monotonic() + 20
        while emulator.status()["sim_elapsed_s"] < 4.5:  # the exchange has gone quiet
            assert time.monotonic() < deadline, emulator.status()
            time.sleep(0.1)
        quiet_book = emulator.status()["books"][USDM]
        cfg = config(
            tmp_path,
            "binance_usdm",
            f"""
[metadata]
source = "cache"
[venues.binance_usdm]
ws_url = "{emulator.ws}/public"
ws_market_url = "{emulator.ws}/market"
rest_url = "{emulator.url}"
depth_speed_ms = 0
stale_after_s = 60.0
""",
        )
        bot = Bot(tmp_path, cfg, offline=False)
        try:
            # the snapshot is exactly current: its id is the u of the last diff published
            bot.until("snapshot", lambda: bot.line(USDM)["snapshots"] == 1, timeout=20)
            line = bot.line(USDM)
            assert line["state"] == "syncing" and not line["valid"]
            assert line["reason"].startswith(
                f"waiting for the first diff after snapshot {quiet_book['update_id']}"
            )
            code, body = bot.health()
            assert code == 503 and "waiting for the first diff" in body["failures"]["books_valid"]
            assert bot.engine()["open_orders"] == []
            # the exchange wakes up: the first diff has U > L and pu == L -- accepted, no retry
            bot.until("valid", lambda: bot.line(USDM)["valid"], timeout=30)
            line = bot.line(USDM)
            assert line["snapshots"] == 1 and line["snapshot_retries"] == 0 and line["gaps"] == 0
            bot.recover(timeout=40)
            summary = bot.stop()
        finally:
            bot.kill()
    finally:
        emulator.stop()
    assert summary["adapters"]["binance_usdm"]["snapshot_fetches"] == 1
    text = bot.log_path.read_text()
    assert "older than the diff stream" not in text


# ---- 4. the REST weight budget exhausted by forced gaps -------------------------------------------


def test_rest_budget_exhausted_by_forced_gaps_waits_visibly_and_recovers(tmp_path: Path) -> None:
    cfg = config(
        tmp_path,
        "binance_spot",
        """
[venues.binance_spot]
snapshot_limit = 100          # weight 5
rest_weight_per_minute = 10   # two snapshots ...
rest_weight_window_s = 12.0   # ... per 12 s
stale_after_s = 30.0
""",
    )
    bot = Bot(tmp_path, cfg, offline=True)
    try:
        bot.recover(timeout=60)
        waiting: str | None = None
        for _ in range(4):  # every gap costs a snapshot; the budget runs out within three
            gaps = bot.line(SPOT)["gaps"]
            bot.fault(kind="gap", venue="binance_spot")
            bot.until("the gap detected", lambda g=gaps: bot.line(SPOT)["gaps"] > g, timeout=10, every=0.02)

            def settled() -> bool:
                nonlocal waiting
                line = bot.line(SPOT)
                if line["snapshot_wait"] and line["snapshot_wait"].startswith("waiting for REST weight"):
                    waiting = line["reason"]
                    return True
                return bool(line["valid"])

            bot.until("valid again or waiting for weight", settled, timeout=15, every=0.02)
            if waiting:
                break
        assert waiting is not None, "the budget never ran out"
        assert re.match(r"waiting for REST weight, \d+ s \(gap: expected continuation of \d+", waiting)
        reasons = bot.outage("books_valid", ("waiting for REST weight",), timeout=5)
        assert SPOT in reasons[-1]
        metrics = bot.metrics()
        assert metric(metrics, "mmbot_rest_weight_waits_total", venue="binance_spot") >= 1
        assert metric(metrics, "mmbot_rest_weight_limit", venue="binance_spot") == 10
        assert metric(metrics, "mmbot_rest_weight_wait_seconds", venue="binance_spot") > 0
        bot.recover(timeout=40)
        summary = bot.stop()
    finally:
        bot.kill()
    adapter = summary["adapters"]["binance_spot"]
    assert adapter["weight_waits"] >= 1 and adapter["weight_wait_s"] > 1
    waits = [r for r in bot.records() if r.get("event") == "waiting for REST weight"]
    assert waits and waits[0]["limit"] == 10 and waits[0]["weight"] == 5
