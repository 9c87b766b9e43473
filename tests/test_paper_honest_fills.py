"""Honest fills (issue 16): a traded lot moves the queue once whichever stream reports it
first; our own taker fills consume the paper book until the venue updates those levels;
the probabilistic queue models. Every expected number is computed by hand in the comments.

Book (tick 0.1, lot 0.001): bids 10000 x 5, 9999 x 20, 9998 x 30; asks 10001 x 3,
10002 x 4, 10005 x 10. Risk-averse queue model and a 300 ms trade window unless stated.
"""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from bot.core.events import Side
from bot.core.orders import Liquidity, OrderAccepted, OrderFilled, OrderRejected, OrderReport
from bot.paper.exchange import PaperExchange
from bot.paper.queue import make_queue_model, prob_model
from tests.helpers.paperkit import MS, PERP, SPOT, Feed, MemorySink, exchange, limit, market, perp_spec

BOOK_BIDS = [(10000, 5), (9999, 20), (9998, 30)]
BOOK_ASKS = [(10001, 3), (10002, 4), (10005, 10)]


def _open(**kw: object) -> tuple[PaperExchange, Feed]:
    kw.setdefault("starting_balances", {"USDT": Decimal(10**6), "BTC": Decimal(1)})
    ex = exchange(**kw)  # type: ignore[arg-type]
    feed = Feed()
    for event in feed.open(BOOK_BIDS, BOOK_ASKS):
        ex.on_event(event)
    return ex, feed


def _fills(reports: list[OrderReport]) -> list[tuple[int, int, Liquidity]]:
    return [(r.price, r.size, r.liquidity) for r in reports if isinstance(r, OrderFilled)]


def _bid_behind_6(ex: PaperExchange, feed: Feed, size: int = 2) -> None:
    """The 10000 level grows to 6 lots; our bid of ``size`` joins behind them."""
    ex.on_event(feed.delta(bids=[(10000, 6)]))
    ex.submit(limit("b", Side.BUY, 10000, size, feed.ts))
    [accepted] = ex.drain_reports()
    assert isinstance(accepted, OrderAccepted) and accepted.queue_ahead == 6


# ---- one traded lot, one queue move --------------------------------------------------------


@pytest.mark.parametrize("depth_first", [False, True])
def test_trade_and_its_depth_decrease_move_the_queue_once_in_either_order(depth_first: bool) -> None:
    """Behind 6; a 3-lot sell trades at 10000 and the level drops 6 -> 3. Either order of
    the two messages leaves 3 ahead (the old simulator, depth first, left 0: it counted the
    3 lots as a cancel *and* as a trade). Then 3 more trade (ahead 0) and 1 more fills 1."""
    ex, feed = _open()
    _bid_behind_6(ex, feed)
    if depth_first:
        ex.on_event(feed.delta(bids=[(10000, 3)]))
        assert ex.orders["b"].ahead == 6  # not moved while a trade may explain it
        ex.on_event(feed.trade(Side.SELL, 10000, 3, step_ns=40 * MS))
    else:
        ex.on_event(feed.trade(Side.SELL, 10000, 3))
        ex.on_event(feed.delta(bids=[(10000, 3)], step_ns=40 * MS))
    assert ex.orders["b"].ahead == 3
    ex.on_event(feed.delta(step_ns=1000 * MS))  # windows pass: nothing left to reconcile
    assert ex.orders["b"].ahead == 3
    ex.on_event(feed.trade(Side.SELL, 10000, 3))
    assert ex.orders["b"].ahead == 0 and ex.drain_reports() == []
    ex.on_event(feed.trade(Side.SELL, 10000, 1))
    assert _fills(ex.drain_reports()) == [(10000, 1, Liquidity.MAKER)]


