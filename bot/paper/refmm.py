"""The reference market maker of the shared benchmark, driving a PaperExchange.

The minimal strategy every engine in ``benchmarks/reference/README.md`` runs, so throughput
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
from typing import Final

from bot.core.events import BookDelta, BookSnapshot, Event, Side
from bot.core.orders import CancelOrder, NewOrder, TimeInForce
from bot.market.book import OrderBook
from bot.paper.exchange import PaperExchange
from bot.paper.ledger import Ledger
from bot.paper.matching import RestingOrder

# Final aliases of interpreted names: compiled code reads them from C statics, not the module dict
_DELTA: Final = BookDelta
_SNAPSHOT: Final = BookSnapshot
_BUY: Final = Side.BUY
_SELL: Final = Side.SELL
_GTX: Final = TimeInForce.GTX
_NEW: Final = NewOrder
_CANCEL: Final = CancelOrder


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
        self._seen_bid = self._seen_ask = self._seen_version = -1
        """Best bid, best ask and exchange version after the last quote: when none of them
        changed, quoting again would decide nothing (see ``quote``)."""
        self._inventory = 0
        self._inventory_fills = -1
        self._inventory_ledger: Ledger | None = None
        self._inventory_transfers = -1
        """The inventory, as of the exchange's fill count, ledger and transfer count (only
        fills and transfers change it; a restore replaces the ledger)."""

    def on_event(self, event: Event) -> None:
        kind = type(event)
        if (
            (kind is _DELTA or kind is _SNAPSHOT)
            and event.instrument == self.instrument  # type: ignore[union-attr]
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
        if (
            best_bid == self._seen_bid
            and best_ask == self._seen_ask
            and exchange.version == self._seen_version
        ):
            # Targets depend only on the top of book and the inventory; every order and
            # fill change bumps the exchange version. Same inputs as after the last call,
            # which already acted on them: a full pass would submit nothing.
            return
        instrument = self.instrument
        ledger = exchange.ledger
        if (
            exchange.fill_seq != self._inventory_fills
            or ledger is not self._inventory_ledger
            or len(ledger.transfer_refs) != self._inventory_transfers
        ):
            self._inventory = ledger.position_qty(instrument) - ledger.start_qty(instrument)
            self._inventory_fills = exchange.fill_seq
            self._inventory_ledger = ledger
            self._inventory_transfers = len(ledger.transfer_refs)
        inventory = self._inventory
        reservation = (best_bid + best_ask) / 2.0 - self.skew * (inventory / self.skew_unit)
        bid = min(math.floor(reservation - self.half_spread), best_ask - 1)
        ask = max(math.ceil(reservation + self.half_spread), best_bid + 1)
        bid_busy = ask_busy = False  # a new order in flight on that side
        for pending in exchange.inflight.values():
            if pending.instrument == instrument:
                if pending.side is _BUY:
                    bid_busy = True
                else:
                    ask_busy = True
        bids: list[RestingOrder] = []
        asks: list[RestingOrder] = []
        cancelling = exchange.cancels_inflight
        for order in exchange.orders.values():
            if order.client_id not in cancelling and order.order.instrument == instrument:
                (bids if order.side > 0 else asks).append(order)
        if not bid_busy:
            self._side(_BUY, bids, bid, inventory < self.max_inventory, ts)
        if not ask_busy:
            self._side(_SELL, asks, ask, inventory > -self.max_inventory, ts)
        self._seen_bid = best_bid
        self._seen_ask = best_ask
        self._seen_version = exchange.version

    def _side(self, side: Side, live: list[RestingOrder], target: int, allowed: bool, ts: int) -> None:
        if allowed and len(live) == 1 and live[0].price == target:
            return
        exchange = self.exchange
        instrument = self.instrument
        for order in live:
            exchange.submit(_CANCEL(client_id=order.client_id, instrument=instrument, ts=ts))
        if allowed:
            exchange.submit(
                _NEW(
                    client_id=f"{self.prefix}{exchange.commands}",
                    instrument=instrument,
                    side=side,
                    price=target,
                    size=self.size,
                    tif=_GTX,
                    ts=ts,
                )
            )
