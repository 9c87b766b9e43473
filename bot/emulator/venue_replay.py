"""Replay sources for Bybit and OKX recordings (books that snapshot in the stream).

Two recording formats are read (``data/SOURCES.md`` of the project has the files):

**Bybit history files** (``*.data.zip`` holding ``*.data`` members, or plain
``.data`` / ``.jsonl`` NDJSON): one websocket message per line, ``{"topic":
"orderbook.500.XRPUSDT","type":"snapshot"|"delta","ts":..,"data":{"s","b","a","u",
"seq"},"cts":..}``, and ``publicTrade`` lines. There is no receive time; the message
``ts`` (ms) is the timeline. The category is not in the file: depth 500 exists on
linear only; otherwise a ``spot`` in the file name means ``bybit_spot``, anything
else ``bybit_linear`` (``venue=`` forces it).

**cryptofeed raw logs** (OKX, ``OKX.ws.*``): ``<url> <-> <unix s>`` (connect),
``<url> <- <unix s>: <json>`` (requests sent; skipped) and ``<unix s>: <json>``
(frames received; the float receive time is the timeline). Book pushes (``books``
and the other book channels), ``trades``, ``tickers``, ``funding-rate`` and
``mark-price`` are kept; subscribe acks are skipped. The instrument type comes from
the id (``BTC-USDT`` spot, ``-SWAP`` swap, ``BTC-USD-220527`` futures).

Per market the first snapshot seeds the exchange book (it is what a subscriber gets
at once); every later book message is an item that the emulator applies to the book
and forwards *verbatim* to subscribers of the recorded stream, so ids, checksums and
number text reach the client exactly as recorded. Breaks in the recorded chain are
kept (they are in the data) and logged. Every problem is an
:class:`~bot.errors.InputError` naming the file (and line).
"""

from __future__ import annotations

import heapq
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import msgspec
import structlog

from bot.emulator.source import Item, SourcePass
from bot.emulator.venue_book import RawLevel, VenueBook
from bot.errors import InputError

log = structlog.get_logger("bot.emulator.replay")

BYBIT_VENUES = ("bybit_spot", "bybit_linear")
OKX_BOOK_DEPTH = {"books": 400, "books5": 5, "bbo-tbt": 1, "books50-l2-tbt": 50, "books-l2-tbt": 400}
OKX_OTHER = frozenset({"trades", "tickers", "funding-rate", "mark-price"})


@dataclass
class _Seed:
    ts_ns: int
    bids: list[RawLevel]
    asks: list[RawLevel]
    last_id: int
    exch_ms: int


@dataclass
class StreamMarket:
    """One (venue, symbol) session of a recording."""

    venue: str
    symbol: str
    path: Path
    native: tuple[str, int | None]
    seed: _Seed | None = None
    items: list[Item] = field(default_factory=list)
    book_messages: int = 0
    chain_breaks: int = 0

    @property
    def span_s(self) -> float:
        return (self.items[-1].ts_ns - self.items[0].ts_ns) / 1e9 if self.items else 0.0


def _levels(raw: Any, where: str) -> list[RawLevel]:
    if not isinstance(raw, list):
        raise InputError(f"{where}: book levels are not a list")
    out: list[RawLevel] = []
    for level in raw:
        if not isinstance(level, list) or len(level) < 2 or not all(isinstance(x, str) for x in level[:2]):
            raise InputError(f"{where}: bad book level {level!r}")
        try:
            Decimal(level[0])
            Decimal(level[1])
        except InvalidOperation:
            raise InputError(f"{where}: bad book level {level!r}") from None
        out.append((level[0], level[1]))
    return out


# ---- Bybit ------------------------------------------------------------------------------------


