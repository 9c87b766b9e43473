"""Displayed depth within +/- a band around mid, kept up to date per book change.

Summing every level inside the band on each event walks thousands of levels on a deep
book (~0.4 ms for 5,000 levels a side), far beyond the tick-to-quote budget. Instead
the band is anchored at a reference mid, ``[m0 (1 - band), m0 (1 + band)]``, and a
mirror of the sizes inside it is kept: on each diff only the levels the diff touched
are re-read *from the book* (so a diff the sync dropped or buffered cannot corrupt the
sums) and the per-side totals change by ``new - old``. The anchor moves -- a full
recount -- when the mid drifts by more than ``recenter`` of the band, after a snapshot
or an invalid book, or when the caller cannot say which levels changed.

State is bounded by the number of book levels inside the band, never by the number of
events.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from bot.core.events import Level
from bot.market.book import OrderBook


class DepthTracker:
    __slots__ = (
        "_asks",
        "_bids",
        "_drift",
        "anchor",
        "ask_total",
        "band",
        "bid_total",
        "high",
        "low",
        "rebuilds",
        "valid",
    )

    def __init__(self, band: float, recenter: float) -> None:
        self.band = band
        self._drift = band * recenter  # re-anchor when |mid - anchor| > anchor * band * recenter
        self.anchor = 0.0
        self.low = 0.0
        self.high = 0.0
        self._bids: dict[int, int] = {}
        self._asks: dict[int, int] = {}
        self.bid_total = 0
        self.ask_total = 0
        self.valid = False
        self.rebuilds = 0

    def invalidate(self) -> None:
        self.valid = False

    def rebuild(self, book: OrderBook, mid: float) -> None:
        """Re-anchor at ``mid`` and recount both sides from the book."""
        self.anchor = mid
        low = self.low = mid * (1.0 - self.band)
        high = self.high = mid * (1.0 + self.band)
        self._bids = {p: s for p, s in book.levels_through(1, math.ceil(low)) if p <= high}
        self._asks = {p: s for p, s in book.levels_through(-1, math.floor(high)) if p >= low}
        self.bid_total = sum(self._bids.values())
        self.ask_total = sum(self._asks.values())
        self.valid = True
        self.rebuilds += 1

    def needs_rebuild(self, mid: float) -> bool:
        return not self.valid or abs(mid - self.anchor) > self.anchor * self._drift

    def touch(self, book: OrderBook, bids: Iterable[Level], asks: Iterable[Level]) -> None:
        """Re-read the levels a diff named (their sizes now in the book)."""
        self.bid_total += _resync(bids, book.bids, self._bids, self.low, self.high)
        self.ask_total += _resync(asks, book.asks, self._asks, self.low, self.high)


def _resync(
    changed: Iterable[Level], levels: dict[int, int], mirror: dict[int, int], low: float, high: float
) -> int:
    """Copy the book's sizes of the ``changed`` prices inside [low, high] into ``mirror``;
    returns the change of the mirrored total."""
    delta = 0
    current = levels.get
    previous = mirror.get
    for price, _ in changed:
        if low <= price <= high:
            new = current(price, 0)
            old = previous(price, 0)
            if new != old:
                delta += new - old
                if new:
                    mirror[price] = new
                else:
                    del mirror[price]
    return delta
