"""Test glue for the Bybit / OKX adapters: adapter -> engine -> resubscribe, plus recorders,
and independent reconstructions of the Bybit and OKX recordings (json + Decimal + zlib only).

The production driver wires the same way (the engine's book sync asks for a snapshot,
the adapter resubscribes). The harness records what the tests assert: validity
transitions per instrument with the event that caused them, any moment a valid book
was crossed, and every event.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import zipfile
import zlib
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.core.events import BookDelta, BookSnapshot, Event, MarketEvent, Timer
from bot.core.instrument import InstrumentKind, InstrumentSpec
from bot.engine.loop import Engine

DATA = Path(__file__).resolve().parent / "data"
BYBIT_FILE = DATA / "xrpusdt-ob500.data.zip"
OKX_FILE = DATA / "OKX.ws.1.0"

XRP_LINEAR = InstrumentSpec(
    venue="bybit_linear",
    symbol="XRPUSDT",
    kind=InstrumentKind.PERP,
    base="XRP",
    quote="USDT",
    tick_size=Decimal("0.0001"),
    lot_size=Decimal("1"),
    qty_step=Decimal("1"),
    min_qty=Decimal("1"),
    min_notional=Decimal("5"),
)
OKX_BTC_USDT = InstrumentSpec(
    venue="okx_spot",
    symbol="BTC-USDT",
    kind=InstrumentKind.SPOT,
    base="BTC",
    quote="USDT",
    tick_size=Decimal("0.1"),
    lot_size=Decimal("0.00000001"),
    qty_step=Decimal("0.00000001"),
    min_qty=Decimal("0.00001"),
)
OKX_UNI_SWAP = InstrumentSpec(
    venue="okx_swap",
    symbol="UNI-USD-SWAP",
    kind=InstrumentKind.PERP,
    base="UNI",
    quote="USD",
    tick_size=Decimal("0.001"),
    lot_size=Decimal("1"),
    qty_step=Decimal("1"),
    min_qty=Decimal("1"),
    contract_size=Decimal("10"),
)
OKX_BTC_FUTURE = InstrumentSpec(
    venue="okx_futures",
    symbol="BTC-USD-220527",
    kind=InstrumentKind.PERP,
    base="BTC",
    quote="USD",
    tick_size=Decimal("0.1"),
    lot_size=Decimal("1"),
    qty_step=Decimal("1"),
    min_qty=Decimal("1"),
    contract_size=Decimal("100"),
)
OKX_SPECS = {spec.venue: spec for spec in (OKX_BTC_USDT, OKX_UNI_SWAP, OKX_BTC_FUTURE)}

DecimalBook = tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]


class VenueHarness:
    """One adapter feeding one engine (all of the adapter's instruments), with recorders."""

    def __init__(
        self,
        adapter_cls: Any,
        venue: str,
        settings: Any,
        specs: list[InstrumentSpec],
        *,
        engine_stale_s: float = 3600.0,
        timer_interval_s: float | None = None,
    ) -> None:
        self.specs = {spec.key: spec for spec in specs}
        self.engine = Engine("test", specs, stale_after_s=engine_stale_s)
        self.adapter = adapter_cls(venue, settings, specs, self.sink, rng=random.Random(7))
        self.events: list[MarketEvent] = []
        self.transitions: dict[str, list[tuple[bool, str, MarketEvent | None]]] = {k: [] for k in self.specs}
        self.crossed_while_valid: list[str] = []
        self.timer_interval_s = timer_interval_s
        self._valid = dict.fromkeys(self.specs, False)
        self._current: MarketEvent | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.engine.add_handler(self._after_engine)

    def sink(self, event: MarketEvent) -> None:
        self.events.append(event)
        self._current = event
        self.engine.on_event(event)
        for action in self.engine.drain_actions():
            self.adapter.request_snapshot(action.instrument, action.reason, action.attempt)

    def _after_engine(self, event: Event) -> None:
        for key in self.specs:
            sync = self.engine.instruments[key].sync
            book = sync.book
            bid, ask = book.best_bid, book.best_ask
            if sync.valid and bid is not None and ask is not None and bid >= ask:
                self.crossed_while_valid.append(f"{key} at {book.update_id}")
            if sync.valid != self._valid[key]:
                self._valid[key] = sync.valid
                cause = event if not isinstance(event, Timer) else None
                self.transitions[key].append((sync.valid, "" if sync.valid else sync.invalid_reason, cause))

    def sync(self, key: str) -> Any:
        return self.engine.instruments[key].sync

    def decimal_book(self, key: str) -> DecimalBook:
        spec = self.specs[key]
        book = self.engine.book(key)
        return (
            {spec.tick_size * p: spec.lot_size * q for p, q in book.bids.items()},
            {spec.tick_size * p: spec.lot_size * q for p, q in book.asks.items()},
        )

    def of_type(self, cls: type, key: str | None = None) -> list[Any]:
        return [e for e in self.events if isinstance(e, cls) and (key is None or e.instrument == key)]

    async def __aenter__(self) -> VenueHarness:
        self._tasks.append(asyncio.create_task(self.adapter.run()))
        if self.timer_interval_s:
            self._tasks.append(asyncio.create_task(self._timers()))
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks[1:]:
            task.cancel()
        await self.adapter.close()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _timers(self) -> None:
        assert self.timer_interval_s
        while True:
            await asyncio.sleep(self.timer_interval_s)
            self.engine.on_event(Timer(local_ts=time.time_ns()))
            for action in self.engine.drain_actions():
                self.adapter.request_snapshot(action.instrument, action.reason, action.attempt)


def exchange_book(book: Any) -> DecimalBook:
    """The emulator's own book (text levels) as Decimal dicts."""
    return (
        {Decimal(p): Decimal(q) for p, q in book.bids.values()},
        {Decimal(p): Decimal(q) for p, q in book.asks.values()},
    )


# ---- independent reconstructions ------------------------------------------------------------------


def _apply(side: dict[Decimal, Decimal], levels: list[list[str]]) -> None:
    for level in levels:
        price, size = Decimal(level[0]), Decimal(level[1])
        if size:
            side[price] = size
        else:
            side.pop(price, None)


class NaiveBybit:
    """Bybit's documented procedure on the raw file: snapshot, then deltas with u + 1."""

    def __init__(self, path: Path = BYBIT_FILE) -> None:
        with zipfile.ZipFile(path) as archive:
            (name,) = archive.namelist()
            lines = [json.loads(line) for line in archive.read(name).splitlines() if line.strip()]
        first = lines[0]
        assert first["type"] == "snapshot"
        self.symbol = first["data"]["s"]
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        _apply(self.bids, first["data"]["b"])
        _apply(self.asks, first["data"]["a"])
        self.first_u = last = first["data"]["u"]
        self.deltas: list[int] = []
        self.books_by_u: dict[int, DecimalBook] = {}
        for message in lines[1:]:
            data = message["data"]
            assert message["type"] == "delta" and data["u"] == last + 1, "recording breaks its u chain"
            _apply(self.bids, data["b"])
            _apply(self.asks, data["a"])
            assert max(self.bids) < min(self.asks), "naive book crossed"
            last = data["u"]
            self.deltas.append(last)
            self.books_by_u[last] = (dict(self.bids), dict(self.asks))
        self.last_u = last

    @property
    def book(self) -> DecimalBook:
        return self.bids, self.asks


def okx_checksum_reference(bids: dict[Decimal, tuple[str, str]], asks: dict[Decimal, tuple[str, str]]) -> int:
    """OKX's documented checksum, written out independently of bot/ code."""
    best_bids = [bids[p] for p in sorted(bids, reverse=True)[:25]]
    best_asks = [asks[p] for p in sorted(asks)[:25]]
    parts: list[str] = []
    for i in range(25):
        if i < len(best_bids):
            parts += list(best_bids[i])
        if i < len(best_asks):
            parts += list(best_asks[i])
    crc = zlib.crc32(":".join(parts).encode())
    return crc if crc < 2**31 else crc - 2**32


class NaiveOkx:
    """The OKX log replayed per instrument with json + Decimal, checksums checked on text."""

    def __init__(self, path: Path = OKX_FILE) -> None:
        text_books: dict[str, tuple[dict[Decimal, tuple[str, str]], dict[Decimal, tuple[str, str]]]] = {}
        self.checksums_verified = 0
        self.updates: dict[str, int] = {}
        self.trades: dict[str, int] = {}
        for line in path.read_text().splitlines():
            if " <- " in line or " <-> " in line or not line.strip():
                continue
            message = json.loads(line.partition(": ")[2])
            arg = message.get("arg", {})
            inst = arg.get("instId")
            if arg.get("channel") == "trades" and "data" in message:
                self.trades[inst] = self.trades.get(inst, 0) + len(message["data"])
            if arg.get("channel") != "books" or "action" not in message:
                continue
            (data,) = message["data"]
            if message["action"] == "snapshot":
                text_books[inst] = ({}, {})
            else:
                self.updates[inst] = self.updates.get(inst, 0) + 1
            bids, asks = text_books[inst]
            for side, levels in ((bids, data["bids"]), (asks, data["asks"])):
                for level in levels:
                    if Decimal(level[1]):
                        side[Decimal(level[0])] = (level[0], level[1])
                    else:
                        side.pop(Decimal(level[0]), None)
            assert okx_checksum_reference(bids, asks) == data["checksum"], "recorded checksum mismatch"
            self.checksums_verified += 1
            assert max(bids) < min(asks)
        self.books: dict[str, DecimalBook] = {
            inst: (
                {p: Decimal(q) for p, (_, q) in bids.items()},
                {p: Decimal(q) for p, (_, q) in asks.items()},
            )
            for inst, (bids, asks) in text_books.items()
        }


def book_events(events: list[MarketEvent], key: str) -> list[BookSnapshot | BookDelta]:
    return [e for e in events if isinstance(e, BookSnapshot | BookDelta) and e.instrument == key]
