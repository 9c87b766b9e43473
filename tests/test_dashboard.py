"""The live dashboard of a real ``mmbot run --offline`` process: the page and its bundled
assets, the event stream (snapshot, then frames at most ``max_rate_hz``), the ladder with
our resting orders and their queue position, read-only access without the token, the
connection cap and a client that stops reading being dropped; then, in headless Chromium
driven by Playwright (marker ``browser``), the page against the same running bot: live
charts with no console errors and no request leaving the machine, the ladder with our
orders, controls locked without the token, and a kill from the page pulling the quotes."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.dashboard_kit import TOKEN, DashboardBot, EventStream, crawl_page

MAX_CLIENTS = 3
RATE_HZ = 10.0  # the maximum: a client that stops reading fills its buffers sooner


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DashboardBot]:
    bot = DashboardBot(
        tmp_path_factory.mktemp("dashboard"),
        dashboard=f"max_clients = {MAX_CLIENTS}\nmax_rate_hz = {RATE_HZ}\nclient_queue = 4\nwrite_timeout_s = 2.0",
    )
    try:
        bot.wait_quoting()
        yield bot
    finally:
        bot.stop()


def metric(bot: DashboardBot, name: str) -> float:
    for family in text_string_to_metric_families(bot.metrics()):
        for sample in family.samples:
            if sample.name == name:
                return float(sample.value)
    raise AssertionError(f"{name} not in /metrics")


def test_page_and_bundled_assets_are_served_from_the_bot(bot: DashboardBot) -> None:
    # the startup log names the page's address (what a user opens)
    (listening,) = [line for line in bot.log_path.read_text().splitlines() if '"ops http listening"' in line]
    assert json.loads(listening)["dashboard"] == bot.url + "/dashboard/"
    code, headers, _ = bot.request("/")
    assert code == 302 and headers["Location"] == "/dashboard/"
    code, headers, body = bot.request("/dashboard/")
    assert code == 200 and headers["Content-Type"].startswith("text/html")
    csp = headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "connect-src 'self'" in csp
    html = body.decode()
    seen = set(crawl_page(bot.request))  # the page's scripts and styles, every module they import
    assert {"static/js/main.js", "static/js/charts.js", "static/js/control.js"} <= seen
    code, _, library = bot.request(
        "/dashboard/static/vendor/lightweight-charts/lightweight-charts.standalone.production.js"
    )
    assert code == 200 and b"TradingView Lightweight Charts" in library[:400] and b"v5.3.0" in library[:400]
    code, _, licence = bot.request("/dashboard/static/vendor/lightweight-charts/LICENSE")
    assert code == 200 and b"Apache License" in licence and b"Version 2.0" in licence
    code, _, notice = bot.request("/dashboard/static/vendor/lightweight-charts/NOTICE")
    assert code == 200 and b"TradingView" in notice
    assert "TradingView" in html and "tradingview.com" in html  # the attribution the licence asks for
    for bad in (
        "/dashboard/static/nope.js",
        "/dashboard/static/../../config.py",
        "/dashboard/static/%2e%2e/http.py",
    ):
        assert bot.request(bad)[0] == 404, bad


def test_session_is_read_only_without_the_token(bot: DashboardBot) -> None:
    anonymous = bot.get_json("/dashboard/session")
    assert anonymous["control"] is True and anonymous["authorized"] is False
    # every profile the switch can take: the run's search path (its strategies_dir, then the
    # repository's config/strategies as the working directory's, then the packaged ones)
    profiles = anonymous["profiles"]
    assert profiles == sorted(profiles) and {"fast_as", "wide", "as_default", "glft"} <= set(profiles)
    assert anonymous["max_clients"] == MAX_CLIENTS and anonymous["max_rate_hz"] == RATE_HZ
    assert bot.get_json("/dashboard/session", token=TOKEN)["authorized"] is True
    code, _, body = bot.request("/dashboard/session", headers={"Authorization": "Bearer wrong"})
    assert code == 401 and TOKEN not in body.decode()
    # the page's controls are the existing endpoints: nothing changes without the token
    code, _, _ = bot.request("/control/kill", method="POST", body={"reason": "no token"})
    assert code == 401
    assert bot.engine()["risk"]["regime"] != "halted"


def test_stream_sends_a_snapshot_then_rate_limited_frames_with_ladder_and_status(bot: DashboardBot) -> None:
    stream = EventStream(bot.host, bot.port)
    try:
        assert stream.response.status == 200
        assert stream.response.getheader("Content-Type") == "text/event-stream"
        events = stream.events()
        name, snapshot, _ = next(events)
        assert name == "snapshot"
        fields = snapshot["fields"]
        engine = snapshot["engines"]["btc"]
        assert engine["meta"]["instrument"] == "binance_spot:BTCUSDT" and engine["meta"]["quoting"] is True
        points = engine["points"]
        assert len(points) > 10 and all(len(p) == len(fields) for p in points)
        times = [p[0] for p in points]
        assert times == sorted(set(times)), "history points strictly increasing in time"
        assert snapshot["status"]["engines"][0]["engine"] == "btc"
        regimes = engine["regimes"]
        assert regimes[0]["kind"] == "state" and any(r["kind"] == "transition" for r in regimes)
        frames = []
        start = time.monotonic()
        for name, data, received in events:
            assert name == "frame"
            frames.append((data, received))
            if received - start >= 4.0:
                break
    finally:
        stream.close()
    elapsed = frames[-1][1] - start
    assert len(frames) <= RATE_HZ * elapsed + 2, f"{len(frames)} frames in {elapsed:.1f}s"
    assert len(frames) >= RATE_HZ * elapsed / 2, "updates stalled"
    last = times[-1]
    col = {name: i for i, name in enumerate(fields)}
    for data, _ in frames:
        point = data["engines"]["btc"]["point"]
        if point is not None:
            assert point[col["t"]] > last
            last = point[col["t"]]
            assert point[col["best_bid"]] < point[col["best_ask"]]
    assert last > times[-1], "the chart data moves"
    with_status = [d for d, _ in frames if d["status"] is not None]
    assert 2 <= len(with_status) < len(frames), "/status rides along about once a second"
    # the ladder: price levels best first around the touch, our orders with their queue position
    data = with_status[-1]
    ladder = data["engines"]["btc"]["ladder"]
    prices = [Decimal(row["price"]) for row in ladder["rows"]]
    assert prices == sorted(prices, reverse=True)
    assert Decimal(ladder["best_bid"]) < Decimal(ladder["best_ask"])
    ours = [(row["price"], o) for row in ladder["rows"] for o in row["ours"]]
    assert ours, "our orders are on the ladder"
    assert {o["side"] for _, o in ours} == {"buy", "sell"}
    for price, order in ours:
        if order["state"] != "in flight":
            assert Decimal(order["ahead"]) >= 0 and Decimal(order["remaining"]) > 0
        if order["side"] == "buy":
            assert Decimal(price) <= Decimal(ladder["best_ask"])
        else:
            assert Decimal(price) >= Decimal(ladder["best_bid"])
    status_ids = {o["client_id"] for o in data["status"]["engines"][0]["open_orders"]}
    ladder_ids = {o["client_id"] for _, o in ours}
    assert ladder_ids & status_ids, (ladder_ids, status_ids)


def wait_no_clients(bot: DashboardBot) -> None:
    deadline = time.monotonic() + 10
    while metric(bot, "mmbot_dashboard_clients") > 0:  # a closed stream is noticed at the next write
        assert time.monotonic() < deadline, "closed streams still counted"
        time.sleep(0.1)


def test_connection_cap_refuses_extra_streams_and_frees_slots(bot: DashboardBot) -> None:
    wait_no_clients(bot)
    rejected = metric(bot, "mmbot_dashboard_rejected_total")
    streams = [EventStream(bot.host, bot.port) for _ in range(MAX_CLIENTS)]
    try:
        assert all(s.response.status == 200 for s in streams)
        extra = EventStream(bot.host, bot.port)
        assert extra.response.status == 503
        body = json.loads(extra.response.read())
        assert "http.dashboard.max_clients" in body["error"]
        assert extra.response.getheader("Retry-After") == "5"
        extra.close()
        assert metric(bot, "mmbot_dashboard_rejected_total") == rejected + 1
    finally:
        for stream in streams:
            stream.close()
    wait_no_clients(bot)
    again = EventStream(bot.host, bot.port)
    try:
        assert again.response.status == 200
        assert next(again.events())[0] == "snapshot"
    finally:
        again.close()


def test_a_client_that_stops_reading_is_dropped_not_buffered(bot: DashboardBot) -> None:
    wait_no_clients(bot)
    dropped = metric(bot, "mmbot_dashboard_dropped_total")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: a small window
    sock.connect((bot.host, bot.port))
    sock.sendall(f"GET /dashboard/stream HTTP/1.1\r\nHost: {bot.host}\r\n\r\n".encode())
    try:
        deadline = time.monotonic() + 60
        while metric(bot, "mmbot_dashboard_dropped_total") <= dropped:
            assert time.monotonic() < deadline, "a client that never reads was not dropped"
            assert bot.proc.poll() is None
            time.sleep(0.5)
        # the server closed it: reading now ends (after what was already in flight)
        sock.settimeout(10)
        received = 0
        while chunk := sock.recv(65536):
            received += len(chunk)
        assert received > 0
    finally:
        sock.close()
    wait_no_clients(bot)
    assert bot.request("/healthz")[0] in (200, 503)
    assert bot.engine()["open_orders"], "trading went on"


def test_dashboard_metrics_are_exported(bot: DashboardBot) -> None:
    text = bot.metrics()
    for name in (
        "mmbot_dashboard_clients",
        "mmbot_dashboard_connections_total",
        "mmbot_dashboard_dropped_total",
        "mmbot_dashboard_rejected_total",
        "mmbot_dashboard_frames_total",
        "mmbot_dashboard_errors_total",
        "mmbot_dashboard_frame_build_seconds_count",
    ):
        assert re.search(rf"^{name}(\{{| )", text, re.M), name
    assert metric(bot, "mmbot_dashboard_errors_total") == 0
    assert metric(bot, "mmbot_dashboard_frames_total") > 0


def test_dashboard_can_be_turned_off(tmp_path: Path) -> None:
    """``http.dashboard.enabled = false``: the ops server serves no page, no stream and no
    dashboard metrics; /status and control stay."""
    off = DashboardBot(tmp_path, dashboard="enabled = false")
    try:
        for path in ("/", "/dashboard/", "/dashboard/stream", "/dashboard/session"):
            assert off.request(path)[0] == 404, path
        assert off.status()["engines"][0]["engine"] == "btc"
        assert "mmbot_dashboard_" not in off.metrics()
        (listening,) = [
            line for line in off.log_path.read_text().splitlines() if "ops http listening" in line
        ]
        assert "dashboard" not in json.loads(listening)
    finally:
        off.stop()


def test_static_files_ship_in_the_wheel(tmp_path: Path) -> None:
    """The page must work from an installed mmbot: every file of bot/ops/static is package data."""
    import shutil
    import subprocess
    import sys
    import zipfile

    from tests.dashboard_kit import REPO

    source = tmp_path / "src"  # a copy: the build never writes into the repository
    shutil.copytree(REPO / "bot", source / "bot", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (wheel,) = tmp_path.glob("mmbot-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    static = REPO / "bot" / "ops" / "static"
    expected = {
        "bot/ops/static/" + p.relative_to(static).as_posix() for p in static.rglob("*") if p.is_file()
    }
    assert expected and expected <= names, sorted(expected - names)


# ---- in a real browser: headless Chromium driven by Playwright (marker `browser`) ----------

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REGIMES = {"calm", "ranging", "trending", "crisis", "halted"}


def chromium_path() -> tuple[str | None, str]:
    """(Chromium executable, or None and why not)."""
    configured = os.environ.get("TESTS_CHROMIUM")
    if configured:
        if os.access(configured, os.X_OK):
            return configured, ""
        return None, f"TESTS_CHROMIUM={configured} is not an executable"
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found, ""
    return None, "no Chromium: apt-get install -y chromium (Debian), or set TESTS_CHROMIUM=/path/to/chromium"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium via Playwright; skipped, saying why, where either is missing (CI sets
    TESTS_REQUIRE_BROWSER=1 so that a missing browser fails instead)."""
    reason = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = "playwright is not installed (pip install playwright; it is in the test extra)"
    path, missing = chromium_path()
    if reason is None and path is None:
        reason = missing
    if reason is not None:
        if os.environ.get("TESTS_REQUIRE_BROWSER") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def test_ci_installs_chromium_and_prometheus_and_fails_rather_than_skips() -> None:
    """CI runs .ci/run: it must install the browser and Prometheus and make a missing one a
    failure, so the browser tests and the Prometheus check can never be skipped there unnoticed."""
    from tests.dashboard_kit import REPO

    script = (REPO / ".ci" / "run").read_text()
    installs = [line for line in script.splitlines() if "apt-get install" in line]
    for package in ("chromium", "prometheus"):
        assert any(re.search(rf"\b{package}\b", line) for line in installs), (package, installs)
    exports = re.findall(r"^export (.*)$", script, re.M)  # top level: set unconditionally
    assert any({"TESTS_REQUIRE_BROWSER=1", "TESTS_REQUIRE_PROMETHEUS=1"} <= set(e.split()) for e in exports)
    # MMBOT_* is mmbot's configuration (`mmbot config check` lists every one as an override)
    assert not [e for e in exports if "MMBOT_" in e], exports
    last = script.strip().splitlines()[-1]
    assert ".[test" in last and last.endswith("python -m pytest -q"), last  # playwright: test extra


