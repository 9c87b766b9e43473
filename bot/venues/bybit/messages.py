"""Bybit v5 public messages: typed raw structs and the pure decoder to core events.

Frames handled (``wss://stream.bybit.com/v5/public/{spot,linear}``):

- ``orderbook.{depth}.{SYMBOL}``: ``type`` ``snapshot`` -> :class:`BookSnapshot`
  (``update_id = u``), ``delta`` -> :class:`BookDelta` (``first_id = last_id = u``);
  sizes are absolute, 0 deletes. The sync rule (:mod:`bot.market.sync.bybit`)
  decides what a ``u`` means.
- ``publicTrade.{SYMBOL}``: a list of fills -> one :class:`Trade` each. ``S`` is the
  taker side (``Buy`` lifted the ask). Block trades (``BT: true``, negotiated off the
  book) are flagged ``liquidation`` so they stay out of fair value and volatility.
  ``i`` is numeric on spot and a UUID on linear: ``trade_id`` is the number, else 0.
- ``tickers.{SYMBOL}`` (linear): a snapshot, then deltas carrying only the fields that
  changed. The decoder keeps the merged ticker per symbol and emits a
  :class:`MarkPrice` (mark, index, funding rate, next funding time) whenever a message
  changes one of those fields. Mark and index prices are rounded half-even to the
  tick; the funding rate stays an exact ``Decimal``.
- control frames: subscription acks and pongs decode to ``[]``; a failed request
  (``"success": false``) is a :class:`DecodeError` of kind ``invalid``.

``exch_ts`` is the message ``ts`` (ms) in ns. Anything else -- broken JSON, unknown
topics, unsubscribed symbols, prices off the tick -- raises :class:`DecodeError`.
The only state is the merged ticker per symbol (:meth:`BybitDecoder.reset` clears it;
the adapter calls it on every new connection).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal, InvalidOperation

import msgspec

from bot.core.events import NS_PER_MS, BookDelta, BookSnapshot, MarketEvent, MarkPrice, Side, Trade
from bot.core.instrument import ConversionError, InstrumentSpec
from bot.venues.decoding import DecodeError, Scalers, round_ticks

__all__ = ["BybitDecoder", "DecodeError"]

RawLevel = tuple[str, str]


class BookData(msgspec.Struct, frozen=True):
    s: str
    b: list[RawLevel]
    a: list[RawLevel]
    u: int
    seq: int = 0


class TradeData(msgspec.Struct, frozen=True):
    T: int
    s: str
    S: str
    v: str
    p: str
    i: str = ""
    BT: bool = False


class _Frame(msgspec.Struct, frozen=True):
    topic: str | None = None
    type: str | None = None
    ts: int = 0
    data: msgspec.Raw = msgspec.Raw()
    op: str | None = None
    success: bool | None = None
    ret_msg: str | None = None


_FRAME = msgspec.json.Decoder(_Frame)
_BOOK = msgspec.json.Decoder(BookData)
_TRADES = msgspec.json.Decoder(list[TradeData])
_TICKER = msgspec.json.Decoder(dict[str, str | int | float | None])

MARK_FIELDS = ("markPrice", "indexPrice", "fundingRate", "nextFundingTime")


def split_topic(topic: str) -> tuple[str, str]:
    """``orderbook.50.BTCUSDT`` -> (``"orderbook"``, ``"BTCUSDT"``); DecodeError if unknown."""
    parts = topic.split(".")
    if len(parts) == 3 and parts[0] == "orderbook" and parts[1].isdigit():
        return "orderbook", parts[2]
    if len(parts) == 2 and parts[0] in ("publicTrade", "tickers"):
        return parts[0], parts[1]
    raise DecodeError("unknown_stream", f"unknown topic {topic!r}")


class BybitDecoder:
    """Decodes one Bybit venue's public frames for a set of instruments into events."""

    def __init__(self, venue: str, specs: Iterable[InstrumentSpec]) -> None:
        self.venue = venue
        self._by_symbol: dict[str, Scalers] = {}
        for spec in specs:
            if spec.venue != venue:
                raise ValueError(f"instrument {spec.key} does not belong to venue {venue}")
            self._by_symbol[spec.symbol] = Scalers(spec)
        self._tickers: dict[str, dict[str, str]] = {}

    def reset(self, symbols: Iterable[str] | None = None) -> None:
        """Forget merged ticker state of ``symbols`` (default: all); a new connection
        sends fresh ticker snapshots."""
        if symbols is None:
            self._tickers.clear()
        else:
            for symbol in symbols:
                self._tickers.pop(symbol, None)

    def decode(self, raw: bytes | str, local_ts: int) -> list[MarketEvent]:
        """One websocket frame -> its events; ``[]`` for acks and pongs."""
        try:
            frame = _FRAME.decode(raw)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            raise DecodeError("malformed", f"malformed message: {exc}") from None
        if frame.topic is None:
            return self._control(frame)
        kind, symbol = split_topic(frame.topic)
        scalers = self._by_symbol.get(symbol)
        if scalers is None:
            raise DecodeError("unknown_symbol", f"{self.venue}: not subscribed to symbol {symbol!r}")
        if not frame.data:
            raise DecodeError("malformed", f"topic {frame.topic!r} without data")
        try:
            if kind == "orderbook":
                return [self._book(scalers, frame, local_ts)]
            if kind == "publicTrade":
                return self._trades(scalers, frame, local_ts)
            return self._ticker(scalers, frame, local_ts)
        except DecodeError:
            raise
        except msgspec.ValidationError as exc:
            raise DecodeError("invalid", f"invalid {kind} message: {exc}") from None
        except msgspec.DecodeError as exc:
            raise DecodeError("malformed", f"malformed {kind} message: {exc}") from None
        except ConversionError as exc:
            raise DecodeError("off_tick", f"{kind}: {exc}") from None
        except (ValueError, InvalidOperation) as exc:
            raise DecodeError("invalid", f"invalid {kind} message: {exc}") from None

    decode_frame = decode

    # ---- per message type --------------------------------------------------------------

    def _control(self, frame: _Frame) -> list[MarketEvent]:
        if frame.op is None:
            raise DecodeError("malformed", "message has neither a topic nor an op")
        if frame.success is False:
            raise DecodeError("invalid", f"{frame.op} request failed: {frame.ret_msg or 'no reason given'}")
        return []  # subscribe / unsubscribe ack, pong

    def _book(self, sc: Scalers, frame: _Frame, local_ts: int) -> BookSnapshot | BookDelta:
        book = _BOOK.decode(frame.data)
        if book.s != sc.spec.symbol:
            raise DecodeError("invalid", f"topic {frame.topic} carries symbol {book.s}")
        exch_ts = frame.ts * NS_PER_MS
        if frame.type == "snapshot":
            return BookSnapshot(
                instrument=sc.key,
                local_ts=local_ts,
                exch_ts=exch_ts,
                update_id=book.u,
                bids=sc.levels(book.b),
                asks=sc.levels(book.a),
            )
        if frame.type == "delta":
            return BookDelta(
                instrument=sc.key,
                local_ts=local_ts,
                exch_ts=exch_ts,
                first_id=book.u,
                last_id=book.u,
                bids=sc.levels(book.b),
                asks=sc.levels(book.a),
            )
        raise DecodeError("invalid", f"orderbook message of unknown type {frame.type!r}")

    def _trades(self, sc: Scalers, frame: _Frame, local_ts: int) -> list[MarketEvent]:
        trades = _TRADES.decode(frame.data)
        events: list[MarketEvent] = []
        for trade in trades:
            if trade.s != sc.spec.symbol:
                raise DecodeError("invalid", f"topic {frame.topic} carries symbol {trade.s}")
            if trade.S not in ("Buy", "Sell"):
                raise DecodeError("invalid", f"trade side {trade.S!r}")
            events.append(
                Trade(
                    instrument=sc.key,
                    local_ts=local_ts,
                    exch_ts=trade.T * NS_PER_MS,
                    price=sc.price(trade.p),
                    size=sc.size(trade.v),
                    side=Side.BUY if trade.S == "Buy" else Side.SELL,
                    trade_id=int(trade.i) if trade.i.isdigit() else 0,
                    liquidation=trade.BT,
                )
            )
        return events

    def _ticker(self, sc: Scalers, frame: _Frame, local_ts: int) -> list[MarketEvent]:
        fields = _TICKER.decode(frame.data)
        symbol = fields.get("symbol")
        if symbol is not None and symbol != sc.spec.symbol:
            raise DecodeError("invalid", f"topic {frame.topic} carries symbol {symbol}")
        update = {k: str(v) for k, v in fields.items() if v is not None and v != ""}
        if frame.type == "snapshot" or sc.spec.symbol not in self._tickers:
            merged = self._tickers[sc.spec.symbol] = update
        else:
            merged = self._tickers[sc.spec.symbol]
            merged.update(update)
        if not any(name in update for name in MARK_FIELDS):
            return []
        if not all(name in merged for name in ("markPrice", "fundingRate", "nextFundingTime")):
            return []
        tick = sc.tick
        return [
            MarkPrice(
                instrument=sc.key,
                local_ts=local_ts,
                exch_ts=frame.ts * NS_PER_MS,
                mark_price=round_ticks(merged["markPrice"], tick),
                index_price=round_ticks(merged["indexPrice"], tick) if "indexPrice" in merged else 0,
                funding_rate=Decimal(merged["fundingRate"]),
                next_funding_ts=int(merged["nextFundingTime"]) * NS_PER_MS,
            )
        ]
