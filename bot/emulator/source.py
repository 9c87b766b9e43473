"""What the emulator plays: a time-ordered stream of exchange messages plus initial books.

A :class:`MarketSource` (replay of recordings, or a synthetic market) hands the server
one :class:`SourcePass` per playback pass: the exchange books at the start and an
iterator of :class:`Item` in time order. Each item is one exchange message already
in Binance JSON (``data``) with the facts the server needs without re-parsing it:
for diffs the update ids and levels (to keep the exchange book), and the id of the
*next* diff of the same book (for the USD-M snapshot id rule, see
:mod:`bot.emulator.book`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple, Protocol

from bot.emulator.book import ExchangeBook, RawLevel


class Item:
    """One exchange message of the timeline."""

    __slots__ = (
        "action",
        "asks",
        "bids",
        "checksum",
        "data",
        "exch_ms",
        "first_id",
        "kind",
        "last_id",
        "market_trade",
        "next_first_id",
        "prev_id",
        "symbol",
        "ts_ns",
        "venue",
    )

    def __init__(
        self,
        ts_ns: int,
        venue: str,
        symbol: str,
        kind: str,
        data: str,
        *,
        exch_ms: int = 0,
        first_id: int = 0,
        last_id: int = 0,
        prev_id: int = -1,
        bids: list[RawLevel] | None = None,
        asks: list[RawLevel] | None = None,
        next_first_id: int | None = None,
        market_trade: bool = True,
        action: str = "",
        checksum: int | None = None,
    ) -> None:
        self.ts_ns = ts_ns
        self.venue = venue
        self.symbol = symbol
        self.kind = kind
        self.data = data
        self.exch_ms = exch_ms
        self.first_id = first_id
        self.last_id = last_id
        self.prev_id = prev_id
        self.bids = bids if bids is not None else []
        self.asks = asks if asks is not None else []
        self.next_first_id = next_first_id
        self.market_trade = market_trade
        self.action = action
        """Bybit / OKX book items: "snapshot" (replaces the book) or "update"."""
        self.checksum = checksum
        """OKX book items: the venue checksum after this message, when it has one."""

    def __repr__(self) -> str:
        ids = f" {self.first_id}..{self.last_id}" if self.kind == "depth" else ""
        return f"Item({self.ts_ns} {self.venue}:{self.symbol} {self.kind}{ids})"


class SourcePass(NamedTuple):
    books: dict[tuple[str, str], ExchangeBook]
    items: Iterator[Item]


class MarketSource(Protocol):
    """Anything the emulator can play."""

    @property
    def description(self) -> str: ...

    def markets(self) -> list[tuple[str, str]]:
        """(venue, SYMBOL) pairs this source serves."""
        ...

    def open_pass(self) -> SourcePass:
        """Fresh books and a fresh item iterator (called once per playback pass)."""
        ...
