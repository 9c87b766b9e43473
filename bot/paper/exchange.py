"""``PaperExchange``: the simulated venue every paper order goes to.

It is an engine handler: ``on_event(event)`` sees every market event (in stream order)
and ``submit(command)`` takes order commands. It keeps its *own* copy of each public
book (venue-side truth, fed by the same events) so that orders arriving between two
events meet the book as it was before the later one. Reports go to ``on_report`` if
given, else to an outbox read with :meth:`drain_reports`.

**Time.** Only event time. The venue time of input event ``i`` is its ``local_ts``
minus the market-data latency; the clock never goes backwards. A command created at
``ts`` reaches the venue at ``ts`` + order-entry (or cancel) latency and is processed
before the first event whose venue time is at or after that -- or immediately if that
moment has already passed. Reports carry the venue time of what they report.

**Journal.** Every command, report, fill, funding payment and equity sample is
appended to the journal (:class:`~bot.paper.records.RecordSink`) *before* it changes
anything in memory. The records of one input event -- and of the commands submitted
while handling it -- form one transaction, together with the exchange state; it is
committed before the next input event is processed (or every ``commit_every`` events,
or on :meth:`flush`). If the commit fails, the exchange reloads the last committed
state from the journal (memory never keeps what the journal lost), stops, and raises.

**Resume.** After a restart the exchange can be restored at the last committed
boundary (:meth:`restore`); with ``replay=True`` it then skips -- feeding only its
books -- the input events up to that boundary, so a driver re-reading the same input
from the start continues exactly where the journal left off. Determinism: latency draws
are keyed by command number and input position (no RNG state), and the matching rules
contain no randomness.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from collections.abc import Callable, Iterable
from decimal import Decimal, localcontext
from typing import Any

import structlog

from bot.core.events import BookDelta, BookSnapshot, Event, FeedState, FeedStatus, MarkPrice, Trade
from bot.core.instrument import InstrumentSpec
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
from bot.errors import MmbotError
from bot.market.book import OrderBook
from bot.market.sync import BookSync, make_sync
from bot.paper.account import check_account
from bot.paper.fees import schedule_for
from bot.paper.ledger import EXACT, Ledger, MarkSample
from bot.paper.matching import Fill, Market, RestingOrder
from bot.paper.queue import QUEUE_MODELS
from bot.paper.records import (
    ExchangeState,
    FillRecord,
    JournalRecord,
    LevelState,
    MarketState,
    OrderState,
    PendingState,
    RecordSink,
)
from bot.paper.restore import load_into
from bot.paper.settings import PaperSettings
from bot.paper.validation import check_fields, check_notional

log = structlog.get_logger("bot.paper")

_FILLED = "filled"
_CLOSED = "closed"
_CLOSED_MEMORY = 10_000
"""Closed client ids remembered to answer late cancels with the right reason."""


class PaperExchange:
    """Simulated venue for a set of instruments sharing one paper account."""

    def __init__(
        self,
        specs: Iterable[InstrumentSpec],
        settings: PaperSettings | None = None,
        *,
        journal: RecordSink | None = None,
        on_report: Callable[[OrderReport], None] | None = None,
        sync_factory: Callable[[str, OrderBook, int], BookSync] = make_sync,
    ) -> None:
        self.specs = list(specs)
        self.settings = settings = settings or PaperSettings()
        self.latency = settings.latency_model()
        self._md_const = self.latency.market_data_constant_ns
        self._entry_const = self.latency.entry_constant_ns
        self._cancel_const = self.latency.cancel_constant_ns
        queue_model = QUEUE_MODELS[settings.queue_model]
        overrides = settings.fee_overrides()
        self.markets: dict[str, Market] = {
            spec.key: Market(
                spec,
                sync_factory(spec.venue, OrderBook(spec.key), 10_000),
                schedule_for(spec, overrides),
                queue_model,
            )
            for spec in self.specs
        }
        self.ledger = self._new_ledger()
        self.orders: dict[str, RestingOrder] = {}
        """Orders live at the venue, by client id, in arrival order."""
        self.inflight: dict[str, NewOrder] = {}
        """New orders sent but not yet arrived."""
        self.cancels_inflight: dict[str, int] = {}
        """Client ids with cancels sent but not yet arrived (count)."""
        self.closed: OrderedDict[str, str] = OrderedDict()
        """Recently closed client ids (oldest first) -> "filled" / "closed"."""
        self._pending: list[tuple[int, int, OrderCommand]] = []
        self.position = -1
        """Index of the last input event handled."""
        self.now = 0
        """Venue time of the last input event (ns)."""
        self.clock = 0
        """Venue time of what is being processed now (an arrival or the last event)."""
        self.commands = 0
        self.fill_seq = 0
        self.next_sample_ts = 0
        self._sample_every = int(settings.equity_interval_s * 1e9)
        self._sink = journal
        self._commit_every = settings.journal.commit_every
        self._dirty = False
        self._unit_position = -1
        self._skip_until = -1
        self.failed: str | None = None
        self._on_report = on_report
        self.reports: list[OrderReport] = []
        self._delivering = False
        self.version = 0
        """Incremented by every submit and every report: cheap change detection for strategies."""
        self._dispatch: dict[type, Callable[[Any], None]] = {
            BookDelta: self._on_delta,
            Trade: self._on_trade,
            BookSnapshot: self._on_snapshot,
            MarkPrice: self._on_mark_price_event,
            FeedStatus: self._on_feed_status,
        }

    def _new_ledger(self) -> Ledger:
        return Ledger(self.specs, self.settings.starting_balances, leverage=self.settings.leverage)

    # ---- views -----------------------------------------------------------------------

    def book(self, instrument: str) -> OrderBook:
        return self.markets[instrument].book

    def open_orders(self, instrument: str | None = None) -> list[RestingOrder]:
        return [o for o in self.orders.values() if instrument is None or o.order.instrument == instrument]

    @property
    def catching_up(self) -> bool:
        """True while a restored exchange skips input it already handled (replay resume)."""
        return self.position <= self._skip_until

    def drain_reports(self) -> list[OrderReport]:
        reports, self.reports = self.reports, []
        return reports

    # ---- input -----------------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        """Handle one input event (engine handler)."""
        if self.failed is not None:
            raise MmbotError(self.failed)
        position = self.position + 1
        if self._dirty and position - self._unit_position >= self._commit_every:
            self._commit()
        self.position = position
        if position <= self._skip_until:
            self._book_only(event)
            return
        md = self._md_const
        ts = event.local_ts - (md if md is not None else self.latency.market_data_ns(position))
        if ts > self.now:
            self.now = ts
        else:
            ts = self.now
        pending = self._pending
        if pending and pending[0][0] <= ts:
            self._process_due()
        self.clock = ts
        handler = self._dispatch.get(type(event))
        if handler is not None:
            handler(event)
        if self.now >= self.next_sample_ts:
            self._sample()
        if self._on_report is not None:
            self._deliver()

    def _on_delta(self, event: BookDelta) -> None:
        market = self.markets.get(event.instrument)
        if market is not None:
            market.sync.on_delta(event)
            if (market.bids or market.asks) and market.book.valid:
                fills = market.on_book()
                if fills:
                    self._maker_fills(market, fills)

    def _on_trade(self, event: Trade) -> None:
        market = self.markets.get(event.instrument)
        if market is not None and (market.bids or market.asks) and not event.liquidation:
            fills = market.on_trade(event.side, event.price, event.size)
            if fills:
                self._maker_fills(market, fills)

    def _on_snapshot(self, event: BookSnapshot) -> None:
        market = self.markets.get(event.instrument)
        if market is not None:
            market.sync.on_snapshot(event)
            if (market.bids or market.asks) and market.book.valid:
                fills = market.on_book()
                if fills:
                    self._maker_fills(market, fills)

    def _on_mark_price_event(self, event: MarkPrice) -> None:
        market = self.markets.get(event.instrument)
        if market is not None:
            self._on_mark_price(market, event)

    def _on_feed_status(self, event: FeedStatus) -> None:
        market = self.markets.get(event.instrument)
        if market is not None and event.state is FeedState.DISCONNECTED:
            market.sync.invalidate(f"disconnected: {event.reason}", request_snapshot=False)

    def submit(self, command: OrderCommand) -> None:
        """Send a command; it reaches the venue after its latency (see module doc)."""
        if self.failed is not None:
            raise MmbotError(self.failed)
        seq = self.commands
        self.commands = seq + 1
        self.version += 1
        if type(command) is NewOrder:
            latency = self._entry_const
            arrival = command.ts + (latency if latency is not None else self.latency.entry_ns(seq))
        else:
            latency = self._cancel_const
            arrival = command.ts + (latency if latency is not None else self.latency.cancel_ns(seq))
        if self._sink is not None:
            self._record(command, command.ts)
        if arrival <= self.now:
            self.clock = self.now
            self._arrive(command)
        else:
            heapq.heappush(self._pending, (arrival, seq, command))
            client_id = command.client_id
            if type(command) is NewOrder:
                self.inflight[client_id] = command
            else:
                self.cancels_inflight[client_id] = self.cancels_inflight.get(client_id, 0) + 1
        if self._on_report is not None:
            self._deliver()

    def flush(self) -> None:
        """Commit the open unit of work now (shutdown, or a driver's own cadence)."""
        if self._dirty:
            self._commit()

    def cancel_all(self, reason: CancelReason = CancelReason.REQUESTED) -> int:
        """Close every live and in-flight order at once (journaled); returns how many.

        Used by recovery mode ``cancel`` (reason ``RECOVERY``) and for shutdown. Cancels
        still in flight are answered with ``CancelRejected`` (already closed)."""
        if self.failed is not None:
            raise MmbotError(self.failed)
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
            self._close(order.client_id, _CLOSED)
            count += 1
        for _, _, command in sorted(self._pending):
            if type(command) is NewOrder:
                self._out(
                    OrderCancelled(
                        client_id=command.client_id,
                        instrument=command.instrument,
                        ts=self.clock,
                        reason=reason,
                        remaining=command.size,
                    )
                )
                self._close(command.client_id, _CLOSED)
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

    def begin_replay(self) -> None:
        """Expect the input again from its first event: events up to the current
        position only update the books (see :meth:`restore`)."""
        self._skip_until = self.position
        self.position = -1

    # ---- arrivals --------------------------------------------------------------------

    def _process_due(self) -> None:
        pending = self._pending
        now = self.now
        while pending and pending[0][0] <= now:
            arrival, _, command = heapq.heappop(pending)
            self.clock = arrival
            client_id = command.client_id
            if type(command) is NewOrder:
                if self.inflight.get(client_id) is command:
                    del self.inflight[client_id]
                self._arrive_new(command)
            else:
                count = self.cancels_inflight.get(client_id, 0) - 1
                if count > 0:
                    self.cancels_inflight[client_id] = count
                else:
                    self.cancels_inflight.pop(client_id, None)
                self._arrive_cancel(command)  # type: ignore[arg-type]

    def _arrive(self, command: OrderCommand) -> None:
        if type(command) is NewOrder:
            self._arrive_new(command)
        else:
            self._arrive_cancel(command)  # type: ignore[arg-type]

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
            if order.order_type is OrderType.MARKET:
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
                    if order.tif is TimeInForce.GTX:
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
        rests = remaining > 0 and order.tif is not TimeInForce.IOC and order.order_type is OrderType.LIMIT
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
            self._execute(market, order, fill_price, lots, Liquidity.TAKER, left)
        if not left:
            self._close(order.client_id, _FILLED)
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
            self._close(order.client_id, _CLOSED)

    def _arrive_cancel(self, cancel: CancelOrder) -> None:
        order = self.orders.get(cancel.client_id)
        if order is None or order.order.instrument != cancel.instrument:
            state = self.closed.get(cancel.client_id) if order is None else None
            if state == _FILLED:
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
        self._close(order.client_id, _CLOSED)

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
            self._close(order.client_id, _CLOSED)

    def _close(self, client_id: str, state: str) -> None:
        closed = self.closed
        closed[client_id] = state
        if len(closed) > _CLOSED_MEMORY:
            closed.popitem(last=False)

    # ---- fills -----------------------------------------------------------------------

    def _maker_fills(self, market: Market, fills: list[Fill]) -> None:
        for order, price, lots in fills:
            if order.order.reduce_only:
                allowed = self._reducible(market, order.side)
                if lots > allowed:
                    lots = allowed
                    if lots:
                        self._execute(
                            market, order.order, price, lots, Liquidity.MAKER, order.remaining - lots
                        )
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
                    self._close(order.client_id, _CLOSED)
                    continue
            self._execute(market, order.order, price, lots, Liquidity.MAKER, order.remaining - lots)
            market.reduce(order, lots)
            if not order.remaining:
                del self.orders[order.client_id]
                self._close(order.client_id, _FILLED)

    def _reducible(self, market: Market, side: int) -> int:
        position = self.ledger.position_qty(market.key)
        if position == 0 or (position > 0) == (side > 0):
            return 0
        return abs(position)

    def _execute(
        self, market: Market, order: NewOrder, price: int, lots: int, liquidity: Liquidity, remaining: int
    ) -> None:
        self.fill_seq += 1
        rate = market.fees.maker if liquidity is Liquidity.MAKER else market.fees.taker
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

    # ---- marks, funding, equity samples ----------------------------------------------

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

    def _sample(self) -> None:
        self.next_sample_ts = self.now + self._sample_every
        marks: dict[str, Decimal] = {}
        for key, market in self.markets.items():
            if market.sync.valid or market.mark_price is not None:
                value = market.valuation()
                if value is not None:
                    marks[key] = value
        if marks:
            sample = MarkSample(ts=self.now, marks=marks)
            self._record(sample, self.now)
            self.ledger.apply_marks(sample)

    # ---- journal ---------------------------------------------------------------------

    def _record(self, record: JournalRecord, ts: int) -> None:
        sink = self._sink
        if sink is not None:
            if not self._dirty:
                self._dirty = True
                self._unit_position = self.position
            sink.append(self.position, ts, record)

    def _emit(self, report: OrderReport) -> None:
        self.version += 1
        self.reports.append(report)

    def _out(self, report: OrderAccepted | OrderRejected | OrderCancelled | CancelRejected) -> None:
        if self._sink is not None:
            self._record(report, report.ts)
        self.version += 1
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

    def _commit(self) -> None:
        assert self._sink is not None
        try:
            self._sink.commit(self.export_state())
        except MmbotError as exc:
            self._dirty = False
            self.failed = f"{exc}; the paper exchange stopped at its last committed state"
            records, state = self._sink.committed()
            self.restore(records, state, replay=False)
            log.error("journal write failed", error=str(exc))
            raise MmbotError(self.failed) from exc
        self._dirty = False

    def _book_only(self, event: Event) -> None:
        kind = type(event)
        if kind is BookDelta or kind is BookSnapshot or kind is FeedStatus:
            market = self.markets.get(event.instrument)  # type: ignore[union-attr]
            if market is not None:
                if kind is BookDelta:
                    market.sync.on_delta(event)  # type: ignore[arg-type]
                elif kind is BookSnapshot:
                    market.sync.on_snapshot(event)  # type: ignore[arg-type]
                elif event.state is FeedState.DISCONNECTED:  # type: ignore[union-attr]
                    market.sync.invalidate("disconnected", request_snapshot=False)

    # ---- state -----------------------------------------------------------------------

    def export_state(self) -> ExchangeState:
        levels = []
        for key, market in self.markets.items():
            for side, book_levels in ((1, market.bids), (-1, market.asks)):
                for price, level in book_levels.items():
                    levels.append(
                        LevelState(instrument=key, side=side, price=price, displayed=level.displayed)
                    )
        return ExchangeState(
            position=self.position,
            now=self.now,
            commands=self.commands,
            fill_seq=self.fill_seq,
            next_sample_ts=self.next_sample_ts,
            orders=[
                OrderState(
                    order=o.order,
                    remaining=o.remaining,
                    accepted_ts=o.accepted_ts,
                    ahead=o.ahead,
                    armed=o.armed,
                )
                for o in self.orders.values()
            ],
            pending=[PendingState(arrival=a, seq=s, command=c) for a, s, c in sorted(self._pending)],
            levels=levels,
            markets=[
                MarketState(
                    instrument=key,
                    mark_price=m.mark_price,
                    funding_rate=m.funding_rate,
                    funding_ts=m.funding_ts,
                )
                for key, m in self.markets.items()
            ],
        )

    def restore(self, records: Iterable[JournalRecord], state: ExchangeState | None, *, replay: bool) -> None:
        """Rebuild ledger and orders from committed ``records`` and ``state``.

        ``replay=True``: the input will be fed again from its first event; events up to
        ``state.position`` only update the books. Otherwise input continues after it."""
        load_into(self, records, state)
        if replay:
            self.begin_replay()
