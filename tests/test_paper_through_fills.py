"""Fills through our price are capped by what the venue traded or displayed
(bot/paper/through.py). Every expected number is computed by hand in the comments.

Default book (tick 0.1, lot 0.001): bids 10000 x 5, 9999 x 20, 9998 x 30; asks 10001 x 3,
10002 x 4, 10005 x 10. Sweep tests use gaps between the public bids so our orders can rest
between them. Risk-averse queue model, 300 ms trade window, no latency.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.events import BookDelta, Event, Level, Side
from bot.core.orders import Liquidity, OrderFilled, OrderReport, TimeInForce
from bot.paper.exchange import PaperExchange
from tests.helpers.paperkit import MS, SPOT, Feed, MemorySink, exchange, limit

BOOK_BIDS = [(10000, 5), (9999, 20), (9998, 30)]
BOOK_ASKS = [(10001, 3), (10002, 4), (10005, 10)]
BALANCES = {"USDT": Decimal(10**6), "BTC": Decimal(1)}


def _open(bids: list[Level] = BOOK_BIDS, asks: list[Level] = BOOK_ASKS) -> tuple[PaperExchange, Feed]:
    ex = exchange(starting_balances=BALANCES)
    feed = Feed()
    for event in feed.open(bids, asks):
        ex.on_event(event)
    return ex, feed


def _fills(reports: list[OrderReport]) -> list[tuple[str, int, int]]:
    """(client id, price, lots) of every fill, in report order."""
    return [(r.client_id, r.price, r.size) for r in reports if isinstance(r, OrderFilled)]


def _rest(ex: PaperExchange, feed: Feed, client_id: str, side: Side, price: int, size: int) -> None:
    ex.submit(limit(client_id, side, price, size, feed.ts))
    ex.drain_reports()
    assert ex.orders[client_id].remaining == size


# ---- prints through our price -----------------------------------------------------------------


def test_a_one_lot_print_through_a_50_lot_bid_fills_one_lot() -> None:
    """Our bid 10000 x 50 (behind 5). A seller prints 1 lot at 9999, below us: on the venue
    it would have met us first, with that 1 lot -- 1 filled, 49 left (the old simulator
    filled all 50). Then 3 lots print at 9998: the venue traded 10000 out (a print below
    it proves it), so nothing public is ahead of us any more: 3 more, 46 left. (The lot the
    first print took from 9999 is spared there, but 9999 is below us: it does not come
    first.)"""
    ex, feed = _open()
    _rest(ex, feed, "b", Side.BUY, 10000, 50)
    ex.on_event(feed.trade(Side.SELL, 9999, 1))
    assert _fills(ex.drain_reports()) == [("b", 10000, 1)]
    assert ex.orders["b"].remaining == 49
    ex.on_event(feed.trade(Side.SELL, 9998, 3))
    assert _fills(ex.drain_reports()) == [("b", 10000, 3)]
    assert ex.orders["b"].remaining == 46 and ex.ledger.position_qty(SPOT) == 1000 + 4  # 1 BTC to start


def test_a_buy_print_through_our_ask_is_capped_the_same_way() -> None:
    """Our ask 10002 x 8 (behind 4). Buyers print 10005 x 2, then 10005 x 3: 2 + 3 = 5 of 8."""
    ex, feed = _open()
    _rest(ex, feed, "a", Side.SELL, 10002, 8)
    ex.on_event(feed.trade(Side.BUY, 10005, 2))
    ex.on_event(feed.trade(Side.BUY, 10005, 3))
    assert _fills(ex.drain_reports()) == [("a", 10002, 2), ("a", 10002, 3)]
    assert ex.orders["a"].remaining == 3


def test_a_three_print_sweep_through_two_of_our_levels_fills_its_volume_best_price_first() -> None:
    """Public bids 10000 x 5, 9996 x 30; ours: hi 9999 x 4, lo 9997 x 6 (gaps: nothing
    ahead). One seller sweeps 14 lots: 10000 x 5, then 9996 x 3 and 9996 x 6 (two makers).
    The first print is above both our bids. The other 9 lots printed below both: on the
    venue they would have met hi, then lo. Print 2 (3 lots): hi 3. Print 3 (6 lots): hi's
    last 1, then lo 5 -- the 3 lots print 2 took from 9996 are spared there, below lo.
    Total 9 = the sweep's volume through our prices; hi (better) filled before lo."""
    ex, feed = _open(bids=[(10000, 5), (9996, 30)])
    _rest(ex, feed, "hi", Side.BUY, 9999, 4)
    _rest(ex, feed, "lo", Side.BUY, 9997, 6)
    for price, lots in ((10000, 5), (9996, 3), (9996, 6)):
        ex.on_event(feed.trade(Side.SELL, price, lots, step_ns=0))
    assert _fills(ex.drain_reports()) == [("hi", 9999, 3), ("hi", 9999, 1), ("lo", 9997, 5)]
    assert "hi" not in ex.orders and ex.orders["lo"].remaining == 1
    assert ex.ledger.position_qty(SPOT) == 1000 + 9  # 1 BTC to start


