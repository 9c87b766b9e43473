"""Rebuilding a :class:`~bot.paper.exchange.PaperExchange` from its journal.

The ledger is the fold of the committed records (fills, funding payments, mark
samples); open orders, commands in flight, queue positions, marks and counters come
from the state committed with the last unit. Closed-order memory (for late-cancel
answers) is refolded from the records with the same bound as the live exchange, so a
restored exchange answers exactly like the original would have.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from typing import Protocol

from bot.core.orders import (
    FundingPayment,
    NewOrder,
    OrderCancelled,
    OrderCommand,
    OrderRejected,
    OrderReport,
    RejectReason,
)
from bot.errors import MmbotError
from bot.paper.execution import RecentlyClosed
from bot.paper.ledger import Ledger, MarkSample
from bot.paper.matching import Market, RestingOrder
from bot.paper.records import STATE_VERSION, ExchangeState, FillRecord, JournalRecord, TransferRecord


class Restorable(Protocol):
    """The state of a :class:`~bot.paper.exchange.PaperExchange` that a restore resets
    (a protocol, so this module does not import the exchange that imports it)."""

    ledger: Ledger
    markets: dict[str, Market]
    orders: dict[str, RestingOrder]
    inflight: dict[str, NewOrder]
    cancels_inflight: dict[str, int]
    closed: RecentlyClosed
    _pending: list[tuple[int, int, OrderCommand]]
    reports: list[OrderReport]
    _dirty: bool
    version: int
    position: int
    _skip_until: int
    now: int
    clock: int
    commands: int
    fill_seq: int
    next_sample_ts: int

    def _new_ledger(self) -> Ledger: ...

    def _close(self, client_id: str, state: str) -> None: ...


def load_into(exchange: Restorable, records: Iterable[JournalRecord], state: ExchangeState | None) -> None:
    """Reset ``exchange`` (books aside) to what the journal committed; input continues
    after ``state.position``."""
    ledger = exchange.ledger = exchange._new_ledger()
    exchange.closed.clear()
    close = exchange._close
    for record in records:
        if isinstance(record, FillRecord):
            fill = record.fill
            ledger.apply_fill(fill, record.mid, record.mark)
            if not fill.remaining:
                close(fill.client_id, "filled")
        elif isinstance(record, FundingPayment):
            ledger.apply_funding(record)
        elif isinstance(record, MarkSample):
            ledger.apply_marks(record)
        elif isinstance(record, TransferRecord):
            ledger.apply_transfer(record.asset, record.amount, record.mark, record.ref, record.ts)
        elif isinstance(record, OrderCancelled) or (
            isinstance(record, OrderRejected) and record.reason is not RejectReason.DUPLICATE_CLIENT_ID
        ):
            close(record.client_id, "closed")
    for market in exchange.markets.values():
        market.bids.clear()
        market.asks.clear()
        market.top_bid = market.top_ask = None
        market.open_buy_lots = market.open_buy_units = market.open_sell_lots = 0
        market.disarmed = 0
        market.waiting = 0
        market.taken_bids.clear()
        market.taken_asks.clear()
        market.spared_bids.clear()
        market.spared_asks.clear()
    exchange.orders.clear()
    exchange.inflight.clear()
    exchange.cancels_inflight.clear()
    exchange._pending = []
    exchange.reports = []
    exchange._dirty = False
    exchange.version += 1
    if state is None:
        exchange.position = -1
        exchange._skip_until = -1
        exchange.now = exchange.clock = exchange.commands = exchange.fill_seq = exchange.next_sample_ts = 0
        return
    if state.version != STATE_VERSION:
        raise MmbotError(
            f"paper exchange state version {state.version} is not supported (expected {STATE_VERSION})"
        )
    exchange.now = exchange.clock = state.now
    exchange.commands = state.commands
    exchange.fill_seq = state.fill_seq
    exchange.next_sample_ts = state.next_sample_ts
    if exchange.fill_seq != ledger.fill_count:
        raise MmbotError(
            f"journal inconsistent: {ledger.fill_count} fills recorded, "
            f"but the state counts {exchange.fill_seq}"
        )
    for market_state in state.markets:
        found = exchange.markets.get(market_state.instrument)
        if found is None:
            raise MmbotError(f"journal has state for {market_state.instrument!r}, which is not configured")
        found.mark_price = market_state.mark_price
        found.funding_rate = market_state.funding_rate
        found.funding_ts = market_state.funding_ts
        found.taken_bids = dict(market_state.taken_bids)
        found.taken_asks = dict(market_state.taken_asks)
        found.spared_bids = dict(market_state.spared_bids)
        found.spared_asks = dict(market_state.spared_asks)
    saved_levels = {(lv.instrument, lv.side, lv.price): lv for lv in state.levels}
    for saved in state.orders:
        order = saved.order
        home = exchange.markets.get(order.instrument)
        if home is None:
            raise MmbotError(f"journal has an open order on {order.instrument!r}, which is not configured")
        resting = RestingOrder(order, saved.remaining, saved.accepted_ts, saved.ahead, saved.armed)
        exchange.orders[order.client_id] = resting
        level = saved_levels.get((order.instrument, resting.side, resting.price))
        home.join(resting, level.displayed if level is not None else None, mark=saved.mark)
    for market in exchange.markets.values():
        for side, levels in ((1, market.bids), (-1, market.asks)):
            for price, restored in levels.items():
                level = saved_levels.get((market.key, side, price))
                if level is not None:
                    restored.restore_pending(level.pending, level.next_mark)
                    restored.front = level.front
        market.waiting = sum(1 for lv in (*market.bids.values(), *market.asks.values()) if lv.pending)
    for pending in state.pending:
        command = pending.command
        exchange._pending.append((pending.arrival, pending.seq, command))
        if type(command) is NewOrder:
            exchange.inflight[command.client_id] = command
        else:
            count = exchange.cancels_inflight.get(command.client_id, 0)
            exchange.cancels_inflight[command.client_id] = count + 1
    heapq.heapify(exchange._pending)
    exchange.position = state.position
    exchange._skip_until = -1
