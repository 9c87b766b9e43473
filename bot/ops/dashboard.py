"""The live dashboard: a page served by the ops HTTP server and its server-sent events.

Routes (added to :class:`~bot.ops.http.OpsServer` through ``extend``):

- ``GET /`` and ``GET /dashboard`` redirect to ``/dashboard/``, the page (plain HTML, CSS
  and JS from ``bot/ops/static``, with TradingView's lightweight-charts bundled: no
  internet, no build step). The page is read-only; its control buttons call the existing
  ``POST /control/<name>`` endpoints with ``Authorization: Bearer``.
- ``GET /dashboard/stream``: ``text/event-stream``. One ``snapshot`` event (the bounded
  history of every engine and the latest ``/status``), then a ``frame`` event at most
  ``max_rate_hz`` times a second (the ``/status`` document in at most one a second).
- ``GET /dashboard/session``: whether control is configured and whether the request's
  bearer token is right (401 if a wrong one is sent), the strategy profiles, client counts.

One broadcaster task builds each frame once and hands the same bytes to every client's
bounded queue; a client whose queue is full, or that does not take a write within
``write_timeout_s``, is dropped (the browser reconnects and gets a fresh snapshot), so a
slow client costs neither memory nor trading-loop time. At most ``max_clients`` streams
are served (503 beyond). With nobody connected the history is still sampled, cheaply.
"""

from __future__ import annotations

import asyncio
import contextlib
import mimetypes
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.config import DashboardSettings
from bot.defaults import Source, known_profiles
from bot.ops.dashboard_feed import DashboardFeed
from bot.ops.http import OpsServer

log = structlog.get_logger("bot.dashboard")

STATIC_DIR = Path(__file__).resolve().parent / "static"
SEND_BUFFER = 64 * 1024
"""Kernel send buffer of a stream socket (fixed: no autotuning to megabytes), so a client that
stops reading fills it, then its queue, within seconds and is dropped."""
STATUS_INTERVAL_NS = 1_000_000_000
"""``/status`` rides along at most once a second (charts and ladder at ``max_rate_hz``)."""

PAGE_HEADERS = {
    # everything from this origin: the page never loads anything from the internet
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def load_static(root: Path = STATIC_DIR) -> dict[str, tuple[bytes, str]]:
    """Every file under ``root`` by relative path, read once (the only files ever served)."""
    files: dict[str, tuple[bytes, str]] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            name = path.relative_to(root).as_posix()
            content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            if name.endswith(".js"):
                content_type = "text/javascript"
            files[name] = (path.read_bytes(), content_type)
    if "index.html" not in files:
        raise FileNotFoundError(
            f"dashboard page missing: {root / 'index.html'} (package data not installed?)"
        )
    return files


def sse(event: str, data: bytes) -> bytes:
    """One server-sent event (``data`` is one line of JSON)."""
    return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"


class _Client:
    """One connected stream: a bounded queue of encoded events."""

    def __init__(self, size: int) -> None:
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=size)
        self.dropped = False

    def offer(self, data: bytes) -> bool:
        """Queue ``data``; False (and the client ends) if it is too far behind."""
        try:
            self.queue.put_nowait(data)
        except asyncio.QueueFull:
            self.end()
            self.dropped = True
            return False
        return True

    def end(self) -> None:
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(None)


class DashboardStats:
    def __init__(self) -> None:
        self.connected = 0
        self.dropped = 0
        self.rejected = 0
        self.frames = 0
        self.bytes_sent = 0
        self.errors = 0