@pytest.mark.parametrize("depth_first", [False, True])
def test_a_public_level_between_our_orders_gets_its_volume_before_our_worse_order(depth_first: bool) -> None:
    """Public bids 10000 x 5, 9998 x 3, 9996 x 30; ours: hi 9999 x 4, lo 9997 x 6. One seller
    of 12 lots prints 10000 x 5, 9998 x 3, 9996 x 4. On the venue, with us there: 5 @ 10000,
    hi's 4 @ 9999, then the 3 public lots @ 9998 -- the seller is done before lo. Here: print
    2 gives hi 3 (the 3 public lots at 9998 are spared: the recording traded them, our
    world still has them); print 3 gives hi its last 1, then the 3 spared lots at 9998 take
    the other 3: lo gets nothing (taking each print for our better orders alone would
    have given lo 3). Same whether the depth update of the swept levels arrives before or
    after the prints (Binance sends them separately, in either order). Once the venue has
    re-published 9998, its spared lots are forgotten: the next seller's 2 lots at 9996
    reach lo."""
    ex, feed = _open(bids=[(10000, 5), (9998, 3), (9996, 30)])
    _rest(ex, feed, "hi", Side.BUY, 9999, 4)
    _rest(ex, feed, "lo", Side.BUY, 9997, 6)
    depth = feed.delta(bids=[(10000, 0), (9998, 0), (9996, 26)], step_ns=0)
    prints: list[Event] = [
        feed.trade(Side.SELL, price, lots, step_ns=0) for price, lots in ((10000, 5), (9998, 3), (9996, 4))
    ]
    for event in [depth, *prints] if depth_first else [*prints, depth]:
        ex.on_event(event)
    assert _fills(ex.drain_reports()) == [("hi", 9999, 3), ("hi", 9999, 1)]
    assert ex.orders["lo"].remaining == 6
    if depth_first:  # the prints came after the update: 9998 has not been re-published since
        ex.on_event(feed.delta(bids=[(9998, 0)]))
    ex.on_event(feed.trade(Side.SELL, 9996, 2))
    assert _fills(ex.drain_reports()) == [("lo", 9997, 2)]


def test_our_two_orders_at_one_price_fill_in_arrival_order() -> None:
    """b1 10000 x 3 then b2 10000 x 4, both behind the 5 public lots. A seller prints 5 lots
    at 9999: the venue traded 10000 out, and the 5 lots meet b1 (first to arrive) for 3,
    then b2 for 2. Another 5 at 9999: b2's last 2 (the other 3 are spared at 9999)."""
    ex, feed = _open()
    _rest(ex, feed, "b1", Side.BUY, 10000, 3)
    _rest(ex, feed, "b2", Side.BUY, 10000, 4)
    ex.on_event(feed.trade(Side.SELL, 9999, 5))
    assert _fills(ex.drain_reports()) == [("b1", 10000, 3), ("b2", 10000, 2)]
    ex.on_event(feed.trade(Side.SELL, 9999, 5))
    assert _fills(ex.drain_reports()) == [("b2", 10000, 2)]
    assert ex.orders == {}


