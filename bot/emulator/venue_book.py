"""The emulator's book for venues that snapshot in the stream (Bybit, OKX), and its views.

:class:`VenueBook` keeps the exchange's levels as the venue's own decimal strings
(keyed by ``Decimal`` so two spellings of one price are one level), like
:class:`~bot.emulator.book.ExchangeBook` does for Binance, plus the id of the last
book message (Bybit ``u``, OKX ``seqId``; ``-1`` when the source has none).

A :class:`BookView` is one stream of that book as subscribers see it: the best
``depth`` levels per side (``None`` = all). After every change of the book the view
computes what changed *within its depth* -- levels whose size changed, levels that
entered (a deeper level moving up when one above is deleted), levels that left
(sent with size ``"0"``) -- which is exactly what a venue's depth-limited delta
stream carries. Each view numbers its own messages. The emulator renders these
changes in the venue's JSON (:mod:`bot.emulator.bybit_protocol`,
:mod:`bot.emulator.okx_protocol`).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

RawLevel = tuple[str, str]
Changes = tuple[list[RawLevel], list[RawLevel]]


class VenueBook:
    """L2 levels of one market as the exchange sees them (text kept as sent)."""

    __slots__ = ("asks", "bids", "exch_ms", "last_id", "native", "symbol", "venue")

    def __init__(
        self,
        venue: str,
        symbol: str,
        bids: Iterable[RawLevel] = (),
        asks: Iterable[RawLevel] = (),
        *,
        last_id: int = -1,
        exch_ms: int = 0,
        native: tuple[str, int | None] | None = None,
    ) -> None:
        self.venue = venue
        self.native = native
        """(channel, depth) whose messages the source supplies verbatim (a recording's own
        stream, e.g. Bybit ``("orderbook", 500)``, OKX ``("books", 400)``); None = every
        stream is derived from the book (synthetic markets)."""
        self.symbol = symbol
        self.bids: dict[Decimal, RawLevel] = {}
        self.asks: dict[Decimal, RawLevel] = {}
        self.last_id = last_id
        self.exch_ms = exch_ms
        self.apply(bids, asks)

    @property
    def key(self) -> str:
        return f"{self.venue}:{self.symbol}"

    def apply(self, bids: Iterable[RawLevel], asks: Iterable[RawLevel]) -> None:
        """Absolute sizes; a zero size deletes the level."""
        for side, levels in ((self.bids, bids), (self.asks, asks)):
            for level in levels:
                price, qty = level[0], level[1]
                key = Decimal(price)
                if Decimal(qty):
                    side[key] = (price, qty)
                else:
                    side.pop(key, None)

    def load(self, bids: Iterable[RawLevel], asks: Iterable[RawLevel]) -> None:
        """Replace the whole book (a snapshot)."""
        self.bids.clear()
        self.asks.clear()
        self.apply(bids, asks)

    def top(self, limit: int | None) -> tuple[list[RawLevel], list[RawLevel]]:
        """The best ``limit`` levels per side (all when None), best first."""
        bid_keys = sorted(self.bids, reverse=True)[:limit]
        ask_keys = sorted(self.asks)[:limit]
        return [self.bids[k] for k in bid_keys], [self.asks[k] for k in ask_keys]

    def snapshot_id(self) -> int:
        return self.last_id

    def best(self) -> tuple[RawLevel | None, RawLevel | None]:
        bid = self.bids[max(self.bids)] if self.bids else None
        ask = self.asks[min(self.asks)] if self.asks else None
        return bid, ask

    def __len__(self) -> int:
        return len(self.bids) + len(self.asks)


class BookView:
    """A depth-limited stream of a :class:`VenueBook` with its own message ids."""

    __slots__ = ("depth", "last_id", "seen_asks", "seen_bids")

    def __init__(self, depth: int | None, first_id: int) -> None:
        self.depth = depth
        self.last_id = first_id
        self.seen_bids: dict[Decimal, str] = {}
        self.seen_asks: dict[Decimal, str] = {}

    def reset(self, book: VenueBook) -> tuple[list[RawLevel], list[RawLevel]]:
        """The view's full image now (what a snapshot message carries); remembers it."""
        bids, asks = book.top(self.depth)
        self.seen_bids = {Decimal(p): q for p, q in bids}
        self.seen_asks = {Decimal(p): q for p, q in asks}
        return bids, asks

    def changes(self, book: VenueBook) -> Changes | None:
        """What changed in the view since the last call (None = nothing)."""
        bids, asks = book.top(self.depth)
        bid_changes = _diff(self.seen_bids, bids, reverse=True)
        ask_changes = _diff(self.seen_asks, asks, reverse=False)
        if not bid_changes and not ask_changes:
            return None
        self.seen_bids = {Decimal(p): q for p, q in bids}
        self.seen_asks = {Decimal(p): q for p, q in asks}
        return bid_changes, ask_changes


def _diff(seen: dict[Decimal, str], now: list[RawLevel], *, reverse: bool) -> list[RawLevel]:
    current = {Decimal(p): (p, q) for p, q in now}
    changes: dict[Decimal, RawLevel] = {}
    for key, (price, qty) in current.items():
        if seen.get(key) != qty:
            changes[key] = (price, qty)
    for key in seen:
        if key not in current:
            changes[key] = (_text(key), "0")
    return [changes[k] for k in sorted(changes, reverse=reverse)]


def _text(price: Decimal) -> str:
    return format(price, "f")
