"""The L2 order book of one instrument, in integer ticks and lots.

Each side is a dict ``price -> size`` (O(1) size changes, the common update) plus a
sorted price index kept with ``bisect`` that is touched only when a level appears or
disappears. Both indexes keep the *best* price at the end of the list (bids ascending,
asks stored negated and ascending), so inserts and deletes near the top -- where
almost all book activity is -- move only a few slots. Best bid/ask is an O(1) read.

The book itself knows nothing about venue sequencing; :mod:`bot.market.sync` decides
what may be applied and flips :attr:`OrderBook.valid`. Consumers must not quote from
an invalid book.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable, Iterator
from typing import Any, cast

from bot.core.events import Level


class OrderBook:
    """Price levels of one instrument. Prices in ticks, sizes in lots."""

    __slots__ = ("_ask_index", "_bid_index", "asks", "bids", "instrument", "update_id", "valid")

    def __init__(self, instrument: str) -> None:
        self.instrument = instrument
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self._bid_index: list[int] = []  # ascending; best bid last
        self._ask_index: list[int] = []  # negated prices ascending; best ask last
        self.update_id = -1
        self.valid = False

    # ---- writes -------------------------------------------------------------------

    def clear(self) -> None:
        self.bids.clear()
        self.asks.clear()
        self._bid_index.clear()
        self._ask_index.clear()
        self.update_id = -1

    def load(self, bids: Iterable[Level], asks: Iterable[Level], update_id: int) -> None:
        """Replace the whole book (a snapshot). Zero sizes are ignored."""
        self.bids = {p: s for p, s in bids if s}
        self.asks = {p: s for p, s in asks if s}
        self._bid_index = sorted(self.bids)
        self._ask_index = sorted(-p for p in self.asks)
        self.update_id = update_id

    def set_bid(self, price: int, size: int) -> None:
        levels = self.bids
        if size:
            if price not in levels:
                insort(self._bid_index, price)
            levels[price] = size
        elif levels.pop(price, 0):
            index = self._bid_index
            del index[bisect_left(index, price)]

    def set_ask(self, price: int, size: int) -> None:
        levels = self.asks
        if size:
            if price not in levels:
                insort(self._ask_index, -price)
            levels[price] = size
        elif levels.pop(price, 0):
            index = self._ask_index
            del index[bisect_left(index, -price)]

    def apply(self, bids: list[Level], asks: list[Level]) -> None:
        """Apply absolute level sizes (size 0 deletes) to both sides."""
        # The levels are read as the Python ints they are (Any): compiled code then uses them
        # as dict keys without unboxing each into a C integer and boxing it again.
        levels = self.bids
        index = self._bid_index
        for price, size in cast("list[tuple[Any, Any]]", bids):
            if size:
                if price not in levels:
                    insort(index, price)
                levels[price] = size
            elif levels.pop(price, 0):
                del index[bisect_left(index, price)]
        levels = self.asks
        index = self._ask_index
        for price, size in cast("list[tuple[Any, Any]]", asks):
            if size:
                if price not in levels:
                    insort(index, -price)
                levels[price] = size
            elif levels.pop(price, 0):
                del index[bisect_left(index, -price)]

    def copy(self) -> OrderBook:
        """An independent book with the same levels, update id and validity."""
        other = OrderBook(self.instrument)
        other.bids = dict(self.bids)
        other.asks = dict(self.asks)
        other._bid_index = list(self._bid_index)
        other._ask_index = list(self._ask_index)
        other.update_id = self.update_id
        other.valid = self.valid
        return other

    def same_levels(self, other: OrderBook) -> bool:
        """Both books hold the same levels at the same update id."""
        return self.update_id == other.update_id and self.bids == other.bids and self.asks == other.asks

    # ---- reads --------------------------------------------------------------------

    @property
    def best_bid(self) -> int | None:
        index = self._bid_index
        return index[-1] if index else None

    @property
    def best_ask(self) -> int | None:
        index = self._ask_index
        return -index[-1] if index else None

    @property
    def best_bid_size(self) -> int:
        index = self._bid_index
        return self.bids[index[-1]] if index else 0

    @property
    def best_ask_size(self) -> int:
        index = self._ask_index
        return self.asks[-index[-1]] if index else 0

    @property
    def is_crossed(self) -> bool:
        """True when best bid >= best ask (an impossible state for a correct book)."""
        bid_index, ask_index = self._bid_index, self._ask_index
        return bool(bid_index and ask_index and bid_index[-1] >= -ask_index[-1])

    @property
    def has_both_sides(self) -> bool:
        return bool(self._bid_index and self._ask_index)

    def mid(self) -> float | None:
        """Mid price in ticks (float: may be a half tick)."""
        bid_index, ask_index = self._bid_index, self._ask_index
        if not bid_index or not ask_index:
            return None
        return (bid_index[-1] - ask_index[-1]) / 2.0

    def size_at(self, side: int, price: int) -> int:
        """Displayed size at ``price`` on the bid (side > 0) or ask (side < 0)."""
        return (self.bids if side > 0 else self.asks).get(price, 0)

    def __len__(self) -> int:
        return len(self.bids) + len(self.asks)

    def bid_levels(self) -> Iterator[Level]:
        """Bids best-first."""
        bids = self.bids
        for price in reversed(self._bid_index):
            yield price, bids[price]

    def ask_levels(self) -> Iterator[Level]:
        """Asks best-first."""
        asks = self.asks
        for neg in reversed(self._ask_index):
            yield -neg, asks[-neg]

    def top(self, depth: int) -> tuple[list[Level], list[Level]]:
        """The best ``depth`` levels per side, best-first."""
        bids, asks = self.bids, self.asks
        bid_prices = self._bid_index[-depth:][::-1] if depth else []
        ask_prices = self._ask_index[-depth:][::-1] if depth else []
        return [(p, bids[p]) for p in bid_prices], [(-n, asks[-n]) for n in ask_prices]

    def depth_within(self, fraction: float) -> tuple[int, int]:
        """Total lots on each side within ``+/- fraction`` of mid (e.g. 0.02 for 2 %).

        Returns (bid lots with price >= mid*(1-fraction), ask lots with price <=
        mid*(1+fraction)); (0, 0) when a side is empty.
        """
        mid = self.mid()
        if mid is None:
            return 0, 0
        # a hair of slack so a level exactly on the band edge is not lost to float rounding
        slack = mid * 1e-12
        low = mid * (1.0 - fraction) - slack
        high = mid * (1.0 + fraction) + slack
        bid_index = self._bid_index
        bids = self.bids
        start = bisect_left(bid_index, low)
        bid_total = sum(bids[p] for p in bid_index[start:])
        ask_index = self._ask_index
        asks = self.asks
        start = bisect_left(ask_index, -high)
        ask_total = sum(asks[-n] for n in ask_index[start:])
        return bid_total, ask_total

    def levels_through(self, side: int, limit_price: int) -> Iterator[Level]:
        """Levels on ``side`` (>0 bids, <0 asks) from the best up to and including
        ``limit_price``, best-first: what a taker order at that limit would walk."""
        if side > 0:
            bid_index, bids = self._bid_index, self.bids
            start = bisect_left(bid_index, limit_price)
            for price in reversed(bid_index[start:]):
                yield price, bids[price]
        else:
            ask_index, asks = self._ask_index, self.asks
            start = bisect_left(ask_index, -limit_price)
            for neg in reversed(ask_index[start:]):
                yield -neg, asks[-neg]