def test_a_print_our_better_order_took_keeps_the_queue_at_its_own_price() -> None:
    """Public bids 10000 x 5, 9998 x 3; ours: hi 10001 x 2 (nothing ahead), lo 10000 x 4
    (5 ahead). Asks from 10002.
    1. A seller prints 6 @ 10000: hi (better) takes 2, the other 4 reach 10000 and take 4 of
       the 5 lots ahead of lo (ahead 1). The recording traded 6 there: the 5 ahead of lo
       and 1 behind it; our world kept 1 ahead (lo's front) and 1 behind (spared).
    2. 3 @ 9999 (below lo): the venue traded 10000 out, only the kept lot is still ahead:
       it takes 1, lo 2 (2 left).
    3. 4 @ 9999: lo's last 2, then the spared lot behind lo; 1 reaches 9999.
    So lo got 4 of the 13 lots: the seller's 13 = hi 2 + 5 ahead of lo + lo 4 + 1 behind lo
    + 1 at 9999 on the venue with us there."""
    ex, feed = _open(bids=[(10000, 5), (9998, 3)], asks=[(10002, 4), (10005, 10)])
    _rest(ex, feed, "hi", Side.BUY, 10001, 2)
    _rest(ex, feed, "lo", Side.BUY, 10000, 4)
    ex.on_event(feed.trade(Side.SELL, 10000, 6))
    assert _fills(ex.drain_reports()) == [("hi", 10001, 2)]
    assert ex.orders["lo"].ahead == 1
    market = ex.markets[SPOT]
    assert market.bids[10000].front == 1 and market.spared_bids == {10000: 1}
    ex.on_event(feed.trade(Side.SELL, 9999, 3))
    assert _fills(ex.drain_reports()) == [("lo", 10000, 2)]
    ex.on_event(feed.trade(Side.SELL, 9999, 4))
    assert _fills(ex.drain_reports()) == [("lo", 10000, 2)]
    # spared at 9999: print 2 reached it with none of its 3 lots, print 3 with 1 of its 4:
    # 3 + 3 = 6 public lots there that the recording traded and our world still has -- as
    # many as we bought (hi 2 + lo 4): every lot we bought is one a public bidder did not
    assert market.spared_bids == {9999: 6}


def test_one_print_through_two_of_our_levels_fills_the_better_price_first() -> None:
    """Public bids 10000 x 5, 9996 x 30; ours, both in gaps (nothing ahead): lo 9997 x 6 sent
    FIRST, then hi 9999 x 4. A seller prints 10000 x 5 (above both of ours: nothing), then
    9996 x 7: on the venue those 7 lots would have met our bids best price first, whatever
    their arrival: hi 4 (all of it), then lo 7 - 4 = 3 -- 7 in all, the print's size (the
    old simulator filled hi 4 + lo 6 = 10 from a 7-lot print). Both at OUR prices, maker.
    A second seller prints 9996 x 2: lo (still above 9996) gets those 2, 1 left."""
    ex, feed = _open(bids=[(10000, 5), (9996, 30)])
    _rest(ex, feed, "lo", Side.BUY, 9997, 6)
    _rest(ex, feed, "hi", Side.BUY, 9999, 4)
    ex.on_event(feed.trade(Side.SELL, 10000, 5, step_ns=0))
    ex.on_event(feed.trade(Side.SELL, 9996, 7, step_ns=0))
    reports = ex.drain_reports()
    assert _fills(reports) == [("hi", 9999, 4), ("lo", 9997, 3)]
    assert all(r.liquidity is Liquidity.MAKER for r in reports if isinstance(r, OrderFilled))
    assert "hi" not in ex.orders and ex.orders["lo"].remaining == 3
    # the 7 lots the recording traded at 9996 went to us: the public bids there still have them
    assert ex.markets[SPOT].spared_bids == {9996: 7}
    ex.on_event(feed.trade(Side.SELL, 9996, 2))
    assert _fills(ex.drain_reports()) == [("lo", 9997, 2)]
    assert ex.orders["lo"].remaining == 1 and ex.ledger.position_qty(SPOT) == 1000 + 9  # 1 BTC to start


