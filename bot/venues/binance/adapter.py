"""Binance spot / USD-M market-data adapter: the async edge between sockets and the core.

:class:`BinanceMarketData` keeps combined-stream websocket connections open (one per
route: spot has one, USD-M mainnet two -- ``/public`` for depth, bookTicker and
trades, ``/market`` for aggTrade and markPrice), decodes every frame with the pure
:class:`~bot.venues.binance.messages.BinanceDecoder` and hands each event to a
synchronous ``sink`` in arrival order. It fetches REST depth snapshots when asked
(:meth:`BinanceMarketData.request_snapshot`; the engine's book sync decides when).

Connection policy (all timings from :class:`bot.config.BinanceVenueSettings`):

- reconnect forever with exponential backoff + decorrelated jitter
  (:mod:`bot.venues.backoff`); the backoff restarts after a connection that
  delivered data;
- websocket ping/pong heartbeats (``ping_interval_s``/``ping_timeout_s``); server
  pings are answered by the websockets library;
- staleness: no frame for ``stale_after_s`` -> close and reconnect (``stale_reconnects``);
- rollover: Binance drops connections after 24 h, so the adapter reconnects on its
  own after ``max_connection_age_s`` (``rollovers``), immediately, without backoff.
  This is break-before-make: the book resyncs once per rollover.

Book feed status: after each websocket handshake of the connection carrying an
instrument's diff-depth stream the sink gets ``FeedStatus(CONNECTED)`` for that
instrument (the engine then asks for a snapshot), and ``FeedStatus(DISCONNECTED,
reason)`` when that connection is lost. The USD-M ``/market`` connection (aggTrade,
markPrice) does not carry the book, so its drops are logged and counted only.

Bad data never raises: undecodable frames are counted by kind and skipped; an
exception raised by the sink is logged and counted (``sink_errors``).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import structlog
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from bot.config import BinanceVenueSettings
from bot.core.events import FeedState, FeedStatus, MarketEvent
from bot.core.instrument import InstrumentSpec
from bot.venues.backoff import backoff_delays
from bot.venues.binance.endpoints import (
    MAX_STREAMS_PER_CONNECTION,
    VENUES,
    BinanceEndpoints,
    Route,
    combined_stream_url,
    depth_weight,
    resolve_endpoints,
    stream_name,
    stream_route,
)
from bot.venues.binance.messages import BinanceDecoder, DecodeError
from bot.venues.binance.rest import SnapshotHttpError, get_depth
from bot.venues.binance.stats import AdapterStats
from bot.venues.throttle import WeightedThrottler

log = structlog.get_logger("bot.venues.binance")

Sink = Callable[[MarketEvent], None]

_CLOSE_TIMEOUT_S = 2.0
_MAX_FRAME_BYTES = 16 * 1024 * 1024


@dataclass
class _Connection:
    """One websocket connection plan and its live state."""

    name: str
    url: str
    streams: list[str]
    book_instruments: list[str]
    connected: bool = False
    generation: int = 0
    ws: ClientConnection | None = None
    close_reason: str = ""
    immediate_reconnect: bool = False
    last_rx: float = 0.0
    received: bool = False
    task: asyncio.Task[None] | None = field(default=None, repr=False)


def _should_log(count: int) -> bool:
    """Log the first few occurrences of a repeated problem, then every 1000th."""
    return count <= 5 or count % 1000 == 0


class BinanceMarketData:
    """Market data of one Binance venue (``binance_spot`` or ``binance_usdm``)."""

    def __init__(
        self,
        venue: str,
        settings: BinanceVenueSettings,
        specs: Sequence[InstrumentSpec],
        sink: Sink,
        *,
        rng: random.Random | None = None,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        if venue not in VENUES:
            raise ValueError(f"unknown Binance venue {venue!r}; expected one of {VENUES}")
        if not specs:
            raise ValueError(f"{venue}: no instruments to stream")
        self.venue = venue
        self.settings = settings
        self.specs = list(specs)
        self.sink = sink
        self.endpoints: BinanceEndpoints = resolve_endpoints(venue, settings)
        for url in (self.endpoints.ws_public, self.endpoints.ws_market):
            if not url.startswith(("ws://", "wss://")):
                raise ValueError(f"{venue}: websocket URL must start with ws:// or wss://, got {url!r}")
        if not self.endpoints.rest.startswith(("http://", "https://")):
            raise ValueError(
                f"{venue}: REST URL must start with http:// or https://, got {self.endpoints.rest!r}"
            )
        self.decoder = BinanceDecoder(venue, self.specs)
        self.stats = AdapterStats()
        self._rng = rng or random.Random()
        self._clock = clock
        self._throttle = WeightedThrottler(settings.rest_weight_per_minute, 60.0)
        self._connections = self._plan_connections()
        self._book_connection: dict[str, _Connection] = {
            key: conn for conn in self._connections for key in conn.book_instruments
        }
        self._snapshot_tasks: dict[str, asyncio.Task[None]] = {}
        self._session: aiohttp.ClientSession | None = None
        self._running = False
        self._closing = False
        self._log = log.bind(venue=venue)

    # ---- plan ----------------------------------------------------------------------------

    def _plan_connections(self) -> list[_Connection]:
        settings = self.settings
        per_route: dict[Route, list[tuple[str, str, str]]] = {"public": [], "market": []}
        for spec in self.specs:
            kinds = ["depth", settings.trade_stream]
            if settings.book_ticker:
                kinds.append("bookTicker")
            if self.venue == "binance_usdm":
                kinds.append("markPrice")
            for kind in kinds:
                route = stream_route(self.venue, kind)
                if not self.endpoints.split_routes:
                    route = "public"
                name = stream_name(self.venue, spec.symbol, kind, depth_speed_ms=settings.depth_speed_ms)
                per_route[route].append((name, spec.key, kind))
        limit = MAX_STREAMS_PER_CONNECTION[self.venue]
        connections: list[_Connection] = []
        for route, entries in per_route.items():
            for start in range(0, len(entries), limit):
                chunk = entries[start : start + limit]
                streams = [name for name, _, _ in chunk]
                books = [key for _, key, kind in chunk if kind == "depth"]
                suffix = f"-{start // limit}" if len(entries) > limit else ""
                connections.append(
                    _Connection(
                        name=f"{route}{suffix}",
                        url=combined_stream_url(self.endpoints.ws_base(route), streams),
                        streams=streams,
                        book_instruments=books,
                    )
                )
        return connections

    @property
    def connection_urls(self) -> list[str]:
        return [conn.url for conn in self._connections]

    def is_connected(self, instrument: str) -> bool:
        """True while the connection carrying ``instrument``'s book stream is open."""
        conn = self._book_connection.get(instrument)
        return bool(conn and conn.connected)

    # ---- lifecycle -----------------------------------------------------------------------

    async def run(self) -> None:
        """Stream until cancelled or :meth:`close`\\ d. Never raises on bad data."""
        if self._running:
            raise RuntimeError(f"{self.venue}: adapter is already running")
        self._running = True
        self._closing = False
        self._ensure_session()
        tasks = []
        for conn in self._connections:
            conn.task = asyncio.create_task(self._run_connection(conn), name=f"{self.venue}-{conn.name}")
            tasks.append(conn.task)
        try:
            await asyncio.gather(*tasks)
        except asyncio.CancelledError:
            if not self._closing:
                raise
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._cancel_snapshots()
            await self._close_session()
            self._running = False

    async def close(self) -> None:
        """Stop streaming: close connections, cancel snapshot fetches, close HTTP."""
        self._closing = True
        tasks = [conn.task for conn in self._connections if conn.task is not None and not conn.task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._cancel_snapshots()
        await self._close_session()

    async def _close_session(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(
                total=self.settings.connect_timeout_s * 3, sock_connect=self.settings.connect_timeout_s
            )
            self._session = aiohttp.ClientSession(timeout=timeout)
        return self._session

    def _new_backoff(self) -> Iterator[float]:
        return backoff_delays(self.settings.reconnect_min_s, self.settings.reconnect_max_s, rng=self._rng)

    # ---- websocket connections --------------------------------------------------------------

    async def _run_connection(self, conn: _Connection) -> None:
        delays = self._new_backoff()
        clog = self._log.bind(connection=conn.name)
        while True:
            reason = "connection closed"
            opened = False
            conn.close_reason = ""
            conn.immediate_reconnect = False
            conn.received = False
            try:
                async with connect(
                    conn.url,
                    open_timeout=self.settings.connect_timeout_s,
                    ping_interval=self.settings.ping_interval_s,
                    ping_timeout=self.settings.ping_timeout_s,
                    close_timeout=_CLOSE_TIMEOUT_S,
                    max_size=_MAX_FRAME_BYTES,
                ) as ws:
                    opened = True
                    conn.ws = ws
                    conn.generation += 1
                    conn.connected = True
                    conn.last_rx = asyncio.get_running_loop().time()
                    self.stats.connections_opened += 1
                    clog.info("connected", url=conn.url, streams=len(conn.streams))
                    self._emit_status(conn, FeedState.CONNECTED, "")
                    reason = await self._pump(conn, ws)
            except asyncio.CancelledError:
                reason = "closed by client"
                raise
            except (OSError, TimeoutError, WebSocketException) as exc:
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            except Exception as exc:  # never let one connection kill the adapter
                reason = f"unexpected {type(exc).__name__}: {exc}"
                clog.exception("connection error", error=reason)
            finally:
                if opened:
                    self._on_disconnected(conn, reason, clog)
            if not opened:
                self.stats.connect_failures += 1
            if conn.received:
                delays = self._new_backoff()
            delay = 0.0 if conn.immediate_reconnect else next(delays)
            self.stats.reconnects += 1
            clog.warning("reconnecting", reason=reason, delay_s=round(delay, 3), connected_before=opened)
            await asyncio.sleep(delay)

    def _on_disconnected(self, conn: _Connection, reason: str, clog: Any) -> None:
        conn.connected = False
        conn.ws = None
        self.stats.disconnects += 1
        for key in conn.book_instruments:
            task = self._snapshot_tasks.pop(key, None)
            if task is not None:
                task.cancel()
        if self._closing:
            clog.info("disconnected", reason=reason)
        else:
            clog.warning("disconnected", reason=reason)
        self._emit_status(conn, FeedState.DISCONNECTED, reason)

    async def _pump(self, conn: _Connection, ws: ClientConnection) -> str:
        """Read frames until the connection ends; return why it ended."""
        loop = asyncio.get_running_loop()
        watchdog = asyncio.create_task(self._watchdog(conn, ws), name=f"{self.venue}-{conn.name}-watchdog")
        on_frame = self._on_frame
        try:
            async for raw in ws:
                conn.last_rx = loop.time()
                conn.received = True
                on_frame(raw)
        except ConnectionClosed as exc:
            return conn.close_reason or _closed_reason(exc)
        finally:
            # asyncio.wait, not `await watchdog`: a cancellation of *this* task (close())
            # must propagate, not be swallowed together with the watchdog's own
            watchdog.cancel()
            await asyncio.wait([watchdog])
        if conn.close_reason:
            return conn.close_reason
        code = ws.close_code
        return f"closed by server with code {code}" + (f": {ws.close_reason}" if ws.close_reason else "")

    async def _watchdog(self, conn: _Connection, ws: ClientConnection) -> None:
        """Close the connection when it goes silent or reaches its maximum age."""
        loop = asyncio.get_running_loop()
        stale_after = self.settings.stale_after_s
        expires = loop.time() + self.settings.max_connection_age_s
        while True:
            now = loop.time()
            if now >= expires:
                self.stats.rollovers += 1
                conn.close_reason = f"rollover after {self.settings.max_connection_age_s:g}s"
                conn.immediate_reconnect = True
                await ws.close(reason="rollover")
                return
            silent = now - conn.last_rx
            if silent >= stale_after:
                self.stats.stale_reconnects += 1
                conn.close_reason = f"stale: no message for {silent:.1f}s"
                await ws.close(reason="stale")
                return
            await asyncio.sleep(min(expires - now, stale_after - silent) + 0.001)

    def _on_frame(self, raw: str | bytes) -> None:
        stats = self.stats
        stats.messages += 1
        try:
            event = self.decoder.decode(raw, self._clock())
        except DecodeError as exc:
            stats.decode_errors += 1
            if exc.kind == "malformed":
                stats.malformed += 1
            elif exc.kind in ("unknown_stream", "unknown_symbol"):
                stats.unknown_streams += 1
            elif exc.kind == "off_tick":
                stats.off_tick += 1
            else:
                stats.invalid += 1
            if _should_log(stats.decode_errors):
                self._log.warning(
                    "undecodable message skipped", kind=exc.kind, error=str(exc), count=stats.decode_errors
                )
            return
        if event is None:
            stats.acks += 1
            return
        self._deliver(event)

    def _deliver(self, event: MarketEvent) -> None:
        self.stats.events += 1
        try:
            self.sink(event)
        except Exception as exc:
            self.stats.sink_errors += 1
            if _should_log(self.stats.sink_errors):
                self._log.exception(
                    "sink raised",
                    event_type=type(event).__name__,
                    error=repr(exc),
                    count=self.stats.sink_errors,
                )

    def _emit_status(self, conn: _Connection, state: FeedState, reason: str) -> None:
        for key in conn.book_instruments:
            self._deliver(FeedStatus(instrument=key, local_ts=self._clock(), state=state, reason=reason))

    # ---- REST snapshots ----------------------------------------------------------------------

    def request_snapshot(self, instrument: str, reason: str = "") -> None:
        """Schedule a throttled REST depth snapshot for ``instrument``; the result goes to
        the sink as a :class:`BookSnapshot`. De-duplicated while a fetch is in flight;
        ignored while the instrument's connection is down (the next ``FeedStatus
        (CONNECTED)`` makes the engine ask again). Must be called on the event loop."""
        self.stats.snapshot_requests += 1
        conn = self._book_connection.get(instrument)
        if conn is None:
            self._log.warning("snapshot requested for an unknown instrument", instrument=instrument)
            return
        if not conn.connected:
            self.stats.snapshot_skipped += 1
            return
        task = self._snapshot_tasks.get(instrument)
        if task is not None and not task.done():
            self.stats.snapshot_deduped += 1
            return
        self._snapshot_tasks[instrument] = asyncio.get_running_loop().create_task(
            self._fetch_snapshot(instrument, conn, conn.generation, reason),
            name=f"{self.venue}-snapshot-{instrument}",
        )

    async def _fetch_snapshot(self, instrument: str, conn: _Connection, generation: int, reason: str) -> None:
        limit = self.settings.snapshot_limit
        weight = depth_weight(self.venue, limit)
        url = self.endpoints.depth_url()
        params = {"symbol": instrument.partition(":")[2], "limit": str(limit)}
        delays = self._new_backoff()
        slog = self._log.bind(instrument=instrument)
        me = asyncio.current_task()
        try:
            while conn.connected and conn.generation == generation:
                await self._throttle.acquire(weight)
                if not (conn.connected and conn.generation == generation):
                    return
                self.stats.snapshot_fetches += 1
                retry_after: float | None = None
                try:
                    body = await get_depth(self._ensure_session(), url, params)
                    snapshot = self.decoder.decode_snapshot(body, instrument, self._clock())
                except (aiohttp.ClientError, TimeoutError, OSError, SnapshotHttpError, DecodeError) as exc:
                    self.stats.snapshot_errors += 1
                    if isinstance(exc, SnapshotHttpError):
                        retry_after = exc.retry_after_s
                    delay = next(delays)
                    if retry_after is not None:
                        delay = max(delay, retry_after)
                    slog.warning(
                        "snapshot fetch failed",
                        error=f"{type(exc).__name__}: {exc}",
                        retry_in_s=round(delay, 3),
                        errors=self.stats.snapshot_errors,
                    )
                    await asyncio.sleep(delay)
                    continue
                if not (conn.connected and conn.generation == generation):
                    self.stats.snapshots_discarded += 1
                    return
                if self._snapshot_tasks.get(instrument) is me:
                    del self._snapshot_tasks[instrument]  # the sink may ask for the next one
                slog.info(
                    "snapshot",
                    update_id=snapshot.update_id,
                    bids=len(snapshot.bids),
                    asks=len(snapshot.asks),
                    reason=reason,
                )
                self.stats.snapshots_delivered += 1
                self._deliver(snapshot)
                return
        finally:
            if self._snapshot_tasks.get(instrument) is me:
                del self._snapshot_tasks[instrument]

    async def _cancel_snapshots(self) -> None:
        tasks = list(self._snapshot_tasks.values())
        self._snapshot_tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _closed_reason(exc: ConnectionClosed) -> str:
    frame = exc.rcvd or exc.sent
    if frame is None:
        return "connection lost (no close frame)"
    return f"closed with code {frame.code}" + (f": {frame.reason}" if frame.reason else "")