@pytest.fixture
def artefacts(tmp_path: Path) -> Path:
    """Where screenshots are kept: $TESTS_ARTIFACTS if set (CI), else the test's tmp dir."""
    root = Path(os.environ.get("TESTS_ARTIFACTS") or tmp_path)
    root.mkdir(parents=True, exist_ok=True)
    return root


class Watched:
    """A browser page whose console errors, page errors and requests are recorded; any request
    that is not for the bot is aborted (the page must work with no internet)."""

    def __init__(self, browser: Any, bot: DashboardBot) -> None:
        self.context = browser.new_context(viewport={"width": 1400, "height": 1700})
        self.origin = bot.url
        self.errors: list[str] = []
        self.outside: list[str] = []
        self.failed: list[str] = []
        self.urls: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        self.page.on("requestfailed", lambda r: self.failed.append(f"{r.url} {r.failure}"))
        self.page.on("request", lambda r: self.urls.append(r.url))

    def _route(self, route: Any) -> None:
        if route.request.url.startswith(self.origin) or route.request.url.startswith("data:"):
            route.continue_()
        else:
            self.outside.append(route.request.url)
            route.abort()

    def open(self) -> Any:
        self.page.goto(self.origin + "/")
        self.page.wait_for_function(
            "() => window.mmbotDashboard && window.mmbotDashboard.snapshots >= 1"
            " && Object.values(window.mmbotDashboard.engines).some(e => e.points > 5)",
            timeout=30_000,
        )
        return self.page

    def dashboard(self) -> dict[str, Any]:
        return dict(self.page.evaluate("() => JSON.parse(JSON.stringify(window.mmbotDashboard))"))

    def close(self) -> None:
        self.context.close()