def test_a_print_larger_than_our_order_fills_it_and_the_rest_reaches_the_next_queue() -> None:
    """Our ask 10002 x 3 (behind 4). Buyers print 10005 x 12 (above us): our ask gets 3 -- all
    of it, the print was larger -- and the other 12 - 3 = 9 reach 10005, where nothing of
    ours rests. Nothing is filled above our size; the fill is at our price, not the print's."""
    ex, feed = _open()
    _rest(ex, feed, "a", Side.SELL, 10002, 3)
    ex.on_event(feed.trade(Side.BUY, 10005, 12))
    reports = ex.drain_reports()
    assert [(r.price, r.size, r.liquidity, r.remaining) for r in reports if isinstance(r, OrderFilled)] == [
        (10002, 3, Liquidity.MAKER, 0)
    ]
    assert ex.orders == {} and ex.ledger.position_qty(SPOT) == 1000 - 3


def test_lots_our_better_bid_took_do_not_also_move_the_queue_of_our_worse_bid() -> None:
    """Public bids 10000 x 5, 9999 x 20; ours: hi 10000 x 4 (behind 5), lo 9999 x 5 (behind
    20). A seller sweeps 10000 x 5, then 9999 x 22.
    1. 10000 x 5 at hi's price: the 5 lots ahead of hi trade, hi is at the front, no fill.
    2. 9999 x 22, below hi: hi gets 4 of the 22 (all of it); the other 22 - 4 = 18 reach 9999
       and trade 18 of the 20 lots ahead of lo: lo is still behind 2, no fill.
    The 4 lots hi took are not used again at 9999 (counting them there too would have
    cleared lo's 20 and filled it 2 -- the old simulator did: hi 4 through, then all 22 at
    9999). A further 9999 x 3 print: 2 ahead, then lo 1."""
    ex, feed = _open(bids=[(10000, 5), (9999, 20)])
    _rest(ex, feed, "hi", Side.BUY, 10000, 4)
    _rest(ex, feed, "lo", Side.BUY, 9999, 5)
    assert ex.orders["hi"].ahead == 5 and ex.orders["lo"].ahead == 20
    ex.on_event(feed.trade(Side.SELL, 10000, 5, step_ns=0))
    assert ex.drain_reports() == [] and ex.orders["hi"].ahead == 0
    ex.on_event(feed.trade(Side.SELL, 9999, 22, step_ns=0))
    assert _fills(ex.drain_reports()) == [("hi", 10000, 4)]
    assert ex.orders["lo"].ahead == 2 and ex.orders["lo"].remaining == 5
    ex.on_event(feed.trade(Side.SELL, 9999, 3))
    assert _fills(ex.drain_reports()) == [("lo", 9999, 1)]


# ---- the book through our price without a print -----------------------------------------------


def test_a_book_through_fills_the_crossing_lots_once() -> None:
    """Our bid 10000 x 10. The venue's book moves through us without a print: its bids drop
    to 9999 and 2 lots are offered at 10000. Those 2 would have met us: 2 filled (the old
    simulator filled all 10). A second book event that does not touch 10000: nothing more
    (the 2 lots are taken). The venue re-publishes 10000 x 5: its 5 still count the 2 we
    took, 3 are new: 3 more (5 left). It then shows 10000 x 1: fewer lots than we took,
    nothing for us. Emptied, then 4 re-offered: 4 more (1 left)."""
    ex, feed = _open()
    _rest(ex, feed, "b", Side.BUY, 10000, 10)
    ex.on_event(feed.delta(bids=[(10000, 0)], asks=[(10000, 2), (10001, 0)]))
    assert _fills(ex.drain_reports()) == [("b", 10000, 2)]
    ex.on_event(feed.delta(bids=[(9999, 21)]))
    assert ex.drain_reports() == []
    ex.on_event(feed.delta(asks=[(10000, 5)]))
    assert _fills(ex.drain_reports()) == [("b", 10000, 3)]
    ex.on_event(feed.delta(asks=[(10000, 1)]))
    assert ex.drain_reports() == []
    ex.on_event(feed.delta(asks=[(10000, 0)]))
    ex.on_event(feed.delta(asks=[(10000, 4)]))
    assert _fills(ex.drain_reports()) == [("b", 10000, 4)]
    assert ex.orders["b"].remaining == 1


