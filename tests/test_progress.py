"""Progress while the bot warms up and trades: the status line's text and its terminal
stream, the JSON ``progress`` records when stderr is not a terminal (a real `mmbot run`
process), the line on a real pseudo-terminal, and the run summary's first-quote time and
rejects."""

from __future__ import annotations

import io
import json
import math
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

from bot.engine.views import progress_line
from bot.ops.progress import CLEAR_LINE, StatusLineStream, choose_mode
from tests.trading_kit import FAST_AS, write_profile

REPO = Path(__file__).resolve().parents[1]
RUN = [sys.executable, "-m", "bot", "run"]


def _view(**changes: object) -> dict[str, object]:
    view: dict[str, object] = {
        "engine": "btcusdt",
        "instrument": "binance_spot:BTCUSDT",
        "regime": "halted",
        "warmup_left_s": 21.4,
        "halt_reasons": ["warmup"],
        "book_valid": True,
        "quotes_bid": 0,
        "quotes_ask": 0,
        "fills": 0,
        "position": "0.00000000",
        "base": "BTC",
        "pnl": "+0.0000",
        "quote": "USDT",
        "rejects": 0,
        "time_to_first_quote_s": None,
    }
    view.update(changes)
    return view


def test_progress_line_text() -> None:
    assert progress_line([_view()], 12.3) == (
        "[00:12] btcusdt HALTED warm-up 21s left | quotes 0 bid / 0 ask | fills 0 | pos 0.00000000 BTC"
        " | PnL +0.0000 USDT"
    )
    trading = _view(
        regime="crisis",
        warmup_left_s=None,
        halt_reasons=[],
        quotes_bid=3,
        quotes_ask=2,
        fills=17,
        position="0.00432000",
        pnl="-1.0322",
        rejects=2,
    )
    assert progress_line([trading], 3725) == (
        "[1:02:05] btcusdt CRISIS | quotes 3 bid / 2 ask | fills 17 | pos 0.00432000 BTC | PnL -1.0322 USDT"
        " | rejects 2"
    )
    stale = _view(warmup_left_s=None, halt_reasons=["feed_stale", "book_invalid"], book_valid=False)
    assert progress_line([stale]).startswith("btcusdt HALTED (feed_stale, book_invalid) book syncing |")


def test_status_line_stays_below_log_lines() -> None:
    out = io.StringIO()
    line = StatusLineStream(out, width=lambda: 40)
    line.write("first log\n")
    line.set("status one")
    line.write("second log\n")
    line.set("x" * 100)  # truncated to the terminal width
    line.clear()
    assert out.getvalue() == (
        "first log\n"
        f"{CLEAR_LINE}status one"
        f"{CLEAR_LINE}second log\nstatus one"
        f"{CLEAR_LINE}{'x' * 38}…"
        f"{CLEAR_LINE}"
    )
    assert choose_mode("auto", io.StringIO()) == "log" and choose_mode("on", io.StringIO()) == "line"
    assert choose_mode("off", io.StringIO()) == "off"


def _config(tmp_path: Path) -> Path:
    write_profile(tmp_path / "strategies", "fast_as", FAST_AS)
    path = tmp_path / "bot.toml"
    path.write_text(f"""
data_dir = "{tmp_path / "data"}"
[market]
status_interval_s = 1.0
[engines.btc]
venue = "binance_spot"
symbol = "BTCUSDT"
strategy = "fast_as"
[quoting]
strategies_dir = "{tmp_path / "strategies"}"
[estimators]
vol_horizons_s = [2.0, 10.0, 60.0]
vol_warmup_fraction = 0.3
[risk.regimes]
short_horizon_s = 2.0
medium_horizon_s = 10.0
""")
    return path


