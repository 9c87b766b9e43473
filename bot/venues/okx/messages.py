"""OKX v5 public messages: typed raw structs and the pure decoder to core events.

Frames handled (``/ws/v5/public``), ``{"arg":{"channel":..,"instId":..},"action":..,"data":[..]}``:

- book channels (``books``, ``books5``, ``bbo-tbt``, ``books50-l2-tbt``,
  ``books-l2-tbt``): ``action: snapshot`` -- or no action at all, as ``books5`` and
  ``bbo-tbt`` push a full book each time -- -> :class:`BookSnapshot`
  (``update_id = seqId``); ``action: update`` -> :class:`BookDelta` with
  ``first_id = last_id = seqId`` and ``prev_id = prevSeqId``. Messages without
  sequence ids (OKX added them in 2022; the recording in the test data predates
  them) get ``-1`` for all three. ``checksum`` is passed on as is (0 = none); the
  sync rule (:mod:`bot.market.sync.okx`) verifies it. A level is ``[px, sz, "0",
  numOrders]``; sizes are absolute, 0 deletes.
- ``trades``: one :class:`Trade` per fill; ``side`` is the taker side.
- ``funding-rate`` + ``mark-price`` (swaps): merged per instrument into a
  :class:`MarkPrice` (mark price rounded half-even to the tick, funding rate exact,
  next funding time = ``fundingTime``, the settlement the current rate applies to;
  index price 0: not subscribed) whenever either changes, once both are known.
- control: ``pong``, ``subscribe``/``unsubscribe`` acks and ``channel-conn-count``
  decode to ``[]``; ``notice`` (e.g. 64008, a coming service upgrade) is logged and
  decodes to ``[]``; ``error`` events raise :class:`DecodeError` (``invalid``).

The checksum guard: the core verifies OKX's checksum from the integer book, rebuilding
each number's text in canonical form (see :mod:`bot.market.sync.okx`). The decoder
checks every new price and size string it converts; if OKX ever sends a
non-canonical one (``"5.150"``, ``"1e-5"``), the checksum can no longer be rebuilt for
that instrument, so the decoder stops passing its checksums on (``checksum=None``),
logs it once and counts it in :attr:`OkxDecoder.checksum_disabled`.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal, InvalidOperation

import msgspec
import structlog

from bot.core.events import NS_PER_MS, BookDelta, BookSnapshot, Level, MarketEvent, MarkPrice, Side, Trade
from bot.core.instrument import ConversionError, InstrumentSpec
from bot.venues.decoding import DecodeError, Scalers, round_ticks
from bot.venues.okx.endpoints import BOOK_CHANNELS, PONG

__all__ = ["DecodeError", "OkxDecoder", "is_canonical"]

log = structlog.get_logger("bot.venues.okx")

NO_SEQ = -1


class _Arg(msgspec.Struct, frozen=True):
    channel: str
    instId: str = ""


class _Frame(msgspec.Struct, frozen=True):
    arg: _Arg | None = None
    action: str | None = None
    data: msgspec.Raw = msgspec.Raw()
    event: str | None = None
    code: str | None = None
    msg: str | None = None


class BookData(msgspec.Struct, frozen=True):
    asks: list[list[str]]
    bids: list[list[str]]
    ts: str = "0"
    checksum: int | None = None
    seqId: int | None = None
    prevSeqId: int | None = None


class TradeData(msgspec.Struct, frozen=True):
    instId: str
    px: str
    sz: str
    side: str
    ts: str
    tradeId: str = ""


class FundingData(msgspec.Struct, frozen=True):
    instId: str
    fundingRate: str
    fundingTime: str
    ts: str = "0"


class MarkData(msgspec.Struct, frozen=True):
    instId: str
    markPx: str
    ts: str = "0"


_FRAME = msgspec.json.Decoder(_Frame)
_BOOKS = msgspec.json.Decoder(list[BookData])
_TRADES = msgspec.json.Decoder(list[TradeData])
_FUNDING = msgspec.json.Decoder(list[FundingData])
_MARKS = msgspec.json.Decoder(list[MarkData])


def is_canonical(text: str) -> bool:
    """True if ``text`` is how a canonical decimal prints: no exponent, sign or
    trailing fractional zeros (``30249.4``, ``0.23393``, ``30261``, ``0``)."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        return False
    if not value.is_finite():
        return False
    if value == 0:
        return text == "0"
    return format(value.normalize(), "f") == text


class _Funding:
    __slots__ = ("funding_time", "mark", "rate")

    def __init__(self) -> None:
        self.rate: str | None = None
        self.funding_time = 0
        self.mark: str | None = None