def test_a_book_through_fills_at_most_the_crossing_displayed_size() -> None:
    """Our bid 10000 x 10 (behind 5). The venue's bids drop below us and asks appear at 9999 x 2
    and 10000 x 3; 10002 x 4 and 10005 x 10 do not reach our price. Crossing us: 2 + 3 = 5
    lots: 5 filled at OUR price 10000 (maker), 5 left -- not 10. Those lots are taken: the
    venue re-publishing both levels unchanged brings nothing new. 10000 re-published x 4: its
    4 still count the 3 we took, 1 is new: 1 more (4 left)."""
    ex, feed = _open()
    _rest(ex, feed, "b", Side.BUY, 10000, 10)
    ex.on_event(feed.delta(bids=[(10000, 0), (9999, 0)], asks=[(9999, 2), (10000, 3), (10001, 0)]))
    reports = ex.drain_reports()
    assert [(r.price, r.size, r.liquidity, r.remaining) for r in reports if isinstance(r, OrderFilled)] == [
        (10000, 5, Liquidity.MAKER, 5)
    ]
    assert ex.markets[SPOT].taken_asks == {9999: 2, 10000: 3}
    ex.on_event(feed.delta(asks=[(9999, 2), (10000, 3)]))
    assert ex.drain_reports() == []
    ex.on_event(feed.delta(asks=[(10000, 4)]))
    assert _fills(ex.drain_reports()) == [("b", 10000, 1)]
    assert ex.orders["b"].remaining == 4


@pytest.mark.parametrize("depth_first", [False, True])
def test_a_print_and_the_book_it_leaves_behind_fill_us_once(depth_first: bool) -> None:
    """Public bids 10000 x 5, 9998 x 30; ours b 10000 x 10 behind the 5. A seller of 8 lots with
    a limit at 9999 trades the 5 public lots at 10000 (print 10000 x 5) and rests its other 3 as
    an ask at 9999 (depth: bids 10000 -> 0, asks 9999 -> 3). With us there the seller meets
    the 5 ahead of us, then us for 3: we get 3, once. The print only moves our queue (the
    5 ahead of us); the 3 displayed lots crossing us fill us by the book; the depth's 5-lot
    decrease at 10000 and the print are one event, counted once (either arrival order).
    The ask re-published unchanged: nothing more."""
    ex, feed = _open(bids=[(10000, 5), (9998, 30)])
    _rest(ex, feed, "b", Side.BUY, 10000, 10)
    depth = feed.delta(bids=[(10000, 0)], asks=[(9999, 3)], step_ns=0)
    trade = feed.trade(Side.SELL, 10000, 5, step_ns=0)
    for event in (depth, trade) if depth_first else (trade, depth):
        ex.on_event(event)
    assert _fills(ex.drain_reports()) == [("b", 10000, 3)]
    assert ex.orders["b"].remaining == 7 and ex.orders["b"].ahead == 0
    ex.on_event(feed.delta(asks=[(9999, 3)]))
    ex.on_event(feed.delta(step_ns=300 * MS))  # past the trade window: nothing pending is a cancel
    assert ex.drain_reports() == [] and ex.orders["b"].remaining == 7


def test_crossing_levels_go_best_first_to_our_best_orders_first() -> None:
    """Ours: a1 10000 x 3 (first), a2 10000 x 2, b 9999 x 4. Asks appear at 9999 x 4 and
    10000 x 6 (the venue's bids drop to 9998). 9999 x 4 (best) goes to our best price,
    10000, in arrival order: a1 3, a2 1. 10000 x 6 crosses only our 10000 bids: a2's last 1;
    5 are left for nobody (b at 9999 is below them). b gets nothing: the 4 lots that could
    have reached it went to our better bids."""
    ex, feed = _open()
    _rest(ex, feed, "a1", Side.BUY, 10000, 3)
    _rest(ex, feed, "a2", Side.BUY, 10000, 2)
    _rest(ex, feed, "b", Side.BUY, 9999, 4)
    ex.on_event(feed.delta(bids=[(10000, 0), (9999, 0)], asks=[(9999, 4), (10000, 6), (10001, 0)]))
    assert _fills(ex.drain_reports()) == [("a1", 10000, 3), ("a2", 10000, 2)]
    assert ex.markets[SPOT].taken_asks == {9999: 4, 10000: 1}
    assert ex.orders["b"].remaining == 4