def order_price(order: dict[str, Any]) -> Decimal:
    """A /status open order's price (text in the instrument's precision, or integer ticks)."""
    price = order["price"]
    return Decimal(price) if isinstance(price, str) else Decimal(price) * Decimal("0.01")


@pytest.mark.browser
def test_browser_shows_the_live_bot_read_only_with_no_console_errors(
    browser: Any, bot: DashboardBot, artefacts: Path
) -> None:
    bot.wait_quoting()
    watched = Watched(browser, bot)
    try:
        page = watched.open()
        assert page.url == bot.url + "/dashboard/"
        before = watched.dashboard()["engines"]["btc"]
        length = page.evaluate("() => window.mmbotDashboard.seriesLength('btc')")
        chart = page.locator('[data-chart="price"]')
        first = chart.screenshot()
        page.wait_for_function(
            f"() => window.mmbotDashboard.engines.btc.lastT > {before['lastT']} + 2", timeout=20_000
        )
        assert page.evaluate("() => window.mmbotDashboard.seriesLength('btc')") > length, "chart got new data"
        assert chart.screenshot() != first, "the chart moved"
        # the ladder shows our resting orders with their queue position, as /status has them
        page.wait_for_function("() => window.mmbotDashboard.engines.btc.ladderOurs >= 2", timeout=20_000)
        rows = page.locator('[data-field="ladder"] tr.has-ours')
        texts = rows.all_inner_texts()
        assert texts and all("ahead" in t or "in flight" in t for t in texts), texts
        # the strategy's quotes move every few hundred ms: the page and /status agree within a few tries
        for _ in range(20):
            prices = page.eval_on_selector_all(
                '[data-field="ladder"] tr.has-ours td.price', "cells => cells.map(c => c.textContent)"
            )
            on_page = {Decimal(p) for p in prices}
            in_status = {order_price(o) for o in bot.engine()["open_orders"]}
            if on_page & in_status:
                break
            time.sleep(0.25)
        assert on_page & in_status, (on_page, in_status)
        # header formatted from /status
        page.wait_for_function(
            "() => document.querySelector('[data-field=strategy]').textContent === 'fast_as'"
        )
        assert page.locator('[data-field="regime"]').inner_text().lower() in REGIMES
        assert page.locator('[data-field="book"]').inner_text() == "valid"
        # read-only: controls locked, the token form offered
        assert page.locator("#unlock-form").is_visible()
        assert not page.locator("#controls").is_visible() and not page.locator("#kill").is_visible()
        page.screenshot(path=str(artefacts / "dashboard-live.png"), full_page=True)
        # obligations compliance on the venue (issue 17), as /status has it
        page.wait_for_function("() => !document.querySelector('[data-panel=obligations]').hidden")
        shown = page.locator('[data-panel="obligations"]').inner_text()
        assert "binance_spot" in shown and "uptime today" in shown and "max 0.05 %" in shown, shown
        assert re.search(r"now\s+(NOT )?MET", shown) and "100 USDT within ±1 %" in shown, shown
        # markouts of our fills (issue 16), as /status has them: mean bps and count per horizon and side
        status = bot.wait(
            "a completed 1 s markout", lambda s: s["engines"][0]["markouts"]["1s"]["all"]["n"] > 0
        )
        page.wait_for_function(
            "() => document.querySelectorAll('[data-field=markouts] tbody tr').length >= 3", timeout=10_000
        )
        rows = page.locator('[data-field="markouts"] tbody tr').all_inner_texts()
        assert [r.split("\t")[0] for r in rows] == list(
            k for k in status["engines"][0]["markouts"] if k != "pending"
        )
        assert re.match(r"1s\t(-?\d+\.\d\d|–) \(\d+\)\t", rows[0]), rows
        assert "fills still ageing" in page.locator('[data-field="markouts-note"]').inner_text()
        # those fills: marked on the price chart and listed; inventory and the PnL split charted
        page.wait_for_function("() => window.mmbotDashboard.markerCount('btc') > 0", timeout=10_000)
        assert page.locator('[data-field="fills-table"] tbody tr').count() > 0
        points = page.evaluate("() => window.mmbotDashboard.seriesLength('btc')")
        for key in (
            "inventory",
            "pnl_spread_capture",
            "pnl_rebates",
            "pnl_fees",
            "pnl_inventory",
            "pnl_total",
        ):
            # the same time axis as the price chart (a point may arrive between the two reads)
            assert page.evaluate(f"() => window.mmbotDashboard.seriesLength('btc', '{key}')") >= points, key
        split = page.locator('[data-field="pnl-split"]').inner_text()
        pnl = bot.engine()["sample"]["pnl"]
        assert pnl and all(key.replace("_", " ", 1) in split for key in pnl), (split, pnl)
        # the regime timeline: every entry names the rule that fired, the first is the state at start
        entries = page.locator('[data-field="transitions"] li').all_inner_texts()
        assert entries and all(re.search(r"\[[^\]]+\]", e) for e in entries), entries
        assert "[state when the dashboard started]" in entries[-1] or len(entries) == 50, entries
        assert page.locator('[data-field="timeline"] .seg').count() >= 1
        assert watched.dashboard()["errors"] == []
        assert watched.errors == [] and watched.failed == [] and watched.outside == []
    finally:
        watched.close()


