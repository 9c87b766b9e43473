"""Binance market-data messages: typed raw structs and the decoder to core events.

Pure functions of (bytes, local timestamp): no sockets, no clock. The live adapter
feeds it websocket frames; a replay reader can feed it recorded lines.

Streams handled (combined-stream envelopes ``{"stream":..,"data":..}``, or bare
payloads as sent on ``/ws/<stream>`` connections):

- ``<sym>@depth[@100ms|@250ms|@500ms|@0ms]`` -> :class:`BookDelta` (``U``/``u``;
  USD-M ``pu`` -> ``prev_id``)
- ``<sym>@trade`` / ``<sym>@aggTrade`` -> :class:`Trade`. ``m == true`` means the
  buyer was the maker, so the aggressor SOLD. USD-M trades with ``X`` other than
  ``"MARKET"`` (``INSURANCE_FUND``, ``ADL``, ...) are flagged ``liquidation``.
- ``<sym>@bookTicker`` -> :class:`TopOfBook` (``u`` is the book's update id)
- ``<sym>@markPrice[@1s]`` (USD-M) -> :class:`MarkPrice`. Mark and index prices are
  computed values with more decimals than the tick (``"28147.27373413"``); they are
  rounded half-even to the nearest tick. The funding rate stays an exact ``Decimal``.
- REST ``/api/v3/depth`` / ``/fapi/v1/depth`` bodies -> :class:`BookSnapshot`
  (:meth:`BinanceDecoder.decode_snapshot`).

``exch_ts`` is the event time ``E`` (ms) in ns, 0 when the message has none (spot
bookTicker, spot snapshots). Book and trade prices/sizes must be exact multiples of
the instrument's tick/lot: anything else is a :class:`DecodeError`, as are malformed
JSON, unknown streams and unknown symbols. Subscription acks (``{"result":..,"id":..}``)
decode to ``None``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal, InvalidOperation

import msgspec

from bot.core.events import (
    NS_PER_MS,
    BookDelta,
    BookSnapshot,
    MarketEvent,
    MarkPrice,
    Side,
    TopOfBook,
    Trade,
)
from bot.core.instrument import ConversionError, InstrumentSpec
from bot.venues.decoding import DecodeError, DecodeErrorKind, Scalers, round_ticks

__all__ = ["BinanceDecoder", "DecodeError", "DecodeErrorKind", "stream_kind"]

# ---- raw message shapes ----------------------------------------------------------------

RawLevel = tuple[str, str]


class DepthUpdateMsg(msgspec.Struct, frozen=True):
    """``depthUpdate`` (spot and USD-M; USD-M adds ``T`` and ``pu``)."""

    E: int
    s: str
    U: int
    u: int
    b: list[RawLevel]
    a: list[RawLevel]
    e: str = "depthUpdate"
    T: int = 0
    pu: int = -1


class TradeMsg(msgspec.Struct, frozen=True):
    """``trade`` (USD-M adds ``X``: MARKET / INSURANCE_FUND / ADL / NA)."""

    E: int
    s: str
    t: int
    p: str
    q: str
    m: bool
    e: str = "trade"
    T: int = 0
    X: str | None = None


class AggTradeMsg(msgspec.Struct, frozen=True):
    E: int
    s: str
    a: int
    p: str
    q: str
    m: bool
    e: str = "aggTrade"
    f: int = 0
    l: int = 0  # noqa: E741  (Binance's field name)
    T: int = 0


class BookTickerMsg(msgspec.Struct, frozen=True):
    """``bookTicker`` (spot has no ``e``/``E``/``T``)."""

    u: int
    s: str
    b: str
    B: str
    a: str
    A: str
    e: str = "bookTicker"
    E: int = 0
    T: int = 0


class MarkPriceMsg(msgspec.Struct, frozen=True):
    E: int
    s: str
    p: str
    r: str
    T: int
    e: str = "markPriceUpdate"
    i: str = ""
    P: str = ""


class DepthSnapshotMsg(msgspec.Struct, frozen=True):
    """REST depth body (spot: no ``E``/``T``)."""

    lastUpdateId: int
    bids: list[RawLevel]
    asks: list[RawLevel]
    E: int = 0
    T: int = 0


class _Envelope(msgspec.Struct, frozen=True):
    stream: str | None = None
    data: msgspec.Raw = msgspec.Raw()
    e: str | None = None
    id: int | str | None = None
    error: msgspec.Raw = msgspec.Raw()
    u: int | None = None
    B: str | None = None


_ENVELOPE = msgspec.json.Decoder(_Envelope)
_DEPTH = msgspec.json.Decoder(DepthUpdateMsg)
_TRADE = msgspec.json.Decoder(TradeMsg)
_AGG = msgspec.json.Decoder(AggTradeMsg)
_TICKER = msgspec.json.Decoder(BookTickerMsg)
_MARK = msgspec.json.Decoder(MarkPriceMsg)
_SNAPSHOT = msgspec.json.Decoder(DepthSnapshotMsg)

_EVENT_KINDS = {
    "depthUpdate": "depth",
    "trade": "trade",
    "aggTrade": "aggTrade",
    "bookTicker": "bookTicker",
    "markPriceUpdate": "markPrice",
}


def stream_kind(stream: str) -> tuple[str, str]:
    """Split ``btcusdt@depth@100ms`` into (``"BTCUSDT"``, ``"depth"``).

    Raises :class:`DecodeError` (``unknown_stream``) for anything this module does
    not decode (partial-depth ``@depth20``, klines, tickers, ...).
    """
    symbol, at, rest = stream.partition("@")
    if not at or not symbol:
        raise DecodeError("unknown_stream", f"unknown stream {stream!r}")
    if rest == "depth" or (rest.startswith("depth@") and rest.endswith("ms") and rest[6:-2].isdigit()):
        return symbol.upper(), "depth"
    if rest in ("trade", "aggTrade", "bookTicker", "markPrice", "markPrice@1s"):
        return symbol.upper(), rest.partition("@")[0]
    raise DecodeError("unknown_stream", f"unknown stream {stream!r}")


_Scalers = Scalers


class BinanceDecoder:
    """Decodes one venue's Binance messages for a set of instruments into events."""

    def __init__(self, venue: str, specs: Iterable[InstrumentSpec]) -> None:
        self.venue = venue
        self._by_symbol: dict[str, _Scalers] = {}
        for spec in specs:
            if spec.venue != venue:
                raise ValueError(f"instrument {spec.key} does not belong to venue {venue}")
            self._by_symbol[spec.symbol.upper()] = _Scalers(spec)

    @property
    def symbols(self) -> Sequence[str]:
        return list(self._by_symbol)

    # ---- websocket frames --------------------------------------------------------------

    def decode(self, raw: bytes | str, local_ts: int) -> MarketEvent | None:
        """One websocket frame (or recorded JSON) -> one event; ``None`` for acks.

        Raises :class:`DecodeError` for anything that is not a valid message of a
        subscribed instrument.
        """
        try:
            envelope = _ENVELOPE.decode(raw)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            raise DecodeError("malformed", f"malformed message: {exc}") from None
        if envelope.stream is not None:
            if not envelope.data:
                raise DecodeError("malformed", f"stream {envelope.stream!r} without data")
            symbol, kind = stream_kind(envelope.stream)
            return self._decode_payload(kind, symbol, envelope.data, local_ts)
        if envelope.e is not None:
            event_kind = _EVENT_KINDS.get(envelope.e)
            if event_kind is None:
                raise DecodeError("unknown_stream", f"unknown event type {envelope.e!r}")
            return self._decode_payload(event_kind, None, raw, local_ts)
        if envelope.u is not None and envelope.B is not None:  # bare spot bookTicker
            return self._decode_payload("bookTicker", None, raw, local_ts)
        if envelope.id is not None:
            if envelope.error:
                error = bytes(envelope.error).decode(errors="replace")
                raise DecodeError("invalid", f"request {envelope.id!r} failed: {error}")
            return None  # {"result": null, "id": 1}: subscription ack
        raise DecodeError("malformed", "message is neither a stream event nor an ack")

    def decode_frame(self, raw: bytes | str, local_ts: int) -> list[MarketEvent]:
        """The venue template's decoder entry point: one frame -> its events ([] for acks)."""
        event = self.decode(raw, local_ts)
        return [] if event is None else [event]

    def _scalers(self, symbol: str) -> _Scalers:
        scalers = self._by_symbol.get(symbol)
        if scalers is None:
            raise DecodeError("unknown_symbol", f"{self.venue}: not subscribed to symbol {symbol!r}")
        return scalers

    def _decode_payload(
        self, kind: str, symbol: str | None, data: bytes | str | msgspec.Raw, local_ts: int
    ) -> MarketEvent:
        try:
            if kind == "depth":
                depth = _DEPTH.decode(data)
                return self._depth(self._checked(symbol, depth.s), depth, local_ts)
            if kind == "trade":
                trade = _TRADE.decode(data)
                return self._trade(self._checked(symbol, trade.s), trade, local_ts)
            if kind == "aggTrade":
                agg = _AGG.decode(data)
                return self._agg_trade(self._checked(symbol, agg.s), agg, local_ts)
            if kind == "bookTicker":
                ticker = _TICKER.decode(data)
                return self._ticker(self._checked(symbol, ticker.s), ticker, local_ts)
            if kind == "markPrice":
                mark = _MARK.decode(data)
                return self._mark(self._checked(symbol, mark.s), mark, local_ts)
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
        raise DecodeError("unknown_stream", f"unknown stream kind {kind!r}")

    def _checked(self, stream_symbol: str | None, payload_symbol: str) -> _Scalers:
        if stream_symbol is not None and payload_symbol.upper() != stream_symbol:
            raise DecodeError(
                "invalid", f"stream symbol {stream_symbol} does not match payload symbol {payload_symbol}"
            )
        return self._scalers(payload_symbol.upper())

    # ---- per message type --------------------------------------------------------------

    def _depth(self, sc: _Scalers, msg: DepthUpdateMsg, local_ts: int) -> BookDelta:
        if msg.u < msg.U:
            raise DecodeError("invalid", f"depthUpdate first id {msg.U} > last id {msg.u}")
        return BookDelta(
            instrument=sc.key,
            local_ts=local_ts,
            exch_ts=msg.E * NS_PER_MS,
            first_id=msg.U,
            last_id=msg.u,
            prev_id=msg.pu,
            bids=sc.levels(msg.b),
            asks=sc.levels(msg.a),
        )

    def _trade(self, sc: _Scalers, msg: TradeMsg, local_ts: int) -> Trade:
        return Trade(
            instrument=sc.key,
            local_ts=local_ts,
            exch_ts=msg.E * NS_PER_MS,
            price=sc.price(msg.p),
            size=sc.size(msg.q),
            side=Side.SELL if msg.m else Side.BUY,
            trade_id=msg.t,
            liquidation=msg.X is not None and msg.X != "MARKET",
        )

    def _agg_trade(self, sc: _Scalers, msg: AggTradeMsg, local_ts: int) -> Trade:
        return Trade(
            instrument=sc.key,
            local_ts=local_ts,
            exch_ts=msg.E * NS_PER_MS,
            price=sc.price(msg.p),
            size=sc.size(msg.q),
            side=Side.SELL if msg.m else Side.BUY,
            trade_id=msg.a,
        )

    def _ticker(self, sc: _Scalers, msg: BookTickerMsg, local_ts: int) -> TopOfBook:
        return TopOfBook(
            instrument=sc.key,
            local_ts=local_ts,
            exch_ts=msg.E * NS_PER_MS,
            update_id=msg.u,
            bid_price=sc.price(msg.b),
            bid_size=sc.size(msg.B),
            ask_price=sc.price(msg.a),
            ask_size=sc.size(msg.A),
        )

    def _mark(self, sc: _Scalers, msg: MarkPriceMsg, local_ts: int) -> MarkPrice:
        tick = sc.tick
        return MarkPrice(
            instrument=sc.key,
            local_ts=local_ts,
            exch_ts=msg.E * NS_PER_MS,
            mark_price=round_ticks(msg.p, tick),
            index_price=round_ticks(msg.i, tick) if msg.i else 0,
            funding_rate=Decimal(msg.r),
            next_funding_ts=msg.T * NS_PER_MS,
        )

    # ---- REST ---------------------------------------------------------------------------

    def decode_snapshot(self, raw: bytes | str, instrument: str, local_ts: int) -> BookSnapshot:
        """A REST depth body for ``instrument`` (key ``venue:SYMBOL``) -> snapshot."""
        venue, _, symbol = instrument.partition(":")
        if venue != self.venue:
            raise DecodeError("unknown_symbol", f"{instrument} is not a {self.venue} instrument")
        sc = self._scalers(symbol)
        try:
            msg = _SNAPSHOT.decode(raw)
            return BookSnapshot(
                instrument=sc.key,
                local_ts=local_ts,
                exch_ts=msg.E * NS_PER_MS,
                update_id=msg.lastUpdateId,
                bids=sc.levels(msg.bids),
                asks=sc.levels(msg.asks),
            )
        except DecodeError:
            raise
        except msgspec.ValidationError as exc:
            raise DecodeError("invalid", f"invalid depth snapshot: {exc}") from None
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            raise DecodeError("malformed", f"malformed depth snapshot: {exc}") from None
        except ConversionError as exc:
            raise DecodeError("off_tick", f"depth snapshot: {exc}") from None
        except ValueError as exc:
            raise DecodeError("invalid", f"invalid depth snapshot: {exc}") from None