def test_a_disarmed_rest_is_not_filled_by_the_levels_it_took() -> None:
    """A GTC buy at 10002 x 10 takes 10001 x 3 and 10002 x 4 and rests 3, disarmed: the
    recorded book still shows the lots it took. The venue re-publishes both levels
    unchanged: they still count our lots, nothing is new, no fill (the old simulator
    forgot what we took on any re-publish; only the disarm kept it from refilling). Net
    of what we took the best ask is now 10005, so the rest is armed again. The venue then
    shows 10002 x 6: 2 new lots, which match it: 2 (1 left)."""
    ex, feed = _open()
    ex.submit(limit("g", Side.BUY, 10002, 10, feed.ts, tif=TimeInForce.GTC))
    assert _fills(ex.drain_reports()) == [("g", 10001, 3), ("g", 10002, 4)]
    assert ex.orders["g"].armed is False
    ex.on_event(feed.delta(asks=[(10001, 3), (10002, 4)]))
    assert ex.drain_reports() == []
    ex.on_event(feed.delta(asks=[(10002, 6)]))
    assert _fills(ex.drain_reports()) == [("g", 10002, 2)]
    assert ex.orders["g"].remaining == 1


# ---- property: never more than the venue traded or displayed ------------------------------------

Step = tuple[str, int, int, int]


@st.composite
def _market_and_steps(
    draw: st.DrawFn,
) -> tuple[dict[int, int], dict[int, int], list[tuple[int, int]], list[Step]]:
    bids = {10000 - i: draw(st.integers(0, 6)) for i in range(12)}
    asks = {10001 + i: draw(st.integers(1, 6)) for i in range(12)}
    ours = draw(st.lists(st.tuples(st.integers(9989, 10000), st.integers(1, 8)), min_size=1, max_size=5))
    kinds = st.sampled_from(["sweep", "sweep_depth_first", "cross", "bid"])
    steps = draw(
        st.lists(
            st.tuples(kinds, st.integers(1, 40), st.integers(0, 11), st.integers(0, 6)),
            min_size=1,
            max_size=12,
        )
    )
    return {p: n for p, n in bids.items() if n}, asks, ours, steps


