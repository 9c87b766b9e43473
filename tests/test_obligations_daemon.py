"""End to end: `mmbot run --config config/abc.toml --offline` as a real process -- the ABC market
on every configured venue plus the perpetual, served by the in-process emulator over the venues'
real protocols -- meets each venue's obligation, shows it in /status and /metrics, survives
`kill -9` with its uptime accounting (the downtime is a recorded breach), and `mmbot obligations
show` reads it all back from the journals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.config import load_settings

REPO = Path(__file__).resolve().parents[1]
ABC = REPO / "config" / "abc.toml"
VENUES = sorted(load_settings(ABC).engines[name].venue for name in load_settings(ABC).obligations.engines)


class Bot:
    def __init__(self, tmp_path: Path, name: str) -> None:
        self.log_path = tmp_path / f"{name}.log"
        self.log = self.log_path.open("w")
        env = {**os.environ, "MMBOT_LOGGING__FORMAT": "json", "PYTHONPATH": str(REPO)}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bot",
                "run",
                "--config",
                str(ABC),
                "--offline",
                "--data-dir",
                str(tmp_path / "data"),
                "--http",
                "127.0.0.1:0",
                "--json",
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        self.url = self._url()

    def _url(self) -> str:
        deadline = time.monotonic() + 60
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

    def wait_met(self, seconds: float, timeout: float = 90) -> dict[str, Any]:
        """Until every venue's obligation is met now and has been measured ``seconds``."""
        deadline = time.monotonic() + timeout
        status: dict[str, Any] = {}
        while time.monotonic() < deadline:
            status = self.get("/status")
            rows = {
                e["obligation"]["terms"]["venue"]: e["obligation"]
                for e in status["engines"]
                if "obligation" in e
            }
            if sorted(rows) == VENUES and all(
                r["now"]["met"] and r["uptime"]["deal_measured_s"] >= seconds for r in rows.values()
            ):
                return status
            assert self.proc.poll() is None, self.log_path.read_text()[-3000:]
            time.sleep(0.25)
        raise AssertionError(f"obligations not met in time: {json.dumps(status.get('obligations'))}")


def show(data_dir: Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "obligations",
            "show",
            "--data-dir",
            str(data_dir),
            "--json",
            "--breaches",
            "100000",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def test_abc_market_meets_obligations_offline_and_survives_kill_9(tmp_path: Path) -> None:
    bot = Bot(tmp_path, "run1")
    try:
        status = bot.wait_met(seconds=15)
        assert {row["venue"] for row in status["obligations"]} == set(VENUES)
        for row in status["engines"]:
            ob = row["obligation"]
            terms = ob["terms"]
            assert ob["now"]["bid_depth"] >= float(terms["bid_depth"])
            assert ob["now"]["ask_depth"] >= float(terms["ask_depth"])
            assert ob["now"]["spread_pct"] <= float(terms["max_spread_pct"])
            assert "hedge" not in row  # config/abc.toml's [deal]: the deal desk hedges the whole book
        (deal,) = status["deals"]
        assert deal["hedge"]["instrument"] == "binance_usdm:ABCUSDT" and deal["phase"] == "open"
        assert {"abc_binance", "deal-abc_binance", "deal-hedge", "pool"} <= set(deal["inventory"])
        metrics = bot.get("/metrics")
        for venue in VENUES:
            labels = f'symbol="ABCUSDT",venue="{venue}"'
            assert f"mmbot_obligation_spread_pct{{{labels}}}" in metrics
            assert f'mmbot_obligation_depth_quote{{side="bid",{labels}}}' in metrics
            assert f'mmbot_obligation_depth_quote{{side="ask",{labels}}}' in metrics
            assert f'mmbot_obligation_uptime_ratio{{{labels},window="deal"}}' in metrics
            assert f"mmbot_obligation_met{{{labels}}} 1.0" in metrics
        time.sleep(1.5)  # a sample or two more in the journal
        before = {row["instrument"]: row for row in show(tmp_path / "data")}
        (before_deal,) = bot.get("/status")["deals"]
    finally:
        bot.proc.send_signal(signal.SIGKILL)
        bot.proc.wait(timeout=10)
        bot.log.close()
    killed_at = time.time_ns()
    time.sleep(3)

    bot = Bot(tmp_path, "run2")
    try:
        bot.wait_met(seconds=max(r["now"]["deal_measured_ns"] for r in before.values()) / 1e9 + 10)
        bot.proc.send_signal(signal.SIGTERM)
        out, _ = bot.proc.communicate(timeout=30)
        assert bot.proc.returncode == 0, bot.log_path.read_text()[-3000:]
    finally:
        if bot.proc.poll() is None:
            bot.proc.kill()
        bot.log.close()
    summary = json.loads(out)
    assert {e["obligation"]["venue"] for e in summary["engines"]} == set(VENUES)
    (deal,) = summary["deals"]  # the deal continued from its journals: same start, books still exact
    assert deal["phase"] == "open" and Decimal(deal["statement"]["difference"]) == 0
    assert deal["calendar"]["start_ns"] == before_deal["calendar"]["start_ns"]
    assert deal["pool"]["swaps"] >= before_deal["pool"]["swaps"]

    after = {row["instrument"]: row for row in show(tmp_path / "data")}
    assert set(after) == set(before) and len(after) == len(VENUES)
    for instrument, row in after.items():
        first = before[instrument]["now"]
        now = row["now"]
        # the accounting continued: everything measured before the kill is still counted, the
        # downtime too (as not met), and the deal started where it started
        assert now["deal_start_ns"] == first["deal_start_ns"]
        assert now["deal_measured_ns"] >= first["deal_measured_ns"] + (now["ts"] - killed_at)
        assert now["deal_met_ns"] >= first["deal_met_ns"]
        assert now["deal_measured_ns"] - now["deal_met_ns"] >= 3e9  # at least the 3 s it was down
        breaches = [*row["recent_breaches"], *([row["open_breach"]] if row["open_breach"] else [])]
        down = [b for b in breaches if any("mmbot was not running" in c for c in b["causes"])]
        assert down, row["recent_breaches"]
        assert down[0]["start"] <= killed_at
        assert row["breaches"] > before[instrument]["breaches"]
