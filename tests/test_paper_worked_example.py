"""The market-making article's worked example, reproduced through the paper exchange.

Source: the worked example quoted in issue #3 ("Paper exchange"): tick 0.1, best bid
1000.0 / best ask 1000.1, taker fee 0.02 %, maker rebate 0.01 %. A round trip bought at
the bid and sold at the ask nets ~0.3 per unit (0.1 spread + two ~0.1 rebates); after a
drop to 998.0 the long closed by a market order loses ~2.1 per unit and by a passive
order at 998.1 ~1.7; averaging down with a fill at 998.0 brings the average effective
cost to ~998.9. Every figure below is read from the ledger after simulated orders were
filled by simulated trades -- the test only states the article's numbers.
"""

from __future__ import annotations

from decimal import Decimal

from bot.core.events import Side
from bot.core.orders import Liquidity, OrderFilled
from bot.paper.exchange import PaperExchange
from tests.helpers.paperkit import SPOT, Feed, exchange, limit, market

UNIT = 1000  # lots per BTC (lot 0.001)
BID, ASK = 10000, 10001  # 1000.0 / 1000.1 in ticks of 0.1
LOW_BID, LOW_ASK = 9980, 9981  # 998.0 / 998.1


def _passive_fill(ex: PaperExchange, feed: Feed, cid: str, side: Side, price: int) -> OrderFilled:
    """Rest a post-only order at ``price`` and let public trades execute through the queue."""
    ex.submit(limit(cid, side, price, UNIT, feed.ts))
    accepted = ex.drain_reports()
    assert [type(r).__name__ for r in accepted] == ["OrderAccepted"]
    ahead = accepted[0].queue_ahead  # type: ignore[union-attr]
    ex.on_event(feed.trade(Side.SELL if side > 0 else Side.BUY, price, ahead + UNIT))
    (fill,) = ex.drain_reports()
    assert isinstance(fill, OrderFilled) and fill.remaining == 0 and fill.liquidity is Liquidity.MAKER
    return fill


def _opened_long() -> tuple[PaperExchange, Feed]:
    ex = exchange()
    feed = Feed()
    for event in feed.open([(BID, 8000), (BID - 1, 9000)], [(ASK, 8000), (ASK + 1, 9000)]):
        ex.on_event(event)
    _passive_fill(ex, feed, "buy-1", Side.BUY, BID)
    return ex, feed


def _drop(ex: PaperExchange, feed: Feed) -> None:
    ex.on_event(
        feed.delta(
            bids=[(BID, 0), (BID - 1, 0), (LOW_BID, 8000)], asks=[(ASK, 0), (ASK + 1, 0), (LOW_ASK, 8000)]
        )
    )


def _per_unit(total: Decimal) -> Decimal:
    return total  # positions are exactly one unit (1 BTC)


def _assert_consistent(ex: PaperExchange) -> None:
    attribution = ex.ledger.attribution()
    assert attribution.components_sum() == attribution.total


def test_round_trip_nets_spread_plus_two_rebates() -> None:
    ex, feed = _opened_long()
    sell = _passive_fill(ex, feed, "sell-1", Side.SELL, ASK)
    assert sell.fee < 0  # rebate
    att = ex.ledger.attribution()
    assert ex.ledger.position_qty(SPOT) == 0
    assert abs(_per_unit(att.total) - Decimal("0.3")) < Decimal("0.001")
    assert att.spread_capture == Decimal("0.1")  # the 0.1 spread: half below mid, half above
    assert abs(att.rebates - Decimal("0.2")) < Decimal("0.001")
    assert att.fees == 0 and att.inventory == 0
    _assert_consistent(ex)


def test_drop_then_close_by_market_loses_about_2_1() -> None:
    ex, feed = _opened_long()
    _drop(ex, feed)
    ex.submit(market("close", Side.SELL, UNIT, feed.ts))
    reports = ex.drain_reports()
    fills = [r for r in reports if isinstance(r, OrderFilled)]
    assert [(f.price, f.size, f.liquidity) for f in fills] == [(LOW_BID, UNIT, Liquidity.TAKER)]
    att = ex.ledger.attribution()
    assert abs(att.total - Decimal("-2.1")) < Decimal("0.01")
    assert att.fees < 0  # the taker fee was paid
    _assert_consistent(ex)


def test_drop_then_close_passively_at_998_1_loses_about_1_7() -> None:
    ex, feed = _opened_long()
    _drop(ex, feed)
    _passive_fill(ex, feed, "close", Side.SELL, LOW_ASK)
    att = ex.ledger.attribution()
    assert ex.ledger.position_qty(SPOT) == 0
    assert abs(att.total - Decimal("-1.7")) < Decimal("0.01")
    assert att.fees == 0
    _assert_consistent(ex)


def test_averaging_down_brings_effective_cost_to_about_998_9() -> None:
    ex, feed = _opened_long()
    _drop(ex, feed)
    _passive_fill(ex, feed, "buy-2", Side.BUY, LOW_BID)
    position = ex.ledger.snapshot().positions[SPOT]
    assert position.qty == 2 * UNIT
    assert position.avg_entry == Decimal("999.0")  # before rebates
    assert position.effective_entry is not None
    assert abs(position.effective_entry - Decimal("998.9")) < Decimal("0.01")
    _assert_consistent(ex)