def _bybit_lines(path: Path) -> list[tuple[str, bytes]]:
    """(location, line) pairs of a Bybit history file (zip or plain NDJSON)."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                lines: list[tuple[str, bytes]] = []
                for name in sorted(archive.namelist()):
                    for number, line in enumerate(archive.read(name).splitlines(), start=1):
                        lines.append((f"{path}[{name}]:{number}", line))
                return lines
        return [(f"{path}:{n}", line) for n, line in enumerate(path.read_bytes().splitlines(), start=1)]
    except FileNotFoundError:
        raise InputError(f"{path}: replay file not found") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, expected a recording") from None
    except (OSError, zipfile.BadZipFile) as exc:
        raise InputError(f"{path}: cannot read recording: {exc}") from None


def _bybit_venue(depth: int, path: Path, explicit: str | None) -> str:
    if explicit is not None:
        if explicit not in BYBIT_VENUES:
            raise InputError(f"{path}: venue {explicit!r} is not a Bybit venue ({', '.join(BYBIT_VENUES)})")
        return explicit
    if depth == 500:
        return "bybit_linear"
    return "bybit_spot" if "spot" in str(path).lower() else "bybit_linear"


def read_bybit(path: Path, *, venue: str | None = None) -> list[StreamMarket]:
    markets: dict[str, StreamMarket] = {}
    decoder = msgspec.json.Decoder(dict[str, Any])
    for where, line in _bybit_lines(path):
        if not line.strip():
            continue
        try:
            message = decoder.decode(line)
        except msgspec.DecodeError as exc:
            raise InputError(f"{where}: not a JSON message ({exc})") from None
        topic = message.get("topic")
        if not isinstance(topic, str):
            raise InputError(f"{where}: message without a topic")
        parts = topic.split(".")
        ts = message.get("ts")
        if not isinstance(ts, int):
            raise InputError(f"{where}: message without an integer 'ts'")
        text = line.decode()
        if parts[0] == "orderbook" and len(parts) == 3 and parts[1].isdigit():
            symbol, depth = parts[2], int(parts[1])
            market = markets.get(symbol)
            if market is None:
                market = markets[symbol] = StreamMarket(
                    _bybit_venue(depth, path, venue), symbol, path, ("orderbook", depth)
                )
            if market.seed is None:
                market.native = ("orderbook", depth)
                market.venue = _bybit_venue(depth, path, venue)
                for item in market.items:
                    item.venue = market.venue
            _bybit_book(market, message, text, ts, where)
        elif parts[0] == "publicTrade" and len(parts) == 2:
            market = markets.get(parts[1])
            if market is None:  # trades before the first book message: depth unknown yet
                market = markets[parts[1]] = StreamMarket(
                    _bybit_venue(0, path, venue), parts[1], path, ("orderbook", None)
                )
            market.items.append(Item(ts * 1_000_000, market.venue, market.symbol, "publicTrade", text))
        # other topics (tickers, kline, ...) are not replayed
    return _finish(path, markets)


def _bybit_book(market: StreamMarket, message: dict[str, Any], text: str, ts: int, where: str) -> None:
    data = message.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("u"), int):
        raise InputError(f"{where}: orderbook message without data.u")
    u = data["u"]
    bids, asks = _levels(data.get("b"), where), _levels(data.get("a"), where)
    snapshot = message.get("type") == "snapshot" or u == 1
    if market.seed is None:
        if not snapshot:
            return  # deltas before the first snapshot cannot be served
        market.seed = _Seed(ts * 1_000_000, bids, asks, u, ts)
        market.book_messages += 1
        return
    previous = _last_book_id(market)
    if not snapshot and u != previous + 1:
        market.chain_breaks += 1
        log.warning(
            "recorded u chain has a gap", market=f"{market.venue}:{market.symbol}", after=previous, u=u
        )
    market.items.append(
        Item(
            ts * 1_000_000,
            market.venue,
            market.symbol,
            "book",
            text,
            exch_ms=ts,
            first_id=u,
            last_id=u,
            bids=bids,
            asks=asks,
            action="snapshot" if snapshot else "update",
        )
    )
    market.book_messages += 1


def _last_book_id(market: StreamMarket) -> int:
    for item in reversed(market.items):
        if item.kind == "book":
            return item.last_id
    assert market.seed is not None
    return market.seed.last_id


# ---- OKX (cryptofeed raw log) -------------------------------------------------------------------


def okx_venue(inst_id: str) -> str:
    parts = inst_id.split("-")
    if len(parts) == 3 and parts[2] == "SWAP":
        return "okx_swap"
    if len(parts) == 3 and parts[2].isdigit():
        return "okx_futures"
    return "okx_spot"


def _read_text_lines(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except FileNotFoundError:
        raise InputError(f"{path}: replay file not found") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, expected a recording") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read recording: {exc}") from None


def read_okx(path: Path) -> list[StreamMarket]:
    markets: dict[str, StreamMarket] = {}
    decoder = msgspec.json.Decoder(dict[str, Any])
    for number, line in enumerate(_read_text_lines(path), start=1):
        where = f"{path}:{number}"
        if not line.strip() or " <-> " in line or " <- " in line:
            continue
        stamp, sep, payload = line.partition(": ")
        try:
            ts_ns = int(Decimal(stamp) * 1_000_000_000)
            message = decoder.decode(payload) if sep else None
        except (InvalidOperation, msgspec.DecodeError) as exc:
            raise InputError(f"{where}: not a '<unix seconds>: <json>' line ({exc})") from None
        if message is None:
            raise InputError(f"{where}: not a '<unix seconds>: <json>' line")
        if "event" in message:
            continue  # subscribe acks
        arg = message.get("arg")
        if not isinstance(arg, dict) or not isinstance(arg.get("channel"), str):
            raise InputError(f"{where}: push without arg.channel")
        channel, inst_id = arg["channel"], arg.get("instId")
        if not isinstance(inst_id, str) or not inst_id:
            continue  # channels without an instrument are not replayed
        if channel not in OKX_BOOK_DEPTH and channel not in OKX_OTHER:
            continue
        market = markets.get(inst_id)
        if market is None:
            market = markets[inst_id] = StreamMarket(
                okx_venue(inst_id), inst_id, path, (channel, OKX_BOOK_DEPTH.get(channel))
            )
        if channel in OKX_BOOK_DEPTH:
            if market.seed is None:
                market.native = (channel, OKX_BOOK_DEPTH[channel])
            _okx_book(market, message, payload, ts_ns, where)
        else:
            market.items.append(Item(ts_ns, market.venue, inst_id, channel, payload))
    return _finish(path, markets)


def _okx_book(market: StreamMarket, message: dict[str, Any], payload: str, ts_ns: int, where: str) -> None:
    entries = message.get("data")
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
        raise InputError(f"{where}: book push without data")
    bids: list[RawLevel] = []
    asks: list[RawLevel] = []
    for entry in entries:
        bids.extend(_levels(entry.get("bids"), where))
        asks.extend(_levels(entry.get("asks"), where))
    last = entries[-1]
    seq = last.get("seqId") if isinstance(last.get("seqId"), int) else -1
    prev = last.get("prevSeqId") if isinstance(last.get("prevSeqId"), int) else -1
    checksum = last.get("checksum") if isinstance(last.get("checksum"), int) else None
    try:
        exch_ms = int(last.get("ts", "0"))
    except (TypeError, ValueError):
        raise InputError(f"{where}: book push with a bad ts") from None
    action = message.get("action", "snapshot")
    if market.seed is None:
        if action != "snapshot":
            return
        market.seed = _Seed(ts_ns, bids, asks, seq, exch_ms)
        market.book_messages += 1
        return
    if action == "update" and seq != -1 and prev != _last_book_id(market):
        market.chain_breaks += 1
        log.warning("recorded seqId chain has a gap", market=f"{market.venue}:{market.symbol}", prev=prev)
    market.items.append(
        Item(
            ts_ns,
            market.venue,
            market.symbol,
            "book",
            payload,
            exch_ms=exch_ms,
            first_id=seq,
            last_id=seq,
            prev_id=prev,
            bids=bids,
            asks=asks,
            action="snapshot" if action == "snapshot" else "update",
            checksum=checksum,
        )
    )
    market.book_messages += 1


def _finish(path: Path, markets: dict[str, StreamMarket]) -> list[StreamMarket]:
    done = [m for m in markets.values() if m.seed is not None]
    for market in done:
        # messages recorded before the book's snapshot (trades) play from the snapshot on
        assert market.seed is not None
        market.items.sort(key=lambda item: item.ts_ns)
    if not done:
        raise InputError(f"{path}: no book snapshot found; a stream cannot be served without one")
    for market in done:
        log.info(
            "replay loaded",
            market=f"{market.venue}:{market.symbol}",
            file=path.name,
            messages=len(market.items) + 1,
            book_messages=market.book_messages,
            chain_breaks=market.chain_breaks,
            span_s=round(market.span_s, 1),
        )
    return done


# ---- the source ---------------------------------------------------------------------------------


class StreamReplaySource:
    """Recorded Bybit / OKX sessions merged by time (a :class:`MarketSource`)."""

    def __init__(self, markets: Sequence[StreamMarket]) -> None:
        if not markets:
            raise InputError("no recordings to replay")
        self.replay_markets = list(markets)
        self._timeline = list(heapq.merge(*(m.items for m in markets), key=lambda item: item.ts_ns))

    @property
    def description(self) -> str:
        return "replay of " + ", ".join(sorted({m.path.name for m in self.replay_markets}))

    def markets(self) -> list[tuple[str, str]]:
        return [(m.venue, m.symbol) for m in self.replay_markets]

    def __len__(self) -> int:
        return len(self._timeline)

    def start_ns(self) -> int:
        starts = [m.seed.ts_ns for m in self.replay_markets if m.seed is not None]
        starts += [m.items[0].ts_ns for m in self.replay_markets if m.items]
        return min(starts)

    def end_ns(self) -> int:
        return max((m.items[-1].ts_ns for m in self.replay_markets if m.items), default=self.start_ns())

    def shifted(self, offset_ns: int) -> StreamReplaySource:
        """The same sessions ``offset_ns`` later (to line up with another recording)."""
        markets = []
        for market in self.replay_markets:
            assert market.seed is not None
            items = [_shift(item, offset_ns) for item in market.items]
            seed = replace(market.seed, ts_ns=market.seed.ts_ns + offset_ns)
            markets.append(replace(market, seed=seed, items=items))
        return StreamReplaySource(markets)

    def clipped(self, end_ns: int) -> StreamReplaySource:
        """Every market up to ``end_ns`` (by timeline time)."""
        return StreamReplaySource(
            [replace(m, items=[i for i in m.items if i.ts_ns <= end_ns]) for m in self.replay_markets]
        )

    def truncated(self, seconds: float) -> StreamReplaySource:
        return self.clipped(self.start_ns() + int(seconds * 1e9))

    def open_pass(self) -> SourcePass:
        books: dict[tuple[str, str], Any] = {}
        for market in self.replay_markets:
            seed = market.seed
            assert seed is not None
            books[(market.venue, market.symbol)] = VenueBook(
                market.venue,
                market.symbol,
                seed.bids,
                seed.asks,
                last_id=seed.last_id,
                exch_ms=seed.exch_ms,
                native=market.native,
            )
        return SourcePass(books, self._iterate())

    def _iterate(self) -> Iterator[Item]:
        yield from self._timeline


def _shift(item: Item, offset_ns: int) -> Item:
    return Item(
        item.ts_ns + offset_ns,
        item.venue,
        item.symbol,
        item.kind,
        item.data,
        exch_ms=item.exch_ms,
        first_id=item.first_id,
        last_id=item.last_id,
        prev_id=item.prev_id,
        bids=item.bids,
        asks=item.asks,
        action=item.action,
        checksum=item.checksum,
    )
