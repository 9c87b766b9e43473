"""The obligation layer (bot/strategy/obligations.py): spread guards, the depth ladder inside the band,
clamping the strategy's spread, make-before-break guards, staggered depth replacement, funding
shortfalls and the risk manager's blocks -- on a 1 USDT token (tick 0.0001 = 1 bp)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bot.core.events import Side
from bot.risk.compliance import measure
from bot.strategy.ladder import QuoteRules
from bot.strategy.obligation_params import ObligationParams
from bot.strategy.obligation_terms import bind_terms
from bot.strategy.obligations import (
    DEPTH_SLOT0,
    LaneOrder,
    LayerContext,
    ObligationLayer,
    ObligationPlan,
    SideBudget,
)
from bot.strategy.types import DesiredQuotes, Quote
from bot.venues.metadata_cache import SHIPPED_CACHE, CacheFile

SPEC = CacheFile.read(SHIPPED_CACHE).get("binance_spot:ABCUSDT").spec  # type: ignore[union-attr]
LOTS = 100  # lots per ABC
RICH = SideBudget(10**12)


def layer(**overrides: Any) -> ObligationLayer:
    values: dict[str, Any] = {
        "max_spread_pct": "0.1",
        "band_pct": "2",
        "bid_depth": "100000",
        "ask_depth": "100000",
    }
    values.update(overrides)
    return ObligationLayer(bind_terms(ObligationParams(**values), SPEC), QuoteRules.from_spec(SPEC))


def strategy(bids: list[int], asks: list[int], lots: int = 1000 * LOTS) -> DesiredQuotes:
    return DesiredQuotes(
        bids=tuple(Quote(Side.BUY, p, lots) for p in bids),
        asks=tuple(Quote(Side.SELL, p, lots) for p in asks),
    )


def ctx(bb: int = 9998, ba: int = 10002, lane: tuple[LaneOrder, ...] = (), **kw: Any) -> LayerContext:
    return LayerContext(
        best_bid=bb,
        best_ask=ba,
        lane=lane,
        bids=kw.pop("bids", RICH),
        asks=kw.pop("asks", RICH),
        regime=kw.pop("regime", "calm"),
    )


def live(plan: ObligationPlan, *, except_slots: tuple[tuple[Side, int], ...] = ()) -> tuple[LaneOrder, ...]:
    """The plan's lane orders as if the venue had accepted them all."""
    out = []
    for side, quotes in ((Side.BUY, plan.lane_bids), (Side.SELL, plan.lane_asks)):
        for slot, q in quotes.items():
            out.append(LaneOrder(slot, side, q.price, q.size, (side, slot) not in except_slots))
    return tuple(out)


def depth_tl(quotes: dict[int, Quote]) -> int:
    return sum(q.price * q.size for slot, q in quotes.items() if slot >= DEPTH_SLOT0)


def test_fresh_plan_places_guards_and_a_ladder_inside_the_band() -> None:
    lay = layer()
    plan = lay.plan(strategy([9998, 9996], [10002, 10004]), ctx())
    terms = lay.terms
    gb, ga = plan.lane_bids[0].price, plan.lane_asks[0].price
    assert terms.spread_ok(gb, ga) and gb < 10000 < ga
    assert 6 <= ga - gb <= 8  # ~70 % of the 10-tick limit around mid 1.0000
    bids = {s: q for s, q in plan.lane_bids.items() if s >= DEPTH_SLOT0}
    asks = {s: q for s, q in plan.lane_asks.items() if s >= DEPTH_SLOT0}
    assert len(bids) == len(asks) == 8
    # from 25 % to 80 % of the band: 0.9950 .. 0.9840 and 1.0050 .. 1.0160
    assert max(q.price for q in bids.values()) == 9950 and min(q.price for q in bids.values()) == 9840
    assert min(q.price for q in asks.values()) == 10050 and max(q.price for q in asks.values()) == 10160
    target = 120_000 / float(terms.unit)  # 100,000 + 20 % buffer
    assert depth_tl(plan.lane_bids) >= target and depth_tl(plan.lane_asks) >= target
    assert depth_tl(plan.lane_asks) < target * 1.01
    assert not plan.shortfalls and not plan.chosen
    # the venue would measure it as met once everything rests
    orders = [(int(o.side), o.price, o.remaining) for o in live(plan)]
    assert measure(terms, orders, 9998, 10002).met


def test_the_ladder_stays_put_while_mid_moves_a_little() -> None:
    lay = layer()
    first = lay.plan(strategy([9998], [10002]), ctx())
    resting = live(first)
    moved = lay.plan(strategy([10008], [10012]), ctx(10008, 10012, resting))
    for slot in range(DEPTH_SLOT0, DEPTH_SLOT0 + 8):
        assert moved.lane_bids[slot] == first.lane_bids[slot]
        assert moved.lane_asks[slot] == first.lane_asks[slot]


