"""The full bot as a real process against the offline emulator (real websocket, real adapter):
strategy switch by SIGHUP without reconnecting, kill via HTTP and via `mmbot kill` (journaled),
/status reflecting fills, SIGTERM leaving no open paper order (exit 0), a restart resuming the
same ledger, and a secret in the environment leaving no trace anywhere."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.specs import SPOT_BTC
from tests.trading_kit import FAST_AS, FAST_FIXED, write_profile

REPO = Path(__file__).resolve().parents[1]
TOKEN = "ctl-token-0123456789"
FAKE_KEY = "FAKEKEY-9f8e7d6c5b4a-DO-NOT-LEAK"


def config(tmp_path: Path, strategy: str) -> Path:
    path = tmp_path / "bot.toml"
    path.write_text(f"""
data_dir = "{tmp_path / "data"}"
[http]
listen = "127.0.0.1:0"
[engines.btc]
venue = "binance_spot"
symbol = "BTCUSDT"
strategy = "{strategy}"
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
""")
    return path


class Bot:
    def __init__(self, tmp_path: Path, cfg: Path, log_name: str) -> None:
        env = {
            **os.environ,
            "MMBOT_LOGGING__FORMAT": "json",
            "PYTHONPATH": str(REPO),
            "MMBOT_HTTP__TOKEN": TOKEN,
            "BINANCE_API_KEY": FAKE_KEY,
            "MMBOT_TESTNET_API_SECRET": FAKE_KEY,
            # real key settings (loaded as SecretStr even in paper mode): must not leak either
            "MMBOT_TESTNET__BINANCE_SPOT__API_KEY": FAKE_KEY,
            "MMBOT_TESTNET__BINANCE_SPOT__API_SECRET": FAKE_KEY,
        }
        self.log_path = tmp_path / log_name
        self.log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "run", "--config", str(cfg), "--offline", "--json"],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        self.url = self._url()

    def _url(self) -> str:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for line in self.log_path.read_text().splitlines():
                if '"ops http listening"' in line:
                    return str(json.loads(line)["url"])
            assert self.proc.poll() is None, self.log_path.read_text()[-3000:]
            time.sleep(0.1)
        raise AssertionError("bot did not start")

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=5) as resp:
            body = resp.read().decode()
        return json.loads(body) if path != "/metrics" else body

    def post(self, path: str, body: dict[str, Any], token: str | None = TOKEN) -> tuple[int, Any]:
        req = urllib.request.Request(
            self.url + path,
            data=json.dumps(body).encode(),
            method="POST",
            headers={
                "Content-Type": "application/json",
                **({"Authorization": f"Bearer {token}"} if token else {}),
            },
        )
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def wait(
        self, what: str, predicate: Callable[[dict[str, Any]], bool], timeout: float = 60
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        status: dict[str, Any] = {}
        while time.monotonic() < deadline:
            status = self.get("/status")
            if predicate(status):
                return status
            assert self.proc.poll() is None, self.log_path.read_text()[-3000:]
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}: {json.dumps(status)[:2000]}")

    def stop(self) -> dict[str, Any]:
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=15)
        self.log.close()
        assert self.proc.returncode == 0, self.log_path.read_text()[-3000:]
        return dict(json.loads(out))


def engine(status: dict[str, Any]) -> dict[str, Any]:
    return dict(status["engines"][0])


def assert_human_status(entry: dict[str, Any]) -> None:
    """No exponent notation, no float noise, prices at the tick's precision."""
    text = json.dumps(entry)
    assert "E-" not in text and "E+" not in text, text[:2000]  # no Decimal exponents (0E-8)
    assert re.fullmatch(r"-?\d+\.\d{8}", entry["position"])
    sample = entry["sample"]
    for key in ("best_bid", "best_ask"):
        assert re.fullmatch(r"\d+\.\d{2}", sample[key]), sample
    assert re.fullmatch(r"\d+\.\d{2,3}", sample["mid"]) and re.fullmatch(r"\d+\.\d{4}", sample["equity"])
    signals = entry["risk"]["signals"]
    assert re.fullmatch(r"\d+\.\d{2,3}", signals["mid"]) and isinstance(signals["mid_ticks"], float | int)
    for value in _floats(entry):
        assert len(repr(value).replace("-", "").replace(".", "").lstrip("0")) <= 13, value