def test_a_decrease_larger_than_the_trade_leaves_a_cancel_for_the_model() -> None:
    """Behind 6; depth 6 -> 2 (4 lots), then a 3-lot trade: 3 lots traded at the front
    (ahead 6 - 3 = 3), 1 lot unexplained. After the window it is a cancel: the queue then
    displays 2 + 1 = 3 before and 2 after, risk averse: ahead = min(3, 2) = 2."""
    ex, feed = _open()
    _bid_behind_6(ex, feed)
    ex.on_event(feed.delta(bids=[(10000, 2)]))
    ex.on_event(feed.trade(Side.SELL, 10000, 3, step_ns=20 * MS))
    assert ex.orders["b"].ahead == 3
    ex.on_event(feed.delta(step_ns=300 * MS))
    assert ex.orders["b"].ahead == 2


def test_a_trade_larger_than_the_pending_decrease_is_expected_in_the_next_depth() -> None:
    """Behind 6; depth 6 -> 4 (2 lots pending), then a 5-lot trade: 2 lots explain the
    decrease, 3 are new (ahead 6 - 5 = 1, expected display 4 - 3 = 1). The depth then shows
    1: nothing unexplained, no queue move. A 2-lot trade takes the 1 ahead and fills 1."""
    ex, feed = _open()
    _bid_behind_6(ex, feed)
    ex.on_event(feed.delta(bids=[(10000, 4)]))
    ex.on_event(feed.trade(Side.SELL, 10000, 5, step_ns=20 * MS))
    assert ex.orders["b"].ahead == 1 and ex.drain_reports() == []
    ex.on_event(feed.delta(bids=[(10000, 1)]))
    ex.on_event(feed.delta(step_ns=400 * MS))
    assert ex.orders["b"].ahead == 1
    ex.on_event(feed.trade(Side.SELL, 10000, 2))
    assert _fills(ex.drain_reports()) == [(10000, 1, Liquidity.MAKER)]
    assert ex.orders["b"].remaining == 1


def test_an_order_that_joined_after_the_decrease_is_not_moved_by_the_late_trade() -> None:
    """Depth 6 -> 3 before we join: we join behind the 3 displayed. The 3-lot trade that
    caused the decrease prints after we joined; it happened before us, so ahead stays 3.
    (Counting it would leave 0 ahead and fill the next 2 lots.)"""
    ex, feed = _open()
    ex.on_event(feed.delta(bids=[(10000, 6)]))
    ex.submit(limit("early", Side.BUY, 10000, 1, feed.ts))  # keeps the level tracked
    ex.on_event(feed.delta(bids=[(10000, 3)]))
    ex.submit(limit("late", Side.BUY, 10000, 2, feed.ts))
    accepted = [r for r in ex.drain_reports() if isinstance(r, OrderAccepted)]
    assert [r.queue_ahead for r in accepted] == [6, 3]
    ex.on_event(feed.trade(Side.SELL, 10000, 3, step_ns=30 * MS))
    # the early order was behind those 3: it moves 6 -> 3; the late one does not move
    assert ex.orders["early"].ahead == 3 and ex.orders["late"].ahead == 3
    ex.on_event(feed.trade(Side.SELL, 10000, 2))
    assert ex.orders["late"].ahead == 1
    # 3 more: 1 public lot ahead of "early", early's lot, then 1 of the 2 public lots between
    # the two orders (late is 3 behind the public front: the 1 left ahead of it is the last)
    ex.on_event(feed.trade(Side.SELL, 10000, 3))
    assert _fills(ex.drain_reports()) == [(10000, 1, Liquidity.MAKER), (10000, 1, Liquidity.MAKER)]
    assert "early" not in ex.orders and ex.orders["late"].remaining == 1


def test_a_trade_after_the_window_is_not_counted_again() -> None:
    """Behind 6; depth 6 -> 3 and no trade within 300 ms: a cancel (ahead min(6, 3) = 3).
    The trade for those lots prints 500 ms later (inside the 1 s memory): it is the same
    3 lots, already counted -- ahead stays 3 and nothing fills."""
    ex, feed = _open()
    _bid_behind_6(ex, feed)
    ex.on_event(feed.delta(bids=[(10000, 3)]))
    ex.on_event(feed.delta(step_ns=300 * MS))
    assert ex.orders["b"].ahead == 3
    ex.on_event(feed.trade(Side.SELL, 10000, 3, step_ns=200 * MS))
    assert ex.orders["b"].ahead == 3 and ex.drain_reports() == []