@pytest.mark.browser
def test_browser_wrong_token_keeps_the_controls_locked(browser: Any, bot: DashboardBot) -> None:
    watched = Watched(browser, bot)
    try:
        page = watched.open()
        page.fill("#token", "not-the-token")
        page.click("#unlock")
        page.wait_for_function(
            "() => document.getElementById('control-note').textContent.includes('wrong token')"
        )
        assert not page.locator("#controls").is_visible()
        assert page.evaluate("() => [sessionStorage.length, localStorage.length]") == [0, 0]
        # the only error is the browser's own note of the 401 answer
        assert all("401" in e for e in watched.errors) and len(watched.errors) == 1, watched.errors
        assert watched.outside == []
    finally:
        watched.close()
    assert bot.engine()["risk"]["regime"] != "halted"


@pytest.mark.browser
def test_browser_kill_from_the_page_pulls_the_quotes_and_resume_brings_them_back(
    browser: Any, bot: DashboardBot, artefacts: Path
) -> None:
    bot.wait_quoting()
    watched = Watched(browser, bot)
    try:
        page = watched.open()
        page.wait_for_selector("#unlock-form:not([hidden])")
        page.fill("#token", TOKEN)
        page.click("#unlock")
        page.wait_for_selector("#controls:not([hidden])")
        assert page.evaluate("() => sessionStorage.getItem('mmbot.controlToken')") == TOKEN
        assert page.evaluate("() => localStorage.length") == 0, "kept only for this tab unless asked"
        offered = page.locator("#profiles option").evaluate_all("o => o.map(x => x.value)")
        assert offered == bot.get_json("/dashboard/session")["profiles"] and "wide" in offered
        # one click only arms the button, for 4 s
        page.click("#kill")
        assert page.locator("#kill").inner_text() == "Confirm kill"
        page.wait_for_function("() => document.getElementById('kill').textContent === 'Kill'", timeout=10_000)
        assert bot.engine()["risk"]["regime"] != "halted", "a single click killed"
        page.click("#kill")
        page.click("#kill")
        page.wait_for_function("() => document.getElementById('control-note').textContent.startsWith('kill')")
        note = page.locator("#control-note").inner_text()
        assert note.startswith("kill:"), note
        status = bot.wait(
            "quotes pulled by the page's kill",
            lambda s: s["engines"][0]["risk"]["regime"] == "halted" and not s["engines"][0]["open_orders"],
            timeout=30,
        )
        assert "manual_kill" in status["engines"][0]["risk"]["active_triggers"]
        page.wait_for_function(
            "() => document.querySelector('[data-field=regime]').textContent === 'halted'", timeout=10_000
        )
        page.wait_for_function("() => window.mmbotDashboard.engines.btc.ladderOurs === 0", timeout=10_000)
        # the timeline names the kill, its trigger and who asked
        page.wait_for_function(
            "() => document.querySelector('[data-field=transitions]').textContent.includes('dashboard kill')",
            timeout=10_000,
        )
        entries = page.locator('[data-field="transitions"] li').all_inner_texts()
        kill = [e for e in entries if " KILL [manual_kill] kill by http: dashboard kill" in e]
        halt = [e for e in entries if " → HALTED [trigger.manual_kill] " in e]
        assert kill and halt, entries
        assert halt[0].count("HALTED") == 1, halt  # the rule and the move are not repeated in the text
        page.screenshot(path=str(artefacts / "dashboard-killed.png"), full_page=True)
        page.click("#resume")
        bot.wait_quoting(timeout=90)
        page.wait_for_function("() => window.mmbotDashboard.engines.btc.ladderOurs >= 2", timeout=20_000)
        # strategy switch from the page: an unknown profile is refused and nothing changes ...
        page.fill("#profile", "no_such_profile")
        page.click("#switch")
        page.wait_for_function(
            "() => document.getElementById('control-note').textContent.startsWith('strategy refused')"
        )
        assert "no_such_profile" in page.locator("#control-note").inner_text()
        assert bot.engine()["strategy"] == "fast_as"
        # ... a known one is taken by the bot, and the page shows it
        for profile in ("wide", "fast_as"):
            page.fill("#profile", profile)
            page.click("#switch")
            page.wait_for_function(
                f"() => document.getElementById('control-note').textContent.includes('\"{profile}\"')"
            )
            assert page.locator("#control-note").inner_text().startswith("strategy: "), profile
            bot.wait(f"the page's switch to {profile}", lambda s, p=profile: s["engines"][0]["strategy"] == p)
            page.wait_for_function(
                f"() => document.querySelector('[data-field=strategy]').textContent === '{profile}'",
                timeout=10_000,
            )
        assert not any(TOKEN in url for url in watched.urls), "the token never goes into a URL"
        # the only console error: the browser's own note of the refused switch's 400 answer
        assert len(watched.errors) == 1 and "400" in watched.errors[0], watched.errors
        assert watched.failed == [] and watched.outside == []
    finally:
        watched.close()


