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
from collections.abc import Callable, Sequence

import aiohttp

from bot.core.instrument import InstrumentSpec
from bot.venues.base import Connection, Sink, StreamingAdapter, check_ws_url
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
from bot.venues.settings import BinanceVenueSettings
from bot.venues.throttle import WeightedThrottler

__all__ = ["BinanceMarketData", "Sink"]


class BinanceMarketData(StreamingAdapter):
    """Market data of one Binance venue (``binance_spot`` or ``binance_usdm``)."""

    decoder: BinanceDecoder

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
        super().__init__(venue, settings, specs, sink, rng=rng, clock=clock, logger_name="bot.venues.binance")
        self.settings: BinanceVenueSettings = settings
        self.endpoints: BinanceEndpoints = resolve_endpoints(venue, settings)
        for url in (self.endpoints.ws_public, self.endpoints.ws_market):
            check_ws_url(venue, url)
        if not self.endpoints.rest.startswith(("http://", "https://")):
            raise ValueError(
                f"{venue}: REST URL must start with http:// or https://, got {self.endpoints.rest!r}"
            )
        self.decoder = BinanceDecoder(venue, self.specs)
        self._throttle = WeightedThrottler(settings.rest_weight_per_minute, 60.0)
        self._install_connections(self._plan_connections())
        self._snapshot_tasks: dict[str, asyncio.Task[None]] = {}
        self._session: aiohttp.ClientSession | None = None

    # ---- plan ----------------------------------------------------------------------------

    def _plan_connections(self) -> list[Connection]:
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
        connections: list[Connection] = []
        for route, entries in per_route.items():
            for start in range(0, len(entries), limit):
                chunk = entries[start : start + limit]
                streams = [name for name, _, _ in chunk]
                books = [key for _, key, kind in chunk if kind == "depth"]
                suffix = f"-{start // limit}" if len(entries) > limit else ""
                connections.append(
                    Connection(
                        name=f"{route}{suffix}",
                        url=combined_stream_url(self.endpoints.ws_base(route), streams),
                        subscriptions=streams,
                        book_instruments=books,
                    )
                )
        return connections

    # ---- hooks ---------------------------------------------------------------------------

    async def _on_close(self) -> None:
        await self._cancel_snapshots()
        await self._close_session()

    def _on_disconnect(self, conn: Connection) -> None:
        for key in conn.book_instruments:
            task = self._snapshot_tasks.pop(key, None)
            if task is not None:
                task.cancel()

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

    async def _fetch_snapshot(self, instrument: str, conn: Connection, generation: int, reason: str) -> None:
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