def test_window_zero_restores_the_immediate_cancel_rule() -> None:
    ex, feed = _open(trade_window_ms=0.0)
    _bid_behind_6(ex, feed)
    ex.on_event(feed.delta(bids=[(10000, 3)]))
    assert ex.orders["b"].ahead == 3


def test_pending_decreases_survive_export_and_restore() -> None:
    """The journal state carries pending decreases, order marks and taken liquidity: an
    exchange restored from it (input re-read from the start, as after a crash) reconciles
    the late trade exactly like the original."""
    sink = MemorySink()
    ex = exchange(journal=sink, starting_balances={"USDT": Decimal(10**6), "BTC": Decimal(1)})
    feed = Feed()
    events = [*feed.open(BOOK_BIDS, BOOK_ASKS), feed.delta(bids=[(10000, 6)])]
    for event in events:
        ex.on_event(event)
    ex.submit(limit("b", Side.BUY, 10000, 2, feed.ts))
    events.append(feed.delta(bids=[(10000, 3)]))
    ex.on_event(events[-1])
    ex.submit(market("m", Side.BUY, 2, feed.ts))
    ex.flush()
    state = sink.state
    assert [lv.pending for lv in state.levels] == [[(state.now, 3, 0, False)]]
    assert state.markets[0].taken_asks == [(10001, 2)]
    twin = exchange(starting_balances={"USDT": Decimal(10**6), "BTC": Decimal(1)})
    twin.restore(sink.records, state, replay=True)
    for event in events:
        twin.on_event(event)
    trade = feed.trade(Side.SELL, 10000, 3, step_ns=10 * MS)
    for target in (ex, twin):
        target.on_event(trade)
        assert target.orders["b"].ahead == 3
        assert target.markets[SPOT].walk(1, None, 2) == [(10001, 1), (10002, 1)]


# ---- our taker fills consume the paper book ------------------------------------------------


def test_back_to_back_market_buys_do_not_take_the_same_lots_twice() -> None:
    """Asks 10001 x 3, 10002 x 4, 10005 x 10. Buy 3: all of 10001. Buy 3 again: the 3 lots
    at 10001 are ours until the venue updates the level, so 3 at 10002 (the old simulator
    filled both at 10001). Buy 3 a third time: 1 left at 10002, then 2 at 10005."""
    ex, feed = _open()
    ex.submit(market("m1", Side.BUY, 3, feed.ts))
    assert _fills(ex.drain_reports()) == [(10001, 3, Liquidity.TAKER)]
    ex.submit(market("m2", Side.BUY, 3, feed.ts))
    assert _fills(ex.drain_reports()) == [(10002, 3, Liquidity.TAKER)]
    ex.submit(market("m3", Side.BUY, 3, feed.ts))
    assert _fills(ex.drain_reports()) == [(10002, 1, Liquidity.TAKER), (10005, 2, Liquidity.TAKER)]


def test_a_venue_update_of_a_level_we_took_frees_only_what_it_adds() -> None:
    """We took 10001 x 3 (all of it) and 10002 x 2 (of 4). The recording never saw us, so
    when it re-publishes 10001 x 5 those 5 still count our 3: only 2 are new. 10002 was not
    touched: 2 left there. Buy 7: 2 @ 10001, 2 @ 10002, 3 @ 10005 (the old simulator gave
    all 5 at 10001 again). Then 10001 drops to 1: what we took is capped by the level (1),
    nothing is left for us there; emptied (0) and re-posted x 4: all 4 are new."""
    ex, feed = _open()
    ex.submit(market("m1", Side.BUY, 5, feed.ts))  # 3 @ 10001, 2 @ 10002
    assert _fills(ex.drain_reports()) == [(10001, 3, Liquidity.TAKER), (10002, 2, Liquidity.TAKER)]
    ex.on_event(feed.delta(asks=[(10001, 5)]))
    ex.submit(market("m2", Side.BUY, 7, feed.ts))
    assert _fills(ex.drain_reports()) == [
        (10001, 2, Liquidity.TAKER),
        (10002, 2, Liquidity.TAKER),
        (10005, 3, Liquidity.TAKER),
    ]
    # taken now: 10001 -> 5, 10002 -> 4, 10005 -> 3
    ex.on_event(feed.delta(asks=[(10001, 1)]))
    assert ex.markets[SPOT].taken_asks[10001] == 1
    assert ex.markets[SPOT].walk(1, None, 1) == [(10005, 1)]
    ex.on_event(feed.delta(asks=[(10001, 0)]))
    ex.on_event(feed.delta(asks=[(10001, 4)]))
    assert ex.markets[SPOT].walk(1, None, 5) == [(10001, 4), (10005, 1)]