def test_every_metric_and_label_the_grafana_dashboard_queries_is_exported(bot: DashboardBot) -> None:
    """Parse every PromQL expression of config/monitoring/grafana/dashboards/mmbot.json and
    look its metric names, label matchers and legend labels up in this running bot's /metrics."""
    from tests.grafana_kit import load_dashboard, queries

    bot.wait(  # every other family has samples from the start (quotes: a count per side, 0 too)
        "a completed markout (its gauges have samples then)",
        lambda s: s["engines"][0]["markouts"]["1s"]["all"]["n"] > 0,
    )
    samples: dict[str, list[dict[str, str]]] = {}
    for family in text_string_to_metric_families(bot.metrics()):
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}.get(family.type, [""])
        for suffix in suffixes:  # declared families count even before their first sample
            samples.setdefault(family.name + suffix, [])
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample.labels)
    # declared but with no sample in an unhedged run without crashes: labels not checkable
    without_samples = {
        "mmbot_net_delta": "only engines with a hedge report it",
        "mmbot_task_restarts_total": "only after a supervised task crashed",
    }
    for query in queries(load_dashboard()):
        for selector in query.selectors:
            assert selector.metric in samples, f"{query.where}: {selector.metric} is not in /metrics"
            seen = samples[selector.metric]
            if not seen:
                assert selector.metric in without_samples, f"{query.where}: {selector.metric} has no samples"
                continue
            for label, op, value in selector.matchers:
                if "$" in value or op.startswith("!"):
                    continue  # a dashboard variable, or an exclusion
                wanted = value.split("|") if op == "=~" else [value]
                have = {labels.get(label) for labels in seen}
                missing = [v for v in wanted if v not in have]
                assert not missing, (
                    f"{query.where}: no {selector.metric}{{{label}={missing}}} in {sorted(map(str, have))}"
                )
            for label in query.legend_labels() | (query.by_labels - {"le"}):
                assert any(label in labels for labels in seen), (
                    f"{query.where}: {selector.metric} has no {label!r}"
                )


