"""Obligation measurement (bot/risk/compliance.py) against hand computations on small books, and
the uptime accounting of the compliance meter on explicit timelines (day boundaries, the deal
window, breaches and their causes, resuming after a restart)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from bot.risk.compliance import NS_PER_DAY, ComplianceMeter, measure
from bot.strategy.obligation_params import ObligationParams
from bot.strategy.obligation_terms import bind_terms
from bot.venues.metadata_cache import SHIPPED_CACHE, CacheFile

SPEC = CacheFile.read(SHIPPED_CACHE).get("binance_spot:ABCUSDT").spec  # type: ignore[union-attr]
LOTS = 100  # lots per ABC (lot 0.01)
S = 1_000_000_000


def terms(**overrides: Any) -> Any:
    values: dict[str, Any] = {
        "max_spread_pct": "0.1",
        "band_pct": "2",
        "bid_depth": "800",
        "ask_depth": "800",
        "min_uptime_pct": "90",
    }
    values.update(overrides)
    return bind_terms(ObligationParams(**values), SPEC)


def order(side: int, price: str, abc: str) -> tuple[int, int, int]:
    return side, int(Decimal(price) / SPEC.tick_size), int(Decimal(abc) * LOTS)


BOOK = [
    order(1, "0.9995", "300"),
    order(1, "0.9900", "500"),
    order(1, "0.9790", "1000"),  # below mid x 0.98: not counted
    order(-1, "1.0003", "400"),
    order(-1, "1.0150", "500"),
    order(-1, "1.0205", "1000"),  # above mid x 1.02: not counted
]


def test_hand_computed_small_book() -> None:
    """Public book 0.9990 / 1.0010; our best bid 0.9995 and best ask 1.0003 are the venue's best, so
    mid = (0.9995 + 1.0003) / 2 = 0.9999 and the band is [0.979902, 1.019898]:
    bid depth = 0.9995 x 300 + 0.9900 x 500 = 794.85 (0.9790 is outside);
    ask depth = 1.0003 x 400 + 1.0150 x 500 = 907.62 (1.0205 is outside);
    spread = (1.0003 - 0.9995) / 1.0003 = 0.07998 %."""
    t = terms()
    m = measure(t, BOOK, 9990, 10010)
    assert m.two_mid == 9995 + 10003
    assert t.quote(m.bid_depth_tl) == Decimal("794.85")
    assert t.quote(m.ask_depth_tl) == Decimal("907.62")
    assert m.spread_pct() == pytest.approx(0.0008 / 1.0003 * 100)
    assert m.spread_met and m.ask_met and not m.bid_met and not m.met
    failing = dict(m.failing(t))
    assert set(failing) == {"bid_depth"}
    assert failing["bid_depth"] == "bid depth 795 < 800"
    assert measure(terms(bid_depth="794.85"), BOOK, 9990, 10010).met  # exactly the requirement is met


def test_band_edges_are_inclusive_and_exact() -> None:
    """mid 0.9999: the highest ask inside +2 % is 1.0198 (1.019898 rounds down), the lowest bid
    inside -2 % is 0.9800 (0.979902 rounds up)."""
    t = terms(bid_depth="1", ask_depth="1")
    base = [order(1, "0.9995", "1"), order(-1, "1.0003", "1")]
    inside = measure(t, [*base, order(-1, "1.0198", "10"), order(1, "0.9800", "10")], None, None)
    outside = measure(t, [*base, order(-1, "1.0199", "10"), order(1, "0.9799", "10")], None, None)
    assert t.quote(inside.ask_depth_tl) == Decimal("1.0003") + Decimal("10.198")
    assert t.quote(inside.bid_depth_tl) == Decimal("0.9995") + Decimal("9.800")
    assert t.quote(outside.ask_depth_tl) == Decimal("1.0003")
    assert t.quote(outside.bid_depth_tl) == Decimal("0.9995")


def test_spread_is_relative_to_our_best_ask_and_exact_at_the_limit() -> None:
    t = terms(bid_depth="1", ask_depth="1")
    at_limit = measure(t, [order(1, "0.9990", "5"), order(-1, "1.0000", "5")], None, None)
    assert at_limit.spread_met  # 0.0010 / 1.0000 = 0.1 % exactly
    wider = measure(t, [order(1, "0.9989", "5"), order(-1, "1.0000", "5")], None, None)
    assert not wider.spread_met
    # relative to the ask, not the mid: 0.0010 / 1.0010 < 0.1 % although 0.0010 / 1.0005 is too
    assert measure(t, [order(1, "1.0000", "5"), order(-1, "1.0010", "5")], None, None).spread_met


def test_one_sided_and_small_orders() -> None:
    t = terms(min_spread_notional="100")
    only_bids = measure(t, [order(1, "0.9995", "300")], 9990, 10010)
    assert not only_bids.spread_met and only_bids.spread_pct() is None
    assert dict(only_bids.failing(t))["spread"] == "spread undefined: no ask of ours"
    # a 50 ABC ask does not count for the spread (min 100 USDT), the 400 ABC one does
    small = measure(
        t, [order(1, "0.9995", "300"), order(-1, "1.0001", "50"), order(-1, "1.0003", "400")], 9990, 10010
    )
    assert small.best_ask == 10003
    assert small.two_mid == 9995 + 10001  # ...but the small order is in the venue's book (the mid)
    nothing = measure(t, [], None, None)
    assert nothing.two_mid is None and not nothing.met
    assert "no_market" in dict(nothing.failing(t))


def meter(**kwargs: Any) -> tuple[ComplianceMeter, list[tuple[str, dict[str, Any], int]]]:
    records: list[tuple[str, dict[str, Any], int]] = []
    m = ComplianceMeter(terms(), sink=lambda t, p, ts: records.append((t, p, ts)), **kwargs)
    return m, records


MET = measure(terms(bid_depth="794.85"), BOOK, 9990, 10010)
NOT_MET = measure(terms(), BOOK, 9990, 10010)


def test_uptime_is_time_weighted_between_evaluations() -> None:
    m, records = meter(sample_interval_ns=60 * S)
    t0 = 10 * NS_PER_DAY + 3600 * S
    m.update(t0, MET)
    m.update(t0 + 30 * S, NOT_MET, ("halted", "HALTED: test"))  # 30 s met
    m.update(t0 + 40 * S, None, ("halted", "HALTED: test"))  # 10 s not met (unchanged state)
    m.update(t0 + 50 * S, MET)  # 10 more not met
    m.update(t0 + 100 * S, None)  # 50 s met
    assert m.deal.measured == 100 * S and m.deal.met == 80 * S
    assert m.today.ratio() == pytest.approx(0.8)
    breaches = [p for t, p, _ in records if t == "obligation_breach"]
    assert len(breaches) == 1
    assert breaches[0]["start"] == t0 + 30 * S and breaches[0]["end"] == t0 + 50 * S
    assert breaches[0]["duration_s"] == 20.0
    assert breaches[0]["cause"] == "bid depth 795 < 800 (HALTED: test)"
    starts = [p for t, p, _ in records if t == "obligation_breach_start"]
    assert [s["start"] for s in starts] == [t0 + 30 * S]


def test_day_boundary_splits_time_and_closes_the_day() -> None:
    m, records = meter()
    t0 = 10 * NS_PER_DAY - 60 * S  # one minute before midnight UTC
    m.update(t0, NOT_MET)
    m.update(t0 + 120 * S, MET)  # 60 s not met on day 9, 60 s not met on day 10
    m.update(t0 + 180 * S, None)
    days = [p for t, p, _ in records if t == "obligation_day"]
    assert len(days) == 1
    assert days[0]["day"] == "1970-01-10" and days[0]["measured_ns"] == 60 * S and days[0]["met_ns"] == 0
    assert not days[0]["met"] and days[0]["breaches"] == 1
    assert (m.today.measured, m.today.met) == (120 * S, 60 * S)
    assert m.deal.measured == 180 * S and m.deal.met == 60 * S


def test_deal_window_clips_the_deal_total_only() -> None:
    t0 = 5 * NS_PER_DAY
    m, _ = meter(window=(t0 + 10 * S, t0 + 40 * S))
    m.update(t0, MET)
    m.update(t0 + 60 * S, None)
    assert m.today.measured == 60 * S
    assert m.deal.measured == 30 * S and m.deal.met == 30 * S


def test_restore_counts_the_downtime_as_a_breach() -> None:
    first, records = meter()
    t0 = 7 * NS_PER_DAY
    first.update(t0, MET)
    first.update(t0 + 50 * S, None)
    first.close(t0 + 50 * S)
    sample = [p for t, p, _ in records if t == "obligation_sample"][-1]
    second, records2 = meter()
    second.restore(sample, None)
    second.update(t0 + 80 * S, MET)  # 30 s down, then met again
    second.update(t0 + 100 * S, None)
    assert second.deal.measured == 100 * S and second.deal.met == 70 * S
    assert second.breaches == 1
    breach = next(p for t, p, _ in records2 if t == "obligation_breach")
    assert (breach["start"], breach["end"]) == (t0 + 50 * S, t0 + 80 * S)
    assert "not running" in breach["cause"]