def test_a_crossing_limit_and_post_only_see_the_book_net_of_our_taking() -> None:
    """We took all of 10001: a post-only bid at 10001 no longer crosses (the best ask left
    for anyone is 10002) and rests; a post-only bid at 10002 still would cross."""
    ex, feed = _open()
    ex.submit(market("m1", Side.BUY, 3, feed.ts))
    ex.drain_reports()
    ex.submit(limit("p1", Side.BUY, 10001, 1, feed.ts))
    ex.submit(limit("p2", Side.BUY, 10002, 1, feed.ts))
    reports = ex.drain_reports()
    assert isinstance(reports[0], OrderAccepted) and isinstance(reports[1], OrderRejected)


def test_taker_sells_consume_bids_the_same_way() -> None:
    """Bids 10000 x 5, 9999 x 20. Sell 4 then sell 4: 4 @ 10000, then 1 @ 10000 + 3 @ 9999."""
    ex, feed = _open()
    ex.submit(market("s1", Side.SELL, 4, feed.ts))
    ex.submit(market("s2", Side.SELL, 4, feed.ts))
    assert _fills(ex.drain_reports()) == [
        (10000, 4, Liquidity.TAKER),
        (10000, 1, Liquidity.TAKER),
        (9999, 3, Liquidity.TAKER),
    ]


# ---- probabilistic queue models (hftbacktest's ProbQueueModel family) ---------------------


def test_power_model_matches_the_hand_computation() -> None:
    """front 6, back 4 (before 10), decrease 5 (after 5), n = 2:
    p = 4^2 / (4^2 + 6^2) = 16/52 = 0.307692; est = 6 - (1 - p) * 5 + min(4 - p * 5, 0)
    = 6 - 3.461538 + 0 = 2.538462 -> rounded up to 3 (never advance on a fraction)."""
    model = make_queue_model("power", power=2.0)
    assert model(6, 10, 5) == 3
    # n = 1 is pro rata on the float level: p = 4/10; est = 6 - 0.6 * 5 = 3
    assert make_queue_model("power", power=1.0)(6, 10, 5) == 3
    # a decrease larger than what is behind us: front 2, back 1, decrease 3 (n = 3):
    # p = 1/9; est = 2 - (8/9) * 3 + min(1 - 3/9, 0) = 2 - 2.6667 = -0.667 -> 0
    assert make_queue_model("power", power=3.0)(2, 3, 0) == 0


def test_log_model_uses_base_units_like_hftbacktest() -> None:
    """f(x) = ln(1 + x) on base-asset sizes (lot 0.001): front 6 lots = 0.006, back 4 lots
    = 0.004; p = ln(1.004) / (ln(1.004) + ln(1.006)) = 0.400239; decrease 5:
    est = 6 - 0.599761 * 5 + min(4 - 2.001195, 0) = 3.001195 -> rounded up to 4.
    On raw lot counts instead: p = ln 5 / (ln 5 + ln 7) = 0.452681, est = 3.263404 -> 4;
    on a 10x larger queue the unit matters: front 60, back 40, decrease 50 gives p = 0.402307,
    est 30.1153 in base units (-> 31); p = ln 41 / (ln 41 + ln 61) = 0.474612, est 33.7306
    in raw lots (-> 34)."""
    model = make_queue_model("log", lot_size=0.001)
    assert model(6, 10, 5) == 4
    assert model(60, 100, 50) == 31
    raw = prob_model(math.log1p)
    assert raw(6, 10, 5) == 4
    assert raw(60, 100, 50) == 34