def test_grafana_queries_run_on_a_real_prometheus_scraping_the_bot(bot: DashboardBot, tmp_path: Path) -> None:
    """Every query of the Grafana dashboard, its variables at All, run by a real Prometheus
    (Debian's package) scraping this bot every second: each is PromQL Prometheus accepts and each
    returns series (but those over the two families with no samples in this run)."""
    from tests.grafana_kit import ALL_VALUES, Prometheus, load_dashboard, prometheus_path, queries

    executable, missing = prometheus_path()
    if executable is None:
        if os.environ.get("TESTS_REQUIRE_PROMETHEUS") == "1":
            pytest.fail(missing)
        pytest.skip(missing)
    bot.wait("a completed markout", lambda s: s["engines"][0]["markouts"]["1s"]["all"]["n"] > 0)
    prometheus = Prometheus(executable, tmp_path, f"{bot.host}:{bot.port}")
    try:
        prometheus.wait_scrapes(4)  # rate() and increase() need two samples in their window
        engines = [e["engine"] for e in bot.status()["engines"]]
        without_samples = {"mmbot_net_delta", "mmbot_task_restarts_total"}
        checked = 0
        for query in queries(load_dashboard()):
            if query.where.startswith("variable"):
                (label,) = query.by_labels
                reply = prometheus.get(f"label/{label}/values", **{"match[]": query.selectors[0].metric})
                assert reply["status"] == "success", (query.where, reply)
                expected = engines if label == "engine" else ["binance_spot"]
                assert reply["data"] == expected, (query.where, reply["data"])
                continue
            expr = query.expr
            for variable, value in ALL_VALUES.items():
                expr = expr.replace(variable, value)
            assert "$" not in expr, (query.where, expr)
            reply = prometheus.get("query", query=expr)
            assert reply["status"] == "success", (query.where, expr, reply.get("error"))
            if not {s.metric for s in query.selectors} & without_samples:
                assert reply["data"]["result"], f"{query.where}: no series for {expr}"
                checked += 1
        assert checked >= 60, checked
    finally:
        prometheus.stop()


