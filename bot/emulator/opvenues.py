"""The emulator's machinery for venues that subscribe by message (Bybit v5, OKX).

Independent of the client adapters in ``bot/venues`` on purpose (a misunderstanding
on one side is not silently shared by the other). :class:`OpVenueProtocol` serves
one venue family's websocket paths on the emulator's port and owns:

- connections (:class:`OpClient`, sharing the Binance hub's queues, writers,
  back-pressure, stalls and close-all), their subscriptions and the venue's control
  messages (subscribe / unsubscribe acks, errors, ping / pong) -- parsed and
  rendered by the venue subclass (:mod:`bot.emulator.bybit_protocol`,
  :mod:`bot.emulator.okx_protocol`);
- the books: every book item of the timeline is applied to the market's
  :class:`~bot.emulator.venue_book.VenueBook`; each subscribed book stream
  (:class:`~bot.emulator.venue_book.BookView`: channel + depth) then sends what
  changed. A recording's own stream is forwarded verbatim (ids, checksums and text
  exactly as recorded); other depths are derived from the book. A new subscription
  gets the stream's snapshot at once, as on the real venues;
- other channels (trades, tickers, funding) are forwarded to their subscribers; the
  last message of "state" channels is replayed to new subscribers;
- faults on book streams: ``gap`` (the next book message of the market is applied
  but not sent), ``out_of_order`` (the next two are swapped), ``checksum`` (the next
  one carries a wrong checksum; OKX), ``malformed`` (a truncated frame on every
  matching connection), ``stall_depth`` (book messages withheld for a while; the
  server says when). ``drop`` and ``stall`` are the server's, per connection.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiohttp import WSMsgType, web

from bot.emulator.clients import Client, ClientHub
from bot.emulator.faults import Fault
from bot.emulator.source import Item
from bot.emulator.venue_book import BookView, Changes, VenueBook

log = structlog.get_logger("bot.emulator")

SubKey = tuple[str, str, str, Any]
"""(venue, SYMBOL, channel, parameter): e.g. ("bybit_linear", "XRPUSDT", "orderbook", 500)."""

_conn_ids = itertools.count(1)


class OpClient(Client):
    """A subscribe-by-message connection (its subscriptions live here, not in ``streams``)."""

    __slots__ = ("conn_id", "subs")

    def __init__(self, ws: web.WebSocketResponse, route: str, transport: Any) -> None:
        super().__init__(ws, route, False, transport)
        self.subs: set[SubKey] = set()
        self.conn_id = f"emu-{next(_conn_ids)}"

    def venues(self) -> set[str]:
        return {sub[0] for sub in self.subs}

    def stall_venues(self) -> tuple[str, ...]:
        return (self.venue, *self.venues())

    def matches(self, fault: Fault) -> bool:
        """A drop / stall / malformed fault for this connection's venue(s)."""
        if fault.venue is None:
            return True
        return fault.venue == self.venue or fault.venue in self.venues()


@dataclass
class _Faults:
    gaps: int = 0
    swap: bool = False
    corrupt: int = 0
    held: list[tuple[OpClient, str]] | None = None


@dataclass
class Control:
    """What a parsed control message asks for."""

    replies: list[str] = field(default_factory=list)
    subscribe: list[SubKey] = field(default_factory=list)
    unsubscribe: list[SubKey] = field(default_factory=list)


