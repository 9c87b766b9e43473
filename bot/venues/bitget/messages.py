"""Bitget v2 public messages: typed raw structs and the pure decoder to core events.

Frames handled (``/v2/ws/public``), ``{"action":..,"arg":{"instType":..,"channel":..,
"instId":..},"data":[..],"ts":..}``:

- ``books``: ``action: snapshot`` -> :class:`BookSnapshot` (``update_id = seq``),
  ``action: update`` -> :class:`BookDelta` with ``first_id = last_id = seq`` and
  ``prev_id = pseq`` where a non-zero ``pseq`` is sent (else -1). ``seq`` may come as
  a number or a string (ccxt's unified-account example quotes it); a message without
  ``seq`` (the 2022 recordings) gets -1. ``checksum`` is passed on as is (0 = none);
  the sync rule (:mod:`bot.market.sync.bitget`) verifies it. A level is ``[px, sz]``;
  sizes are absolute, ``"0"`` deletes.
- ``books1`` / ``books5`` / ``books15``: the top levels as a full book each push ->
  :class:`BookSnapshot`, checksum not passed on (what it covers is not documented).
- ``trade``: ``action: update`` -> one :class:`Trade` per fill (``side`` is the taker
  side, ``tradeId`` the id). The ``snapshot`` a subscription starts with is the venue's
  recent history (trades from before the subscription) and decodes to ``[]``: replaying
  it after every resubscription would count the same fills twice.
- ``ticker`` (USDT-M): every push carries every field; ``markPrice``, ``indexPrice``
  (rounded half-even to the tick), ``fundingRate`` (exact) and ``nextFundingTime``
  make a :class:`MarkPrice`. Spot tickers decode to ``[]`` (spot has no mark).
- control: ``pong``, ``subscribe`` / ``unsubscribe`` acks decode to ``[]``; ``error``
  events (``{"event":"error","code":30001,"msg":..}``) raise :class:`DecodeError`
  (``invalid``). A push for another ``instType`` than the venue's is
  ``unknown_stream``.

The checksum guard: the core verifies Bitget's checksum from the integer book, writing
each number with the instrument's fixed decimals (see :mod:`bot.market.sync.bitget`).
The decoder checks every new price and size string it converts; if Bitget ever sends
one in another shape (``"113.5"`` where ``"113.50"`` is expected), the checksum can no
longer be rebuilt for that instrument, so the decoder stops passing its checksums on
(``checksum=None``), logs it once and records it in :attr:`BitgetDecoder.checksum_disabled`.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal, InvalidOperation

import msgspec
import structlog

from bot.core.events import NS_PER_MS, BookDelta, BookSnapshot, Level, MarketEvent, MarkPrice, Side, Trade
from bot.core.instrument import ConversionError, InstrumentSpec
from bot.market.sync.bitget import decimals_of
from bot.venues.bitget.endpoints import BOOK_CHANNELS, INCREMENTAL_BOOK, INST_TYPE, PONG
from bot.venues.decoding import DecodeError, Scalers, round_ticks

__all__ = ["BitgetDecoder", "DecodeError", "is_fixed"]

log = structlog.get_logger("bot.venues.bitget")

NO_SEQ = -1


class _Arg(msgspec.Struct, frozen=True):
    channel: str
    instType: str = ""
    instId: str = ""


class _Frame(msgspec.Struct, frozen=True):
    arg: _Arg | None = None
    action: str | None = None
    data: msgspec.Raw = msgspec.Raw()
    event: str | None = None
    code: int | str | None = None
    msg: str | None = None
    ts: int | str | None = None


class BookData(msgspec.Struct, frozen=True):
    asks: list[list[str]]
    bids: list[list[str]]
    ts: str = "0"
    checksum: int | None = None
    seq: int | str | None = None
    pseq: int | str | None = None


class TradeData(msgspec.Struct, frozen=True):
    ts: str
    price: str
    size: str
    side: str
    tradeId: str = ""


class TickerData(msgspec.Struct, frozen=True):
    instId: str = ""
    markPrice: str | None = None
    indexPrice: str | None = None
    fundingRate: str | None = None
    nextFundingTime: str | None = None
    ts: str = "0"


_FRAME = msgspec.json.Decoder(_Frame)
_BOOKS = msgspec.json.Decoder(list[BookData])
_TRADES = msgspec.json.Decoder(list[TradeData])
_TICKERS = msgspec.json.Decoder(list[TickerData])


def is_fixed(text: str, digits: int) -> bool:
    """True if ``text`` is a plain decimal with exactly ``digits`` decimals
    (``"113.50"`` for 2, ``"67"`` for 0) -- how Bitget writes book numbers."""
    whole, dot, frac = text.partition(".")
    if not whole.isdigit():
        return False
    if digits == 0:
        return not dot
    return bool(dot) and len(frac) == digits and frac.isdigit()


def _seq(value: int | str | None) -> int:
    if value is None or value == "":
        return NO_SEQ
    return int(value)


class BitgetDecoder:
    """Decodes one Bitget venue's public frames for a set of instruments into events."""

    def __init__(self, venue: str, specs: Iterable[InstrumentSpec]) -> None:
        if venue not in INST_TYPE:
            raise ValueError(f"unknown Bitget venue {venue!r}")
        self.venue = venue
        self.inst_type = INST_TYPE[venue]
        self._by_inst: dict[str, Scalers] = {}
        self._trade_scalers: dict[str, Scalers] = {}
        """Trades convert with caches of their own: Bitget writes trade prices canonically
        (``"113.4"``), and the book's caches must only ever hold book text (the guard below
        checks each book string when it first enters the cache)."""
        self._digits: dict[str, tuple[int, int]] = {}
        for spec in specs:
            if spec.venue != venue:
                raise ValueError(f"instrument {spec.key} does not belong to venue {venue}")
            self._by_inst[spec.symbol] = Scalers(spec)
            self._trade_scalers[spec.symbol] = Scalers(spec)
            self._digits[spec.symbol] = (decimals_of(spec.tick_size), decimals_of(spec.lot_size))
        self.checksum_disabled: set[str] = set()
        """Instruments whose checksums are no longer passed on (a number in another shape seen)."""

    def reset(self, inst_ids: Iterable[str] | None = None) -> None:
        """Nothing to forget: Bitget pushes every ticker field each time (the adapter calls
        this on every new connection, as for every venue)."""

    def decode(self, raw: bytes | str, local_ts: int) -> list[MarketEvent]:
        """One websocket frame -> its events; ``[]`` for pongs and acks."""
        if raw == PONG or raw == b"pong":
            return []
        try:
            frame = _FRAME.decode(raw)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            raise DecodeError("malformed", f"malformed message: {exc}") from None
        if frame.event is not None:
            return self._control(frame)
        if frame.arg is None or not frame.data:
            raise DecodeError("malformed", "message is neither a channel push nor an event")
        arg = frame.arg
        channel, inst_id = arg.channel, arg.instId
        if arg.instType.upper() != self.inst_type:
            raise DecodeError(
                "unknown_stream", f"{self.venue}: a {arg.instType or 'no'} instType push ({channel})"
            )
        scalers = self._by_inst.get(inst_id)
        if scalers is None:
            if channel in BOOK_CHANNELS or channel in ("trade", "ticker"):
                raise DecodeError("unknown_symbol", f"{self.venue}: not subscribed to {inst_id!r}")
            raise DecodeError("unknown_stream", f"unknown channel {channel!r}")
        try:
            if channel in BOOK_CHANNELS:
                return self._books(scalers, channel, frame, local_ts)
            if channel == "trade":
                return self._trades(scalers, frame, local_ts)
            if channel == "ticker":
                return self._ticker(scalers, frame, local_ts)
        except DecodeError:
            raise
        except msgspec.ValidationError as exc:
            raise DecodeError("invalid", f"invalid {channel} message: {exc}") from None
        except msgspec.DecodeError as exc:
            raise DecodeError("malformed", f"malformed {channel} message: {exc}") from None
        except ConversionError as exc:
            raise DecodeError("off_tick", f"{channel}: {exc}") from None
        except (ValueError, InvalidOperation) as exc:
            raise DecodeError("invalid", f"invalid {channel} message: {exc}") from None
        raise DecodeError("unknown_stream", f"unknown channel {channel!r}")

    decode_frame = decode

    # ---- per message type --------------------------------------------------------------

    def _control(self, frame: _Frame) -> list[MarketEvent]:
        if frame.event == "error":
            raise DecodeError("invalid", f"request failed: {frame.code}: {frame.msg}")
        return []  # subscribe / unsubscribe acks

    def _levels(self, sc: Scalers, raw: list[list[str]]) -> list[Level]:
        out: list[Level] = []
        prices, sizes = sc.price_cache, sc.size_cache
        price_digits, size_digits = self._digits[sc.spec.symbol]
        for entry in raw:
            if len(entry) < 2:
                raise DecodeError("invalid", f"book level {entry!r} has no size")
            price_text, size_text = entry[0], entry[1]
            price = prices.get(price_text)
            if price is None:
                price = sc.price(price_text)
                self._guard(sc, price_text, price_digits)
            size = sizes.get(size_text)
            if size is None:
                size = sc.size(size_text)
                if size:  # a deletion's "0" is never part of the checksum
                    self._guard(sc, size_text, size_digits)
            out.append((price, size))
        return out

    def _guard(self, sc: Scalers, text: str, digits: int) -> None:
        if sc.spec.symbol in self.checksum_disabled or is_fixed(text, digits):
            return
        self.checksum_disabled.add(sc.spec.symbol)
        log.warning(
            "checksum verification disabled: the venue sent a number in an unexpected shape",
            instrument=sc.key,
            text=text,
            expected_decimals=digits,
        )

    def _books(self, sc: Scalers, channel: str, frame: _Frame, local_ts: int) -> list[MarketEvent]:
        events: list[MarketEvent] = []
        action = frame.action
        incremental = channel == INCREMENTAL_BOOK
        for book in _BOOKS.decode(frame.data):
            bids = self._levels(sc, book.bids)
            asks = self._levels(sc, book.asks)
            checksum = book.checksum if incremental and sc.spec.symbol not in self.checksum_disabled else None
            exch_ts = int(book.ts) * NS_PER_MS
            seq = _seq(book.seq)
            if not incremental or action == "snapshot":
                events.append(
                    BookSnapshot(
                        instrument=sc.key,
                        local_ts=local_ts,
                        exch_ts=exch_ts,
                        update_id=seq,
                        bids=bids,
                        asks=asks,
                        checksum=checksum,
                    )
                )
            elif action == "update":
                pseq = _seq(book.pseq)
                events.append(
                    BookDelta(
                        instrument=sc.key,
                        local_ts=local_ts,
                        exch_ts=exch_ts,
                        first_id=seq,
                        last_id=seq,
                        prev_id=pseq if pseq > 0 else NO_SEQ,
                        bids=bids,
                        asks=asks,
                        checksum=checksum,
                    )
                )
            else:
                raise DecodeError("invalid", f"book message with unknown action {action!r}")
        return events

    def _trades(self, book_scalers: Scalers, frame: _Frame, local_ts: int) -> list[MarketEvent]:
        sc = self._trade_scalers[book_scalers.spec.symbol]
        trades = _TRADES.decode(frame.data)
        if frame.action == "snapshot":
            return []  # the venue's recent history at subscription time (see module doc)
        events: list[MarketEvent] = []
        for trade in trades:
            if trade.side not in ("buy", "sell"):
                raise DecodeError("invalid", f"trade side {trade.side!r}")
            events.append(
                Trade(
                    instrument=sc.key,
                    local_ts=local_ts,
                    exch_ts=int(trade.ts) * NS_PER_MS,
                    price=sc.price(trade.price),
                    size=sc.size(trade.size),
                    side=Side.BUY if trade.side == "buy" else Side.SELL,
                    trade_id=int(trade.tradeId) if trade.tradeId.isdigit() else 0,
                )
            )
        return events

    def _ticker(self, sc: Scalers, frame: _Frame, local_ts: int) -> list[MarketEvent]:
        if self.venue == "bitget_spot":
            return []
        events: list[MarketEvent] = []
        for item in _TICKERS.decode(frame.data):
            if item.instId and item.instId != sc.spec.symbol:
                raise DecodeError("invalid", f"ticker for {sc.spec.symbol} carries {item.instId}")
            if item.markPrice is None or item.fundingRate is None or not item.nextFundingTime:
                continue
            events.append(
                MarkPrice(
                    instrument=sc.key,
                    local_ts=local_ts,
                    exch_ts=int(item.ts) * NS_PER_MS,
                    mark_price=round_ticks(item.markPrice, sc.tick),
                    index_price=round_ticks(item.indexPrice, sc.tick) if item.indexPrice else 0,
                    funding_rate=Decimal(item.fundingRate),
                    next_funding_ts=int(item.nextFundingTime) * NS_PER_MS,
                )
            )
        return events
