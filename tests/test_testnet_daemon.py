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


def _start_bot(tmp_path: Path, cfg: Path, log_name: str) -> tuple[subprocess.Popen[str], str, Path]:
    log_path = tmp_path / log_name
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
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for line in log_path.read_text().splitlines():
            if '"ops http listening"' in line:
                return proc, str(json.loads(line)["url"]), log_path
        assert proc.poll() is None, log_path.read_text()[-3000:]
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("bot did not start")


def _wait(url: str, proc: subprocess.Popen[str], what: str, predicate: Any, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    status: Any = {}
    while time.monotonic() < deadline:
        status = _get(url + "/status")
        if predicate(status):
            return status
        assert proc.poll() is None, f"bot exited while waiting for {what}"
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}: {json.dumps(status)[:2000]}")


def test_startup_reconciliation_before_the_first_quote_and_adoption_after_kill_9(tmp_path: Path) -> None:
    """Run 1 meets an orphan of an earlier run (cancelled) and a foreign order (left alone) and
    quotes only after journaling the reconciliation; it is killed with -9 while orders rest on both
    sides; run 2 adopts the testnet orders its journal still has open, and SIGTERM then closes
    every mmbot order on the testnet while the foreign one stays."""
    write_profile(tmp_path / "strategies", "fast_as", FAST_AS)
    key = "binance_spot:BTCUSDT"
    thread = FakeTestnetThread(KEY, SECRET)
    with thread as fake:
        thread.call(lambda: fake.seed("mmzzzz_btc-9999", "BTCUSDT", "BUY", "10000", "0.001"))
        thread.call(lambda: fake.seed("manual-1", "BTCUSDT", "BUY", "10000", "0.001"))
        cfg = _config(tmp_path, fake.url)
        proc, url, _log1 = _start_bot(tmp_path, cfg, "run1.log")
        try:
            status = _wait(
                url, proc, "testnet orders", lambda s: s["execution"]["instruments"][key]["tracked"] >= 2
            )
            startup = status["execution"]["instruments"][key]["startup"]
            assert startup["cancelled"] == ["mmzzzz_btc-9999"] and startup["foreign"] == ["manual-1"]
            assert startup["balances"]["USDT"] == {"free": "10000", "locked": "0"}

            def in_step(status: Any) -> bool:
                """The testnet has caught up: nothing queued and some order open on both sides
                of the mirror (paper id = the testnet client id after its run tag)."""
                paper = {o["client_id"] for o in status["engines"][0]["open_orders"] if o["state"] == "live"}
                testnet = thread.call(lambda: [o["clientOrderId"] for o in fake.open_orders()])
                mirrored = {cid.split("_", 1)[1] for cid in testnet if cid.startswith("mm")}
                return status["execution"]["queued"] == 0 and bool(paper & mirrored)

            _wait(url, proc, "paper and testnet in step", in_step)
            proc.kill()  # kill -9: orders stay open on the testnet and in the journal
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
        open_before = set(thread.call(lambda: [o["clientOrderId"] for o in fake.open_orders()]))
        assert "manual-1" in open_before and len(open_before) >= 2
        assert thread.call(lambda: fake.orders["mmzzzz_btc-9999"]["status"]) == "CANCELED"
        journal = tmp_path / "data" / "journal" / "btc.sqlite"
        with sqlite3.connect(f"file:{journal}?mode=ro", uri=True) as db:
            (startup_ts,) = db.execute("SELECT ts FROM events WHERE type = 'testnet_startup'").fetchone()
            (first_order_ts,) = db.execute("SELECT MIN(ts) FROM records WHERE kind = 'new'").fetchone()
        assert first_order_ts >= startup_ts, "an order was placed before the start-up reconciliation"

        proc, url, log2 = _start_bot(tmp_path, cfg, "run2.log")
        try:
            status = _wait(
                url, proc, "start-up", lambda s: s["execution"]["instruments"][key]["startup"] is not None
            )
            startup = status["execution"]["instruments"][key]["startup"]
            adopted = {item["testnet_id"] for item in startup["adopted"]}
            assert adopted, f"nothing adopted: {startup}"
            assert adopted <= open_before and startup["foreign"] == ["manual-1"]
            assert set(startup["cancelled"]) | adopted == open_before - {"manual-1"}
            proc.send_signal(signal.SIGTERM)
            out, _ = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 0, log2.read_text()[-3000:]
        still_open = thread.call(lambda: [o["clientOrderId"] for o in fake.open_orders()])
    assert still_open == ["manual-1"]
    assert json.loads(out)["execution"]["orphans_cancelled"] == len(startup["cancelled"])
    with sqlite3.connect(f"file:{journal}?mode=ro", uri=True) as db:
        startups = [
            json.loads(p) for (p,) in db.execute("SELECT payload FROM events WHERE type = 'testnet_startup'")
        ]
    assert len(startups) == 2 and startups[1]["adopted"] == startup["adopted"]
    assert startups[1]["previous_balances"] == startups[0]["balances"]  # run 1 never got to its final record