class OpVenueProtocol:
    """One venue family's websocket protocol on the emulator (see module doc)."""

    family = "abstract"
    venues: tuple[str, ...] = ()
    book_channels: frozenset[str] = frozenset()
    state_channels: frozenset[str] = frozenset()
    """Channels whose last message a new subscriber receives at once."""

    def __init__(self, hub: ClientHub, count_fault: Callable[[str, str, str, str], None]) -> None:
        self.hub = hub
        self._count_fault = count_fault
        self.books: dict[tuple[str, str], VenueBook] = {}
        self.subscribers: dict[SubKey, list[OpClient]] = {}
        self.views: dict[SubKey, BookView] = {}
        self.last_state: dict[SubKey, str] = {}
        self.faults: dict[tuple[str, str], _Faults] = {}
        self.depth_stalled: Callable[[str, str], bool] = lambda venue, symbol: False
        """Set by the server: a stall_depth fault withholds this market's book stream now."""
        self.requests = 0
        self._log = log.bind(family=self.family)

    # ---- venue rules (override) --------------------------------------------------------------

    def parse_control(self, client: OpClient, text: str) -> Control:
        raise NotImplementedError

    def book_snapshot(self, key: SubKey, view: BookView, book: VenueBook) -> str:
        raise NotImplementedError

    def book_delta(
        self, key: SubKey, view: BookView, book: VenueBook, changes: Changes, corrupt: bool
    ) -> str:
        raise NotImplementedError

    def native_frame(self, key: SubKey, item: Item, corrupt: bool) -> str:
        """The recorded message for a subscriber of the recording's own stream."""
        return item.data

    def view_depth(self, key: SubKey) -> int | None:
        """Levels per side of the book stream ``key`` (None = all)."""
        return key[3] if isinstance(key[3], int) else None

    def first_view_id(self, key: SubKey, book: VenueBook) -> int:
        return book.last_id

    def broken_frame(self, client: OpClient) -> str:
        raise NotImplementedError

    def render_state(self, key: SubKey, item: Item) -> str:
        """The frame for a non-book item (default: the item's own text)."""
        return item.data

    def state_snapshot(self, key: SubKey) -> str | None:
        """What a new subscriber of a state channel gets at once (default: the last frame)."""
        return self.last_state.get(key)

    # ---- passes ------------------------------------------------------------------------------

    def open_pass(self, books: dict[tuple[str, str], Any]) -> None:
        self.books = {key: book for key, book in books.items() if key[0] in self.venues}
        self.faults = {key: _Faults() for key in self.books}
        self.views = {}
        self.last_state = {}

    def end_pass(self) -> None:
        for state in self.faults.values():
            held, state.held = state.held, None
            for client, frame in held or ():
                client.enqueue(frame)

    # ---- connections -------------------------------------------------------------------------

    def endpoint(self, route: str) -> Any:
        async def handler(request: web.Request) -> web.StreamResponse:
            return await self.serve(request, route)

        return handler

    async def serve(self, request: web.Request, route: str) -> web.StreamResponse:
        hub = self.hub
        loop = asyncio.get_running_loop()
        refused = (
            max(hub.refused_until.get(v, 0.0) for v in (route, *self._route_venues(route))) - loop.time()
        )
        if refused > 0:
            return web.Response(status=503, text=f"{route} refusing connections for {refused:.1f}s more\n")
        ws = web.WebSocketResponse(compress=False, max_msg_size=1 << 20)
        await ws.prepare(request)
        client = OpClient(ws, route, request.transport)
        hub.clients.add(client)
        hub.has_clients.set()
        hub.connections_total += 1
        writer = loop.create_task(
            client.write(hub._stall_remaining, hub._count_sent), name=f"emulator-writer-{client.id}"
        )
        self._log.info("client connected", client=client.id, route=route, peer=request.remote)
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    self.requests += 1
                    self.on_text(client, message.data)
                elif message.type == WSMsgType.ERROR:
                    break
        finally:
            hub.clients.discard(client)
            if not hub.clients:
                hub.has_clients.clear()
            for key in list(client.subs):
                self._remove(client, key)
            writer.cancel()
            await asyncio.wait([writer])
            client.queue.clear()
            client.drained.set()
            self._log.info("client disconnected", client=client.id, route=route)
        return ws

    def _route_venues(self, route: str) -> tuple[str, ...]:
        return tuple(v for v in self.venues if v == route) or self.venues

    def on_text(self, client: OpClient, text: str) -> None:
        control = self.parse_control(client, text)
        for key in control.unsubscribe:
            self._remove(client, key)
        for reply in control.replies:
            client.enqueue(reply)
        for key in control.subscribe:
            self._add(client, key)

    def _add(self, client: OpClient, key: SubKey) -> None:
        if key in client.subs:
            return
        client.subs.add(key)
        self.subscribers.setdefault(key, []).append(client)
        venue, symbol, channel, _ = key
        if channel in self.book_channels:
            book = self.books.get((venue, symbol))
            if book is None:
                return  # accepted, silent (the venue lists it; this replay does not have it)
            view = self.views.get(key)
            if view is None:
                view = self.views[key] = BookView(self.view_depth(key), self.first_view_id(key, book))
                view.reset(book)
            client.enqueue(self.book_snapshot(key, view, book))
        elif channel in self.state_channels:
            frame = self.state_snapshot(key)
            if frame is not None:
                client.enqueue(frame)

    def _remove(self, client: OpClient, key: SubKey) -> None:
        client.subs.discard(key)
        clients = self.subscribers.get(key)
        if clients is not None and client in clients:
            clients.remove(client)
            if not clients:
                del self.subscribers[key]
                self.views.pop(key, None)

    # ---- playback ----------------------------------------------------------------------------

    def process(self, item: Item) -> None:
        if item.kind == "book":
            self._book_item(item)
            return
        for key in [k for k in self.subscribers if k[0] == item.venue and k[1] == item.symbol]:
            if key[2] != item.kind:
                continue
            frame = self.render_state(key, item)
            for client in self.subscribers.get(key, ()):
                client.enqueue(frame)
        if item.kind in self.state_channels:
            for key in self._state_keys(item):
                self.last_state[key] = self.render_state(key, item)

    def _state_keys(self, item: Item) -> list[SubKey]:
        return [(item.venue, item.symbol, item.kind, None)]

    def _book_item(self, item: Item) -> None:
        market = (item.venue, item.symbol)
        book = self.books.get(market)
        if book is None:
            return
        if item.action == "snapshot":
            book.load(item.bids, item.asks)
        else:
            book.apply(item.bids, item.asks)
        book.last_id = item.last_id
        book.exch_ms = item.exch_ms
        state = self.faults[market]
        corrupt = False
        if item.action != "snapshot" and state.corrupt:
            state.corrupt -= 1
            corrupt = True
            self._count_fault(
                "checksum", item.venue, item.symbol, "next book update sent with a wrong checksum"
            )
        frames: list[tuple[OpClient, str]] = []
        for key, view in list(self.views.items()):
            if key[0] != item.venue or key[1] != item.symbol:
                continue
            clients = self.subscribers.get(key, [])
            native = book.native is not None and (key[2], self.view_depth(key)) == book.native
            if item.action == "snapshot":
                view.reset(book)
                view.last_id = item.last_id if native else view.last_id
                frame = item.data if native and item.data else self.book_snapshot(key, view, book)
            else:
                changes = view.changes(book)
                if native:
                    view.last_id = item.last_id
                    frame = self.native_frame(key, item, corrupt)
                elif changes is None:
                    continue
                else:
                    frame = self.book_delta(key, view, book, changes, corrupt)
            frames.extend((client, frame) for client in clients)
        self._send_book(item, state, frames)

    def _send_book(self, item: Item, state: _Faults, frames: list[tuple[OpClient, str]]) -> None:
        if self.depth_stalled(item.venue, item.symbol):
            return  # applied to the book, not sent: the book stream is frozen (stall_depth)
        if item.action == "snapshot":
            for client, frame in frames:
                client.enqueue(frame)
            return
        if state.held is not None:
            held, state.held = state.held, None
            for client, frame in frames + held:
                client.enqueue(frame)
        elif state.swap:
            state.swap = False
            state.held = frames
            self._count_fault(
                "out_of_order", item.venue, item.symbol, f"book message {item.last_id} held back"
            )
        elif state.gaps:
            state.gaps -= 1
            self._count_fault("gap", item.venue, item.symbol, f"book message {item.last_id} not sent")
        else:
            for client, frame in frames:
                client.enqueue(frame)

    # ---- faults ------------------------------------------------------------------------------

    def inject(self, fault: Fault) -> int:
        """Apply a book or malformed fault; returns how many markets / connections it hit."""
        hit = 0
        if fault.kind in ("gap", "out_of_order", "checksum"):
            for (venue, symbol), state in self.faults.items():
                if fault.matches(venue, symbol):
                    hit += 1
                    if fault.kind == "gap":
                        state.gaps += 1
                    elif fault.kind == "out_of_order":
                        state.swap = True
                    else:
                        state.corrupt += 1
        elif fault.kind == "malformed":
            for client in list(self.hub.clients):
                if isinstance(client, OpClient) and client.route in self.routes() and client.matches(fault):
                    client.enqueue(self.broken_frame(client))
                    hit += 1
        return hit

    def routes(self) -> tuple[str, ...]:
        raise NotImplementedError

    def status(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "subscriptions": sum(len(c) for c in self.subscribers.values()),
            "streams": sorted(f"{k[0]}:{k[1]}:{k[2]}:{k[3]}" for k in self.subscribers),
        }