def test_guards_are_replaced_make_before_break() -> None:
    lay = layer()
    first = lay.plan(strategy([9998], [10002]), ctx())
    resting = live(first)
    old_ask = first.lane_asks[0]
    # the market rises 30 bp: the ask guard would cross, the bid guard is now too far for the limit
    up = lay.plan(strategy([10028], [10032]), ctx(10028, 10032, resting))
    assert up.lane_asks[0] == old_ask  # the old guard rests until the new one does
    assert up.lane_asks[1].price > 10030 and up.lane_bids[1].price < 10030
    assert lay.terms.spread_ok(up.lane_bids[1].price, up.lane_asks[1].price)
    # the new guards are accepted: the old ones go
    after = lay.plan(strategy([10028], [10032]), ctx(10028, 10032, live(up)))
    assert 0 not in after.lane_asks and 0 not in after.lane_bids
    assert after.lane_asks[1] == up.lane_asks[1]


def test_depth_levels_are_replaced_one_at_a_time() -> None:
    lay = layer()
    first = lay.plan(strategy([9998], [10002]), ctx())
    # mid falls 1.3 %: the deepest asks are still in the band but no longer in the safe zone
    # (> 95 % of it), the innermost bids are too close to mid
    two_mid = 2 * 9870
    resting = live(first)
    plan = lay.plan(strategy([9868], [9872]), ctx(9868, 9872, resting))
    changed = [s for s in range(DEPTH_SLOT0, DEPTH_SLOT0 + 8) if plan.lane_asks[s] != first.lane_asks[s]]
    hi = lay.terms.band_hi(two_mid)
    out_of_band = [s for s in range(DEPTH_SLOT0, DEPTH_SLOT0 + 8) if first.lane_asks[s].price > hi]
    assert out_of_band  # these contribute nothing: replaced at once ...
    assert set(out_of_band) <= set(changed)
    assert len(changed) <= len(out_of_band) + 1  # ... plus at most one level that still counts
    # while a replacement is in flight (not live), no other contributing level is touched
    pending = tuple(
        LaneOrder(
            o.slot, o.side, o.price, o.remaining, o.live and not (o.side is Side.SELL and o.slot in changed)
        )
        for o in resting
    )
    again = lay.plan(strategy([9868], [9872]), ctx(9868, 9872, pending))
    for slot in range(DEPTH_SLOT0, DEPTH_SLOT0 + 8):
        if slot not in changed:
            assert again.lane_asks[slot] == first.lane_asks[slot]


def test_short_inventory_is_a_shortfall_and_the_strategy_is_cut() -> None:
    lay = layer()
    asks = SideBudget(60_000 * LOTS, "balance")  # 60,000 ABC for a 100,000 USDT ask obligation
    plan = lay.plan(strategy([9998], [10002, 10004]), ctx(asks=asks))
    (short,) = plan.shortfalls
    assert short.side is Side.SELL and short.limited_by == "balance"
    assert short.short_tl > 0
    placed = sum(q.size for q in plan.lane_asks.values())
    assert placed <= 60_000 * LOTS
    supported = float(lay.terms.quote(short.supported_tl))
    assert 59_000 < supported < 61_000  # ~60,000 ABC at ~1.005 less the guard
    # the lane comes first; the strategy gets what rounding left (less than one of its orders)
    inner = sum(q.size for q in plan.inner.asks)
    assert placed + inner <= 60_000 * LOTS
    assert inner < 1000 * LOTS and len(plan.inner.asks) <= 1
    assert [q.size for q in plan.inner.bids] == [1000 * LOTS]  # the bid side is funded in full


def test_clamp_crisis_widen_and_blocked_sides() -> None:
    lay = layer()
    wide = strategy([9980, 9978], [10020, 10022])  # 40 bp: CRISIS-style widening
    clamped = lay.plan(wide, ctx(9998, 10002, regime="crisis")).inner
    b0, a0 = clamped.bids[0].price, clamped.asks[0].price
    assert lay.terms.spread_ok(b0, a0) and a0 - b0 <= 8
    assert clamped.bids[1].price - b0 == -2 and clamped.asks[1].price - a0 == 2  # ladder shape kept
    widen = layer(crisis="widen")
    plan = widen.plan(wide, ctx(9998, 10002, regime="crisis"))
    assert plan.inner == wide and 0 not in plan.lane_bids and 0 not in plan.lane_asks
    assert "CRISIS" in plan.chosen
    blocked = lay.plan(wide, ctx(bids=SideBudget(10**12, blocked="reduce-only (daily loss)")))
    assert blocked.lane_bids == {} and blocked.lane_asks
    assert "bids blocked by risk: reduce-only (daily loss)" in blocked.chosen


def test_clamp_never_crosses_the_public_book() -> None:
    """A strategy skewed far above the market (short inventory): the ladder holds its bid at the
    best ask - 1; the clamp must not push it through."""
    lay = layer()
    skewed = strategy([10001], [10150])
    plan = lay.plan(skewed, ctx(9999, 10002))
    assert plan.inner.bids[0].price <= 10001
    assert plan.inner.asks[0].price >= 10000
    assert lay.terms.spread_ok(plan.inner.bids[0].price, plan.inner.asks[0].price)
    for quote in plan.lane_bids.values():
        assert quote.price < 10002
    for quote in plan.lane_asks.values():
        assert quote.price > 9999


def test_quote_false_measures_only() -> None:
    lay = layer(quote=False)
    desired = strategy([9990], [10010])
    plan = lay.plan(desired, ctx())
    assert plan.inner == desired and plan.lane_bids == {} and plan.lane_asks == {}
    assert Decimal(0) == Decimal(len(plan.shortfalls))
