"""The reference market maker of the shared benchmark, driving a PaperExchange.

The minimal strategy every engine in ``shared/bench/README.md`` runs, so throughput
figures compare like with like: on every depth update, reservation = mid - ``skew``
ticks x (inventory / ``skew_unit`` lots); bid = floor(reservation - ``half_spread``),
ask = ceil(reservation + ``half_spread``), kept passive (post-only); a side is
cancelled and replaced when its target moves by a tick or more and left alone while its
new order is in flight; no quoting on a side once |inventory| >= ``max_inventory``.

It keeps no state of its own: live orders, orders and cancels in flight and the
inventory are read from the exchange, and client ids come from the exchange's command
counter. That makes it *level-triggered*: a run restored from the journal decides
exactly as the uninterrupted run did (used by the crash-recovery soak test).
"""

from __future__ import annotations

import math

from bot.core.events import BookDelta, BookSnapshot, Event, Side
from bot.core.orders import CancelOrder, NewOrder, TimeInForce
from bot.market.book import OrderBook
from bot.paper.exchange import PaperExchange


class ReferenceMarketMaker:
    """One bid and one ask, re-quoted on every book change of ``instrument``."""

    def __init__(
        self,
        exchange: PaperExchange,
        instrument: str,
        *,
        book: OrderBook | None = None,
        size: int = 10,
        half_spread: float = 8.0,
        skew: float = 4.0,
        skew_unit: int = 10,
        max_inventory: int = 200,
        prefix: str = "mm",
    ) -> None:
        self.exchange = exchange
        self.instrument = instrument
        self.book = book if book is not None else exchange.book(instrument)
        self.size = size
        self.half_spread = half_spread
        self.skew = skew
        self.skew_unit = skew_unit
        self.max_inventory = max_inventory
        self.prefix = prefix

    def on_event(self, event: Event) -> None:
        if (
            isinstance(event, BookDelta | BookSnapshot)
            and event.instrument == self.instrument
            and not self.exchange.catching_up
        ):
            self.quote(event.local_ts)

    def quote(self, ts: int) -> None:
        book = self.book
        if not book.valid:
            return
        best_bid, best_ask = book.best_bid, book.best_ask
        if best_bid is None or best_ask is None:
            return
        exchange = self.exchange
        inventory = exchange.ledger.position_qty(self.instrument) - exchange.ledger.start_qty(self.instrument)
        reservation = (best_bid + best_ask) / 2.0 - self.skew * (inventory / self.skew_unit)
        bid = min(math.floor(reservation - self.half_spread), best_ask - 1)
        ask = max(math.ceil(reservation + self.half_spread), best_bid + 1)
        self._side(Side.BUY, bid, inventory < self.max_inventory, ts)
        self._side(Side.SELL, ask, inventory > -self.max_inventory, ts)

    def _side(self, side: Side, target: int, allowed: bool, ts: int) -> None:
        exchange = self.exchange
        instrument = self.instrument
        for pending in exchange.inflight.values():
            if pending.side is side and pending.instrument == instrument:
                return  # left alone while its new order is in flight
        cancelling = exchange.cancels_inflight
        live = [
            order
            for order in exchange.orders.values()
            if order.side == side
            and order.client_id not in cancelling
            and order.order.instrument == instrument
        ]
        if live and allowed and len(live) == 1 and live[0].price == target:
            return
        for order in live:
            exchange.submit(CancelOrder(client_id=order.client_id, instrument=instrument, ts=ts))
        if allowed:
            exchange.submit(
                NewOrder(
                    client_id=f"{self.prefix}{exchange.commands}",
                    instrument=instrument,
                    side=side,
                    price=target,
                    size=self.size,
                    tif=TimeInForce.GTX,
                    ts=ts,
                )
            )