class Dashboard:
    """Serves the page and the event stream of one process."""

    def __init__(
        self,
        settings: DashboardSettings,
        feed: DashboardFeed,
        ops: OpsServer,
        *,
        profiles: Callable[[], list[str]] = list,
        clock: Callable[[], int] = time.time_ns,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.settings = settings
        self.feed = feed
        self.ops = ops
        self.profiles = profiles
        self.clock = clock
        self.files = load_static()
        self.clients: list[_Client] = []
        self.pending: list[_Client] = []
        self.stats = DashboardStats()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._status_ns = 0
        self.frame_seconds: Histogram | None = None
        if registry is not None:
            registry.register(DashboardCollector(self))
            self.frame_seconds = Histogram(
                "mmbot_dashboard_frame_build_seconds",
                "Time the trading loop spends building one dashboard update",
                buckets=(50e-6, 100e-6, 200e-6, 500e-6, 1e-3, 2e-3, 5e-3, 10e-3, 50e-3),
                registry=registry,
            )
        ops.extend(self.setup)
        ops.pages["dashboard"] = "/dashboard/"
        ops.add_stream("/dashboard/stream")

    # ---- wiring ------------------------------------------------------------------------

    def setup(self, app: web.Application) -> None:
        app.router.add_get("/", self._to_page)
        app.router.add_get("/dashboard", self._to_page)
        app.router.add_get("/dashboard/", self._page)
        app.router.add_get("/dashboard/stream", self._stream)
        app.router.add_get("/dashboard/session", self._session)
        app.router.add_get("/dashboard/static/{name:.+}", self._static)
        app.on_startup.append(self._start)
        app.on_shutdown.append(self._shutdown)

    async def _start(self, _app: web.Application) -> None:
        self._task = asyncio.create_task(self._broadcast(), name="dashboard")

    async def _shutdown(self, _app: web.Application) -> None:
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for client in [*self.clients, *self.pending]:
            client.end()

    # ---- the broadcaster ---------------------------------------------------------------

    async def _broadcast(self) -> None:
        loop = asyncio.get_running_loop()
        period = 1.0 / self.settings.max_rate_hz
        due = loop.time()
        while True:
            due += period
            delay = due - loop.time()
            if delay < 0:  # fell behind (the loop was busy): skip, never burst
                due = loop.time()
                delay = 0.0
            await asyncio.sleep(delay)
            try:
                self.tick()
            except Exception as exc:  # the dashboard must never take the process down
                self.stats.errors += 1
                if self.stats.errors == 1 or self.stats.errors % 1000 == 0:  # no log flood at 4 Hz
                    log.exception("dashboard update failed", error=repr(exc), failures=self.stats.errors)

    def tick(self) -> None:
        """Build one update and hand it to every client (called at ``max_rate_hz``)."""
        if not self.clients and not self.pending:
            self.feed.sample()
            return
        start = time.perf_counter()
        now = self.clock()
        with_status = bool(self.pending) or now - self._status_ns >= STATUS_INTERVAL_NS
        if with_status:
            self._status_ns = now
        message = sse("frame", self.feed.frame(now, with_status=with_status))
        for client in self.clients:
            if client.offer(message):
                self.stats.bytes_sent += len(message)
            else:
                self.stats.dropped += 1
                log.warning("dashboard client too slow: dropped", queued=self.settings.client_queue)
        self.clients = [c for c in self.clients if not c.dropped]
        if self.pending:
            snapshot = sse("snapshot", self.feed.snapshot(now, self.server_info()))
            for client in self.pending:
                if client.offer(snapshot):
                    self.clients.append(client)
                    self.stats.bytes_sent += len(snapshot)
            self.pending = []
        self.stats.frames += 1
        if self.frame_seconds is not None:
            self.frame_seconds.observe(time.perf_counter() - start)

    def server_info(self) -> dict[str, Any]:
        settings = self.settings
        return {
            "max_rate_hz": settings.max_rate_hz,
            "history_points": settings.history_points,
            "control": self.ops.control_enabled,
        }

    # ---- handlers ----------------------------------------------------------------------

    async def _to_page(self, _request: web.Request) -> web.Response:
        raise web.HTTPFound("/dashboard/")

    async def _page(self, _request: web.Request) -> web.Response:
        body, content_type = self.files["index.html"]
        return web.Response(body=body, content_type=content_type, headers=PAGE_HEADERS)

    async def _static(self, request: web.Request) -> web.Response:
        found = self.files.get(request.match_info["name"])
        if found is None:
            raise web.HTTPNotFound()
        body, content_type = found
        return web.Response(body=body, content_type=content_type, headers=PAGE_HEADERS)

    async def _session(self, request: web.Request) -> web.Response:
        supplied = "Authorization" in request.headers
        authorized = self.ops.authorized(request)
        if supplied and not authorized:
            log.warning("dashboard token rejected", reason="missing or wrong token")
            return web.json_response({"error": "wrong bearer token"}, status=401)
        return web.json_response(
            {
                "control": self.ops.control_enabled,
                "authorized": authorized,
                "profiles": self.profiles(),
                "clients": len(self.clients) + len(self.pending),
                "max_clients": self.settings.max_clients,
                "max_rate_hz": self.settings.max_rate_hz,
            },
            headers={"Cache-Control": "no-store"},
        )

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        settings = self.settings
        if self._closing:
            raise web.HTTPServiceUnavailable(text="shutting down\n")
        if len(self.clients) + len(self.pending) >= settings.max_clients:
            self.stats.rejected += 1
            return web.json_response(
                {
                    "error": f"too many dashboard clients (max {settings.max_clients}: http.dashboard.max_clients)"
                },
                status=503,
                headers={"Retry-After": "5"},
            )
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-store",
                "X-Accel-Buffering": "no",  # a reverse proxy must not hold events back
            }
        )
        await response.prepare(request)
        sock = request.transport.get_extra_info("socket") if request.transport is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        client = _Client(settings.client_queue)
        self.pending.append(client)
        self.stats.connected += 1
        try:
            await response.write(b"retry: 2000\n\n")
            while True:
                data = await client.queue.get()
                if data is None:
                    break
                await asyncio.wait_for(response.write(data), settings.write_timeout_s)
        except TimeoutError:
            self.stats.dropped += 1
            client.dropped = True
            log.warning("dashboard client not reading: dropped", timeout_s=settings.write_timeout_s)
        except (ConnectionError, RuntimeError):
            pass  # the browser went away
        finally:
            client.end()
            for group in (self.clients, self.pending):
                if client in group:
                    group.remove(client)
        if client.dropped and request.transport is not None:
            request.transport.abort()  # never wait on a client that stopped reading
        return response


