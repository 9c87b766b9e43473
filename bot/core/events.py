"""Market events: the only shape in which market data reaches the core.

Venue adapters (and replay readers) decode exchange messages into these frozen
structs; the core never sees a venue's JSON. Prices are integer ticks, sizes integer
lots of the event's instrument (see :mod:`bot.core.instrument`). Every event carries
two timestamps in integer nanoseconds since the Unix epoch: ``exch_ts`` (the
exchange's event time, 0 when the venue gives none) and ``local_ts`` (when our side
received it; in replay, the recorded receive time). The core reads time only from
events, never from the wall clock.
"""

from __future__ import annotations

from decimal import Decimal
from enum import IntEnum, StrEnum
from typing import TypeAlias

import msgspec

Level: TypeAlias = tuple[int, int]
"""One book level: (price in ticks, size in lots). Size 0 deletes the level."""


class Side(IntEnum):
    """Book side / aggressor side. BUY is the bid side; a BUY trade lifted the ask."""

    BUY = 1
    SELL = -1


class _Event(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    instrument: str
    """Instrument key, ``venue:SYMBOL`` (see ``InstrumentSpec.key``)."""
    local_ts: int


class BookSnapshot(_Event, frozen=True, gc=False, kw_only=True, tag=True):
    """A full book image (REST snapshot or a venue's snapshot message)."""

    exch_ts: int = 0
    update_id: int
    bids: list[Level]
    asks: list[Level]
    checksum: int | None = None


class BookDelta(_Event, frozen=True, gc=False, kw_only=True, tag=True):
    """Incremental L2 update covering venue update ids ``first_id..last_id``.

    ``prev_id`` is the venue's "previous final update id" where it has one (Binance
    USD-M ``pu``, OKX ``prevSeqId``); -1 otherwise. ``checksum`` is the venue's book
    checksum after applying this update, where the venue sends one.
    """

    exch_ts: int = 0
    first_id: int
    last_id: int
    prev_id: int = -1
    bids: list[Level]
    asks: list[Level]
    checksum: int | None = None


class Trade(_Event, frozen=True, gc=False, kw_only=True, tag=True):
    """A public trade. ``side`` is the aggressor; ``liquidation`` marks insurance-fund
    or other non-market prints that must stay out of fair value and volatility."""

    exch_ts: int = 0
    price: int
    size: int
    side: Side
    trade_id: int = 0
    liquidation: bool = False


class TopOfBook(_Event, frozen=True, gc=False, kw_only=True, tag=True):
    """Best bid/ask as published by the venue (Binance ``bookTicker``)."""

    exch_ts: int = 0
    update_id: int
    bid_price: int
    bid_size: int
    ask_price: int
    ask_size: int


class MarkPrice(_Event, frozen=True, gc=False, kw_only=True, tag=True):
    """Perpetual mark price and funding (Binance ``markPriceUpdate``)."""

    exch_ts: int = 0
    mark_price: int
    index_price: int
    funding_rate: Decimal
    next_funding_ts: int


class FeedState(StrEnum):
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"


class FeedStatus(_Event, frozen=True, gc=False, kw_only=True, tag=True):
    """A change of the data connection serving ``instrument``."""

    state: FeedState
    reason: str = ""


class Timer(msgspec.Struct, frozen=True, gc=False, kw_only=True, tag=True):
    """A clock tick from the driver (live: wall clock; replay: event time).

    Lets the core notice silence (stale feeds, order ages) without reading a clock.
    """

    local_ts: int


MarketEvent: TypeAlias = BookSnapshot | BookDelta | Trade | TopOfBook | MarkPrice | FeedStatus
Event: TypeAlias = MarketEvent | Timer

NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000
