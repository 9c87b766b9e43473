"""`mmbot run --offline` as a real process: emulator in-process, real adapter over a real websocket,
ops HTTP server; SIGTERM stops it cleanly with a summary."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[1]


def _read_url_from_logs(proc: subprocess.Popen[str], event: str, deadline: float) -> str:
    assert proc.stderr is not None
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if record.get("event") == event:
            return str(record["url"])
    raise AssertionError(f"no {event!r} log line")


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_run_offline_syncs_serves_health_and_stops_on_sigterm(tmp_path: Path) -> None:
    env = {**os.environ, "MMBOT_LOGGING__FORMAT": "json", "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bot",
            "run",
            "--offline",
            "--http",
            "127.0.0.1:0",
            "--data-dir",
            str(tmp_path),
            "--json",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = _read_url_from_logs(proc, "ops http listening", time.monotonic() + 30)
        statuses = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            status, body = _get(url + "/healthz")
            statuses.append(status)
            if status == 200:
                break
            time.sleep(0.05)
        assert statuses[-1] == 200, statuses
        # the first answers come before the book has synced
        assert statuses[0] in (200, 503)
        _, text = _get(url + "/metrics")
        families = {f.name: f for f in text_string_to_metric_families(text)}
        applied_1 = families["mmbot_book_applied"].samples[0].value
        time.sleep(1.0)
        _, text = _get(url + "/metrics")
        families = {f.name: f for f in text_string_to_metric_families(text)}
        assert families["mmbot_book_applied"].samples[0].value > applied_1
        _, body = _get(url + "/status")
        status_json = json.loads(body)
        assert status_json["instruments"][0]["valid"] is True
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-2000:]
    summary = json.loads(out)
    (line,) = summary["instruments"]
    assert line["instrument"] == "binance_spot:BTCUSDT" and line["valid"] and line["gaps"] == 0
    assert summary["adapters"]["binance_spot"]["connections_opened"] >= 1


def test_run_rejects_bad_duration_and_bad_config(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[engines.x]\nvenue = "binance_spot"\nsymbol = "btc usdt"\n')
    for args, needle in (
        (["--duration", "-1"], "argument --duration: must be a positive, finite number of seconds"),
        (["--duration", "nan"], "argument --duration: must be a positive, finite number of seconds"),
        (["--duration", "inf"], "argument --duration: must be a positive, finite number of seconds"),
        (["--config", str(bad)], "engines.x.symbol"),
        (["--http", "nonsense"], "--http: expected HOST:PORT"),
        (["--http", "127.0.0.1:70000"], "--http: port 70000 is out of range"),
    ):
        result = subprocess.run(
            [sys.executable, "-m", "bot", "run", "--offline", *args],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2, result.stderr
        assert needle in result.stderr and "Traceback" not in result.stderr
