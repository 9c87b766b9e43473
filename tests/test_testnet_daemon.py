"""`mmbot run --offline` with `execution = "testnet"` as a real process: every paper order is also
sent, through the real ccxt client, to a loopback Binance spot testnet double (HMAC-checked), the
testnet's order states are reconciled against the paper ledger with differences in /status, the
log and the journal, SIGTERM cancels the testnet orders, and the keys from the environment leave
no trace in logs, /status, /metrics, the summary or the journal."""

from __future__ import annotations

import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.helpers.fake_testnet import FakeTestnetThread
from tests.trading_kit import FAST_AS, write_profile

REPO = Path(__file__).resolve().parents[1]
KEY = "LEAKCHECK-testnet-key-3f2a9c81d7e6"
SECRET = "LEAKCHECK-testnet-secret-b04e5d6c7a81"


def _config(tmp_path: Path, rest_url: str) -> Path:
    path = tmp_path / "bot.toml"
    path.write_text(f"""
data_dir = "{tmp_path / "data"}"
execution = "testnet"
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
[testnet]
orders_per_second = 20
reconcile_interval_s = 1.0
settle_grace_s = 2.0
[testnet.binance_spot]
rest_url = "{rest_url}"
""")
    return path


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as resp:
        body = resp.read().decode()
    return body if url.endswith("/metrics") else json.loads(body)


def test_orders_mirrored_to_testnet_reconciled_and_keys_never_leak(tmp_path: Path) -> None:
    write_profile(tmp_path / "strategies", "fast_as", FAST_AS)
    counter = itertools.count(1)

    def policy(order: dict[str, Any]) -> tuple[int, str] | None:
        if next(counter) % 4 == 0:
            return -2010, "Account has insufficient balance for requested action."
        return None

    thread = FakeTestnetThread(KEY, SECRET, policy)
    with thread as fake:
        cfg = _config(tmp_path, fake.url)
        log_path = tmp_path / "run.log"
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "MMBOT_LOGGING__FORMAT": "json",
            "MMBOT_TESTNET__BINANCE_SPOT__API_KEY": KEY,
            "MMBOT_TESTNET__BINANCE_SPOT__API_SECRET": SECRET,
        }
        with log_path.open("w") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "bot", "run", "--config", str(cfg), "--offline", "--json"],
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
            try:
                url = None
                deadline = time.monotonic() + 30
                while url is None and time.monotonic() < deadline:
                    for line in log_path.read_text().splitlines():
                        if '"ops http listening"' in line:
                            url = json.loads(line)["url"]
                    assert proc.poll() is None, log_path.read_text()[-3000:]
                    time.sleep(0.1)
                assert url is not None, "bot did not start"
                deadline = time.monotonic() + 90
                status: dict[str, Any] = {}
                while time.monotonic() < deadline:
                    status = _get(url + "/status")
                    totals = status["execution"]["instruments"]["binance_spot:BTCUSDT"]["totals"]
                    if totals["by_kind"].get("rejected_on_testnet") and totals["matched"] > 0:
                        break
                    assert proc.poll() is None, log_path.read_text()[-3000:]
                    time.sleep(0.3)
                else:
                    raise AssertionError(f"no reconciliation: {json.dumps(status)[:3000]}")
                metrics = _get(url + "/metrics")
                assert 'mmbot_testnet_requests_total{kind="orders_sent"}' in metrics
                deadline = time.monotonic() + 30  # orders resting on the testnet when SIGTERM comes
                while not thread.call(lambda: bool(fake.open_orders())):
                    assert time.monotonic() < deadline and proc.poll() is None, "no open testnet order"
                    time.sleep(0.1)
                proc.send_signal(signal.SIGTERM)
                out, _ = proc.communicate(timeout=20)
            finally:
                if proc.poll() is None:
                    proc.kill()
        assert proc.returncode == 0, log_path.read_text()[-3000:]
        orders = thread.call(lambda: {cid: dict(o) for cid, o in fake.orders.items()})
        still_open = thread.call(lambda: len(fake.open_orders()))
        requests = thread.call(lambda: list(fake.requests))
    summary = json.loads(out)
    execution = summary["execution"]
    assert execution["mode"] == "testnet" and execution["orders_sent"] > 0
    assert execution["endpoints"]["binance_spot"].startswith("127.0.0.1:")
    assert still_open == 0, "SIGTERM left orders open on the testnet"
    # the testnet got the paper exchange's orders, ids mapped, at the paper's exact prices/sizes
    journal = tmp_path / "data" / "journal" / "btc.sqlite"
    with sqlite3.connect(f"file:{journal}?mode=ro", uri=True) as db:
        paper_ids = {
            row[0] for row in db.execute("SELECT client_id FROM records WHERE client_id IS NOT NULL")
        }
        reconciliations = [
            (source, json.loads(payload))
            for source, payload in db.execute(
                "SELECT source, payload FROM events WHERE type = 'reconciliation'"
            )
        ]
    mapped = {cid.split("_", 1)[1] for cid in orders}
    assert mapped and mapped <= paper_ids
    posted = [p for method, path, p in requests if method == "POST" and path == "/api/v3/order"]
    assert {p["type"] for p in posted} == {"LIMIT_MAKER"}
    assert reconciliations and {s for s, _ in reconciliations} == {"testnet"}
    assert reconciliations[-1][1]["final"] is True
    kinds = {d["kind"] for _, r in reconciliations for d in r["differences"]}
    assert "rejected_on_testnet" in kinds
    details = [d["detail"] for _, r in reconciliations for d in r["differences"]]
    assert any("insufficient balance" in d for d in details)
    # the keys are nowhere: logs, /status, /metrics, the summary, the journal
    for text in (
        log_path.read_text(),
        json.dumps(status),
        metrics,
        out,
        journal.read_bytes().decode("latin-1"),
    ):
        assert KEY not in text and SECRET not in text
    assert '"testnet connected"' in log_path.read_text()