def test_json_progress_records_when_stderr_is_not_a_terminal(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    result = subprocess.run(
        [*RUN, "--config", str(cfg), "--offline", "--duration", "9", "--http", "off", "--json"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    records = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    progress = [r for r in records if r["event"] == "progress"]
    assert len(progress) >= 5
    assert all(r["engine"] == "btc" and r["quote"] == "USDT" and r["base"] == "BTC" for r in progress)
    warming = [r for r in progress if r["warmup_left_s"] is not None]
    assert warming and warming[0]["regime"] == "halted" and warming[0]["quotes_bid"] == 0
    # warm-up is counted down: 30 % of the 10 s medium horizon's weighted time, reached after
    # 10 ln(10 / 7) = 3.57 s of data (the EWMA's observed time is 10 (1 - exp(-t / 10)))
    assert all(0 <= r["warmup_left_s"] <= round(10 * math.log(10 / 7), 1) for r in warming)
    assert [r["warmup_left_s"] for r in warming] == sorted(
        (r["warmup_left_s"] for r in warming), reverse=True
    )
    quoting = [r for r in progress if r["quotes_bid"] and r["quotes_ask"]]
    assert quoting, progress[-1]
    assert all(re.fullmatch(r"-?\d+\.\d{8}", r["position"]) for r in progress)
    assert all(re.fullmatch(r"[+-]\d+\.\d{4}", r["pnl"]) for r in progress)
    assert "\x1b[2K" not in result.stderr  # no terminal control codes in a log file
    # the summary: time to the first quote and the rejects with their reasons
    summary = json.loads(result.stdout)
    (engine,) = summary["engines"]
    first = engine["time_to_first_quote_s"]
    # from the start of the command: startup, the book sync and >= 3.57 s of warm-up data
    assert first is not None and 3.5 < first < 60
    assert quoting[0]["time_to_first_quote_s"] == first
    assert isinstance(engine["rejects"], dict)
    assert all(isinstance(k, str) and v > 0 for k, v in engine["rejects"].items())
    assert engine["orders"]["buy_sent"] > 0 and engine["orders"]["sell_sent"] > 0
    assert engine["starting_balances"] == {"BTC": "0.02000000", "USDT": "100000.0000"}


def test_status_line_on_a_terminal(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [*RUN, "--config", str(cfg), "--offline", "--duration", "7", "--http", "off"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=follower,
    )
    os.close(follower)
    chunks = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                data = os.read(leader, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(leader)
    stdout, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    screen = b"".join(chunks).decode(errors="replace")
    lines = re.findall(r"\x1b\[2K(\[\d\d:\d\d\] btc [^\r\n\x1b]*)", screen)
    assert lines, screen[-2000:]
    assert any("HALTED warm-up" in line for line in lines)
    assert any(re.search(r"CALM|CRISIS|RANGING|TRENDING", line) and "quotes" in line for line in lines)
    assert all(re.search(r"\| PnL [+-]\d+\.\d{4} USDT", line) for line in lines)
    assert b"mmbot run summary" in stdout and b"first quote" in stdout


def test_run_summary_text() -> None:
    from bot.ops.summary import format_summary

    engine = {
        "engine": "btcusdt",
        "events": 10,
        "strategy": "as_default",
        "regime": "crisis",
        "orders": {"new_orders": 217, "cancels": 199, "buy_sent": 108, "sell_sent": 109},
        "rejects": {"post_only_would_cross": 4, "risk_limit (rate_limit)": 1},
        "fills": 15,
        "time_to_first_quote_s": 36.529,
        "warmup_left_s": None,
        "position": "0.00425000",
        "base": "BTC",
        "quote": "USDT",
        "starting_balances": {"BTC": "0.02000000", "USDT": "100000.0000"},
        "balances": {"BTC": "0.02425000", "USDT": "99736.8079"},
        "pnl": {
            "spread_capture": "0.0070",
            "rebates": "0.0000",
            "fees": "-0.3531",
            "inventory": "-0.6074",
            "funding": "0.0000",
            "total": "-0.9535",
        },
        "open_orders": 0,
        "hedge": {
            "instrument": "binance_usdm:BTCUSDT",
            "asset": "BTC",
            "mode": "taker",
            "band": 0.005,
            "delta": {"net": 0.0, "spot": 0.02, "perp": -0.02},
            "hedges": 1,
            "failed": 0,
            "pnl": {"hedge_pnl": "-0.619002", "hedge_fees": "0.618002", "funding": "0"},
        },
    }
    summary = {
        "instruments": [],
        "engines": [
            engine,
            {
                **engine,
                "engine": "idle",
                "time_to_first_quote_s": None,
                "warmup_left_s": 12.4,
                "rejects": {},
                "hedge": None,
            },
        ],
        "adapters": {},
        "config": {"path": "/x/default.toml", "origin": "packaged"},
    }
    text = format_summary(summary)
    assert text.splitlines()[0] == "mmbot run summary (config /x/default.toml, packaged)"
    assert "    orders 217 new (108 buy / 109 sell), 199 cancels, 15 fills, open orders 0" in text
    assert "    first quote 36.5 s after start" in text
    assert "    rejects 5: post_only_would_cross 4, risk_limit (rate_limit) 1" in text
    assert (
        "    position +0.00425000 BTC; balances BTC 0.02425000, USDT 99736.8079 "
        "(start BTC 0.02000000, USDT 100000.0000)"
    ) in text
    assert (
        "    PnL -0.9535 USDT: spread capture +0.0070, rebates +0.0000, fees -0.3531, inventory -0.6074, "
        "funding +0.0000"
    ) in text
    assert "btcusdt hedge on binance_usdm:BTCUSDT (taker, band 0.005 BTC): net delta 0.0 BTC" in text
    assert "    no quote sent (volatility warm-up: 12 s of data left)" in text and "    rejects 0" in text
