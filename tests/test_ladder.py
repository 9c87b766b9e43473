"""Ladder rounding and limits: property tests (hypothesis) plus worked examples.

Properties, for any model prices (including ones through the book), book, position
and instrument rules:
- post-only quotes never cross the book: bids < best ask, asks > best bid;
- every bid is strictly below every ask; levels are best-first and distinct;
- sizes are multiples of the quantity step and at least the minimum quantity and
  minimum notional at their price;
- no level whose fill could take |position| past max_position (all levels filling);
- inventory skews quotes: a longer position never raises either quote, and a
  position one quote unit longer lowers both when the skew is at least a tick
  (Avellaneda-Stoikov 2008 reservation price; GLFT 2013 skew sigma*c2).
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bot.core.events import Side
from bot.strategy.costs import FeeRates
from bot.strategy.ladder import LadderSpec, QuoteRules, build_ladder
from bot.strategy.params import AvellanedaStoikovParams, CostParams, GlftParams, LadderParams
from bot.strategy.profile import StrategyProfile, build_quoter
from bot.strategy.types import NO_ADJUSTMENT, DesiredQuotes, QuoteAdjustments, Theo
from tests.quant_helpers import btcusdt_spec, market_state


@st.composite
def rules(draw: st.DrawFn) -> QuoteRules:
    step = draw(st.sampled_from([1, 5, 100, 1000]))
    return QuoteRules(
        step_lots=step,
        min_lots=step * draw(st.integers(1, 5)),
        min_notional=draw(st.sampled_from([0, 1_000, 500_000, 50_000_000])),
    )


@st.composite
def ladders(draw: st.DrawFn, step: int) -> LadderSpec:
    size = step * draw(st.integers(1, 50))
    return LadderSpec(
        levels=draw(st.integers(1, 6)),
        spacing_ticks=draw(st.integers(1, 20)),
        size_lots=size,
        size_growth=draw(st.floats(0.5, 3.0)),
        inventory_shaping=draw(st.floats(0.0, 3.0)),
        max_position_lots=size * draw(st.integers(1, 20)) + draw(st.integers(0, step)),
        target_lots=0,
        post_only=True,
        bump_to_min=draw(st.booleans()),
    )


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Theo, int, int, int, LadderSpec, QuoteRules, QuoteAdjustments]:
    rule = draw(rules())
    ladder = draw(ladders(rule.step_lots))
    best_bid = draw(st.integers(2, 2_000_000))
    best_ask = best_bid + draw(st.integers(1, 50))
    if draw(st.booleans()):
        centre = draw(st.floats(best_bid - 200.0, best_ask + 200.0))  # model may sit through the book
        half = draw(st.floats(0.0001, 100.0))
        bid, ask = centre - half, centre + half
    else:  # model prices on or next to the touch, whole or fractional ticks
        fraction = st.sampled_from([0.0, 0.25, 0.5, 0.999])
        bid = draw(st.sampled_from([best_bid, best_ask])) + draw(st.integers(-2, 2)) + draw(fraction)
        ask = bid + draw(st.integers(0, 3)) + draw(fraction)
        assume(ask > bid)
        centre, half = (bid + ask) / 2, (ask - bid) / 2
    theo = Theo(fair=centre, reservation=centre, half_spread=half, bid=bid, ask=ask)
    limit = ladder.max_position_lots
    position = draw(st.integers(-limit - 3 * rule.step_lots, limit + 3 * rule.step_lots))
    adj = QuoteAdjustments(
        size_mult=draw(st.floats(0.1, 3.0)),
        levels=draw(st.none() | st.integers(0, 4)),
        reduce_only=draw(st.booleans()),
    )
    return theo, best_bid, best_ask, position, ladder, rule, adj


def check_invariants(
    quotes: DesiredQuotes, best_bid: int, best_ask: int, position: int, ladder: LadderSpec, rule: QuoteRules
) -> None:
    bids, asks = quotes.bids, quotes.asks
    assert all(q.side is Side.BUY for q in bids) and all(q.side is Side.SELL for q in asks)
    assert all(q.price < best_ask for q in bids), "post-only bid crosses"
    assert all(q.price > best_bid for q in asks), "post-only ask crosses"
    if bids and asks:
        assert bids[0].price < asks[0].price
    assert [q.price for q in bids] == sorted({q.price for q in bids}, reverse=True)
    assert [q.price for q in asks] == sorted({q.price for q in asks})
    for q in (*bids, *asks):
        assert q.price > 0
        assert q.size > 0 and q.size % rule.step_lots == 0
        assert q.size >= rule.min_lots
        assert q.price * q.size >= rule.min_notional
    limit = ladder.max_position_lots
    assert not bids or position + sum(q.size for q in bids) <= limit
    assert not asks or position - sum(q.size for q in asks) >= -limit


@settings(max_examples=400, deadline=None)
@given(scenarios())
def test_ladder_invariants(
    scenario: tuple[Theo, int, int, int, LadderSpec, QuoteRules, QuoteAdjustments],
) -> None:
    theo, best_bid, best_ask, position, ladder, rule, adj = scenario
    quotes = build_ladder(
        theo,
        best_bid=best_bid,
        best_ask=best_ask,
        position_lots=position,
        ladder=ladder,
        rules=rule,
        adj=adj,
        q=0.0,
    )
    check_invariants(quotes, best_bid, best_ask, position, ladder, rule)
    if adj.reduce_only:
        assert not quotes.bids or position < 0
        assert not quotes.asks or position > 0
        assert position + sum(q.size for q in quotes.bids) <= 0 or not quotes.bids
        assert position - sum(q.size for q in quotes.asks) >= 0 or not quotes.asks
    if adj.levels == 0:
        assert quotes.empty


def test_rounding_direction_and_post_only_slide() -> None:
    ladder = LadderSpec(levels=3, spacing_ticks=5, size_lots=10, max_position_lots=1000)
    rule = QuoteRules(step_lots=1, min_lots=1, min_notional=0)
    theo = Theo(fair=100.0, reservation=100.0, half_spread=2.5, bid=97.5, ask=102.5)
    quotes = build_ladder(
        theo, best_bid=99, best_ask=101, position_lots=0, ladder=ladder, rules=rule, adj=NO_ADJUSTMENT, q=0.0
    )
    assert [q.price for q in quotes.bids] == [97, 92, 87]  # rounded down, then spacing
    assert [q.price for q in quotes.asks] == [103, 108, 113]  # rounded up
    # a model bid through the ask joins just inside the book instead
    through = Theo(fair=100.0, reservation=110.0, half_spread=1.0, bid=109.0, ask=111.0)
    quotes = build_ladder(
        through,
        best_bid=99,
        best_ask=101,
        position_lots=0,
        ladder=ladder,
        rules=rule,
        adj=NO_ADJUSTMENT,
        q=0.0,
    )
    assert quotes.bids[0].price == 100 and quotes.asks[0].price == 111
    # exactly on the touch is crossing too: a bid at the best ask moves one tick down
    touch = Theo(fair=100.0, reservation=100.0, half_spread=1.0, bid=101.0, ask=99.0 + 3.0)
    quotes = build_ladder(
        touch, best_bid=99, best_ask=101, position_lots=0, ladder=ladder, rules=rule, adj=NO_ADJUSTMENT, q=0.0
    )
    assert quotes.bids[0].price == 100 and quotes.asks[0].price == 102


def test_sizes_min_notional_and_max_position_examples() -> None:
    # BTCUSDT: step 1000 lots (0.00001 BTC), min notional 5 USDT = 5e10 tick-lots
    rule = QuoteRules.from_spec(btcusdt_spec())
    assert (rule.step_lots, rule.min_lots, rule.min_notional) == (1000, 1000, 50_000_000_000)
    price = 6_000_000  # 60,000.00 USDT
    assert rule.min_size_at(price) == 9000  # 0.00009 BTC = 5.40 USDT >= 5; 0.00008 is 4.80
    ladder = LadderSpec(levels=3, size_lots=5000, size_growth=2.0, max_position_lots=20_000)
    theo = Theo(fair=price, reservation=price, half_spread=10.0, bid=price - 10.0, ask=price + 10.0)
    quotes = build_ladder(
        theo,
        best_bid=price - 1,
        best_ask=price + 1,
        position_lots=5000,
        ladder=ladder,
        rules=rule,
        adj=NO_ADJUSTMENT,
        q=1.0,
    )
    # bids (room 15000): 5000 wanted, bumped to the 9000 minimum; then 10000 wanted, only
    # 6000 room left, and 6000 is below the minimum notional -> no further bid levels
    assert [q.size for q in quotes.bids] == [9000]
    # asks (room 25000): 9000 (bumped), 10000, then 20000 wanted, 6000 room: too small again
    assert [q.size for q in quotes.asks] == [9000, 10000]
    bigger_room = build_ladder(
        theo,
        best_bid=price - 1,
        best_ask=price + 1,
        position_lots=9000,
        ladder=ladder,
        rules=rule,
        adj=NO_ADJUSTMENT,
        q=1.8,
    )
    # asks (room 29000): 9000, 10000, then 20000 cut down to the 10000 room left
    assert [q.size for q in bigger_room.asks] == [9000, 10000, 10000]
    no_bump = build_ladder(
        theo,
        best_bid=price - 1,
        best_ask=price + 1,
        position_lots=5000,
        ladder=LadderSpec(levels=1, size_lots=5000, max_position_lots=20_000, bump_to_min=False),
        rules=rule,
        adj=NO_ADJUSTMENT,
        q=1.0,
    )
    assert no_bump.empty


def test_inventory_shaping_shrinks_the_loading_side() -> None:
    ladder = LadderSpec(levels=1, size_lots=100, inventory_shaping=1.0, max_position_lots=1000)
    rule = QuoteRules(step_lots=1, min_lots=1, min_notional=0)
    theo = Theo(fair=100.0, reservation=100.0, half_spread=2.0, bid=98.0, ask=102.0)
    quotes = build_ladder(
        theo, best_bid=99, best_ask=101, position_lots=500, ladder=ladder, rules=rule, adj=NO_ADJUSTMENT, q=5
    )
    assert quotes.bids[0].size == 50 and quotes.asks[0].size == 150


def as_profile(**ladder: object) -> StrategyProfile:
    return StrategyProfile(
        quoter="avellaneda_stoikov",
        avellaneda_stoikov=AvellanedaStoikovParams(gamma=1e-3, k=0.05, sigma=20.0, horizon_s=10.0),
        ladder=LadderParams(size=Decimal("0.001"), max_position=Decimal("0.05"), **ladder),  # type: ignore[arg-type]
    )


def glft_profile() -> StrategyProfile:
    return StrategyProfile(
        quoter="glft",
        glft=GlftParams(gamma=0.05, a=2.98616, k=0.0423574, sigma=10.69, inventory_limit=100.0),
        ladder=LadderParams(size=Decimal("0.001"), max_position=Decimal("0.05")),
    )


@settings(max_examples=200, deadline=None)
@given(
    profile=st.sampled_from([as_profile(), glft_profile()]),
    units=st.integers(-40, 39),
    extra_units=st.integers(1, 10),
    mid=st.integers(1_000_000, 9_000_000),
)
def test_long_inventory_lowers_both_quotes(
    profile: StrategyProfile, units: int, extra_units: int, mid: int
) -> None:
    spec = btcusdt_spec()
    # fee-free and allowed inside the break-even (here: fair value), so the skew alone moves
    # the quotes; the break-even floor is tested in test_fee_quoters
    profile = profile.model_copy(update={"costs": CostParams(allow_below_break_even=True)})
    quoter = build_quoter(profile, spec, FeeRates())
    unit = quoter.ladder.size_lots
    # a wide book so post-only never binds: the skew alone moves the quotes
    state = market_state(best_bid=mid - 10_000, best_ask=mid + 10_000, mid=float(mid), micro=float(mid))
    low = quoter.quote(state, units * unit)
    high_position = min((units + extra_units) * unit, quoter.ladder.max_position_lots - unit)
    assume(high_position > units * unit)
    high = quoter.quote(state, high_position)
    assert high.reservation < low.reservation
    if low.bids and high.bids:
        assert high.bids[0].price < low.bids[0].price
    if low.asks and high.asks:
        assert high.asks[0].price < low.asks[0].price
    assert low.asks and high.asks  # never at the ask limit in this range
    check_invariants(high, state.best_bid, state.best_ask, high_position, quoter.ladder, quoter.rules)