def _floats(value: Any) -> list[float]:
    if isinstance(value, float):
        return [value]
    if isinstance(value, dict):
        return [f for item in value.values() for f in _floats(item)]
    if isinstance(value, list):
        return [f for item in value for f in _floats(item)]
    return []


def test_daemon_lifecycle_switch_kill_fill_stop_restart(tmp_path: Path) -> None:
    strategies = tmp_path / "strategies"
    write_profile(strategies, "fast_as", FAST_AS)
    write_profile(strategies, "wide", FAST_FIXED)
    cfg = config(tmp_path, "fast_as")
    bot = Bot(tmp_path, cfg, "run1.log")
    try:
        status = bot.wait(
            "quotes on both sides",
            lambda s: bool(engine(s)["quotes"]["bids"] and engine(s)["quotes"]["asks"]),
        )
        connections = status["adapters"]["binance_spot"]["connections_opened"]
        assert engine(status)["strategy"] == "fast_as"
        # SIGHUP after the config names another profile: switched in place, no reconnect
        cfg.write_text(cfg.read_text().replace('strategy = "fast_as"', 'strategy = "wide"'))
        bot.proc.send_signal(signal.SIGHUP)
        status = bot.wait("switch to wide", lambda s: engine(s)["strategy"] == "wide")
        status = bot.wait(
            "wide quotes", lambda s: bool(engine(s)["quotes"]["bids"] and engine(s)["quotes"]["asks"])
        )
        quotes = engine(status)["quotes"]
        assert quotes["asks"][0]["price_ticks"] - quotes["bids"][0]["price_ticks"] >= 2 * 150 - 2
        # /status speaks in prices and sizes of the instrument's precision (ticks/lots beside them)
        for quote in quotes["bids"] + quotes["asks"]:
            assert quote["price"] == str(SPOT_BTC.price(quote["price_ticks"]))
            assert quote["size"] == f"{SPOT_BTC.size(quote['size_lots']):.8f}"
        assert_human_status(engine(status))
        assert status["adapters"]["binance_spot"]["connections_opened"] == connections
        # control endpoints: wrong token refused, right token kills and resumes
        assert bot.post("/control/kill", {"reason": "x"}, token="wrong")[0] == 401
        assert bot.post("/control/kill", {"reason": "x"}, token=None)[0] == 401
        code, body = bot.post("/control/kill", {"reason": "http test"})
        assert code == 200 and body["killed"] == ["btc"]
        status = bot.wait(
            "halted", lambda s: engine(s)["risk"]["regime"] == "halted" and not engine(s)["open_orders"]
        )
        code, _ = bot.post("/control/resume", {"reason": "http test"})
        assert code == 200
        bot.wait(
            "quoting again",
            lambda s: engine(s)["risk"]["regime"] != "halted" and bool(engine(s)["quotes"]["bids"]),
        )
        # `mmbot kill` from another process (SIGUSR1 + reason file)
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "bot",
                "kill",
                "--data-dir",
                str(tmp_path / "data"),
                "--reason",
                "cli test",
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 0 and "kill sent to pid" in result.stdout, result.stderr
        bot.wait("halted by cli", lambda s: engine(s)["risk"]["regime"] == "halted")
        subprocess.run(
            [sys.executable, "-m", "bot", "resume", "--data-dir", str(tmp_path / "data")],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        status = bot.wait("a fill", lambda s: engine(s)["fills"] > 0, timeout=90)
        metrics = bot.get("/metrics")
        summary = bot.stop()
    finally:
        if bot.proc.poll() is None:
            bot.proc.kill()
    assert summary["engines"][0]["open_orders"] == 0
    fills = summary["engines"][0]["fills"]
    assert fills > 0
    journal = tmp_path / "data" / "journal" / "btc.sqlite"
    with sqlite3.connect(f"file:{journal}?mode=ro", uri=True) as db:
        types = [row[0] for row in db.execute("SELECT type FROM events ORDER BY id")]
        sources = [
            json.loads(p)["source"]
            for (p,) in db.execute("SELECT payload FROM events WHERE type='risk_kill'")
        ]
    assert "strategy_switch" in types and "sample" in types
    # every order the bot sent respects the instrument's rules; its quotes never crossed
    with sqlite3.connect(f"file:{journal}?mode=ro", uri=True) as db:
        news = [json.loads(p) for (p,) in db.execute("SELECT payload FROM records WHERE kind = 'new'")]
        samples = [json.loads(p) for (p,) in db.execute("SELECT payload FROM events WHERE type = 'sample'")]
    assert news
    for order in news:
        assert order["size"] % SPOT_BTC.step_lots == 0
        assert SPOT_BTC.notional(order["price"], order["size"]) >= SPOT_BTC.min_notional
    quoted = [x for x in samples if x["bid_quote"] is not None and x["ask_quote"] is not None]
    assert quoted and all(x["bid_quote"] < x["ask_quote"] for x in quoted)
    # /metrics: trading counters and latency histograms
    from prometheus_client.parser import text_string_to_metric_families

    families = {f.name: f for f in text_string_to_metric_families(metrics)}
    value = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}
    assert value[("mmbot_fills_total", (("engine", "btc"),))] > 0
    assert value[("mmbot_orders_total", (("engine", "btc"), ("kind", "new")))] > 0
    assert sum(v for (n, labels), v in value.items() if n == "mmbot_regime") == 1.0
    assert any(n == "mmbot_tick_to_quote_seconds_count" and v > 0 for (n, _), v in value.items())
    assert any(n == "mmbot_queue_lag_seconds_count" and v > 0 for (n, _), v in value.items())
    # markouts of our fills in /status (per horizon and side) and /metrics (every horizon and side)
    markouts = engine(status)["markouts"]
    assert set(markouts) >= {"1s", "10s", "60s", "pending"}
    assert markouts["1s"]["all"]["n"] + markouts["pending"] >= engine(status)["fills"] > 0
    for horizon in ("1s", "10s", "60s"):
        for side in ("buy", "sell"):
            labels = (("engine", "btc"), ("horizon", horizon), ("side", side))
            assert ("mmbot_markouts_total", labels) in value
    assert ("mmbot_pnl", (("component", "total"), ("engine", "btc"))) in value
    assert sources == ["http", "http", "cli", "cli"]  # `mmbot kill` / `resume` are journaled as cli
    # a restart resumes the same ledger
    ledger_before = json.loads(
        subprocess.run(
            [sys.executable, "-m", "bot", "ledger", "show", "--data-dir", str(tmp_path / "data"), "--json"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
    )
    # the report of this live data directory has the ledger's totals, to the last digit
    report = json.loads(
        subprocess.run(
            [sys.executable, "-m", "bot", "report", str(tmp_path / "data"), "--json"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
    )
    (run_report,) = report["runs"]
    assert run_report["pnl_exact"] == ledger_before["journals"][0]["ledger"]["attribution"]
    assert run_report["sharpe"] is None and run_report["sharpe_note"] == "n/a (run too short)"
    bot2 = Bot(tmp_path, cfg, "run2.log")
    try:
        status = bot2.wait("restored", lambda s: "sample" in engine(s))
        summary2 = bot2.stop()
    finally:
        if bot2.proc.poll() is None:
            bot2.proc.kill()
    ledger_after = json.loads(
        subprocess.run(
            [sys.executable, "-m", "bot", "ledger", "show", "--data-dir", str(tmp_path / "data"), "--json"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
    )
    assert summary2["engines"][0]["strategy"] == "wide"
    first, second = ledger_before["journals"][0], ledger_after["journals"][0]
    assert first["ledger"]["fills"] == fills
    assert second["ledger"]["fills"] >= first["ledger"]["fills"]  # the same ledger, continued
    assert second["records"] >= first["records"]
    assert summary2["engines"][0]["fills"] >= 0 and '"paper exchange restored"' in bot2.log_path.read_text()
    # the restarted bot starts from the first run's position, not from zero
    restored_position = json.loads(
        next(line for line in bot2.log_path.read_text().splitlines() if '"paper exchange restored"' in line)
    )
    assert restored_position["records"] == first["records"]
    before_ids = [f["fill_id"] for f in first["recent_fills"]]
    after_ids = [f["fill_id"] for f in second["recent_fills"]]
    assert set(before_ids) <= set(after_ids) or second["ledger"]["fills"] > first["ledger"]["fills"]
    # the fake secret is nowhere: logs, status, metrics, journal
    for text in (
        bot.log_path.read_text(),
        bot2.log_path.read_text(),
        json.dumps(status),
        metrics,
        journal.read_bytes().decode("latin-1"),
    ):
        assert FAKE_KEY not in text and TOKEN not in text
