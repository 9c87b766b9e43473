"""What happens at the paper venue: order arrivals, fills, cancels, funding.

:class:`Execution` is the part of :class:`~bot.paper.exchange.PaperExchange` that
changes account state. Every change follows one rule: the journal record is appended
(:meth:`Execution._record`) *before* the change is applied in memory, and the report
goes to the outbox after it. Matching rules live in :mod:`bot.paper.matching`,
validation in :mod:`bot.paper.validation` and :mod:`bot.paper.account`.

Funding: a perpetual's funding for the period ending at ``T`` (the ``next_funding_ts``
the venue announced) is settled when a mark-price event announces a later funding time,
at the rate and mark price last announced before it, on the position held at that
moment (venue time); longs pay shorts when the rate is positive.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import localcontext
from typing import Final

from bot.core.events import MarkPrice
from bot.core.orders import (
    CancelOrder,
    CancelReason,
    CancelRejected,
    CancelRejectReason,
    FundingPayment,
    Liquidity,
    NewOrder,
    OrderAccepted,
    OrderCancelled,
    OrderCommand,
    OrderFilled,
    OrderRejected,
    OrderReport,
    OrderType,
    RejectReason,
    TimeInForce,
)
from bot.paper.account import check_account
from bot.paper.ledger import EXACT, Ledger
from bot.paper.matching import Fill, Market, RestingOrder
from bot.paper.records import FillRecord, JournalRecord, RecordSink
from bot.paper.validation import check_fields, check_notional

# Final aliases of interpreted names used on every event or order: compiled code reads them
# from C statics instead of looking them up in the module dict.
_NEW: Final = NewOrder
_MARKET: Final = OrderType.MARKET
_LIMIT: Final = OrderType.LIMIT
_GTX: Final = TimeInForce.GTX
_IOC: Final = TimeInForce.IOC
_MAKER: Final = Liquidity.MAKER
_TAKER: Final = Liquidity.TAKER

FILLED = "filled"
CLOSED = "closed"
CLOSED_MEMORY = 10_000
"""Closed client ids remembered (at least) to answer late cancels with the right reason."""


class RecentlyClosed:
    """How the last :data:`CLOSED_MEMORY` (to twice as many) closed client ids ended.

    Two generations of plain dicts: closing an order is one insert, and when the recent
    generation is full it becomes the older one (the previous older one is forgotten) --
    cheaper than an ordered dict that evicts one id per close."""

    def __init__(self, size: int = CLOSED_MEMORY) -> None:
        self.size = size
        self.recent: dict[str, str] = {}
        self.older: dict[str, str] = {}

    def add(self, client_id: str, state: str) -> None:
        recent = self.recent
        recent[client_id] = state
        if len(recent) >= self.size:
            self.older = recent
            self.recent = {}

    def get(self, client_id: str) -> str | None:
        state = self.recent.get(client_id)
        return state if state is not None else self.older.get(client_id)

    def clear(self) -> None:
        self.recent = {}
        self.older = {}

    def __iter__(self) -> Iterator[str]:
        """Client ids, oldest first."""
        yield from (cid for cid in self.older if cid not in self.recent)
        yield from self.recent

    def __len__(self) -> int:
        return len(self.recent) + sum(1 for cid in self.older if cid not in self.recent)


class Execution:
    """Order arrivals, fills, cancels and funding of the paper venue (a mixin)."""

    markets: dict[str, Market]
    ledger: Ledger
    orders: dict[str, RestingOrder]
    inflight: dict[str, NewOrder]
    cancels_inflight: dict[str, int]
    closed: RecentlyClosed
    reports: list[OrderReport]
    position: int
    now: int
    clock: int
    fill_seq: int
    version: int
    failed: str | None
    _pending: list[tuple[int, int, OrderCommand]]
    _sink: RecordSink | None
    _dirty: bool
    _unit_position: int
    _on_report: Callable[[OrderReport], None] | None
    _delivering: bool
    _drop_reports: bool
    """Nobody reads the reports (PaperExchange ``reports=False``): they are not kept, and
    acknowledgements and cancel confirmations are not even built unless journaled."""

    def cancel_all(self, reason: CancelReason = CancelReason.REQUESTED) -> int:
        """Close every live and in-flight order at once (journaled); returns how many.

        Used by recovery mode ``cancel`` (reason ``RECOVERY``) and for shutdown. Cancels
        still in flight are answered with ``CancelRejected`` (already closed)."""
        self.clock = self.now
        count = 0
        for order in list(self.orders.values()):
            self._out(
                OrderCancelled(
                    client_id=order.client_id,
                    instrument=order.order.instrument,
                    ts=self.clock,
                    reason=reason,
                    remaining=order.remaining,
                )
            )
            self.markets[order.order.instrument].remove(order)
            del self.orders[order.client_id]
            self._close(order.client_id, CLOSED)
            count += 1
        for _, _, command in sorted(self._pending):
            if type(command) is _NEW:
                self._out(
                    OrderCancelled(
                        client_id=command.client_id,
                        instrument=command.instrument,
                        ts=self.clock,
                        reason=reason,
                        remaining=command.size,
                    )
                )
                self._close(command.client_id, CLOSED)
                count += 1
            else:
                self._out(
                    CancelRejected(
                        client_id=command.client_id,
                        instrument=command.instrument,
                        ts=self.clock,
                        reason=CancelRejectReason.ALREADY_CLOSED,
                        text=f"all orders were cancelled ({reason.value})",
                    )
                )
        self._pending.clear()
        self.inflight.clear()
        self.cancels_inflight.clear()
        if self._on_report is not None:
            self._deliver()
        return count

    def _arrive_new(self, order: NewOrder) -> None:
        market = self.markets.get(order.instrument)
        if market is None:
            self._reject(order, RejectReason.UNKNOWN_INSTRUMENT, f"no paper market {order.instrument!r}")
            return
        rejection = check_fields(order, market.spec, market.step_lots, market.min_qty_lots, market.min_units)
        if rejection is None and order.client_id in self.orders:
            rejection = RejectReason.DUPLICATE_CLIENT_ID, f"client id {order.client_id!r} is already open"
        if rejection is None and not market.book.valid:
            rejection = RejectReason.MARKET_UNAVAILABLE, f"the paper book of {market.key} is not synced"
        side = int(order.side)
        taken: list[tuple[int, int]] = []
        if rejection is None:
            if order.order_type is _MARKET:
                taken = market.walk(side, None, order.size)
                if not taken:
                    rejection = (
                        RejectReason.MARKET_UNAVAILABLE,
                        f"no liquidity on the other side of {market.key}",
                    )
                else:
                    rejection = check_notional(market.spec, taken[0][0], order.size, market.min_units)
            else:
                assert order.price is not None
                if market.crosses(side, order.price):
                    if order.tif is _GTX:
                        best = market.book.best_ask if side > 0 else market.book.best_bid
                        assert best is not None
                        prices = market.spec.prices
                        what = "buy" if side > 0 else "sell"
                        other = "ask" if side > 0 else "bid"
                        rejection = (
                            RejectReason.POST_ONLY_WOULD_CROSS,
                            f"post-only {what} at {prices.to_str(order.price)} would cross "
                            f"the best {other} {prices.to_str(best)}",
                        )
                    else:
                        taken = market.walk(side, order.price, order.size)
        if rejection is None:
            rejection = check_account(self, market, order, taken)
        if rejection is not None:
            self._reject(order, *rejection)
            return
        ts = self.clock
        remaining = order.size - sum(lots for _, lots in taken) if taken else order.size
        rests = remaining > 0 and order.tif is not _IOC and order.order_type is _LIMIT
        ahead = 0
        displayed: int | None = None
        if rests:
            price = order.price
            assert price is not None
            level = (market.bids if side > 0 else market.asks).get(price)
            if level is not None:
                displayed = level.displayed
            else:
                displayed = (market.book.bids if side > 0 else market.book.asks).get(price, 0)
            ahead = displayed
        if self._drop_reports and self._sink is None:
            self.version += 1  # what _out does besides building and keeping the report
        else:
            self._out(
                OrderAccepted(
                    client_id=order.client_id,
                    instrument=order.instrument,
                    ts=ts,
                    side=order.side,
                    price=order.price,
                    size=order.size,
                    queue_ahead=ahead,
                )
            )
        left = order.size
        for fill_price, lots in taken:
            left -= lots
            self._execute(market, order, fill_price, lots, _TAKER, left)
        if taken:
            market.take(side, taken)
        if not left:
            self._close(order.client_id, FILLED)
        elif rests:
            resting = RestingOrder(order, left, ts, ahead, armed=not taken)
            self.orders[order.client_id] = resting
            market.join(resting, displayed)
        else:
            self._out(
                OrderCancelled(
                    client_id=order.client_id,
                    instrument=order.instrument,
                    ts=ts,
                    reason=CancelReason.EXPIRED,
                    remaining=left,
                )
            )
            self._close(order.client_id, CLOSED)

    def _arrive_cancel(self, cancel: CancelOrder) -> None:
        order = self.orders.get(cancel.client_id)
        if order is None or order.order.instrument != cancel.instrument:
            state = self.closed.get(cancel.client_id) if order is None else None
            if state == FILLED:
                reason, text = (
                    CancelRejectReason.ALREADY_FILLED,
                    "the order was filled before the cancel arrived",
                )
            elif state is not None:
                reason, text = (
                    CancelRejectReason.ALREADY_CLOSED,
                    "the order was closed before the cancel arrived",
                )
            else:
                reason, text = CancelRejectReason.UNKNOWN_ORDER, f"no open order {cancel.client_id!r}"
            self._out(
                CancelRejected(
                    client_id=cancel.client_id,
                    instrument=cancel.instrument,
                    ts=self.clock,
                    reason=reason,
                    text=text,
                )
            )
            return
        if self._drop_reports and self._sink is None:
            self.version += 1
        else:
            self._out(
                OrderCancelled(
                    client_id=order.client_id,
                    instrument=cancel.instrument,
                    ts=self.clock,
                    reason=CancelReason.REQUESTED,
                    remaining=order.remaining,
                )
            )
        self.markets[cancel.instrument].remove(order)
        del self.orders[order.client_id]
        self._close(order.client_id, CLOSED)

    def _reject(self, order: NewOrder, reason: RejectReason, text: str) -> None:
        self._out(
            OrderRejected(
                client_id=order.client_id,
                instrument=order.instrument,
                ts=self.clock,
                reason=reason,
                text=text,
            )
        )
        if reason is not RejectReason.DUPLICATE_CLIENT_ID:
            self._close(order.client_id, CLOSED)

    def _close(self, client_id: str, state: str) -> None:
        self.closed.add(client_id, state)

    # ---- fills -----------------------------------------------------------------------

    def _maker_fills(self, market: Market, fills: list[Fill]) -> None:
        for order, price, lots in fills:
            if order.order.reduce_only:
                allowed = self._reducible(market, order.side)
                if lots > allowed:
                    lots = allowed
                    if lots:
                        self._execute(market, order.order, price, lots, _MAKER, order.remaining - lots)
                        market.reduce(order, lots)
                    self._out(
                        OrderCancelled(
                            client_id=order.client_id,
                            instrument=market.key,
                            ts=self.clock,
                            reason=CancelReason.REDUCE_ONLY,
                            remaining=order.remaining,
                        )
                    )
                    market.remove(order)
                    del self.orders[order.client_id]
                    self._close(order.client_id, CLOSED)
                    continue
            self._execute(market, order.order, price, lots, _MAKER, order.remaining - lots)
            market.reduce(order, lots)
            if not order.remaining:
                del self.orders[order.client_id]
                self._close(order.client_id, FILLED)

    def _reducible(self, market: Market, side: int) -> int:
        position = self.ledger.position_qty(market.key)
        if position == 0 or (position > 0) == (side > 0):
            return 0
        return abs(position)

    def _execute(
        self, market: Market, order: NewOrder, price: int, lots: int, liquidity: Liquidity, remaining: int
    ) -> None:
        self.fill_seq += 1
        rate = market.fees.maker if liquidity is _MAKER else market.fees.taker
        fee = EXACT.multiply(EXACT.multiply(market.notional_unit, price * lots), rate)
        report = OrderFilled(
            client_id=order.client_id,
            instrument=market.key,
            ts=self.clock,
            fill_id=self.fill_seq,
            side=order.side,
            price=price,
            size=lots,
            liquidity=liquidity,
            fee=fee,
            fee_asset=market.spec.quote,
            remaining=remaining,
        )
        mid = market.mid()
        if mid is None:
            mid = market.tick * price
        mark = mid if market.is_spot or market.mark_price is None else market.tick * market.mark_price
        if self._sink is not None:
            self._record(FillRecord(fill=report, mid=mid, mark=mark), self.clock)
        self.ledger.apply_fill(report, mid, mark)
        self._emit(report)

    def _on_mark_price(self, market: Market, event: MarkPrice) -> None:
        if market.is_spot:
            return
        if market.funding_ts and event.next_funding_ts > market.funding_ts and market.mark_price is not None:
            qty = self.ledger.position_qty(market.key)
            if qty:
                rate = market.funding_rate
                with localcontext(EXACT):
                    amount = -(market.tick * market.mark_price) * qty * market.unit * rate
                payment = FundingPayment(
                    instrument=market.key,
                    ts=market.funding_ts,
                    rate=rate,
                    mark_price=market.mark_price,
                    position=qty,
                    amount=amount,
                    asset=market.spec.quote,
                )
                self._record(payment, self.clock)
                self.ledger.apply_funding(payment)
                self._emit(payment)
        market.mark_price = event.mark_price
        market.funding_rate = event.funding_rate
        market.funding_ts = event.next_funding_ts

    def _record(self, record: JournalRecord, ts: int) -> None:
        sink = self._sink
        if sink is not None:
            if not self._dirty:
                self._dirty = True
                self._unit_position = self.position
            sink.append(self.position, ts, record)

    def _emit(self, report: OrderReport) -> None:
        self.version += 1
        if not self._drop_reports:
            self.reports.append(report)

    def _out(self, report: OrderAccepted | OrderRejected | OrderCancelled | CancelRejected) -> None:
        if self._sink is not None:
            self._record(report, report.ts)
        self.version += 1
        if not self._drop_reports:
            self.reports.append(report)

    def _deliver(self) -> None:
        if self._delivering or self._on_report is None:
            return
        self._delivering = True
        try:
            while self.reports:
                batch = self.reports
                self.reports = []
                for report in batch:
                    self._on_report(report)
        finally:
            self._delivering = False