@pytest.mark.browser
def test_browser_shows_every_engine_of_the_abc_deal_with_its_obligation(
    browser: Any, tmp_path: Path, artefacts: Path
) -> None:
    """config/abc.toml as shipped: three venues' engines, each hedged on the perp, each with the
    deal's obligation; every engine gets its section, its data and its compliance."""
    from tests.dashboard_kit import REPO

    abc = DashboardBot(tmp_path, config=REPO / "config" / "abc.toml")
    try:
        status = abc.wait(
            "the three venues quoting",
            lambda s: len(s["obligations"]) == 3 and all(e["open_orders"] for e in s["engines"]),
            timeout=90,
        )
        names = [e["engine"] for e in status["engines"]]
        watched = Watched(browser, abc)
        try:
            page = watched.open()
            page.wait_for_function(
                "names => names.every(n => (window.mmbotDashboard.engines[n] || {}).points > 5"
                " && window.mmbotDashboard.engines[n].ladderOurs > 0)",
                arg=names,
                timeout=30_000,
            )
            assert page.locator("#engine-nav a").all_inner_texts() == names
            for name, summary in zip(names, status["obligations"], strict=True):
                section = page.locator(f'section[data-engine="{name}"]')
                obligation = section.locator('[data-panel="obligations"]')
                page.wait_for_function(
                    f"() => !document.querySelector('section[data-engine={name}] [data-panel=obligations]').hidden"
                )
                assert summary["venue"] in obligation.inner_text()
                assert "min 95 %" in obligation.inner_text()
                # net delta is shown where the engine reports one (with [deal] the deal desk hedges
                # the whole book: /status `deals`, not the engines)
                entry = next(e for e in status["engines"] if e["engine"] == name)
                reported = (entry.get("sample") or {}).get("net_delta") is not None or bool(
                    entry.get("hedge")
                )
                shown_delta = section.locator('[data-field="net_delta"]').inner_text()
                assert (shown_delta != "–") == reported, (name, shown_delta, entry.get("hedge"))
            page.screenshot(path=str(artefacts / "dashboard-abc.png"), full_page=True)
            assert watched.dashboard()["errors"] == []
            assert watched.errors == [] and watched.failed == [] and watched.outside == []
        finally:
            watched.close()
    finally:
        abc.stop()


