"""A real ``mmbot run --offline`` process for the dashboard tests, and a server-sent events
reader. The bot quotes within seconds (short volatility horizons, the fast AS profile) and has a
small market-making obligation (100 USDT a side within 1 %, spread <= 0.05 %) on its venue."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.trading_kit import FAST_AS, FAST_FIXED, write_profile

REPO = Path(__file__).resolve().parents[1]
TOKEN = "dash-token-0123456789abcdef"


def write_config(tmp: Path, *, dashboard: str = "") -> Path:
    strategies = tmp / "strategies"
    write_profile(strategies, "fast_as", FAST_AS)
    write_profile(strategies, "wide", FAST_FIXED)
    path = tmp / "bot.toml"
    path.write_text(f"""
data_dir = "{tmp / "data"}"
[http]
listen = "127.0.0.1:0"
[http.dashboard]
{dashboard}
[engines.btc]
venue = "binance_spot"
symbol = "BTCUSDT"
strategy = "fast_as"
[quoting]
strategies_dir = "{strategies}"
[estimators]
vol_horizons_s = [2.0, 10.0, 60.0]
vol_warmup_fraction = 0.2
[risk.regimes]
short_horizon_s = 2.0
medium_horizon_s = 10.0
[paper.starting_balances]
USDT = "100000"
BTC = "0.02"
[obligations.engines.btc]
max_spread_pct = "0.05"
band_pct = "1"
bid_depth = "100"
ask_depth = "100"
min_uptime_pct = "90"
depth_levels = 8
""")
    return path


class DashboardBot:
    """``mmbot run --offline`` on a free port, with the control token in its environment."""

    def __init__(
        self, tmp: Path, *, dashboard: str = "", token: str | None = TOKEN, config: Path | None = None
    ) -> None:
        """``config``: run that file instead (data in ``tmp/data``, any free port)."""
        cfg = write_config(tmp, dashboard=dashboard) if config is None else config
        extra = [] if config is None else ["--data-dir", str(tmp / "data"), "--http", "127.0.0.1:0"]
        env = {**os.environ, "MMBOT_LOGGING__FORMAT": "json", "PYTHONPATH": str(REPO)}
        env.pop("MMBOT_HTTP__TOKEN", None)
        if token is not None:
            env["MMBOT_HTTP__TOKEN"] = token
        self.log_path = tmp / "bot.log"
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "run", "--config", str(cfg), "--offline", "--json", *extra],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        self.url = self._wait_url()
        parts = urlsplit(self.url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80

    def _wait_url(self) -> str:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for line in self.log_path.read_text().splitlines():
                if '"ops http listening"' in line:
                    return str(json.loads(line)["url"])
            assert self.proc.poll() is None, self.log_tail()
            time.sleep(0.1)
        raise AssertionError("bot did not start: " + self.log_tail())

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text()[-chars:]

    def request(
        self, path: str, *, method: str = "GET", body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers or {})
        if data is not None:
            req.add_header("Content-Type", "application/json")
        opener = urllib.request.build_opener(NoRedirect)
        try:
            with opener.open(req, timeout=10) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def get_json(self, path: str, token: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        code, _, body = self.request(path, headers=headers)
        assert code == 200, (path, code, body[:500])
        return json.loads(body)

    def status(self) -> dict[str, Any]:
        return dict(self.get_json("/status"))

    def engine(self) -> dict[str, Any]:
        return dict(self.status()["engines"][0])

    def metrics(self) -> str:
        code, _, body = self.request("/metrics")
        assert code == 200
        return body.decode()

    def wait(
        self, what: str, predicate: Callable[[dict[str, Any]], bool], timeout: float = 60
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        status: dict[str, Any] = {}
        while time.monotonic() < deadline:
            status = self.status()
            if predicate(status):
                return status
            assert self.proc.poll() is None, self.log_tail()
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}: {json.dumps(status)[:2000]}")

    def wait_quoting(self, timeout: float = 60) -> dict[str, Any]:
        return self.wait(
            "our orders resting on both sides",
            lambda s: (
                {o["side"] for o in s["engines"][0]["open_orders"] if o["state"] == "live"} >= {"BUY", "SELL"}
            ),
            timeout,
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.communicate()
        self._log.close()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class EventStream:
    """A server-sent events client on a plain HTTP connection (what a browser's EventSource does)."""

    def __init__(self, host: str, port: int, path: str = "/dashboard/stream", timeout: float = 15) -> None:
        self.conn = http.client.HTTPConnection(host, port, timeout=timeout)
        self.conn.request("GET", path, headers={"Accept": "text/event-stream"})
        self.response = self.conn.getresponse()

    def events(self) -> Iterator[tuple[str, Any, float]]:
        """(event name, decoded JSON data, monotonic receipt time) as they arrive."""
        name, data = "message", b""
        while True:
            line = self.response.fp.readline()
            if not line:
                return
            line = line.rstrip(b"\r\n")
            if not line:
                if data:
                    yield name, json.loads(data), time.monotonic()
                name, data = "message", b""
            elif line.startswith(b"event:"):
                name = line[6:].strip().decode()
            elif line.startswith(b"data:"):
                data += line[5:].strip()

    def close(self) -> None:
        self.conn.close()


Fetch = Callable[[str], tuple[int, dict[str, str], bytes]]
"""GET of a path under the bot's URL: (status, headers, body)."""


def crawl_page(fetch: Fetch) -> dict[str, bytes]:
    """``/dashboard/`` and everything it loads: its scripts and styles, every ES module they
    import, the licence files it links; by path relative to the page. Each must be a 200 with
    a body, from this origin only (no URL elsewhere), JavaScript as ``text/javascript``."""
    code, headers, body = fetch("/dashboard/")
    assert code == 200 and headers["Content-Type"].startswith("text/html"), (code, headers)
    html = body.decode()
    loads = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
    refs = [r for r in loads if not r.startswith("data:")] + re.findall(
        r'<a [^>]*href="(static/[^"]+)"', html
    )
    assert refs, html[:500]
    found: dict[str, bytes] = {"": body}
    while refs:
        ref = refs.pop()
        if ref in found:
            continue
        assert not re.match(r"^[a-z]+://|^//", ref), f"page loads {ref} from elsewhere"
        code, headers, content = fetch("/dashboard/" + ref)
        assert code == 200 and content, ref
        found[ref] = content
        if ref.endswith(".js"):
            assert headers["Content-Type"].startswith("text/javascript"), ref
            base = ref.rsplit("/", 1)[0]
            for module in re.findall(r'^import .* from "\./([^"]+)";$', content.decode(), re.M):
                refs.append(f"{base}/{module}")
    return found
