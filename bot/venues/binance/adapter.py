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

REST budget: snapshots go through a :class:`~bot.venues.throttle.WeightedThrottler` whose
limit is ``rest_weight_per_minute`` or, unset, the venue's ``REQUEST_WEIGHT`` limit read
from ``exchangeInfo.rateLimits`` before the first snapshot (Binance's documented 6000 /
2400 per minute if that read fails); the venue's own count from each answer's
``X-MBX-USED-WEIGHT-1M`` header is folded in. A snapshot waiting for weight is logged
("waiting for REST weight"), counted (``weight_waits``, ``weight_wait_s``) and shown in
``/status`` (:meth:`BinanceMarketData.snapshot_wait`: "waiting for REST weight, N s").
Retries of a book that has not been valid since the last request (``attempt`` >= 2)
back off exponentially (``snapshot_retry_min_s`` .. ``snapshot_retry_max_s``) instead of
spending the whole budget in a second.

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
from bot.venues.binance.rest import SnapshotHttpError, get_depth, get_weight_limit
from bot.venues.binance.weights import DOCUMENTED_WEIGHT_LIMIT, EXCHANGE_INFO_WEIGHT
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
        configured = settings.rest_weight_per_minute
        self._throttle = WeightedThrottler(
            configured or DOCUMENTED_WEIGHT_LIMIT[venue],
            settings.rest_weight_window_s,
            on_wait=self._on_weight_wait,
        )
        self.weight_limit_source = "config" if configured else "documented"
        """Where the REST weight limit came from: config, exchangeInfo or documented (fallback)."""
        self._limit_read = configured is not None
        self._limit_lock = asyncio.Lock()
        self._install_connections(self._plan_connections())
        self._snapshot_tasks: dict[str, asyncio.Task[None]] = {}
        self._snapshot_waits: dict[str, tuple[str, float, int]] = {}
        """instrument -> (what it waits for: "weight" / "backoff", loop time it ends, attempt)"""
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

    def request_snapshot(self, instrument: str, reason: str = "", attempt: int = 1) -> None:
        """Schedule a throttled REST depth snapshot for ``instrument``; the result goes to
        the sink as a :class:`BookSnapshot`. De-duplicated while a fetch is in flight;
        ignored while the instrument's connection is down (the next ``FeedStatus
        (CONNECTED)`` makes the engine ask again). ``attempt`` >= 2 (the book has not been
        valid since the last request) waits the retry back-off first. Must be called on
        the event loop."""
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
            self._fetch_snapshot(instrument, conn, conn.generation, reason, attempt),
            name=f"{self.venue}-snapshot-{instrument}",
        )

    def retry_delay(self, attempt: int) -> float:
        """Back-off before snapshot request number ``attempt`` since the book was last valid."""
        if attempt < 2:
            return 0.0
        settings = self.settings
        return min(settings.snapshot_retry_max_s, settings.snapshot_retry_min_s * 2.0 ** (attempt - 2))

    def snapshot_wait(self, instrument: str) -> str | None:
        """What ``instrument``'s snapshot waits for now, in words (None: nothing)."""
        wait = self._snapshot_waits.get(instrument)
        if wait is None:
            return None
        what, until, attempt = wait
        left = max(0.0, until - asyncio.get_running_loop().time())
        if what == "weight":
            return f"waiting for REST weight, {left:.0f} s"
        return f"snapshot retry {attempt} backing off, {left:.1f} s"

    def rest_budget(self) -> dict[str, float | int | str]:
        """The REST weight budget now (status and metrics)."""
        throttle = self._throttle
        return {
            "limit": throttle.limit,
            "window_s": throttle.period_s,
            "used": throttle.in_window(),
            "waiting_s": throttle.wait_remaining(),
            "waits": throttle.waits,
            "waited_s": throttle.waited_s,
            "source": self.weight_limit_source,
        }

    def _on_weight_wait(self, weight: int, seconds: float, used: int, limit: int) -> None:
        self.stats.weight_waits += 1
        self._log.warning(
            "waiting for REST weight",
            wait_s=round(seconds, 3),
            weight=weight,
            used=used,
            limit=limit,
            window_s=self._throttle.period_s,
        )

    async def _acquire(self, instrument: str, weight: int, attempt: int) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        waiter = asyncio.ensure_future(self._throttle.acquire(weight))
        try:
            while not waiter.done():
                until = self._throttle.waiting_until
                if until is not None:
                    self._snapshot_waits[instrument] = ("weight", until, attempt)
                await asyncio.wait([waiter], timeout=0.05)
            waiter.result()
        finally:
            if not waiter.done():
                waiter.cancel()
            self._snapshot_waits.pop(instrument, None)
        waited = loop.time() - started
        if waited >= 0.05:
            self.stats.weight_wait_s += waited
            self._log.info("REST weight available", instrument=instrument, waited_s=round(waited, 3))

    async def _read_weight_limit(self) -> None:
        """Adopt the venue's REQUEST_WEIGHT limit from exchangeInfo, once (see module doc)."""
        async with self._limit_lock:
            if self._limit_read:
                return
            self._limit_read = True
            await self._throttle.acquire(EXCHANGE_INFO_WEIGHT[self.venue])
            url = self.endpoints.exchange_info_url(self.specs[0].symbol)
            try:
                found = await get_weight_limit(self._ensure_session(), url)
            except (aiohttp.ClientError, TimeoutError, OSError, SnapshotHttpError, ValueError) as exc:
                self._log.warning(
                    "REST weight limit not read from exchangeInfo; using the documented one",
                    error=f"{type(exc).__name__}: {exc}",
                    limit=self._throttle.limit,
                )
                return
            if found is None:
                self._log.warning("exchangeInfo lists no REQUEST_WEIGHT limit; using the documented one")
                return
            self._throttle.set_limit(found.limit, found.window_s)
            self.weight_limit_source = "exchangeInfo"
            self._log.info(
                "REST weight limit", limit=found.limit, window_s=found.window_s, source="exchangeInfo"
            )

    async def _fetch_snapshot(
        self, instrument: str, conn: Connection, generation: int, reason: str, attempt: int = 1
    ) -> None:
        limit = self.settings.snapshot_limit
        weight = depth_weight(self.venue, limit)
        url = self.endpoints.depth_url()
        params = {"symbol": instrument.partition(":")[2], "limit": str(limit)}
        delays = self._new_backoff()
        slog = self._log.bind(instrument=instrument)
        me = asyncio.current_task()
        loop = asyncio.get_running_loop()
        try:
            backoff = self.retry_delay(attempt)
            if backoff > 0:
                self.stats.snapshot_backoffs += 1
                self._snapshot_waits[instrument] = ("backoff", loop.time() + backoff, attempt)
                slog.info(
                    "snapshot retry backing off", attempt=attempt, delay_s=round(backoff, 3), reason=reason
                )
                try:
                    await asyncio.sleep(backoff)
                finally:
                    self._snapshot_waits.pop(instrument, None)
            if not self._limit_read:
                await self._read_weight_limit()
            while conn.connected and conn.generation == generation:
                await self._acquire(instrument, weight, attempt)
                if not (conn.connected and conn.generation == generation):
                    return
                self.stats.snapshot_fetches += 1
                retry_after: float | None = None
                try:
                    body, used = await get_depth(self._ensure_session(), url, params)
                    if used is not None:
                        self._throttle.note_used(used)
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
                    self._snapshot_waits[instrument] = ("backoff", loop.time() + delay, attempt)
                    try:
                        await asyncio.sleep(delay)
                    finally:
                        self._snapshot_waits.pop(instrument, None)
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
                    attempt=attempt,
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
