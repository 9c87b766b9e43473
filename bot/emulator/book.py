"""The emulator's own order book per (venue, symbol): the exchange's state.

Levels are kept as the exchange's decimal strings (keyed by ``Decimal`` so that two
spellings of one price are one level), so the replay needs no instrument specs.
Besides the levels the book tracks what the REST snapshot must report:

- ``lastUpdateId`` = the id of the last update in the book: the last applied diff's
  ``u`` (before any diff: the recorded snapshot's own ``lastUpdateId``), on spot and
  USD-M alike. That is what Binance reports when its book sits at a diff boundary --
  always the case here, diffs are applied whole -- e.g. on a quiet symbol: on USD-M
  the next diff then starts past it (``U > L``) and chains onto it (``pu == L``), so a
  client must accept ``pu == L`` as well as ``U <= L <= u`` for its first diff.
  (``next_first_id``, the next diff's ``U``, is kept for status and tests.)
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

RawLevel = tuple[str, str]


class ExchangeBook:
    """L2 levels of one market as the exchange sees them."""

    __slots__ = ("asks", "bids", "exch_ms", "last_id", "next_first_id", "symbol", "venue")

    def __init__(
        self,
        venue: str,
        symbol: str,
        bids: Iterable[RawLevel],
        asks: Iterable[RawLevel],
        last_id: int,
        *,
        next_first_id: int | None = None,
        exch_ms: int = 0,
    ) -> None:
        self.venue = venue
        self.symbol = symbol
        self.bids: dict[Decimal, RawLevel] = {}
        self.asks: dict[Decimal, RawLevel] = {}
        self.last_id = last_id
        self.next_first_id = next_first_id
        self.exch_ms = exch_ms
        self.apply(bids, asks)

    @property
    def key(self) -> str:
        return f"{self.venue}:{self.symbol}"

    def apply(self, bids: Iterable[RawLevel], asks: Iterable[RawLevel]) -> None:
        """Absolute sizes; a zero size deletes the level."""
        for side, levels in ((self.bids, bids), (self.asks, asks)):
            for price, qty in levels:
                key = Decimal(price)
                if Decimal(qty):
                    side[key] = (price, qty)
                else:
                    side.pop(key, None)

    def apply_diff(
        self, bids: Iterable[RawLevel], asks: Iterable[RawLevel], last_id: int, next_first_id: int | None
    ) -> None:
        self.apply(bids, asks)
        self.last_id = last_id
        self.next_first_id = next_first_id

    def snapshot_id(self) -> int:
        """The ``lastUpdateId`` a REST snapshot taken now must carry (see module doc)."""
        return self.last_id

    def top(self, limit: int) -> tuple[list[RawLevel], list[RawLevel]]:
        """The best ``limit`` levels per side, best first."""
        bid_keys = sorted(self.bids, reverse=True)[:limit]
        ask_keys = sorted(self.asks)[:limit]
        return [self.bids[k] for k in bid_keys], [self.asks[k] for k in ask_keys]

    def best(self) -> tuple[RawLevel | None, RawLevel | None]:
        bid = self.bids[max(self.bids)] if self.bids else None
        ask = self.asks[min(self.asks)] if self.asks else None
        return bid, ask

    def __len__(self) -> int:
        return len(self.bids) + len(self.asks)
