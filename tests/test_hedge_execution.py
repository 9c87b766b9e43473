"""Hedge execution state machine: taker, passive, timeout -> cancel -> taker, races."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.core.events import NS_PER_S, Side
from bot.core.instrument import InstrumentKind, InstrumentSpec
from bot.hedge.execution import (
    CancelOrder,
    ExecState,
    HedgeDone,
    HedgeExecutor,
    OrderStatus,
    PlacePassive,
    PlaceTaker,
)
from bot.hedge.hedger import HedgeDecision, HedgerSettings

T0 = 1_000 * NS_PER_S
BID, ASK = 9_990, 10_010  # ticks


def decision(side: Side = Side.SELL, lots: int = 100) -> HedgeDecision:
    sign = -1 if side is Side.SELL else 1
    return HedgeDecision(
        side=side, lots=lots, quantity=Decimal(lots), delta_before=-sign * lots, delta_after=0.0
    )


def passive(timeout_s: float = 5.0, offset: int = 0) -> HedgeExecutor:
    return HedgeExecutor(
        HedgerSettings(band=10, mode="passive", passive_timeout_s=timeout_s, passive_offset_ticks=offset)
    )


def test_taker_mode_places_at_once_and_finishes_on_fill() -> None:
    ex = HedgeExecutor(HedgerSettings(band=10))
    [order] = ex.start(T0, decision(Side.BUY, 42), BID, ASK)
    assert isinstance(order, PlaceTaker) and order.side is Side.BUY and order.lots == 42
    assert ex.state is ExecState.TAKER and ex.pending_lots == 42
    assert ex.on_order_update(T0, order.client_id, OrderStatus.PARTIALLY_FILLED, 40) == []
    assert ex.pending_lots == 2
    spec = InstrumentSpec(
        venue="binance_usdm",
        symbol="ABCUSDT",
        kind=InstrumentKind.PERP,
        base="ABC",
        quote="USDT",
        tick_size=Decimal("0.0001"),
        lot_size=Decimal("0.1"),
        qty_step=Decimal("0.1"),
        contract_size=Decimal(10),
    )
    assert ex.pending_delta(spec) == 2.0  # 2 lots x 0.1 contracts x 10 tokens
    [done] = ex.on_order_update(T0, order.client_id, OrderStatus.FILLED, 42)
    assert done == HedgeDone(
        side=Side.BUY, requested_lots=42, filled_lots=42, passive_lots=0, reason="taker filled"
    )
    assert not ex.busy and ex.pending_lots == 0


def test_passive_rests_at_the_touch_and_fills_before_the_timeout() -> None:
    ex = passive(offset=2)
    [order] = ex.start(T0, decision(Side.SELL, 100), BID, ASK)
    assert isinstance(order, PlacePassive)
    assert order.price == ASK + 2 and order.side is Side.SELL
    assert ex.pending_lots == -100
    assert ex.deadline_ns == T0 + 5 * NS_PER_S
    assert ex.on_timer(T0 + 4 * NS_PER_S) == []
    [done] = ex.on_order_update(T0 + 4 * NS_PER_S, order.client_id, OrderStatus.FILLED, 100)
    assert isinstance(done, HedgeDone) and done.passive_lots == 100 and done.reason == "passive filled"
    assert ex.on_timer(T0 + 10 * NS_PER_S) == []  # nothing left to cancel


def test_timeout_cancels_then_takes_the_remainder() -> None:
    ex = passive()
    [order] = ex.start(T0, decision(Side.BUY, 100), BID, ASK)
    assert isinstance(order, PlacePassive) and order.price == BID
    ex.on_order_update(T0 + NS_PER_S, order.client_id, OrderStatus.PARTIALLY_FILLED, 30)
    assert ex.on_timer(T0 + 5 * NS_PER_S - 1) == []
    [cancel] = ex.on_timer(T0 + 5 * NS_PER_S)
    assert cancel == CancelOrder(client_id=order.client_id)
    assert ex.state is ExecState.CANCELLING
    [taker] = ex.on_order_update(T0 + 5 * NS_PER_S, order.client_id, OrderStatus.CANCELED, 30)
    assert isinstance(taker, PlaceTaker) and taker.lots == 70 and taker.side is Side.BUY
    assert taker.client_id != order.client_id
    [done] = ex.on_order_update(T0 + 6 * NS_PER_S, taker.client_id, OrderStatus.FILLED, 70)
    assert isinstance(done, HedgeDone)
    assert (done.filled_lots, done.passive_lots, done.requested_lots) == (100, 30, 100)


def test_fill_racing_the_cancel_needs_no_taker() -> None:
    ex = passive()
    [order] = ex.start(T0, decision(), BID, ASK)
    ex.on_timer(T0 + 5 * NS_PER_S)
    [done] = ex.on_order_update(T0 + 5 * NS_PER_S + 1, order.client_id, OrderStatus.FILLED, 100)
    assert isinstance(done, HedgeDone) and done.passive_lots == 100
    assert not ex.busy


def test_unacknowledged_cancel_is_sent_again() -> None:
    ex = passive(timeout_s=2)
    [order] = ex.start(T0, decision(), BID, ASK)
    assert ex.on_timer(T0 + 2 * NS_PER_S) == [CancelOrder(client_id=order.client_id)]
    assert ex.on_timer(T0 + 3 * NS_PER_S) == []
    assert ex.on_timer(T0 + 4 * NS_PER_S) == [CancelOrder(client_id=order.client_id)]


def test_post_only_reject_goes_taker_immediately() -> None:
    ex = passive()
    [order] = ex.start(T0, decision(Side.SELL, 10), BID, ASK)
    [taker] = ex.on_order_update(T0, order.client_id, OrderStatus.REJECTED, 0)
    assert isinstance(taker, PlaceTaker) and taker.lots == 10


def test_taker_without_liquidity_ends_the_hedge_with_what_filled() -> None:
    ex = HedgeExecutor(HedgerSettings(band=10))
    [order] = ex.start(T0, decision(Side.SELL, 10), BID, ASK)
    [done] = ex.on_order_update(T0, order.client_id, OrderStatus.CANCELED, 4)
    assert isinstance(done, HedgeDone) and done.filled_lots == 4 and done.reason == "taker canceled"


def test_stale_ids_are_ignored_and_one_hedge_at_a_time() -> None:
    ex = passive()
    [order] = ex.start(T0, decision(), BID, ASK)
    assert ex.on_order_update(T0, "someone-else", OrderStatus.FILLED, 100) == []
    assert ex.busy
    with pytest.raises(RuntimeError):
        ex.start(T0, decision(), BID, ASK)
    ex.on_order_update(T0, order.client_id, OrderStatus.FILLED, 100)
    assert ex.on_order_update(T0, order.client_id, OrderStatus.FILLED, 100) == []  # late duplicate
    [again] = ex.start(T0 + 1, decision(), BID, ASK)
    assert again.client_id != order.client_id  # type: ignore[union-attr]
