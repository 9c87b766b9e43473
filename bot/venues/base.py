"""The connection machinery every websocket venue adapter shares.

:class:`StreamingAdapter` owns what is the same on every exchange: one task per
planned websocket connection, reconnect forever with exponential backoff and
decorrelated jitter (:mod:`bot.venues.backoff`; the backoff restarts after a
connection that delivered data), websocket-level and/or application-level
heartbeats, staleness (no frame for ``stale_after_s`` -> close and reconnect),
rollover (reconnect on purpose after ``max_connection_age_s``, without backoff),
:class:`~bot.core.events.FeedStatus` emission for the books a connection carries,
decode-error accounting by kind, and a sink that may raise without killing anything.

A venue adapter subclasses it and supplies its rules:

- :meth:`StreamingAdapter._plan_connections` -- which URLs to open and which
  subscriptions / books each carries;
- :meth:`StreamingAdapter._on_open` -- what to send after the handshake (subscribe
  requests; Binance puts its streams in the URL and sends nothing);
- ``self.decoder`` -- the venue's pure decoder (``decode_frame(raw, local_ts) ->
  list[MarketEvent]``; an empty list is a control frame such as an ack or a pong);
- :meth:`StreamingAdapter.request_snapshot` -- how a book is resynchronised (Binance:
  REST snapshot; Bybit / OKX: resubscribe the book channel);
- the class attributes :attr:`app_ping` / :attr:`app_ping_when_idle` /
  :attr:`ws_pings` -- the venue's keep-alive.

Every message is stamped with the time it was received by the process, before it is
decoded (:mod:`bot.venues.receipt`): that stamp is the events' ``local_ts``.

Settings come from the venue's config section; every venue section has the
connection-policy fields read here (:class:`ConnectionPolicy`).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from bot.core.events import FeedState, FeedStatus, MarketEvent
from bot.core.instrument import InstrumentSpec
from bot.venues.backoff import backoff_delays
from bot.venues.decoding import DecodeError
from bot.venues.receipt import StampedClientConnection, stamped_connection
from bot.venues.stats import AdapterStats

Sink = Callable[[MarketEvent], None]

CLOSE_TIMEOUT_S = 2.0
MAX_FRAME_BYTES = 16 * 1024 * 1024


class ConnectionPolicy(Protocol):
    """The connection fields every venue settings section carries."""

    @property
    def ping_interval_s(self) -> float: ...
    @property
    def ping_timeout_s(self) -> float: ...
    @property
    def stale_after_s(self) -> float: ...
    @property
    def max_connection_age_s(self) -> float: ...
    @property
    def reconnect_min_s(self) -> float: ...
    @property
    def reconnect_max_s(self) -> float: ...
    @property
    def connect_timeout_s(self) -> float: ...


class FrameDecoder(Protocol):
    """A venue decoder as the adapter uses it."""

    def decode_frame(self, raw: str | bytes, local_ts: int) -> list[MarketEvent]: ...


@dataclass
class Connection:
    """One websocket connection plan and its live state.

    ``subscriptions`` is venue data (Binance: stream names in the URL; Bybit: topics;
    OKX: channel args); ``book_instruments`` are the instrument keys whose book feed
    this connection carries (they get FeedStatus events).
    """

    name: str
    url: str
    subscriptions: list[Any]
    book_instruments: list[str]
    connected: bool = False
    generation: int = 0
    ws: ClientConnection | None = None
    close_reason: str = ""
    immediate_reconnect: bool = False
    last_rx: float = 0.0
    last_ping: float = 0.0
    ping_outstanding: bool = False
    received: bool = False
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def streams(self) -> list[Any]:
        """Alias of :attr:`subscriptions` (Binance calls them streams)."""
        return self.subscriptions


def should_log(count: int) -> bool:
    """Log the first few occurrences of a repeated problem, then every 1000th."""
    return count <= 5 or count % 1000 == 0


def check_ws_url(venue: str, url: str) -> None:
    if not url.startswith(("ws://", "wss://")):
        raise ValueError(f"{venue}: websocket URL must start with ws:// or wss://, got {url!r}")


class StreamingAdapter:
    """Venue-neutral websocket market-data adapter (see module doc)."""

    app_ping: str | None = None
    """Application-level ping frame (Bybit ``{"op":"ping"}``, OKX ``ping``); None = none."""
    app_ping_when_idle = False
    """True: send the app ping only after ``ping_interval_s`` without any frame (OKX);
    False: every ``ping_interval_s`` regardless of traffic (Bybit)."""
    ws_pings = True
    """Use websocket protocol pings (``ping_interval_s``/``ping_timeout_s``). OKX does not
    answer them; venues with app pings turn them off."""

    decoder: FrameDecoder

    def __init__(
        self,
        venue: str,
        settings: Any,
        specs: Sequence[InstrumentSpec],
        sink: Sink,
        *,
        rng: random.Random | None = None,
        clock: Callable[[], int] = time.time_ns,
        logger_name: str = "bot.venues",
    ) -> None:
        if not specs:
            raise ValueError(f"{venue}: no instruments to stream")
        for spec in specs:
            if spec.venue != venue:
                raise ValueError(f"instrument {spec.key} does not belong to venue {venue}")
        self.venue = venue
        self.settings = settings
        self.specs = list(specs)
        self.sink = sink
        self.stats = AdapterStats()
        self._rng = rng or random.Random()
        self._clock = clock
        self._connection_class = stamped_connection(clock)
        self._connections: list[Connection] = []
        self._book_connection: dict[str, Connection] = {}
        self._running = False
        self._closing = False
        self._log = structlog.get_logger(logger_name).bind(venue=venue)

    def _install_connections(self, connections: list[Connection]) -> None:
        """Subclasses call this at the end of ``__init__`` with their plan."""
        self._connections = connections
        self._book_connection = {key: conn for conn in connections for key in conn.book_instruments}

    # ---- venue hooks ---------------------------------------------------------------------

    async def _on_open(self, conn: Connection, ws: ClientConnection) -> None:
        """Called after each handshake, before ``FeedStatus(CONNECTED)`` is emitted."""

    def _on_disconnect(self, conn: Connection) -> None:
        """Called when ``conn`` is lost (before ``FeedStatus(DISCONNECTED)``)."""

    def _on_event(self, conn: Connection, event: MarketEvent) -> None:
        """Called for every decoded event before it goes to the sink."""

    async def _on_close(self) -> None:
        """Called once when the adapter stops (cancel venue tasks, close HTTP sessions)."""

    def request_snapshot(self, instrument: str, reason: str = "", attempt: int = 1) -> None:
        """Resynchronise ``instrument``'s book; ``attempt`` counts the requests since the book
        was last valid (1 = the first), so retries can back off."""
        raise NotImplementedError

    def snapshot_wait(self, instrument: str) -> str | None:
        """What a resync of ``instrument`` is waiting for right now, if anything (e.g. REST
        weight), in words for /status; None when nothing is held back."""
        return None

    # ---- public state ----------------------------------------------------------------------

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
            await self._on_close()
            self._running = False

    async def close(self) -> None:
        """Stop streaming: close connections and whatever the venue keeps open."""
        self._closing = True
        tasks = [conn.task for conn in self._connections if conn.task is not None and not conn.task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._on_close()

    def _new_backoff(self) -> Iterator[float]:
        return backoff_delays(self.settings.reconnect_min_s, self.settings.reconnect_max_s, rng=self._rng)

    # ---- websocket connections --------------------------------------------------------------

    async def _run_connection(self, conn: Connection) -> None:
        delays = self._new_backoff()
        clog = self._log.bind(connection=conn.name)
        settings = self.settings
        while True:
            reason = "connection closed"
            opened = False
            conn.close_reason = ""
            conn.immediate_reconnect = False
            conn.received = False
            conn.ping_outstanding = False
            try:
                async with connect(
                    conn.url,
                    open_timeout=settings.connect_timeout_s,
                    ping_interval=settings.ping_interval_s if self.ws_pings else None,
                    ping_timeout=settings.ping_timeout_s if self.ws_pings else None,
                    close_timeout=CLOSE_TIMEOUT_S,
                    max_size=MAX_FRAME_BYTES,
                    create_connection=self._connection_class,
                ) as ws:
                    opened = True
                    conn.ws = ws
                    conn.generation += 1
                    conn.connected = True
                    conn.last_rx = conn.last_ping = asyncio.get_running_loop().time()
                    self.stats.connections_opened += 1
                    clog.info("connected", url=conn.url, subscriptions=len(conn.subscriptions))
                    await self._on_open(conn, ws)
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
                    self._disconnected(conn, reason, clog)
            if not opened:
                self.stats.connect_failures += 1
            if conn.received:
                delays = self._new_backoff()
            delay = 0.0 if conn.immediate_reconnect else next(delays)
            self.stats.reconnects += 1
            clog.warning("reconnecting", reason=reason, delay_s=round(delay, 3), connected_before=opened)
            await asyncio.sleep(delay)

    def _disconnected(self, conn: Connection, reason: str, clog: Any) -> None:
        conn.connected = False
        conn.ws = None
        self.stats.disconnects += 1
        self._on_disconnect(conn)
        if self._closing:
            clog.info("disconnected", reason=reason)
        else:
            clog.warning("disconnected", reason=reason)
        self._emit_status(conn, FeedState.DISCONNECTED, reason)

    async def _pump(self, conn: Connection, ws: ClientConnection) -> str:
        """Read frames until the connection ends; return why it ended."""
        loop = asyncio.get_running_loop()
        watchdog = asyncio.create_task(self._watchdog(conn, ws), name=f"{self.venue}-{conn.name}-watchdog")
        on_frame = self._on_frame
        clock = self._clock
        # stamps taken when the message was queued by the protocol (see bot/venues/receipt.py)
        receipts = ws.receipts if isinstance(ws, StampedClientConnection) else None
        try:
            async for raw in ws:
                conn.last_rx = loop.time()
                conn.received = True
                conn.ping_outstanding = False
                on_frame(conn, raw, receipts.popleft() if receipts else clock())
        except ConnectionClosed as exc:
            return conn.close_reason or closed_reason(exc)
        finally:
            # asyncio.wait, not `await watchdog`: a cancellation of *this* task (close())
            # must propagate, not be swallowed together with the watchdog's own
            watchdog.cancel()
            await asyncio.wait([watchdog])
        if conn.close_reason:
            return conn.close_reason
        code = ws.close_code
        return f"closed by server with code {code}" + (f": {ws.close_reason}" if ws.close_reason else "")

    async def _watchdog(self, conn: Connection, ws: ClientConnection) -> None:
        """Close the connection when it goes silent, leaves a ping unanswered or reaches its
        maximum age; send application pings when the venue wants them."""
        loop = asyncio.get_running_loop()
        settings = self.settings
        stale_after = settings.stale_after_s
        ping_every = settings.ping_interval_s
        ping_timeout = settings.ping_timeout_s
        expires = loop.time() + settings.max_connection_age_s
        app_ping = self.app_ping
        while True:
            now = loop.time()
            if now >= expires:
                self.stats.rollovers += 1
                conn.close_reason = f"rollover after {settings.max_connection_age_s:g}s"
                conn.immediate_reconnect = True
                await ws.close(reason="rollover")
                return
            silent = now - conn.last_rx
            if silent >= stale_after:
                self.stats.stale_reconnects += 1
                conn.close_reason = f"stale: no message for {silent:.1f}s"
                await ws.close(reason="stale")
                return
            wake = min(expires - now, stale_after - silent)
            if app_ping is not None:
                if conn.ping_outstanding and now - conn.last_ping >= ping_timeout:
                    self.stats.pong_timeouts += 1
                    conn.close_reason = f"no answer to ping within {ping_timeout:g}s"
                    await ws.close(reason="pong timeout")
                    return
                due = conn.last_ping + ping_every
                if self.app_ping_when_idle:
                    due = max(due, conn.last_rx + ping_every)
                if conn.ping_outstanding:
                    # one ping at a time: the timeout runs from the unanswered one
                    wake = min(wake, conn.last_ping + ping_timeout - now)
                else:
                    if now >= due:
                        await self._send(conn, app_ping)
                        self.stats.pings_sent += 1
                        conn.last_ping = now
                        conn.ping_outstanding = True  # any frame clears it (see _pump)
                        due = now + min(ping_every, ping_timeout)
                    wake = min(wake, due - now)
            await asyncio.sleep(max(wake, 0.0) + 0.001)

    async def _send(self, conn: Connection, text: str) -> None:
        """Send one text frame; a connection that is going away is not an error."""
        ws = conn.ws
        if ws is None:
            return
        with contextlib.suppress(ConnectionClosed):
            await ws.send(text)

    def _on_frame(self, conn: Connection, raw: str | bytes, local_ts: int) -> None:
        """One message, stamped ``local_ts`` at socket receipt (before decoding)."""
        stats = self.stats
        stats.messages += 1
        try:
            events = self.decoder.decode_frame(raw, local_ts)
        except DecodeError as exc:
            self._count_decode_error(exc)
            return
        if not events:
            stats.acks += 1
            return
        for event in events:
            self._on_event(conn, event)
            self._deliver(event)

    def _count_decode_error(self, exc: DecodeError) -> None:
        stats = self.stats
        stats.decode_errors += 1
        if exc.kind == "malformed":
            stats.malformed += 1
        elif exc.kind in ("unknown_stream", "unknown_symbol"):
            stats.unknown_streams += 1
        elif exc.kind == "off_tick":
            stats.off_tick += 1
        else:
            stats.invalid += 1
        if should_log(stats.decode_errors):
            self._log.warning(
                "undecodable message skipped", kind=exc.kind, error=str(exc), count=stats.decode_errors
            )

    def _deliver(self, event: MarketEvent) -> None:
        self.stats.events += 1
        try:
            self.sink(event)
        except Exception as exc:
            self.stats.sink_errors += 1
            if should_log(self.stats.sink_errors):
                self._log.exception(
                    "sink raised",
                    event_type=type(event).__name__,
                    error=repr(exc),
                    count=self.stats.sink_errors,
                )

    def _emit_status(self, conn: Connection, state: FeedState, reason: str) -> None:
        for key in conn.book_instruments:
            self._deliver(FeedStatus(instrument=key, local_ts=self._clock(), state=state, reason=reason))


def closed_reason(exc: ConnectionClosed) -> str:
    frame = exc.rcvd or exc.sent
    if frame is None:
        return "connection lost (no close frame)"
    return f"closed with code {frame.code}" + (f": {frame.reason}" if frame.reason else "")
