"""Each limit alone: the pre-trade check refuses what it must (naming rule and numbers), and the
limit-driven quote adjustments (soft/hard position, daily loss)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.core.events import Side
from bot.core.orders import (
    CancelOrder,
    CancelReason,
    CancelRejected,
    CancelRejectReason,
    Liquidity,
    NewOrder,
    OrderCancelled,
    OrderFilled,
    OrderRejected,
    RejectReason,
)
from bot.risk import Regime, RiskSettings
from bot.risk.limits import NS_PER_DAY, Limits, TokenBucket
from bot.risk.settings import LimitSettings
from tests.risk_helpers import NS, calm_manager, feed_for
from tests.specs import SPOT_BTC, USDM_BTC

MID = 6_000_000  # ticks (60,000 USDT); one lot (1e-8 BTC) = 0.0006 USDT
LOTS_PER_USDT = 1 / (Decimal("0.01") * Decimal("0.00000001") * MID)


def lots(usdt: int | str) -> int:
    return int(Decimal(usdt) * LOTS_PER_USDT)


def new(size: int, side: Side = Side.BUY, *, cid: str = "o", ts: int = 0, price: int = MID) -> NewOrder:
    return NewOrder(client_id=cid, instrument=SPOT_BTC.key, side=side, size=size, price=price, ts=ts)


def limits(**overrides: object) -> Limits:
    result = Limits(LimitSettings(**overrides), SPOT_BTC)  # type: ignore[arg-type]
    result.set_mid(MID)
    return result


def test_notional_limits_are_exact_integers() -> None:
    lim = limits(max_order=Decimal("500"))
    # 500 USDT at 60,000 = 0.00833333... BTC: the exact boundary in tick-lots; lots(500) =
    # 833,333 lots = 499.9998 USDT, one lot more = 500.0004
    assert lim.max_order_tl == 500 * 10**10
    assert lim.check(new(lots(500)), halted=False) is None
    veto = lim.check(new(lots(500) + 1, cid="o2"), halted=False)
    assert veto is not None and veto.rule == "max_order" and "500.0004 > 500" in veto.text


def test_a_veto_becomes_the_order_managers_rejection() -> None:
    lim = limits(max_order=Decimal(1))
    command = new(lots(2), cid="big", ts=7)
    veto = lim.check(command, halted=False)
    assert veto is not None
    report = veto.report(command)
    assert isinstance(report, OrderRejected) and report.reason is RejectReason.RISK_LIMIT
    assert (report.client_id, report.ts, report.text) == ("big", 7, str(veto))
    assert str(veto).startswith("max_order: order notional")
    assert "big" not in lim.orders  # a vetoed order is not counted as open


def test_max_open_orders() -> None:
    lim = limits(max_open_orders=3)
    for i in range(3):
        assert lim.check(new(lots(10), cid=f"o{i}"), halted=False) is None
    veto = lim.check(new(lots(10), cid="o3"), halted=False)
    assert veto is not None and veto.rule == "max_open_orders" and "3 open orders >= 3" in veto.text
    lim.on_report(
        OrderCancelled(
            client_id="o0", instrument=SPOT_BTC.key, ts=1, reason=CancelReason.REQUESTED, remaining=lots(10)
        )
    )
    assert lim.check(new(lots(10), cid="o3"), halted=False) is None


def test_max_notional_per_side_counts_open_orders_of_that_side_only() -> None:
    lim = limits(max_notional_per_side=Decimal(1000), max_order=Decimal(1000))
    assert lim.check(new(lots(600), cid="b1"), halted=False) is None
    veto = lim.check(new(lots(600), cid="b2"), halted=False)
    assert veto is not None and veto.rule == "max_notional_per_side" and "BUY" in veto.text
    assert lim.check(new(lots(600), Side.SELL, cid="s1"), halted=False) is None  # other side
    # a partial fill frees its part of the side's notional
    fill = OrderFilled(
        client_id="b1", instrument=SPOT_BTC.key, ts=1, fill_id=1, side=Side.BUY, price=MID,
        size=lots(300), liquidity=Liquidity.MAKER, fee=Decimal(0), fee_asset="USDT", remaining=lots(600) - lots(300),
    )  # fmt: skip
    lim.on_report(fill)
    assert lim.check(new(lots(600), cid="b2"), halted=False) is None


def test_reports_close_orders_rejects_and_unknown_cancels() -> None:
    lim = limits()
    lim.check(new(lots(100), cid="a"), halted=False)
    lim.check(new(lots(100), cid="b"), halted=False)
    lim.check(new(lots(100), cid="c"), halted=False)
    lim.on_report(
        OrderRejected(
            client_id="a", instrument=SPOT_BTC.key, ts=1, reason=RejectReason.POST_ONLY_WOULD_CROSS, text=""
        )
    )
    lim.on_report(
        CancelRejected(
            client_id="b", instrument=SPOT_BTC.key, ts=1, reason=CancelRejectReason.ALREADY_FILLED, text=""
        )
    )
    lim.on_report(
        CancelRejected(
            client_id="c", instrument=SPOT_BTC.key, ts=1, reason=CancelRejectReason.UNKNOWN_ORDER, text=""
        )
    )
    assert set(lim.orders) == {"b"}  # an already-filled order waits for its fill report
    assert lim.open_lots[Side.BUY] == lots(100)


def test_rate_limit_is_a_token_bucket_in_event_time() -> None:
    lim = limits(orders_per_s=2.0, order_burst=3, max_open_orders=100)
    ts = 1_000 * NS
    results = [lim.check(new(lots(1), cid=f"o{i}", ts=ts), halted=False) for i in range(4)]
    assert results[:3] == [None, None, None]
    assert results[3] is not None and results[3].rule == "rate_limit"
    # 0.4 s later: 0.8 token -- still refused; 0.5 s: one token
    assert lim.check(new(lots(1), cid="x", ts=ts + 400_000_000), halted=False) is not None
    assert lim.check(new(lots(1), cid="y", ts=ts + 500_000_000), halted=False) is None
    # cancels are never rate limited (nor refused)
    assert lim.check(CancelOrder(client_id="o1", instrument=SPOT_BTC.key, ts=ts), halted=False) is None
    bucket = TokenBucket(10.0, 5)
    assert sum(bucket.take(0) for _ in range(10)) == 5
    assert sum(bucket.take(NS) for _ in range(20)) == 5  # refilled to the burst, not beyond


def test_hard_position_limit_refuses_worst_case_increases_and_allows_reductions() -> None:
    lim = limits(max_position=Decimal(2000), halt_position=Decimal(4000), max_order=Decimal(1000))
    lim.on_position(lots(1500), None, 0)
    assert lim.check(new(lots(400), cid="b1"), halted=False) is None  # worst case 1900
    veto = lim.check(new(lots(200), cid="b2"), halted=False)  # worst case 2100 (open b1 counts)
    assert veto is not None and veto.rule == "max_position"
    assert lim.check(new(lots(1000), Side.SELL, cid="s1"), halted=False) is None  # reduces


def test_reduce_only_refuses_anything_that_could_grow_or_flip_the_position() -> None:
    lim = limits()
    lim.on_position(lots(100), None, 0)
    why = "test"
    assert lim.check(new(lots(50), Side.BUY, cid="b"), halted=False, reduce_only=why) is not None
    assert lim.check(new(lots(60), Side.SELL, cid="s1"), halted=False, reduce_only=why) is None
    veto = lim.check(new(lots(60), Side.SELL, cid="s2"), halted=False, reduce_only=why)  # 100-60-60 < 0
    assert veto is not None and veto.rule == "reduce_only" and "test" in veto.text


def test_hard_limit_makes_quotes_reduce_only_and_the_check_enforces_it() -> None:
    risk, feed, _ = calm_manager()
    decision = risk.on_position(lots(2100), Decimal(0), feed.ts)
    assert decision.adjustments.reduce_only and decision.regime is Regime.CALM
    assert any("reduce-only: position notional" in note for note in decision.reasons)
    veto = risk.check(new(lots(10), Side.BUY, cid="b", ts=feed.ts))
    assert veto is not None and veto.rule == "reduce_only"
    assert risk.check(new(lots(10), Side.SELL, cid="s", ts=feed.ts)) is None


def test_soft_position_limit_shrinks_size_and_raises_gamma_linearly() -> None:
    risk, feed, _ = calm_manager()
    assert risk.on_position(lots(1000), Decimal(0), feed.ts).adjustments.size_mult == 1.0  # at soft
    adj = risk.on_position(lots(1500), Decimal(0), feed.ts).adjustments  # halfway to hard
    settings = RiskSettings().limits
    assert adj.size_mult == pytest.approx(1 - (1 - settings.soft_min_size_mult) * 0.5, abs=0.026)
    assert adj.gamma_mult == pytest.approx(1 + settings.soft_gamma_boost * 0.5, abs=0.026)
    assert not adj.reduce_only
    adj = risk.on_position(-lots(1500), Decimal(0), feed.ts).adjustments  # symmetric for shorts
    assert adj.size_mult == pytest.approx(0.65, abs=0.026)


def test_daily_loss_turns_reduce_only_until_the_next_utc_day() -> None:
    settings = RiskSettings(limits=LimitSettings(daily_loss=Decimal(200), max_drawdown=Decimal(10_000)))
    risk, feed, _ = calm_manager(settings)
    day_end = (feed.ts // NS_PER_DAY + 1) * NS_PER_DAY
    risk.on_position(lots(100), Decimal(1000), feed.ts)
    assert not risk.on_position(lots(100), Decimal("800.01"), feed.ts).adjustments.reduce_only
    decision = risk.on_position(lots(100), Decimal(800), feed.ts)
    assert decision.adjustments.reduce_only and decision.regime is Regime.CALM
    assert any("daily loss 200 >= 200" in note for note in decision.reasons)
    veto = risk.check(new(lots(10), Side.BUY, cid="b", ts=feed.ts))
    assert veto is not None and veto.rule == "reduce_only" and "daily loss" in veto.text
    # a new UTC day (event time) starts from the equity then
    feed.ts = day_end - feed.step_ns
    feed_for(risk, feed, 1.0)
    assert not risk.decision.adjustments.reduce_only
    assert risk.check(new(lots(10), Side.BUY, cid="b2", ts=feed.ts)) is None
    assert risk.limits.day_start_pnl == Decimal(800)


def test_limits_work_in_perp_contracts_too() -> None:
    lim = Limits(LimitSettings(max_order=Decimal(500)), USDM_BTC)
    lim.set_mid(600_000)  # 60,000.0 in 0.1 ticks
    # one lot = 0.001 BTC = 60 USDT: 8 lots = 480 ok, 9 lots = 540 refused
    assert (
        lim.check(
            NewOrder(client_id="a", instrument=USDM_BTC.key, side=Side.SELL, size=8, price=600_000, ts=0),
            halted=False,
        )
        is None
    )
    veto = lim.check(
        NewOrder(client_id="b", instrument=USDM_BTC.key, side=Side.SELL, size=9, price=600_000, ts=0),
        halted=False,
    )
    assert veto is not None and "540 > 500" in veto.text
