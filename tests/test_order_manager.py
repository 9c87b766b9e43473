"""Order manager: minimal cancel/new diffs, in-flight tracking, no double quoting while a cancel is pending."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.events import Side
from bot.core.orders import (
    CancelOrder,
    CancelReason,
    CancelRejected,
    CancelRejectReason,
    Liquidity,
    NewOrder,
    OrderAccepted,
    OrderCancelled,
    OrderFilled,
)
from bot.strategy.order_manager import OrderManager, SlotState
from bot.strategy.types import DesiredQuotes, Quote

KEY = "binance_spot:BTCUSDT"


def quotes(bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> DesiredQuotes:
    return DesiredQuotes(
        bids=tuple(Quote(Side.BUY, p, s) for p, s in bids),
        asks=tuple(Quote(Side.SELL, p, s) for p, s in asks),
    )


def accept(om: OrderManager, cmd: NewOrder, ts: int = 1) -> None:
    om.on_report(
        OrderAccepted(
            client_id=cmd.client_id, instrument=KEY, ts=ts, side=cmd.side, price=cmd.price, size=cmd.size
        )
    )


def cancelled(om: OrderManager, cmd: CancelOrder, remaining: int = 1, ts: int = 2) -> None:
    om.on_report(
        OrderCancelled(
            client_id=cmd.client_id, instrument=KEY, ts=ts, reason=CancelReason.REQUESTED, remaining=remaining
        )
    )


def test_first_reconcile_places_every_level_post_only() -> None:
    om = OrderManager(KEY, id_prefix="e1-")
    cmds = om.reconcile(quotes([(100, 5), (99, 5)], [(102, 5)]), now=10)
    assert [type(c) for c in cmds] == [NewOrder, NewOrder, NewOrder]
    assert [c.client_id for c in cmds] == ["e1-1", "e1-2", "e1-3"]
    assert all(c.tif.value == "gtx" and c.ts == 10 for c in cmds)
    # in flight: nothing more is sent however the desired quotes move
    assert om.reconcile(quotes([(90, 5), (89, 5)], [(110, 5)]), now=11) == []


def test_within_tolerance_is_kept_beyond_is_cancelled_then_replaced_after_confirmation() -> None:
    om = OrderManager(KEY, id_prefix="x", refresh_ticks=1)
    (bid,) = om.reconcile(quotes([(100, 5)], []), now=1)
    accept(om, bid)
    assert om.reconcile(quotes([(101, 5)], []), now=2) == []  # 1 tick: within tolerance
    (cancel,) = om.reconcile(quotes([(103, 5)], []), now=3)
    assert isinstance(cancel, CancelOrder) and cancel.client_id == bid.client_id
    # cancel pending: the level is NOT quoted twice
    assert om.reconcile(quotes([(103, 5)], []), now=4) == []
    assert om.orders[bid.client_id].state is SlotState.PENDING_CANCEL
    cancelled(om, cancel, remaining=5)
    (new,) = om.reconcile(quotes([(103, 5)], []), now=5)
    assert isinstance(new, NewOrder) and new.price == 103


def test_cancel_that_loses_the_race_with_a_fill() -> None:
    om = OrderManager(KEY, id_prefix="x")
    (bid,) = om.reconcile(quotes([(100, 5)], []), now=1)
    accept(om, bid)
    (_cancel,) = om.reconcile(quotes([(98, 5)], []), now=2)
    om.on_report(
        OrderFilled(
            client_id=bid.client_id,
            instrument=KEY,
            ts=3,
            fill_id=1,
            side=Side.BUY,
            price=100,
            size=5,
            liquidity=Liquidity.MAKER,
            fee=Decimal("-0.01"),
            fee_asset="USDT",
            remaining=0,
        )
    )
    om.on_report(
        CancelRejected(
            client_id=bid.client_id, instrument=KEY, ts=4, reason=CancelRejectReason.ALREADY_FILLED, text=""
        )
    )
    assert om.orders == {} and om.stats.fills == 1 and om.stats.cancel_rejects == 1
    (new,) = om.reconcile(quotes([(98, 5)], []), now=5)
    assert new.price == 98


def test_cancel_overtaking_the_order_cancels_it_once_it_is_live() -> None:
    om = OrderManager(KEY, id_prefix="x")
    (bid,) = om.reconcile(quotes([(100, 5)], []), now=1)
    (_cancel,) = om.cancel_all(now=2)
    om.on_report(
        CancelRejected(
            client_id=bid.client_id, instrument=KEY, ts=3, reason=CancelRejectReason.UNKNOWN_ORDER, text=""
        )
    )
    assert om.reconcile(quotes([], []), now=4) == []  # still in flight
    accept(om, bid, ts=5)
    (again,) = om.reconcile(quotes([(100, 5)], []), now=6)  # even though it matches, it is doomed
    assert isinstance(again, CancelOrder) and again.client_id == bid.client_id


def test_partial_fill_beyond_size_tolerance_is_refreshed_and_levels_dropped_are_cancelled() -> None:
    om = OrderManager(KEY, id_prefix="x", size_tolerance=0.25)
    b0, b1, a0 = om.reconcile(quotes([(100, 8), (99, 8)], [(102, 8)]), now=1)
    for cmd in (b0, b1, a0):
        accept(om, cmd)
    om.on_report(
        OrderFilled(
            client_id=b0.client_id,
            instrument=KEY,
            ts=2,
            fill_id=1,
            side=Side.BUY,
            price=100,
            size=1,
            liquidity=Liquidity.MAKER,
            fee=Decimal(0),
            fee_asset="USDT",
            remaining=7,
        )
    )
    assert om.reconcile(quotes([(100, 8), (99, 8)], [(102, 8)]), now=3) == []  # 7 of 8: within 25 %
    om.on_report(
        OrderFilled(
            client_id=b0.client_id,
            instrument=KEY,
            ts=4,
            fill_id=2,
            side=Side.BUY,
            price=100,
            size=3,
            liquidity=Liquidity.MAKER,
            fee=Decimal(0),
            fee_asset="USDT",
            remaining=4,
        )
    )
    cmds = om.reconcile(quotes([(100, 8)], []), now=5)  # b0 too small, level 1 and the ask dropped
    assert sorted(c.client_id for c in cmds) == sorted([b0.client_id, b1.client_id, a0.client_id])
    assert all(isinstance(c, CancelOrder) for c in cmds)


def test_max_age_refreshes_old_orders() -> None:
    om = OrderManager(KEY, id_prefix="x", max_age_ns=1_000)
    (bid,) = om.reconcile(quotes([(100, 5)], []), now=0)
    accept(om, bid)
    assert om.reconcile(quotes([(100, 5)], []), now=999) == []
    (cancel,) = om.reconcile(quotes([(100, 5)], []), now=1_000)
    assert cancel.client_id == bid.client_id


@given(
    st.lists(st.tuples(st.integers(90, 110), st.integers(1, 3), st.integers(0, 5)), min_size=1, max_size=60)
)
@settings(max_examples=100)
def test_never_more_than_one_order_per_slot(script: list[tuple[int, int, int]]) -> None:
    """Random desired quotes and random venue answers: each (side, level) holds at most one
    order we sent and did not see closed, so a level is never double-quoted."""
    om = OrderManager(KEY, id_prefix="x", refresh_ticks=0)
    open_at_venue: dict[str, tuple[Side, int]] = {}
    pending: list[object] = []
    for step, (price, levels, answer) in enumerate(script):
        desired = quotes([(price - i, 2) for i in range(levels)], [(price + 5 + i, 2) for i in range(levels)])
        for cmd in om.reconcile(desired, now=step):
            pending.append(cmd)
        # the venue answers some of the pending commands
        for _ in range(answer):
            if not pending:
                break
            cmd = pending.pop(0)
            if isinstance(cmd, NewOrder):
                accept(om, cmd, ts=step)
                open_at_venue[cmd.client_id] = (cmd.side, cmd.price)
            elif isinstance(cmd, CancelOrder):
                if cmd.client_id in open_at_venue:
                    del open_at_venue[cmd.client_id]
                    cancelled(om, cmd, ts=step)
                else:
                    om.on_report(
                        CancelRejected(
                            client_id=cmd.client_id,
                            instrument=KEY,
                            ts=step,
                            reason=CancelRejectReason.UNKNOWN_ORDER,
                            text="",
                        )
                    )
        slots = [(o.side, o.level) for o in om.orders.values()]
        assert len(slots) == len(set(slots))
        # every order still open at the venue is tracked (no orphan)
        assert set(open_at_venue) <= set(om.orders)


def test_a_reject_pauses_new_orders_on_that_side_only() -> None:
    from bot.core.orders import OrderRejected, RejectReason

    om = OrderManager(KEY, id_prefix="x", reject_cooldown_ns=1_000)
    bid, ask = om.reconcile(quotes([(100, 5)], [(102, 5)]), now=0)
    om.on_report(
        OrderRejected(
            client_id=ask.client_id, instrument=KEY, ts=10, reason=RejectReason.INSUFFICIENT_BALANCE, text=""
        )
    )
    accept(om, bid)
    assert om.reconcile(quotes([(100, 5)], [(102, 5)]), now=500) == []  # no retry storm on the ask
    (again,) = om.reconcile(quotes([(100, 5)], [(102, 5)]), now=1_010)
    assert again.side is Side.SELL and om.stats.rejects == 1
