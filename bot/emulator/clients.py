"""Emulator websocket clients: connections, subscriptions and the index the broadcaster
uses, per-connection send queues and writers (which honour stalls), and Binance's JSON
control messages (``SUBSCRIBE`` / ``UNSUBSCRIBE`` / ``LIST_SUBSCRIPTIONS``)."""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Callable
from typing import Any

import msgspec
import structlog
from aiohttp import WSMsgType, web

from bot.emulator.protocol import ROUTE_KINDS, ROUTE_VENUE, parse_stream

log = structlog.get_logger("bot.emulator")

LOW_WATER = 500
"""A connection whose queue is this short again releases max-speed playback."""

_client_ids = itertools.count(1)
_INVALID_JSON = '{"error":{"code":3,"msg":"Invalid JSON: expected a request object"}}'


class Client:
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

    async def write(self, stall_remaining: Callable[[str], float], on_sent: Callable[[], None]) -> None:
        """Send queued frames in order, holding them while the venue is stalled."""
        ws = self.ws
        queue = self.queue
        try:
            while True:
                if not queue:
                    self.drained.set()
                    self.wakeup.clear()
                    await self.wakeup.wait()
                    continue
                stalled = max(stall_remaining(venue) for venue in self.stall_venues())
                if stalled > 0:
                    await asyncio.sleep(stalled)
                    continue
                await ws.send_str(queue.popleft())
                on_sent()
                if len(queue) <= LOW_WATER:
                    self.drained.set()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # connection gone: the handler cleans up
            log.debug("writer stopped", client=self.id, error=repr(exc))
            self.drained.set()

    def stall_venues(self) -> tuple[str, ...]:
        """Venues whose stall holds this connection's frames."""
        return (self.venue,)

    def on_control(self, text: str) -> tuple[str, list[str]] | None:
        """Answer a control message; returns (``SUBSCRIBE``|``UNSUBSCRIBE``, streams) for
        the server to apply, else None."""
        try:
            request: Any = msgspec.json.decode(text)
        except msgspec.DecodeError:
            self.enqueue(_INVALID_JSON)
            return None
        if not isinstance(request, dict):
            self.enqueue(_INVALID_JSON)
            return None
        method = request.get("method")
        params = request.get("params", [])
        ident = msgspec.json.encode(request.get("id")).decode()
        if method in ("SUBSCRIBE", "UNSUBSCRIBE") and isinstance(params, list):
            self.enqueue('{"result":null,"id":' + ident + "}")
            return method, [p for p in params if isinstance(p, str)]
        if method == "LIST_SUBSCRIPTIONS":
            result = msgspec.json.encode(self.streams).decode()
            self.enqueue('{"result":' + result + ',"id":' + ident + "}")
            return None
        self.enqueue('{"error":{"code":2,"msg":"Invalid request: unknown method"},"id":' + ident + "}")
        return None


class ClientHub:
    """All websocket connections of the emulator and who subscribed to what."""

    def __init__(self) -> None:
        self.clients: set[Client] = set()
        self.index: dict[tuple[str, str, str], list[tuple[Client, str]]] = {}
        """(venue, SYMBOL, kind) -> [(client, stream name it asked for)]"""
        self.has_clients = asyncio.Event()
        self.stalled_until: dict[str, float] = {}
        """venue -> event-loop time until which nothing is sent (stall fault)"""
        self.refused_until: dict[str, float] = {}
        """venue -> event-loop time until which new connections get HTTP 503 (drop fault)"""
        self.connections_total = 0
        self.messages_sent = 0

    def endpoint(self, route: str, *, combined: bool) -> Any:
        async def handler(request: web.Request) -> web.StreamResponse:
            return await self.serve(request, route, combined)

        return handler

    def _stall_remaining(self, venue: str) -> float:
        return self.stalled_until.get(venue, 0.0) - asyncio.get_running_loop().time()

    def _count_sent(self) -> None:
        self.messages_sent += 1

    async def serve(self, request: web.Request, route: str, combined: bool) -> web.StreamResponse:
        venue = ROUTE_VENUE[route]
        loop = asyncio.get_running_loop()
        refused = self.refused_until.get(venue, 0.0) - loop.time()
        if refused > 0:
            return web.Response(status=503, text=f"{venue} refusing connections for {refused:.1f}s more\n")
        raw_streams = request.query.get("streams", "") if combined else request.match_info.get("streams", "")
        ws = web.WebSocketResponse(compress=False, max_msg_size=1 << 20)
        await ws.prepare(request)
        client = Client(ws, route, combined, request.transport)
        self.clients.add(client)
        self.has_clients.set()
        self.connections_total += 1
        self.subscribe(client, [s for s in raw_streams.split("/") if s])
        writer = loop.create_task(
            client.write(self._stall_remaining, self._count_sent), name=f"emulator-writer-{client.id}"
        )
        log.info(
            "client connected", client=client.id, route=route, streams=client.streams, peer=request.remote
        )
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    control = client.on_control(message.data)
                    if control is not None:
                        method, names = control
                        if method == "SUBSCRIBE":
                            self.subscribe(client, names)
                        else:
                            client.streams = [name for name in client.streams if name not in names]
                            self.rebuild_index()
                elif message.type == WSMsgType.ERROR:
                    break
        finally:
            self.clients.discard(client)
            if not self.clients:
                self.has_clients.clear()
            self.rebuild_index()
            writer.cancel()
            await asyncio.wait([writer])
            client.queue.clear()
            client.drained.set()
            log.info("client disconnected", client=client.id, route=route)
        return ws

    def subscribe(self, client: Client, names: list[str]) -> None:
        served = ROUTE_KINDS[client.route]
        for name in names:
            if name in client.streams:
                continue
            client.streams.append(name)
            parsed = parse_stream(name)
            if parsed is None:
                log.warning("unknown stream subscribed; it will stay silent", client=client.id, stream=name)
            elif parsed[1] not in served:
                log.warning(
                    "stream is not served on this route; it will stay silent",
                    client=client.id,
                    stream=name,
                    route=client.route,
                )
        self.rebuild_index()

    def rebuild_index(self) -> None:
        index: dict[tuple[str, str, str], list[tuple[Client, str]]] = {}
        for client in self.clients:
            served = ROUTE_KINDS[client.route]
            for name in client.streams:
                parsed = parse_stream(name)
                if parsed is None or parsed[1] not in served:
                    continue
                symbol, kind = parsed
                index.setdefault((client.venue, symbol, kind), []).append((client, name))
        self.index = index

    @staticmethod
    def abort(client: Client) -> None:
        """Drop the connection without a close frame."""
        transport = client.transport
        if transport is not None:
            transport.abort()

    async def close_all(self, code: int, message: bytes) -> None:
        clients = list(self.clients)
        for client in clients:
            client.queue.clear()
        closes = [asyncio.wait_for(client.ws.close(code=code, message=message), 2.0) for client in clients]
        results = await asyncio.gather(*closes, return_exceptions=True)
        for client, result in zip(clients, results, strict=True):
            if isinstance(result, BaseException):
                self.abort(client)