@pytest.mark.parametrize("mirror", [False, True])
@settings(max_examples=100, deadline=None)
@given(case=_market_and_steps())
def test_random_sweeps_and_crossing_books_never_fill_us_more_than_the_venue_traded_or_displayed(
    mirror: bool, case: tuple[dict[int, int], dict[int, int], list[tuple[int, int]], list[Step]]
) -> None:
    """A consistent random market (the public book kept uncrossed) around up to 5 of our bids
    (``mirror``: the same market reflected about 10000.5, so our asks, buyers' sweeps, bids
    moving up through us):
    - a seller of N lots walks the public bids best first, one print per level, the depth
      update before or after the prints: each print fills us at most its size, and the whole
      sweep at most N less the public lots priced better than all our bids (the seller
      meets those first on the venue);
    - the asks move down through our bids without a print: at most the crossing displayed
      lots fill us, and the same book re-published fills nothing more;
    - a public bid level changes: nothing fills.
    Every fill is a maker fill at the order's own price."""
    bids, asks, ours, steps = case
    ex = exchange(starting_balances={"USDT": Decimal(10**7), "BTC": Decimal(10)})
    feed = Feed()

    def m(price: int) -> int:  # model price -> venue price
        return 20001 - price if mirror else price

    def levels(book: list[tuple[int, int]]) -> list[Level]:
        return [(m(price), lots) for price, lots in book]

    def delta(
        bid_side: list[Level] | None = None, ask_side: list[Level] | None = None, step_ns: int = MS
    ) -> BookDelta:  # a model update (bid_side: the side of our orders) -> the venue's
        ours, other = levels(bid_side or []), levels(ask_side or [])
        if mirror:
            return feed.delta(bids=other, asks=ours, step_ns=step_ns)
        return feed.delta(bids=ours, asks=other, step_ns=step_ns)

    start_bids, start_asks = levels(sorted(bids.items())), levels(sorted(asks.items()))
    if mirror:
        start_bids, start_asks = start_asks, start_bids
    for event in feed.open(sorted(start_bids, reverse=True), sorted(start_asks)):
        ex.on_event(event)
    price_of = {}
    for index, (price, lots) in enumerate(ours):
        ex.submit(limit(f"b{index}", Side.SELL if mirror else Side.BUY, m(price), lots, feed.ts))
        price_of[f"b{index}"] = m(price)
    ex.drain_reports()

    def filled() -> int:
        lots = 0
        for report in ex.drain_reports():
            if isinstance(report, OrderFilled):
                assert report.liquidity is Liquidity.MAKER and report.price == price_of[report.client_id]
                lots += report.size
        return lots

    for kind, qty, offset, size in steps:
        top = max((m(order.price) for order in ex.orders.values()), default=None)
        price = 10000 - offset
        if kind.startswith("sweep"):
            left, prints, changed = qty, [], []
            for level in sorted(bids, reverse=True):
                if not left:
                    break
                take = min(bids[level], left)
                prints.append((level, take))
                left -= take
                bids[level] -= take
                changed.append((level, bids[level]))
                if not bids[level]:
                    del bids[level]
            if not prints:
                continue
            better = sum(lots for level, lots in prints if top is not None and level > top)
            depth = delta(changed, step_ns=0)
            got = 0
            if kind == "sweep_depth_first":
                ex.on_event(depth)
                got += filled()
            for level, lots in prints:
                ex.on_event(feed.trade(Side.BUY if mirror else Side.SELL, m(level), lots, step_ns=0))
                by_print = filled()
                assert by_print <= lots
                got += by_print
            if kind == "sweep":
                ex.on_event(depth)
                got += filled()
            assert got <= sum(lots for _, lots in prints) - better
        elif kind == "cross" and size:
            gone = [(level, 0) for level in bids if level >= price]
            for level, _ in gone:
                del bids[level]
            moved = [(level, 0) for level in asks if level <= price]
            for level, _ in moved:
                del asks[level]
            asks[price] = size
            crossing = sum(lots for level, lots in asks.items() if top is not None and level <= top)
            ex.on_event(delta(gone, [*moved, (price, size)]))
            assert filled() <= crossing
            ex.on_event(delta(ask_side=[(price, size)]))
            assert filled() == 0
        elif kind == "bid" and not any(level <= price for level in asks):
            if size:
                bids[price] = size
            else:
                bids.pop(price, None)
            ex.on_event(delta([(price, size)]))
            assert filled() == 0


# ---- state ---------------------------------------------------------------------------------------


def test_spared_lots_and_level_fronts_survive_export_and_restore() -> None:
    """The state after step 1 of the queue test above (front 1 at 10000, spared 10000 x 1)
    goes to the journal; a twin restored from it and re-fed the input fills lo exactly like
    the original: 2 on the next print."""
    sink = MemorySink()
    ex = exchange(journal=sink, starting_balances=BALANCES)
    feed = Feed()
    events: list[Event] = list(feed.open([(10000, 5), (9998, 3)], [(10002, 4), (10005, 10)]))
    for event in events:
        ex.on_event(event)
    ex.submit(limit("hi", Side.BUY, 10001, 2, feed.ts))
    ex.submit(limit("lo", Side.BUY, 10000, 4, feed.ts))
    events.append(feed.trade(Side.SELL, 10000, 6))
    ex.on_event(events[-1])
    ex.flush()
    state = sink.state
    assert state.markets[0].spared_bids == [(10000, 1)]
    assert [(lv.price, lv.front) for lv in state.levels] == [(10000, 1)]
    twin = exchange(starting_balances=BALANCES)
    twin.restore(sink.records, state, replay=True)
    for event in events:
        twin.on_event(event)
    trade = feed.trade(Side.SELL, 9999, 3)
    for target in (ex, twin):
        target.drain_reports()
        target.on_event(trade)
        assert _fills(target.drain_reports()) == [("lo", 10000, 2)]