@pytest.mark.browser
def test_browser_says_when_a_valid_book_is_not_tradeable(browser: Any, tmp_path: Path) -> None:
    """A book that falls behind stays valid (no resync) but is not quoted from: the header says
    so with the reason /status gives. (This bot has no control token: the page offers none.) Here any event queued over 10 us after its receipt counts
    as falling behind, and recovering takes 10 minutes, so the book stays untradeable."""
    from tests.dashboard_kit import write_config

    config = write_config(tmp_path)
    with config.open("a") as file:
        file.write("[market]\nmax_lag_s = 0.00001\nlag_recovery_s = 600\n")
    behind = DashboardBot(tmp_path, config=config, token=None)  # and no control token at all
    try:
        status = behind.wait(
            "a valid book that is not tradeable",
            lambda s: any(line["valid"] and not line["tradeable"] for line in s["instruments"]),
        )
        (line,) = status["instruments"]
        assert line["reason"].startswith("falling behind: "), line
        watched = Watched(browser, behind)
        try:
            page = watched.open()
            page.wait_for_function(
                "() => document.querySelector('[data-field=book]').textContent.startsWith('valid, not')",
                timeout=10_000,
            )
            shown = page.locator('[data-field="book"]').inner_text()
            assert shown.startswith("valid, not tradeable (falling behind: "), shown
            assert "(max 0.00s)" in shown, shown
            # no token configured: no token box, no buttons, the note says why
            page.wait_for_function(
                "() => document.getElementById('control-note').textContent.includes('control is off')"
            )
            assert (
                not page.locator("#unlock-form").is_visible() and not page.locator("#controls").is_visible()
            )
            assert not behind.engine()["open_orders"], "no quotes from an untradeable book"
            assert watched.errors == [] and watched.failed == [] and watched.outside == []
        finally:
            watched.close()
    finally:
        behind.stop()


def test_stopping_the_bot_with_dashboards_connected_is_prompt_and_clean(bot: DashboardBot) -> None:
    """Last in this module: it stops the bot. Open streams must not hold the shutdown."""
    streams = [EventStream(bot.host, bot.port) for _ in range(2)]
    for stream in streams:
        assert next(stream.events())[0] == "snapshot"
    started = time.monotonic()
    bot.proc.send_signal(signal.SIGTERM)
    out, _ = bot.proc.communicate(timeout=30)
    assert bot.proc.returncode == 0, bot.log_tail()
    assert time.monotonic() - started < 15, "open dashboard streams delayed the shutdown"
    assert json.loads(out)["engines"][0]["engine"] == "btc"
    for stream in streams:
        remaining = list(stream.events())  # the server ended the stream: iteration stops
        assert all(name == "frame" for name, _, _ in remaining)
        stream.close()
