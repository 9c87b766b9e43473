"""The loopback exchange: an aiohttp server speaking Binance's market-data protocol.

One port serves spot and USD-M websockets and REST (paths in
:mod:`bot.emulator.protocol`) from a :class:`~bot.emulator.source.MarketSource`. The
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

    async with EmulatorServer(ReplaySource.from_files(paths), speed=0) as emu:
        settings = BinanceVenueSettings(**emu.overrides("binance_spot"))
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
import structlog
from aiohttp import WSCloseCode, WSMsgType, web

from bot.emulator.book import ExchangeBook
from bot.emulator.faults import Fault, ScheduledFault
from bot.emulator.protocol import (
    ROUTE_KINDS,
    ROUTE_VENUE,
    SPOT_DEFAULT_LIMIT,
    SPOT_MAX_LIMIT,
    USDM_DEFAULT_LIMIT,
    USDM_LIMITS,
    binance_error,
    client_overrides,
    envelope,
    parse_stream,
)
from bot.emulator.source import Item, MarketSource, SourcePass

log = structlog.get_logger("bot.emulator")

HIGH_WATER = 2_000
"""Frames queued for one connection before max-speed playback waits for it."""
LOW_WATER = 500
SLOW_CONSUMER_LIMIT = 100_000
"""Paced playback: a connection this far behind is dropped (as Binance drops slow readers)."""
_FAULT_LOG = 200
_client_ids = itertools.count(1)


class _Client:
    """One websocket connection and its send queue."""

    __slots__ = (
        "combined",
        "drained",
        "id",
        "queue",
        "route",
        "streams",
        "transport",
        "venue",
        "wakeup",
        "ws",
    )

    def __init__(self, ws: web.WebSocketResponse, route: str, combined: bool, transport: Any) -> None:
        self.id = next(_client_ids)
        self.ws = ws
        self.route = route
        self.venue = ROUTE_VENUE[route]
        self.combined = combined
        self.transport = transport
        self.streams: list[str] = []
        self.queue: deque[str] = deque()
        self.wakeup = asyncio.Event()
        self.drained = asyncio.Event()
        self.drained.set()

    def enqueue(self, frame: str) -> None:
        self.queue.append(frame)
        self.wakeup.set()


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
    ) -> None:
        if speed < 0:
            raise ValueError("speed must be >= 0 (0 = as fast as possible)")
        self.source = source
        self.host = host
        self.port = port
        self.speed = speed
        self.loop = loop
        self.autostart = autostart
        self.books: dict[tuple[str, str], ExchangeBook] = {}
        self._schedule: list[tuple[float, ScheduledFault]] = sorted(
            ((f.at_s, f) for f in faults), key=lambda entry: entry[0]
        )
        self._book_faults: dict[tuple[str, str], _BookFaults] = {}
        self._clients: set[_Client] = set()
        self._index: dict[tuple[str, str, str], list[tuple[_Client, str]]] = {}
        self._stalled_until: dict[str, float] = {}
        self._refused_until: dict[str, float] = {}
        self._runner: web.AppRunner | None = None
        self._player: asyncio.Task[None] | None = None
        self._pass: SourcePass | None = None
        self._finished = asyncio.Event()
        self._has_clients = asyncio.Event()
        self._elapsed_before_s = 0.0
        self._elapsed_s = 0.0
        self.sim_ts_ns = 0
        self.passes = 0
        self.messages_sent = 0
        self.items_played = 0
        self.connections_total = 0
        self.slow_consumers_dropped = 0
        self.rest_requests = 0
        self.faults_applied: dict[str, int] = {}
        self.fault_log: deque[dict[str, Any]] = deque(maxlen=_FAULT_LOG)
        self.error: str | None = None
        self._log = log

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        for prefix, route in (("", "spot"), ("/public", "public"), ("/market", "market")):
            app.router.add_get(f"{prefix}/stream", self._ws_endpoint(route, combined=True))
            app.router.add_get(f"{prefix}/ws", self._ws_endpoint(route, combined=False))
            app.router.add_get(f"{prefix}/ws/{{streams:.*}}", self._ws_endpoint(route, combined=False))
        app.router.add_get("/api/v3/depth", self._rest_depth("binance_spot"))
        app.router.add_get("/fapi/v1/depth", self._rest_depth("binance_usdm"))
        for path in ("/api/v3/ping", "/fapi/v1/ping"):
            app.router.add_get(path, self._rest_ping)
        for path in ("/api/v3/time", "/fapi/v1/time"):
            app.router.add_get(path, self._rest_time)
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
        await self._close_clients(WSCloseCode.GOING_AWAY, b"emulator stopping")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._log.info("emulator stopped", messages_sent=self.messages_sent)

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
        """``BinanceVenueSettings`` overrides pointing a client at this server."""
        return client_overrides(self.url, venue)

    # ---- playback --------------------------------------------------------------------------

    def _open_pass(self) -> None:
        self._pass = self.source.open_pass()
        self.books = self._pass.books
        self._book_faults = {key: _BookFaults() for key in self.books}

    async def _play_loop(self) -> None:
        try:
            while True:
                assert self._pass is not None
                if self.speed == 0:
                    await self._has_clients.wait()  # "as fast as clients read": wait for one
                await self._play_pass(self._pass)
                self.passes += 1
                self._elapsed_before_s = self._elapsed_s
                if not self.loop:
                    self._log.info("replay finished", passes=self.passes, messages_sent=self.messages_sent)
                    self._finished.set()
                    return
                self._log.info("replay restarting", passes=self.passes)
                await self._close_clients(WSCloseCode.SERVICE_RESTART, b"replay restart")
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

    def _run_schedule(self) -> None:
        while self._schedule and self._schedule[0][0] <= self._elapsed_s:
            due, scheduled = self._schedule.pop(0)
            self.inject(scheduled.fault, source=scheduled.spec or "schedule")
            if scheduled.every_s:
                self._schedule.append((due + scheduled.every_s, scheduled))
                self._schedule.sort(key=lambda entry: entry[0])

    def _process(self, item: Item) -> None:
        if item.kind != "depth":
            self._broadcast(item)
            return
        key = (item.venue, item.symbol)
        book = self.books[key]
        book.apply_diff(item.bids, item.asks, item.last_id, item.next_first_id)
        book.exch_ms = item.exch_ms
        state = self._book_faults[key]
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
        subscribers = self._index.get((item.venue, item.symbol, item.kind))
        if subscribers:
            data = item.data
            for client, name in subscribers:
                client.enqueue(envelope(name, data) if client.combined else data)
        if item.kind == "trade" and item.market_trade:
            agg_subscribers = self._index.get((item.venue, item.symbol, "aggTrade"))
            if agg_subscribers:
                agg = _agg_trade(item)
                for client, name in agg_subscribers:
                    client.enqueue(envelope(name, agg) if client.combined else agg)

    async def _backpressure(self) -> None:
        for client in list(self._clients):
            if len(client.queue) > HIGH_WATER:
                client.drained.clear()
                await client.drained.wait()

    def _drop_slow_consumers(self) -> None:
        for client in list(self._clients):
            if len(client.queue) > SLOW_CONSUMER_LIMIT:
                self.slow_consumers_dropped += 1
                self._log.warning("slow consumer dropped", client=client.id, queued=len(client.queue))
                client.queue.clear()
                self._abort(client)

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
        elif fault.kind == "malformed":
            hit = 0
            for client in list(self._clients):
                if not fault.matches(client.venue):
                    continue
                names = [n for n in client.streams if _symbol_of(n) is not None]
                if fault.symbol is not None:
                    names = [n for n in names if _symbol_of(n) == fault.symbol]
                if not names and fault.symbol is not None:
                    continue
                name = names[0] if names else "unknown@depth"
                broken = '{"e":"depthUpdate","E":1,"s":"' + name.partition("@")[0].upper() + '","U":'
                client.enqueue('{"stream":"' + name + '","data":' + broken if client.combined else broken)
                hit += 1
            self._count_fault("malformed", None, f"broken frame sent to {hit} connection(s)", fault)
        elif fault.kind == "drop":
            dropped = 0
            for client in list(self._clients):
                if fault.matches(client.venue):
                    self._abort(client)
                    dropped += 1
            if fault.duration_s > 0:
                for venue in ("binance_spot", "binance_usdm"):
                    if fault.matches(venue):
                        self._refused_until[venue] = loop.time() + fault.duration_s
            self._count_fault("drop", None, f"{dropped} connection(s) aborted", fault)
        elif fault.kind == "stall":
            until = loop.time() + fault.effective_duration_s
            for venue in ("binance_spot", "binance_usdm"):
                if fault.matches(venue):
                    self._stalled_until[venue] = max(self._stalled_until.get(venue, 0.0), until)
            self._count_fault("stall", None, f"sending paused for {fault.effective_duration_s:g}s", fault)

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

    def _abort(self, client: _Client) -> None:
        transport = client.transport
        if transport is not None:
            transport.abort()

    # ---- websockets ------------------------------------------------------------------------

    def _ws_endpoint(self, route: str, *, combined: bool) -> Any:
        async def handler(request: web.Request) -> web.StreamResponse:
            return await self._serve_ws(request, route, combined)

        return handler

    async def _serve_ws(self, request: web.Request, route: str, combined: bool) -> web.StreamResponse:
        venue = ROUTE_VENUE[route]
        loop = asyncio.get_running_loop()
        refused = self._refused_until.get(venue, 0.0) - loop.time()
        if refused > 0:
            return web.Response(status=503, text=f"{venue} refusing connections for {refused:.1f}s more\n")
        raw_streams = request.query.get("streams", "") if combined else request.match_info.get("streams", "")
        ws = web.WebSocketResponse(compress=False, max_msg_size=1 << 20)
        await ws.prepare(request)
        client = _Client(ws, route, combined, request.transport)
        self._clients.add(client)
        self._has_clients.set()
        self.connections_total += 1
        self._subscribe(client, [s for s in raw_streams.split("/") if s])
        writer = loop.create_task(self._writer(client), name=f"emulator-writer-{client.id}")
        self._log.info(
            "client connected", client=client.id, route=route, streams=client.streams, peer=request.remote
        )
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    self._on_control(client, message.data)
                elif message.type == WSMsgType.ERROR:
                    break
        finally:
            self._clients.discard(client)
            if not self._clients:
                self._has_clients.clear()
            self._rebuild_index()
            writer.cancel()
            await asyncio.wait([writer])
            client.queue.clear()
            client.drained.set()
            self._log.info("client disconnected", client=client.id, route=route)
        return ws

    async def _writer(self, client: _Client) -> None:
        loop = asyncio.get_running_loop()
        ws = client.ws
        queue = client.queue
        try:
            while True:
                if not queue:
                    client.drained.set()
                    client.wakeup.clear()
                    await client.wakeup.wait()
                    continue
                stalled = self._stalled_until.get(client.venue, 0.0) - loop.time()
                if stalled > 0:
                    await asyncio.sleep(stalled)
                    continue
                await ws.send_str(queue.popleft())
                self.messages_sent += 1
                if len(queue) <= LOW_WATER:
                    client.drained.set()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # connection gone: the handler cleans up
            self._log.debug("writer stopped", client=client.id, error=repr(exc))
            client.drained.set()

    def _on_control(self, client: _Client, text: str) -> None:
        try:
            request = msgspec.json.decode(text)
        except msgspec.DecodeError:
            client.enqueue('{"error":{"code":3,"msg":"Invalid JSON: expected a request object"}}')
            return
        if not isinstance(request, dict):
            client.enqueue('{"error":{"code":3,"msg":"Invalid JSON: expected a request object"}}')
            return
        request_id = request.get("id")
        method = request.get("method")
        params = request.get("params", [])
        ident = msgspec.json.encode(request_id).decode()
        if method in ("SUBSCRIBE", "UNSUBSCRIBE") and isinstance(params, list):
            names = [p for p in params if isinstance(p, str)]
            if method == "SUBSCRIBE":
                self._subscribe(client, names)
            else:
                client.streams = [s for s in client.streams if s not in names]
                self._rebuild_index()
            client.enqueue('{"result":null,"id":' + ident + "}")
        elif method == "LIST_SUBSCRIPTIONS":
            result = msgspec.json.encode(client.streams).decode()
            client.enqueue('{"result":' + result + ',"id":' + ident + "}")
        else:
            client.enqueue('{"error":{"code":2,"msg":"Invalid request: unknown method"},"id":' + ident + "}")

    def _subscribe(self, client: _Client, names: list[str]) -> None:
        served = ROUTE_KINDS[client.route]
        for name in names:
            if name in client.streams:
                continue
            client.streams.append(name)
            parsed = parse_stream(name)
            if parsed is None:
                self._log.warning(
                    "unknown stream subscribed; it will stay silent", client=client.id, stream=name
                )
            elif parsed[1] not in served:
                self._log.warning(
                    "stream is not served on this route; it will stay silent",
                    client=client.id,
                    stream=name,
                    route=client.route,
                )
        self._rebuild_index()

    def _rebuild_index(self) -> None:
        index: dict[tuple[str, str, str], list[tuple[_Client, str]]] = {}
        for client in self._clients:
            served = ROUTE_KINDS[client.route]
            for name in client.streams:
                parsed = parse_stream(name)
                if parsed is None or parsed[1] not in served:
                    continue
                symbol, kind = parsed
                index.setdefault((client.venue, symbol, kind), []).append((client, name))
        self._index = index

    async def _close_clients(self, code: int, message: bytes) -> None:
        clients = list(self._clients)
        for client in clients:
            client.queue.clear()
        closes = [asyncio.wait_for(client.ws.close(code=code, message=message), 2.0) for client in clients]
        results = await asyncio.gather(*closes, return_exceptions=True)
        for client, result in zip(clients, results, strict=True):
            if isinstance(result, BaseException):
                self._abort(client)

    # ---- REST ------------------------------------------------------------------------------

    def _rest_depth(self, venue: str) -> Any:
        async def handler(request: web.Request) -> web.Response:
            self.rest_requests += 1
            symbol = request.query.get("symbol", "")
            if not symbol:
                return _error(
                    400, -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."
                )
            book = self.books.get((venue, symbol))
            if book is None:
                return _error(400, -1121, "Invalid symbol.")
            default = SPOT_DEFAULT_LIMIT if venue == "binance_spot" else USDM_DEFAULT_LIMIT
            raw_limit = request.query.get("limit")
            limit = default
            if raw_limit is not None:
                if not raw_limit.isdigit():
                    return _error(400, -1100, "Illegal characters found in parameter 'limit'.")
                limit = int(raw_limit)
                if venue == "binance_spot":
                    if limit < 1:
                        return _error(400, -1100, "Illegal characters found in parameter 'limit'.")
                    limit = min(limit, SPOT_MAX_LIMIT)
                elif limit not in USDM_LIMITS:
                    return _error(
                        400,
                        -1100,
                        "Illegal characters found in parameter 'limit'; legal values are "
                        + ", ".join(map(str, USDM_LIMITS))
                        + ".",
                    )
            bids, asks = book.top(limit)
            body: dict[str, Any] = {"lastUpdateId": book.snapshot_id()}
            if venue == "binance_usdm":
                body["E"] = book.exch_ms
                body["T"] = book.exch_ms
            body["bids"] = bids
            body["asks"] = asks
            return web.Response(body=msgspec.json.encode(body), content_type="application/json")

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
        for client in self._clients:
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
            "messages_sent": self.messages_sent,
            "queued": sum(len(c.queue) for c in self._clients),
            "connections": len(self._clients),
            "connections_by_route": routes,
            "connections_total": self.connections_total,
            "slow_consumers_dropped": self.slow_consumers_dropped,
            "rest_requests": self.rest_requests,
            "faults_applied": dict(self.faults_applied),
            "fault_log": list(self.fault_log),
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


def _error(status: int, code: int, msg: str) -> web.Response:
    return web.Response(
        status=status, body=msgspec.json.encode(binance_error(code, msg)), content_type="application/json"
    )


def _symbol_of(stream: str) -> str | None:
    parsed = parse_stream(stream)
    return parsed[0] if parsed else None


_TRADE_FIELDS = msgspec.json.Decoder(dict[str, Any])


def _agg_trade(item: Item) -> str:
    """A recorded ``trade`` as the ``aggTrade`` of that single fill."""
    trade = _TRADE_FIELDS.decode(item.data)
    agg: dict[str, Any] = {
        "e": "aggTrade",
        "E": trade.get("E"),
        "s": trade.get("s"),
        "a": trade.get("t"),
        "p": trade.get("p"),
        "q": trade.get("q"),
        "f": trade.get("t"),
        "l": trade.get("t"),
        "T": trade.get("T"),
        "m": trade.get("m"),
    }
    if item.venue == "binance_spot":
        agg["M"] = True
    return msgspec.json.encode(agg).decode()