@pytest.mark.parametrize("name", ["risk_averse", "proportional", "power", "log"])
def test_every_model_stays_within_the_queue(name: str) -> None:
    model = make_queue_model(name, power=3.0, lot_size=0.001)
    for before in range(1, 25):
        for after in range(before):
            for ahead in range(before + 1):
                assert 0 <= model(ahead, before, after) <= min(ahead, after)


@pytest.mark.parametrize("name", ["risk_averse", "proportional"])
def test_the_deterministic_models_are_monotone(name: str) -> None:
    model = make_queue_model(name)
    for before in range(1, 25):
        for after in range(before):
            values = [model(ahead, before, after) for ahead in range(before + 1)]
            assert values == sorted(values)


def test_the_power_model_is_not_monotone_but_orders_never_overtake() -> None:
    """hftbacktest's per-order formula with n = 3, before 5, after 1: front 2 -> 1 but
    front 3 -> 0 (p = 8/35; est = 3 - (27/35) * 4 + min(2 - 32/35, 0) = -0.086). Two of our
    orders at one level keep their order: the second is clamped to the first's queue."""
    model = make_queue_model("power", power=3.0)
    assert (model(2, 5, 1), model(3, 5, 1)) == (1, 0)
    ex, feed = _open(queue_model="power", queue_power=3.0)
    ex.on_event(feed.delta(bids=[(10000, 2)]))
    ex.submit(limit("first", Side.BUY, 10000, 1, feed.ts))
    ex.on_event(feed.delta(bids=[(10000, 3)]))  # one lot joins between our two orders
    ex.submit(limit("second", Side.BUY, 10000, 1, feed.ts))
    ex.on_event(feed.delta(bids=[(10000, 5)]))
    assert (ex.orders["first"].ahead, ex.orders["second"].ahead) == (2, 3)
    ex.on_event(feed.delta(bids=[(10000, 1)]))
    ex.on_event(feed.delta(step_ns=300 * MS))
    assert (ex.orders["first"].ahead, ex.orders["second"].ahead) == (1, 1)


def test_power_model_runs_in_the_exchange() -> None:
    """Behind 6 with 4 behind us (level 10); 5 cancelled: power n = 2 gives 3 (see above)."""
    ex, feed = _open(queue_model="power", queue_power=2.0)
    _bid_behind_6(ex, feed)
    ex.on_event(feed.delta(bids=[(10000, 10)]))
    ex.on_event(feed.delta(bids=[(10000, 5)]))
    ex.on_event(feed.delta(step_ns=300 * MS))
    assert ex.orders["b"].ahead == 3


def test_consecutive_perp_hedges_walk_deeper_instead_of_refilling_the_top() -> None:
    """A hedge is a taker order on the perp like any other: bids 10000 x 5, 9999 x 20,
    9998 x 30. Three hedge sells of 10 lots in a row (no venue update in between) fill
    5 @ 10000 + 5 @ 9999, then 10 @ 9999, then 5 @ 9999 + 5 @ 9998 -- never the top again
    (a static book used to give every hedge the same top-of-book price)."""
    ex = exchange(perp_spec(), starting_balances={"USDT": Decimal(10**6)})
    feed = Feed(PERP)
    for event in feed.open(BOOK_BIDS, BOOK_ASKS):
        ex.on_event(event)
    fills = []
    for i in range(3):
        ex.submit(market(f"h{i}", Side.SELL, 10, feed.ts, instrument=PERP))
        fills.append(_fills(ex.drain_reports()))
    assert fills == [
        [(10000, 5, Liquidity.TAKER), (9999, 5, Liquidity.TAKER)],
        [(9999, 10, Liquidity.TAKER)],
        [(9999, 5, Liquidity.TAKER), (9998, 5, Liquidity.TAKER)],
    ]
