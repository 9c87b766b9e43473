"""Fills *through* our price: how much of the market's volume reaches our resting orders.

The recorded market never saw our orders. When it trades or quotes through our price,
the question is how much of *that* volume would have met us on the real venue -- never
more than the venue actually traded or displayed.

- **A print through our price** (a sell below our bid, a buy above our ask) comes from an
  aggressor that would have met our better-priced orders first, with the volume it
  actually traded: a print of ``size`` lots at ``p`` brings ``size`` lots, which go to our
  orders priced better than ``p``, best price first (:func:`print_through`); what is left
  reaches the queue at ``p`` (:meth:`bot.paper.level.Level.on_trade`).
- **Spared lots.** Whatever our orders took out of a print, public orders did not get: the
  recording traded them, the simulated world still has them at the print's price (the
  lots behind our order at that price when we filled there; all of them where we have no
  order). They stand in front of our worse-priced orders: the next prints of the same
  sweep take them before reaching us. A sweep arrives as one print per maker order or per
  price (Binance ``trade``: one per maker order; ``aggTrade`` and OKX ``trades``: one per
  price; Bybit ``publicTrade`` and Bitget ``trade``: one per fill; the synthetic market:
  one per level), each print is allocated in turn, and what our better orders took from
  one level is owed to that level before our next order gets anything: the sweep's
  volume is counted once, in the order the venue would have matched it. Spared lots at a
  price are forgotten when the venue next re-publishes that level or sends a snapshot
  (its own numbers then stand; whether those public orders would have stayed is not in
  the data) -- in practice they live for the rest of the sweep that made them.
- **A book through our price without a print** (best ask at or below our bid): the
  crossing lots displayed on the other side, less what we already took there, are what
  would have matched us (:func:`book_through`): opposite levels best first, each to our
  best-priced armed orders first (arrival order within a price), at our prices. What
  matched is marked *taken*, so the same standing level fills us once.
- **Taken lots** (this, and our taker fills: :class:`bot.paper.matching.Market`) are in
  the recording but not in the simulated world. The venue's later update of a level
  shows the recorded size, which still counts them: what we took there stays taken up
  to the level's new size (an increase is new liquidity, a decrease comes out of what
  we left; :func:`trim_taken`), and an emptied level forgets it.

Compared with hftbacktest (nkaz001/hftbacktest, ``backtest/proc/partialfillexchange.rs``
and ``nopartialfillexchange.rs``, checked at 5f3ec40, 2025-12-23): both of its exchange
models fill a resting order *completely* when a trade prints through its price or the
best opposite price crosses it, whatever the size; its ``PartialFillExchange`` limits
the fill by the trade quantity only for a trade *at* the order's price once the queue
ahead is gone -- which is what :mod:`bot.paper.level` does at our price. Its own notes
warn that partial fills are hard to simulate because they imply market impact. The rules
above are stricter than either model: through-fills are capped by the traded or
displayed volume, with our own orders' price and time priority.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol, TypeVar

from bot.market.book import OrderBook
from bot.paper.level import Level


class Resting(Protocol):
    """What the allocation reads of a resting order."""

    price: int
    remaining: int
    ahead: int
    mark: int
    armed: bool


R = TypeVar("R", bound=Resting)


def print_through(
    levels: Mapping[int, Level[R]], spared: dict[int, int], side: int, price: int, size: int
) -> tuple[list[tuple[R, int, int]], int]:
    """A print of ``size`` lots at ``price`` by an aggressor on ``side`` (-1: a seller,
    ``levels`` are our bids; +1: a buyer, our asks) meets, best price first, at every
    price better than ``price``: the lots still ahead of our orders there, our orders
    (arrival order), then the ``spared`` lots there (consumed in place).

    Returns our fills ``(order, price, lots)`` and the lots left for ``price`` itself."""
    if side < 0:
        keys = [p for p in levels if p > price]
        if spared:
            keys.extend(p for p in spared if p > price and p not in levels)
        keys.sort(reverse=True)
    else:
        keys = [p for p in levels if p < price]
        if spared:
            keys.extend(p for p in spared if p < price and p not in levels)
        keys.sort()
    fills: list[tuple[R, int, int]] = []
    left = size
    for key in keys:
        level = levels.get(key)
        if level is not None:
            got, left = level.on_through(left)
            for order, lots in got:
                fills.append((order, key, lots))
            if not left:
                break
        owed = spared.get(key)
        if owed:
            take = owed if owed < left else left
            if owed > take:
                spared[key] = owed - take
            else:
                del spared[key]
            left -= take
            if not left:
                break
    return fills, left


def book_through(
    levels: Mapping[int, Level[R]],
    book: OrderBook,
    taken: dict[int, int],
    side: int,
    top: int,
    best: int,
) -> list[tuple[R, int, int]]:
    """The public book on the other side crosses our orders on ``side`` (+1: our bids,
    the asks cross them; -1: our asks), our best at ``top``, the opposite best at
    ``best``: match our armed orders against the crossing lots not yet ``taken``.

    Opposite levels best first, each to our best-priced orders first (arrival order
    within a price) that it crosses; every fill at our order's price; what matched is
    added to ``taken``. Returns the fills ``(order, price, lots)``."""
    if side > 0:
        prices = sorted((p for p in levels if p >= best), reverse=True)
    else:
        prices = sorted(p for p in levels if p <= best)
    queue = [order for p in prices for order in levels[p].orders if order.armed]
    if not queue:
        return []
    got = [0] * len(queue)
    count = len(queue)
    index = 0
    for price, size in book.levels_through(-side, top):
        available = size - taken.get(price, 0) if taken else size
        if available <= 0:
            continue
        used = 0
        while index < count:
            order = queue[index]
            if (order.price < price) if side > 0 else (order.price > price):
                break  # our next order does not reach this level, nor any further one
            room = order.remaining - got[index]
            want = available - used
            take = room if room < want else want
            got[index] += take
            used += take
            if got[index] == order.remaining:
                index += 1
            if used == available:
                break
        if used:
            taken[price] = taken.get(price, 0) + used
        if index == count or used < available:
            break
    return [(order, order.price, lots) for order, lots in zip(queue, got, strict=True) if lots]


def trim_taken(taken: dict[int, int], prices: Iterable[int], sizes: Mapping[int, int]) -> None:
    """The venue re-published ``prices``: lots we took at one of them stay taken up to the
    level's size now (the recording never saw us, so its numbers still count them: an
    increase is new liquidity, a decrease comes out of what we left, as the front of the
    queue was ours); an emptied level forgets them."""
    for price in prices:
        lots = taken.get(price)
        if lots is not None:
            now = sizes.get(price, 0)
            if now < lots:
                if now > 0:
                    taken[price] = now
                else:
                    del taken[price]
