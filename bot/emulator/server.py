"""The loopback exchange: an aiohttp server speaking Binance's, Bybit v5's, OKX's and
Bitget v2's market-data protocols.

One port serves Binance spot and USD-M websockets and REST (paths in
:mod:`bot.emulator.protocol`), Bybit ``/v5/public/spot`` and ``/v5/public/linear``
(:mod:`bot.emulator.bybit_protocol`), OKX ``/ws/v5/public``
(:mod:`bot.emulator.okx_protocol`) and Bitget ``/v2/ws/public``
(:mod:`bot.emulator.bitget_protocol`, all on :mod:`bot.emulator.opvenues`) from a
:class:`~bot.emulator.source.MarketSource`. The
server *is* the exchange: it keeps an :class:`~bot.emulator.book.ExchangeBook` per
market, applies every diff of the timeline to it when the diff's time comes,
broadcasts the messages to subscribers, and answers REST depth snapshots from the
current book with the id rule of the venue.

Pacing: ``speed`` x the recorded receive-time pace, or ``speed=0`` ("max") as fast
as the clients read (per-connection send queues give back-pressure; a pass starts only
once a websocket client is connected). At the end of
the timeline: ``loop=True`` closes every websocket (code 1012, service restart),
resets the books and plays again -- clients reconnect and resync; timestamps and ids
start over. ``loop=False`` stays idle and keeps answering REST from the final book.

Control: ``GET /_emulator/status`` (JSON), ``POST /_emulator/fault`` (JSON
:class:`~bot.emulator.faults.Fault`), :meth:`EmulatorServer.inject` in-process, and
scheduled faults. In-process use::

    async with EmulatorServer(load_replay(paths), speed=0) as emu:
        settings = BinanceSpotSettings(**emu.overrides("binance_spot"))
        bybit = BybitLinearSettings(**emu.overrides("bybit_linear"))
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
import structlog
from aiohttp import WSCloseCode, web

from bot.emulator.bitget_protocol import PATH as BITGET_PATH
from bot.emulator.bitget_protocol import ROUTE as BITGET_ROUTE
from bot.emulator.bitget_protocol import BitgetProtocol
from bot.emulator.bybit_protocol import PATHS as BYBIT_PATHS
from bot.emulator.bybit_protocol import BybitProtocol
from bot.emulator.clients import ClientHub
from bot.emulator.exchange_info import add_exchange_info_routes
from bot.emulator.faults import VENUES, Fault, ScheduledFault
from bot.emulator.okx_protocol import PATH as OKX_PATH
from bot.emulator.okx_protocol import OkxProtocol
from bot.emulator.opvenues import OpClient, OpVenueProtocol
from bot.emulator.protocol import (
    agg_trade,
    client_overrides,
    envelope,
    symbol_of,
)
from bot.emulator.rest import USED_WEIGHT_HEADER, depth_request_weight, depth_response
from bot.emulator.source import Item, MarketSource, SourcePass

log = structlog.get_logger("bot.emulator")

HIGH_WATER = 2_000
"""Frames queued for one connection before max-speed playback waits for it."""
SLOW_CONSUMER_LIMIT = 100_000
"""Paced playback: a connection this far behind is dropped (as Binance drops slow readers)."""
_FAULT_LOG = 200


class _BookFaults:
    __slots__ = ("gaps", "held", "swap")

    def __init__(self) -> None:
        self.gaps = 0
        self.swap = False
        self.held: Item | None = None


class EmulatorServer:
    """Binance-compatible loopback exchange (see module doc)."""

    def __init__(
        self,
        source: MarketSource,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        speed: float = 1.0,
        loop: bool = True,
        faults: Sequence[ScheduledFault] = (),
        autostart: bool = True,
        start_on_snapshot: bool = False,
    ) -> None:
        if speed < 0:
            raise ValueError("speed must be >= 0 (0 = as fast as possible)")
        self.source = source
        self.host = host
        self.port = port
        self.speed = speed
        self.loop = loop
        self.autostart = autostart
        self.start_on_snapshot = start_on_snapshot
        """Hold each pass until a client has fetched a REST snapshot: every client then
        starts from the first recorded diff, so runs are reproducible (tests, comparisons)."""
        self._snapshot_served = asyncio.Event()
        self.books: dict[tuple[str, str], Any] = {}
        """(venue, SYMBOL) -> ExchangeBook (Binance) or VenueBook (Bybit, OKX)"""
        self._schedule: list[tuple[float, ScheduledFault]] = sorted(
            ((f.at_s, f) for f in faults), key=lambda entry: entry[0]
        )
        self._book_faults: dict[tuple[str, str], _BookFaults] = {}
        self.hub = ClientHub()
        self.bybit = BybitProtocol(self.hub, self._count_op_fault)
        self.okx = OkxProtocol(self.hub, self._count_op_fault)
        self.bitget = BitgetProtocol(self.hub, self._count_op_fault)
        self._handlers: tuple[OpVenueProtocol, ...] = (self.bybit, self.okx, self.bitget)
        for handler in self._handlers:
            handler.depth_stalled = self.depth_stalled
        self._op: dict[str, OpVenueProtocol] = {
            venue: handler for handler in self._handlers for venue in handler.venues
        }
        self._runner: web.AppRunner | None = None
        self._player: asyncio.Task[None] | None = None
        self._pass: SourcePass | None = None
        self._finished = asyncio.Event()
        self._elapsed_before_s = 0.0
        self._elapsed_s = 0.0
        self.sim_ts_ns = 0
        self.passes = 0
        self.items_played = 0
        self.slow_consumers_dropped = 0
        self.rest_requests = 0
        self.faults_applied: dict[str, int] = {}
        self._depth_stalls: list[tuple[Fault, float]] = []
        """stall_depth faults in force: (fault, loop time it ends)."""
        self._weight_used: dict[str, tuple[int, int]] = {}
        """venue -> (minute, REST weight used in it): the X-MBX-USED-WEIGHT-1M header."""
        self.fault_log: deque[dict[str, Any]] = deque(maxlen=_FAULT_LOG)
        self.error: str | None = None
        self._log = log

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        # the subscribe-by-message venues first: /ws/v5/public must not fall into Binance's /ws/{streams}
        for path, route in BYBIT_PATHS.items():
            app.router.add_get(path, self.bybit.endpoint(route))
        app.router.add_get(OKX_PATH, self.okx.endpoint("okx"))
        app.router.add_get(BITGET_PATH, self.bitget.endpoint(BITGET_ROUTE))
        for prefix, route in (("", "spot"), ("/public", "public"), ("/market", "market")):
            app.router.add_get(f"{prefix}/stream", self.hub.endpoint(route, combined=True))
            app.router.add_get(f"{prefix}/ws", self.hub.endpoint(route, combined=False))
            app.router.add_get(f"{prefix}/ws/{{streams:.*}}", self.hub.endpoint(route, combined=False))
        app.router.add_get("/api/v3/depth", self._rest_depth("binance_spot"))
        app.router.add_get("/fapi/v1/depth", self._rest_depth("binance_usdm"))
        for path in ("/api/v3/ping", "/fapi/v1/ping"):
            app.router.add_get(path, self._rest_ping)
        for path in ("/api/v3/time", "/fapi/v1/time"):
            app.router.add_get(path, self._rest_time)
        add_exchange_info_routes(app, self)
        app.router.add_get("/_emulator/status", self._http_status)
        app.router.add_post("/_emulator/fault", self._http_fault)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = sockets[0].getsockname()[1]
        self._open_pass()
        self._log.info("emulator listening", url=self.url, source=self.source.description, speed=self.speed)
        if self.autostart:
            self.play()

    async def stop(self) -> None:
        if self._player is not None:
            self._player.cancel()
            await asyncio.wait([self._player])
            self._player = None
        await self.hub.close_all(WSCloseCode.GOING_AWAY, b"emulator stopping")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._log.info("emulator stopped", messages_sent=self.hub.messages_sent)

    async def __aenter__(self) -> EmulatorServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def play(self) -> None:
        """Start playback (when created with ``autostart=False``)."""
        if self._player is None and not self._finished.is_set():
            self._player = asyncio.get_running_loop().create_task(self._play_loop(), name="emulator-player")

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    async def wait_finished(self) -> None:
        await self._finished.wait()

    def overrides(self, venue: str) -> dict[str, str]:
        """Venue settings overrides (``ws_url``, ``rest_url``, ...) pointing a client at this
        server, for every venue it serves."""
        return client_overrides(self.url, venue)

    # ---- playback --------------------------------------------------------------------------

    def _open_pass(self) -> None:
        self._pass = self.source.open_pass()
        self.books = self._pass.books
        self._book_faults = {key: _BookFaults() for key in self.books if key[0] not in self._op}
        for handler in self._handlers:
            handler.open_pass(self.books)

    async def _play_loop(self) -> None:
        try:
            while True:
                assert self._pass is not None
                if self.speed == 0:
                    await self.hub.has_clients.wait()  # "as fast as clients read": wait for one
                if self.start_on_snapshot:
                    await self._snapshot_served.wait()
                    self._snapshot_served.clear()
                await self._play_pass(self._pass)
                self.passes += 1
                self._elapsed_before_s = self._elapsed_s
                if not self.loop:
                    self._log.info(
                        "replay finished", passes=self.passes, messages_sent=self.hub.messages_sent
                    )
                    self._finished.set()
                    return
                self._log.info("replay restarting", passes=self.passes)
                await self.hub.close_all(WSCloseCode.SERVICE_RESTART, b"replay restart")
                self._open_pass()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # keep serving REST/status; report the failure
            self.error = f"{type(exc).__name__}: {exc}"
            self._log.exception("playback failed", error=self.error)
            self._finished.set()

    async def _play_pass(self, current: SourcePass) -> None:
        loop = asyncio.get_running_loop()
        speed = self.speed
        start_ts: int | None = None
        start_wall = loop.time()
        for count, item in enumerate(current.items, start=1):
            if start_ts is None:
                start_ts = item.ts_ns
            offset_s = (item.ts_ns - start_ts) / 1e9
            self._elapsed_s = self._elapsed_before_s + max(0.0, offset_s)
            if self._schedule and self._schedule[0][0] <= self._elapsed_s:
                self._run_schedule()
            if speed > 0:
                delay = start_wall + offset_s / speed - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            self.sim_ts_ns = item.ts_ns
            self._process(item)
            self.items_played += 1
            if speed == 0:
                if count % 32 == 0:
                    await asyncio.sleep(0)
                await self._backpressure()
            else:
                self._drop_slow_consumers()
        for state in self._book_faults.values():
            if state.held is not None:
                held, state.held = state.held, None
                self._broadcast(held)
        for handler in self._handlers:
            handler.end_pass()

    def _run_schedule(self) -> None:
        while self._schedule and self._schedule[0][0] <= self._elapsed_s:
            due, scheduled = self._schedule.pop(0)
            self.inject(scheduled.fault, source=scheduled.spec or "schedule")
            if scheduled.every_s:
                self._schedule.append((due + scheduled.every_s, scheduled))
                self._schedule.sort(key=lambda entry: entry[0])

    def _process(self, item: Item) -> None:
        handler = self._op.get(item.venue)
        if handler is not None:
            handler.process(item)
            return
        if item.kind != "depth":
            self._broadcast(item)
            return
        key = (item.venue, item.symbol)
        book = self.books[key]
        book.apply_diff(item.bids, item.asks, item.last_id, item.next_first_id)
        book.exch_ms = item.exch_ms
        state = self._book_faults[key]
        if self._depth_stalls and self.depth_stalled(item.venue, item.symbol):
            return  # applied, not sent: the depth stream is frozen (stall_depth)
        if state.held is not None:
            held, state.held = state.held, None
            self._broadcast(item)
            self._broadcast(held)
        elif state.swap:
            state.swap = False
            state.held = item
            self._count_fault("out_of_order", item, f"diff {item.first_id}..{item.last_id} held back")
        elif state.gaps:
            state.gaps -= 1
            self._count_fault("gap", item, f"diff {item.first_id}..{item.last_id} not sent")
        else:
            self._broadcast(item)

    def _broadcast(self, item: Item) -> None:
        subscribers = self.hub.index.get((item.venue, item.symbol, item.kind))
        if subscribers:
            data = item.data
            for client, name in subscribers:
                client.enqueue(envelope(name, data) if client.combined else data)
        if item.kind == "trade" and item.market_trade:
            agg_subscribers = self.hub.index.get((item.venue, item.symbol, "aggTrade"))
            if agg_subscribers:
                agg = agg_trade(item.data, spot=item.venue == "binance_spot")
                for client, name in agg_subscribers:
                    client.enqueue(envelope(name, agg) if client.combined else agg)

    async def _backpressure(self) -> None:
        for client in list(self.hub.clients):
            if len(client.queue) > HIGH_WATER:
                client.drained.clear()
                await client.drained.wait()

    def _drop_slow_consumers(self) -> None:
        for client in list(self.hub.clients):
            if len(client.queue) > SLOW_CONSUMER_LIMIT:
                self.slow_consumers_dropped += 1
                self._log.warning("slow consumer dropped", client=client.id, queued=len(client.queue))
                client.queue.clear()
                self.hub.abort(client)

    # ---- faults ----------------------------------------------------------------------------

    def inject(self, fault: Fault, *, source: str = "api") -> None:
        """Apply ``fault`` now (see :mod:`bot.emulator.faults` for what each kind does)."""
        loop = asyncio.get_running_loop()
        self._log.warning("fault injected", source=source, **fault.as_dict())
        if fault.kind in ("gap", "out_of_order"):
            for (venue, symbol), state in self._book_faults.items():
                if fault.matches(venue, symbol):
                    if fault.kind == "gap":
                        state.gaps += 1
                    else:
                        state.swap = True
            for handler in self._handlers:
                handler.inject(fault)
        elif fault.kind == "checksum":
            hit = self.okx.inject(fault) + self.bitget.inject(fault)
            if not hit:
                self._count_fault("checksum", None, "no matching OKX or Bitget book", fault)
        elif fault.kind == "malformed":
            hit = 0
            for client in list(self.hub.clients):
                if isinstance(client, OpClient) or not fault.matches(client.venue):
                    continue
                names = [n for n in client.streams if symbol_of(n) is not None]
                if fault.symbol is not None:
                    names = [n for n in names if symbol_of(n) == fault.symbol]
                if not names and fault.symbol is not None:
                    continue
                name = names[0] if names else "unknown@depth"
                broken = '{"e":"depthUpdate","E":1,"s":"' + name.partition("@")[0].upper() + '","U":'
                client.enqueue('{"stream":"' + name + '","data":' + broken if client.combined else broken)
                hit += 1
            for handler in self._handlers:
                hit += handler.inject(fault)
            self._count_fault("malformed", None, f"broken frame sent to {hit} connection(s)", fault)
        elif fault.kind == "drop":
            dropped = 0
            for client in list(self.hub.clients):
                matches = (
                    client.matches(fault) if isinstance(client, OpClient) else fault.matches(client.venue)
                )
                if matches:
                    self.hub.abort(client)
                    dropped += 1
            if fault.duration_s > 0:
                for venue in VENUES:
                    if fault.matches(venue):
                        self.hub.refused_until[venue] = loop.time() + fault.duration_s
            self._count_fault("drop", None, f"{dropped} connection(s) aborted", fault)
        elif fault.kind == "stall":
            until = loop.time() + fault.effective_duration_s
            for venue in VENUES:
                if fault.matches(venue):
                    self.hub.stalled_until[venue] = max(self.hub.stalled_until.get(venue, 0.0), until)
            self._count_fault("stall", None, f"sending paused for {fault.effective_duration_s:g}s", fault)
        elif fault.kind == "stall_depth":
            self._depth_stalls.append((fault, loop.time() + fault.effective_duration_s))
            self._count_fault(
                "stall_depth", None, f"book stream withheld for {fault.effective_duration_s:g}s", fault
            )

    def depth_stalled(self, venue: str, symbol: str) -> bool:
        """A stall_depth fault withholds this book's stream now."""
        if not self._depth_stalls:
            return False
        now = asyncio.get_running_loop().time()
        self._depth_stalls = [(f, until) for f, until in self._depth_stalls if until > now]
        return any(fault.matches(venue, symbol) for fault, _ in self._depth_stalls)

    def _count_op_fault(self, kind: str, venue: str, symbol: str, detail: str) -> None:
        self.faults_applied[kind] = self.faults_applied.get(kind, 0) + 1
        self.fault_log.append(
            {
                "kind": kind,
                "venue": venue,
                "symbol": symbol,
                "sim_s": round(self._elapsed_s, 3),
                "detail": detail,
            }
        )

    def _count_fault(self, kind: str, item: Item | None, detail: str, fault: Fault | None = None) -> None:
        self.faults_applied[kind] = self.faults_applied.get(kind, 0) + 1
        self.fault_log.append(
            {
                "kind": kind,
                "venue": item.venue if item else (fault.venue if fault else None),
                "symbol": item.symbol if item else (fault.symbol if fault else None),
                "sim_s": round(self._elapsed_s, 3),
                "detail": detail,
            }
        )

    # ---- REST ------------------------------------------------------------------------------

    def _rest_depth(self, venue: str) -> Any:
        async def handler(request: web.Request) -> web.Response:
            self.rest_requests += 1
            response = depth_response(self.books, venue, request.query)
            minute = int(time.time() // 60)
            bucket, used = self._weight_used.get(venue, (minute, 0))
            used = (used if bucket == minute else 0) + depth_request_weight(venue, request.query)
            self._weight_used[venue] = (minute, used)
            response.headers[USED_WEIGHT_HEADER] = str(used)
            if response.status == 200:
                self._snapshot_served.set()
            return response

        return handler

    async def _rest_ping(self, request: web.Request) -> web.Response:
        self.rest_requests += 1
        return web.json_response({})

    async def _rest_time(self, request: web.Request) -> web.Response:
        self.rest_requests += 1
        return web.json_response({"serverTime": self.sim_ts_ns // 1_000_000})

    # ---- control ---------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        routes: dict[str, int] = {}
        for client in self.hub.clients:
            routes[client.route] = routes.get(client.route, 0) + 1
        sim = self.sim_ts_ns
        return {
            "url": self.url,
            "source": self.source.description,
            "speed": self.speed if self.speed > 0 else "max",
            "loop": self.loop,
            "playing": self._player is not None and not self._finished.is_set(),
            "finished": self._finished.is_set(),
            "error": self.error,
            "passes": self.passes,
            "sim_time_ns": sim,
            "sim_time": datetime.fromtimestamp(sim / 1e9, UTC).isoformat() if sim else None,
            "sim_elapsed_s": round(self._elapsed_s, 3),
            "items_played": self.items_played,
            "messages_sent": self.hub.messages_sent,
            "queued": sum(len(c.queue) for c in self.hub.clients),
            "connections": len(self.hub.clients),
            "connections_by_route": routes,
            "connections_total": self.hub.connections_total,
            "slow_consumers_dropped": self.slow_consumers_dropped,
            "rest_requests": self.rest_requests,
            "faults_applied": dict(self.faults_applied),
            "fault_log": list(self.fault_log),
            "venues": {handler.family: handler.status() for handler in self._handlers},
            "books": {
                book.key: {
                    "update_id": book.last_id,
                    "snapshot_id": book.snapshot_id(),
                    "bids": len(book.bids),
                    "asks": len(book.asks),
                }
                for book in self.books.values()
            },
        }

    async def _http_status(self, request: web.Request) -> web.Response:
        return web.Response(body=msgspec.json.encode(self.status()), content_type="application/json")

    async def _http_fault(self, request: web.Request) -> web.Response:
        try:
            body = msgspec.json.decode(await request.read())
        except msgspec.DecodeError as exc:
            return web.json_response({"ok": False, "error": f"invalid JSON: {exc}"}, status=400)
        try:
            fault = Fault.from_dict(body)
        except ValueError as exc:
            return web.json_response({"ok": False, "error": str(exc)}, status=400)
        self.inject(fault, source="http")
        return web.json_response({"ok": True, "fault": fault.as_dict()})