class DashboardCollector(Collector):
    """Dashboard clients and updates, for ``/metrics``."""

    def __init__(self, dashboard: Dashboard) -> None:
        self.dashboard = dashboard

    def collect(self) -> Iterator[Metric]:
        d = self.dashboard
        stats = d.stats
        clients = GaugeMetricFamily("mmbot_dashboard_clients", "Dashboard event streams connected now")
        clients.add_metric([], len(d.clients) + len(d.pending))
        yield clients
        for name, help_text, value in (
            ("mmbot_dashboard_connections", "Dashboard streams opened", stats.connected),
            ("mmbot_dashboard_dropped", "Dashboard clients dropped for falling behind", stats.dropped),
            ("mmbot_dashboard_rejected", "Dashboard streams refused (max_clients reached)", stats.rejected),
            ("mmbot_dashboard_frames", "Dashboard updates built", stats.frames),
            ("mmbot_dashboard_sent_bytes", "Bytes queued to dashboard clients", stats.bytes_sent),
            ("mmbot_dashboard_errors", "Dashboard updates that failed (see the log)", stats.errors),
        ):
            family = CounterMetricFamily(name, help_text)
            family.add_metric([], value)
            yield family


def attach_dashboard(
    settings: DashboardSettings,
    ops: OpsServer,
    trading: list[Any],
    registry: CollectorRegistry,
    strategies: Path | Sequence[Source],
) -> Dashboard:
    """The dashboard of ``mmbot run``: engines' feeds, ``/status`` as the ops server serves it,
    the strategy profiles for the switch control (``strategies``: a profile folder, or the
    run's search path, :func:`bot.engine.assemble.strategy_search`)."""
    search = [Source(strategies, "folder")] if isinstance(strategies, Path) else list(strategies)
    feed = DashboardFeed(
        trading,
        ops.status,
        history_points=settings.history_points,
        ladder_levels=settings.ladder_levels,
    )

    def profiles() -> list[str]:
        return known_profiles(search)

    return Dashboard(settings, feed, ops, profiles=profiles, registry=registry)