class OkxDecoder:
    """Decodes one OKX venue's public frames for a set of instruments into events."""

    def __init__(self, venue: str, specs: Iterable[InstrumentSpec]) -> None:
        self.venue = venue
        self._by_inst: dict[str, Scalers] = {}
        for spec in specs:
            if spec.venue != venue:
                raise ValueError(f"instrument {spec.key} does not belong to venue {venue}")
            self._by_inst[spec.symbol] = Scalers(spec)
        self._funding: dict[str, _Funding] = {}
        self.checksum_disabled: set[str] = set()
        """Instruments whose checksums are no longer passed on (non-canonical text seen)."""
        self.notices = 0

    def reset(self, inst_ids: Iterable[str] | None = None) -> None:
        """Forget merged funding / mark state (a new connection sends them afresh)."""
        if inst_ids is None:
            self._funding.clear()
        else:
            for inst_id in inst_ids:
                self._funding.pop(inst_id, None)

    def decode(self, raw: bytes | str, local_ts: int) -> list[MarketEvent]:
        """One websocket frame -> its events; ``[]`` for pongs, acks and notices."""
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
        channel, inst_id = frame.arg.channel, frame.arg.instId
        scalers = self._by_inst.get(inst_id)
        if scalers is None:
            if channel in BOOK_CHANNELS or channel in ("trades", "funding-rate", "mark-price"):
                raise DecodeError("unknown_symbol", f"{self.venue}: not subscribed to {inst_id!r}")
            raise DecodeError("unknown_stream", f"unknown channel {channel!r}")
        try:
            if channel in BOOK_CHANNELS:
                return self._books(scalers, frame, local_ts)
            if channel == "trades":
                return self._trades(scalers, frame, local_ts)
            if channel == "funding-rate":
                return self._funding_rate(scalers, frame, local_ts)
            if channel == "mark-price":
                return self._mark_price(scalers, frame, local_ts)
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
        event = frame.event
        if event == "error":
            raise DecodeError("invalid", f"request failed: {frame.code}: {frame.msg}")
        if event == "notice":
            self.notices += 1
            log.warning("venue notice", venue=self.venue, code=frame.code, msg=frame.msg)
        return []  # subscribe / unsubscribe acks, channel-conn-count, notices

    def _levels(self, sc: Scalers, raw: list[list[str]]) -> list[Level]:
        out: list[Level] = []
        prices, sizes = sc.price_cache, sc.size_cache
        for entry in raw:
            if len(entry) < 2:
                raise DecodeError("invalid", f"book level {entry!r} has no size")
            price_text, size_text = entry[0], entry[1]
            price = prices.get(price_text)
            if price is None:
                price = sc.price(price_text)
                self._guard(sc, price_text)
            size = sizes.get(size_text)
            if size is None:
                size = sc.size(size_text)
                self._guard(sc, size_text)
            out.append((price, size))
        return out

    def _guard(self, sc: Scalers, text: str) -> None:
        if sc.spec.symbol in self.checksum_disabled or is_canonical(text):
            return
        self.checksum_disabled.add(sc.spec.symbol)
        log.warning(
            "checksum verification disabled: the venue sent a non-canonical number",
            instrument=sc.key,
            text=text,
        )

    def _books(self, sc: Scalers, frame: _Frame, local_ts: int) -> list[MarketEvent]:
        events: list[MarketEvent] = []
        action = frame.action
        for book in _BOOKS.decode(frame.data):
            bids = self._levels(sc, book.bids)
            asks = self._levels(sc, book.asks)
            checksum = None if sc.spec.symbol in self.checksum_disabled else book.checksum
            exch_ts = int(book.ts) * NS_PER_MS
            seq = book.seqId if book.seqId is not None else NO_SEQ
            if action is None or action == "snapshot":
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
                events.append(
                    BookDelta(
                        instrument=sc.key,
                        local_ts=local_ts,
                        exch_ts=exch_ts,
                        first_id=seq,
                        last_id=seq,
                        prev_id=book.prevSeqId if book.prevSeqId is not None else NO_SEQ,
                        bids=bids,
                        asks=asks,
                        checksum=checksum,
                    )
                )
            else:
                raise DecodeError("invalid", f"book message with unknown action {action!r}")
        return events

    def _trades(self, sc: Scalers, frame: _Frame, local_ts: int) -> list[MarketEvent]:
        events: list[MarketEvent] = []
        for trade in _TRADES.decode(frame.data):
            if trade.instId != sc.spec.symbol:
                raise DecodeError("invalid", f"trades for {sc.spec.symbol} carry {trade.instId}")
            if trade.side not in ("buy", "sell"):
                raise DecodeError("invalid", f"trade side {trade.side!r}")
            events.append(
                Trade(
                    instrument=sc.key,
                    local_ts=local_ts,
                    exch_ts=int(trade.ts) * NS_PER_MS,
                    price=sc.price(trade.px),
                    size=sc.size(trade.sz),
                    side=Side.BUY if trade.side == "buy" else Side.SELL,
                    trade_id=int(trade.tradeId) if trade.tradeId.isdigit() else 0,
                )
            )
        return events

    def _state(self, sc: Scalers) -> _Funding:
        state = self._funding.get(sc.spec.symbol)
        if state is None:
            state = self._funding[sc.spec.symbol] = _Funding()
        return state

    def _funding_rate(self, sc: Scalers, frame: _Frame, local_ts: int) -> list[MarketEvent]:
        events: list[MarketEvent] = []
        state = self._state(sc)
        for item in _FUNDING.decode(frame.data):
            Decimal(item.fundingRate)  # validate now: a bad rate must not surface later
            state.rate = item.fundingRate
            state.funding_time = int(item.fundingTime) * NS_PER_MS
            events.extend(self._mark_event(sc, state, int(item.ts) * NS_PER_MS, local_ts))
        return events

    def _mark_price(self, sc: Scalers, frame: _Frame, local_ts: int) -> list[MarketEvent]:
        events: list[MarketEvent] = []
        state = self._state(sc)
        for item in _MARKS.decode(frame.data):
            round_ticks(item.markPx, sc.tick)  # validate
            state.mark = item.markPx
            events.extend(self._mark_event(sc, state, int(item.ts) * NS_PER_MS, local_ts))
        return events

    def _mark_event(self, sc: Scalers, state: _Funding, exch_ts: int, local_ts: int) -> list[MarketEvent]:
        if state.rate is None or state.mark is None:
            return []
        return [
            MarkPrice(
                instrument=sc.key,
                local_ts=local_ts,
                exch_ts=exch_ts,
                mark_price=round_ticks(state.mark, sc.tick),
                index_price=0,
                funding_rate=Decimal(state.rate),
                next_funding_ts=state.funding_time,
            )
        ]
