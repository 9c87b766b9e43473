"""Fill simulator: queue position, trade-through, post-only, taker walks, latency,
cancel/fill races, validation, determinism."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.core.events import Side
from bot.core.orders import (
    CancelRejected,
    CancelRejectReason,
    Liquidity,
    NewOrder,
    OrderAccepted,
    OrderCancelled,
    OrderFilled,
    OrderRejected,
    OrderReport,
    OrderType,
    RejectReason,
    TimeInForce,
)
from bot.paper.exchange import PaperExchange
from bot.paper.execution import CLOSED_MEMORY, RecentlyClosed
from bot.paper.refmm import ReferenceMarketMaker
from bot.paper.settings import LatencySettings, PaperLatencySettings
from bot.paper.synthetic import synthetic_stream
from tests.helpers.paperkit import MS, SPOT, Feed, cancel, exchange, latency, limit, market, spot_spec

BOOK_BIDS = [(10000, 5), (9999, 20), (9998, 30)]
BOOK_ASKS = [(10001, 3), (10002, 4), (10005, 10)]


def _open(**kw: object) -> tuple[PaperExchange, Feed]:
    ex = exchange(**kw)  # type: ignore[arg-type]
    feed = Feed()
    for event in feed.open(BOOK_BIDS, BOOK_ASKS):
        ex.on_event(event)
    return ex, feed


def _fills(reports: list[OrderReport]) -> list[tuple[int, int, Liquidity, int]]:
    return [(r.price, r.size, r.liquidity, r.remaining) for r in reports if isinstance(r, OrderFilled)]


# ---- queue position -----------------------------------------------------------------


@pytest.mark.parametrize("model", ["risk_averse", "proportional"])
def test_order_behind_5_lots_fills_only_after_5_lots_trade(model: str) -> None:
    ex, feed = _open(queue_model=model)
    ex.submit(limit("b", Side.BUY, 10000, 3, feed.ts))
    [accepted] = ex.drain_reports()
    assert isinstance(accepted, OrderAccepted) and accepted.queue_ahead == 5
    ex.on_event(feed.trade(Side.SELL, 10000, 4))
    ex.on_event(feed.trade(Side.SELL, 10001, 9))  # buyers lifting the ask: not our side
    ex.on_event(feed.trade(Side.SELL, 10000, 1))
    assert ex.drain_reports() == [] and ex.orders["b"].ahead == 0
    ex.on_event(feed.trade(Side.SELL, 10000, 2))
    assert _fills(ex.drain_reports()) == [(10000, 2, Liquidity.MAKER, 1)]  # partial
    ex.on_event(feed.trade(Side.SELL, 10000, 5))
    assert _fills(ex.drain_reports()) == [(10000, 1, Liquidity.MAKER, 0)]
    assert "b" not in ex.orders and ex.ledger.position_qty(SPOT) == 3


def test_queue_models_differ_on_cancels_ahead_of_us() -> None:
    """10 lots ahead, 10 join behind, then 4 lots are cancelled somewhere in the queue. The
    decrease counts as a cancel once the trade window (300 ms) has passed without a trade."""
    aheads = {}
    for model in ("risk_averse", "proportional", "power", "log"):
        ex, feed = _open(queue_model=model)
        ex.on_event(feed.delta(bids=[(10000, 10)]))
        ex.submit(limit("b", Side.BUY, 10000, 1, feed.ts))
        ex.on_event(feed.delta(bids=[(10000, 20)]))  # joins behind us: ahead unchanged
        assert ex.orders["b"].ahead == 10
        ex.on_event(feed.delta(bids=[(10000, 16)]))  # 4 cancelled, no trade
        assert ex.orders["b"].ahead == 10  # still waiting for a trade that could explain it
        ex.on_event(feed.delta(step_ns=300 * MS))
        aheads[model] = ex.orders["b"].ahead
        ex.on_event(feed.delta(bids=[(10000, 3)]))  # shrinks below our position
        ex.on_event(feed.delta(step_ns=300 * MS))
        assert ex.orders["b"].ahead <= 3
    # proportional: 10 - 4 x 10/20 = 8. power (n = 3, hftbacktest's ProbQueueModel): front 10,
    # back 10, p = 10^3/(10^3 + 10^3) = 0.5 -> 10 - 0.5 x 4 = 8. log: lots of 0.001 BTC,
    # f = ln(1 + 0.01) on both sides -> p = 0.5 -> 8 as well.
    assert aheads == {"risk_averse": 10, "proportional": 8, "power": 8, "log": 8}


def test_trade_through_our_price_fills_at_our_price_up_to_its_size() -> None:
    """A seller printed 1 lot below our 7-lot bid: it would have met us first, with 1 lot
    (the old simulator filled all 7). A 9-lot print then fills the other 6."""
    ex, feed = _open()
    ex.submit(limit("b", Side.BUY, 10000, 7, feed.ts))
    ex.drain_reports()
    ex.on_event(feed.trade(Side.SELL, 9999, 1))  # a seller went below our bid
    assert _fills(ex.drain_reports()) == [(10000, 1, Liquidity.MAKER, 6)]
    ex.on_event(feed.trade(Side.SELL, 9999, 9))
    assert _fills(ex.drain_reports()) == [(10000, 6, Liquidity.MAKER, 0)]


def test_book_moving_through_us_fills_without_a_printed_trade() -> None:
    """Our ask 10001 x 2, then a second one 10001 x 9. The venue's asks move away and bids
    appear at 10001 x 6 (crossing both, no print): 6 crossing lots fill our asks in arrival
    order -- a 2 (all), b 6 - 2 = 4 -- at our price; b keeps 5 (the old simulator filled
    both whole: 11 lots from 6 displayed)."""
    ex, feed = _open(starting_balances={"USDT": Decimal(10**6), "BTC": Decimal(1)})
    ex.submit(limit("a", Side.SELL, 10001, 2, feed.ts))
    ex.submit(limit("b", Side.SELL, 10001, 9, feed.ts))
    assert [type(r) for r in ex.drain_reports()] == [OrderAccepted, OrderAccepted]
    ex.on_event(feed.delta(bids=[(10001, 6)], asks=[(10001, 0), (10002, 0), (10003, 5)]))
    assert _fills(ex.drain_reports()) == [(10001, 2, Liquidity.MAKER, 0), (10001, 4, Liquidity.MAKER, 5)]


def test_liquidation_prints_do_not_fill() -> None:
    ex, feed = _open()
    ex.submit(limit("b", Side.BUY, 10000, 1, feed.ts))
    ex.drain_reports()
    ex.on_event(feed.trade(Side.SELL, 9990, 100, liquidation=True))
    assert ex.drain_reports() == [] and "b" in ex.orders


# ---- post-only, takers --------------------------------------------------------------


def test_post_only_that_would_cross_is_rejected() -> None:
    ex, feed = _open()
    ex.submit(limit("b", Side.BUY, 10001, 1, feed.ts))
    ex.submit(limit("a", Side.SELL, 9999, 1, feed.ts))
    reports = ex.drain_reports()
    assert [(type(r), r.reason) for r in reports] == [  # type: ignore[union-attr]
        (OrderRejected, RejectReason.POST_ONLY_WOULD_CROSS)
    ] * 2
    assert "cross the best ask 1000.1" in reports[0].text  # type: ignore[union-attr]
    assert ex.orders == {} and ex.ledger.fill_count == 0


def test_market_order_walks_levels_with_the_right_average_price() -> None:
    ex, feed = _open()
    ex.submit(market("m", Side.BUY, 10, feed.ts))
    fills = [r for r in ex.drain_reports() if isinstance(r, OrderFilled)]
    assert [(f.price, f.size, f.remaining) for f in fills] == [(10001, 3, 7), (10002, 4, 3), (10005, 3, 0)]
    assert all(f.liquidity is Liquidity.TAKER and f.fee > 0 for f in fills)
    average = Decimal(sum(f.price * f.size for f in fills)) / sum(f.size for f in fills) / 10
    assert average == Decimal("1000.26")  # (3 x 1000.1 + 4 x 1000.2 + 3 x 1000.5) / 10
    position = ex.ledger.snapshot().positions[SPOT]
    assert position.qty == 10 and position.avg_entry == average
    assert sum(f.fee for f in fills) == Decimal("0.0002") * average * Decimal("0.010")


def test_ioc_limit_takes_what_is_there_and_expires_the_rest() -> None:
    ex, feed = _open()
    ex.submit(limit("i", Side.BUY, 10002, 10, feed.ts, tif=TimeInForce.IOC))
    reports = ex.drain_reports()
    assert _fills(reports) == [(10001, 3, Liquidity.TAKER, 7), (10002, 4, Liquidity.TAKER, 3)]
    assert isinstance(reports[-1], OrderCancelled) and reports[-1].remaining == 3
    assert ex.orders == {}


def test_crossing_gtc_rests_its_remainder_without_refilling_from_the_stale_book() -> None:
    ex, feed = _open()
    ex.submit(limit("g", Side.BUY, 10002, 10, feed.ts, tif=TimeInForce.GTC))
    assert [f[1] for f in _fills(ex.drain_reports())] == [3, 4]
    resting = ex.orders["g"]
    assert resting.remaining == 3 and resting.ahead == 0
    ex.on_event(feed.delta(bids=[(9999, 21)]))  # the asks we took are still displayed: no new fill
    assert ex.drain_reports() == []
    ex.on_event(feed.trade(Side.SELL, 10002, 2))  # a seller hits our resting bid
    assert _fills(ex.drain_reports()) == [(10002, 2, Liquidity.MAKER, 1)]
    ex.on_event(feed.delta(asks=[(10001, 0), (10002, 0)]))  # the book no longer crosses us
    ex.on_event(feed.delta(asks=[(10002, 2)]))  # an ask appears at our price: it matches us
    assert _fills(ex.drain_reports()) == [(10002, 1, Liquidity.MAKER, 0)]


# ---- latency ------------------------------------------------------------------------


def test_order_is_not_live_until_its_entry_latency_has_elapsed() -> None:
    ex, feed = _open(latency=latency(entry_ms=5))
    sent = feed.ts
    ex.submit(limit("b", Side.BUY, 10000, 2, sent))
    ex.on_event(feed.delta(bids=[(10000, 9)], step_ns=1 * MS))  # the level grows before we arrive
    ex.on_event(feed.trade(Side.SELL, 10000, 9, step_ns=1 * MS))  # not live yet: no fill
    assert ex.drain_reports() == [] and ex.inflight
    ex.on_event(feed.delta(bids=[(10000, 4)], step_ns=3 * MS))  # t+5 ms: live, behind 9 (then 4)
    [accepted] = ex.drain_reports()
    assert isinstance(accepted, OrderAccepted)
    assert accepted.ts == sent + 5 * MS and accepted.queue_ahead == 9
    # the 5-lot decrease waits for a trade that could explain it; none comes within the
    # 300 ms window, so it is a cancel: risk averse, ahead = min(9, 4) = 4 (and after the
    # 1 s memory a new trade is not taken for the one that caused the decrease)
    ex.on_event(feed.delta(step_ns=300 * MS))
    assert ex.orders["b"].ahead == 4
    ex.on_event(feed.delta(step_ns=1000 * MS))
    ex.on_event(feed.trade(Side.SELL, 10000, 6))
    assert _fills(ex.drain_reports()) == [(10000, 2, Liquidity.MAKER, 0)]


def test_market_data_latency_shifts_venue_time() -> None:
    ex, feed = _open(latency=latency(entry_ms=1, md_ms=3))
    sent = feed.ts
    ex.submit(limit("b", Side.BUY, 10000, 2, sent))
    ex.on_event(feed.trade(Side.SELL, 9990, 1, step_ns=2 * MS))  # venue time sent - 1 ms
    ex.on_event(feed.trade(Side.SELL, 9990, 1, step_ns=1 * MS))  # venue time = sent: still in flight
    assert ex.drain_reports() == []
    ex.on_event(feed.trade(Side.SELL, 9990, 1, step_ns=1 * MS))  # venue time sent + 1 ms: arrives first
    reports = ex.drain_reports()
    assert [type(r) for r in reports] == [OrderAccepted, OrderFilled]
    assert reports[0].ts == sent + 1 * MS
    # the 1-lot print below our 2-lot bid fills 1 lot of it, at our price
    assert _fills(reports) == [(10000, 1, Liquidity.MAKER, 1)]


def test_cancel_arriving_after_a_fill_is_rejected_and_the_fill_stands() -> None:
    ex, feed = _open(latency=latency(entry_ms=0, cancel_ms=5))
    ex.submit(limit("b", Side.BUY, 10000, 2, feed.ts))
    ex.submit(cancel("b", feed.ts))
    # 2 lots print below our 2-lot bid: they fill it (a print through us brings its own
    # size, no more) before the cancel lands
    ex.on_event(feed.trade(Side.SELL, 9999, 2, step_ns=2 * MS))
    ex.on_event(feed.delta(bids=[(9999, 25)], step_ns=4 * MS))
    reports = ex.drain_reports()
    assert [type(r) for r in reports] == [OrderAccepted, OrderFilled, CancelRejected]
    assert reports[-1].reason is CancelRejectReason.ALREADY_FILLED  # type: ignore[union-attr]
    assert ex.ledger.position_qty(SPOT) == 2


def test_cancel_races() -> None:
    ex, feed = _open(latency=latency(entry_ms=5, cancel_ms=1))
    ex.submit(limit("b", Side.BUY, 10000, 2, feed.ts))
    ex.submit(cancel("b", feed.ts))  # overtakes its order
    ex.submit(cancel("nope", feed.ts))
    ex.on_event(feed.delta(bids=[(9999, 21)], step_ns=10 * MS))
    reports = ex.drain_reports()
    assert [(type(r), getattr(r, "reason", None)) for r in reports] == [
        (CancelRejected, CancelRejectReason.UNKNOWN_ORDER),
        (CancelRejected, CancelRejectReason.UNKNOWN_ORDER),
        (OrderAccepted, None),
    ]
    ex.submit(cancel("b", feed.ts))
    ex.on_event(feed.delta(bids=[(9999, 22)], step_ns=2 * MS))
    [cancelled] = ex.drain_reports()
    assert isinstance(cancelled, OrderCancelled) and cancelled.remaining == 2 and ex.orders == {}


# ---- validation ---------------------------------------------------------------------


def _reject_reason(ex: PaperExchange, order: NewOrder) -> RejectReason:
    ex.submit(order)
    [report] = ex.drain_reports()
    assert isinstance(report, OrderRejected), report
    return report.reason


def test_invalid_orders_are_rejected_never_adjusted() -> None:
    spec = spot_spec(qty_step=Decimal("0.002"), min_qty=Decimal("0.004"), min_notional=Decimal("3"))
    ex = exchange(spec, starting_balances={"USDT": Decimal(100), "BTC": Decimal("0.01")})
    feed = Feed()
    for event in feed.open(BOOK_BIDS, BOOK_ASKS):
        ex.on_event(event)
    ts = feed.ts
    assert _reject_reason(ex, limit("a", Side.BUY, 9000, 5, ts)) is RejectReason.INVALID_SIZE
    assert _reject_reason(ex, limit("b", Side.BUY, 9000, 2, ts)) is RejectReason.BELOW_MIN_QTY
    assert _reject_reason(ex, limit("c", Side.BUY, 1000, 4, ts)) is RejectReason.BELOW_MIN_NOTIONAL
    assert _reject_reason(ex, limit("d", Side.BUY, 0, 4, ts)) is RejectReason.INVALID_PRICE
    assert _reject_reason(ex, limit("e", Side.BUY, 9000, 200, ts)) is RejectReason.INSUFFICIENT_BALANCE
    assert _reject_reason(ex, limit("f", Side.SELL, 10010, 12, ts)) is RejectReason.INSUFFICIENT_BALANCE
    assert (
        _reject_reason(ex, limit("g", Side.SELL, 10010, 4, ts, reduce_only=True))
        is RejectReason.INVALID_ORDER
    )
    assert (
        _reject_reason(ex, limit("h", Side.BUY, 9000, 4, ts, instrument="x:Y"))
        is RejectReason.UNKNOWN_INSTRUMENT
    )
    priced_market = NewOrder(
        client_id="i",
        instrument=SPOT,
        side=Side.BUY,
        size=4,
        price=10001,
        order_type=OrderType.MARKET,
        tif=TimeInForce.IOC,
        ts=ts,
    )
    assert _reject_reason(ex, priced_market) is RejectReason.INVALID_ORDER
    gtx_market = NewOrder(
        client_id="j",
        instrument=SPOT,
        side=Side.BUY,
        size=4,
        order_type=OrderType.MARKET,
        tif=TimeInForce.GTX,
        ts=ts,
    )
    assert _reject_reason(ex, gtx_market) is RejectReason.INVALID_ORDER
    ex.submit(limit("k", Side.SELL, 10010, 8, ts))  # reserves 8 of the 10 BTC lots
    assert isinstance(ex.drain_reports()[0], OrderAccepted)
    assert _reject_reason(ex, limit("l", Side.SELL, 10011, 4, ts)) is RejectReason.INSUFFICIENT_BALANCE
    assert _reject_reason(ex, limit("k", Side.SELL, 10012, 4, ts)) is RejectReason.DUPLICATE_CLIENT_ID
    assert list(ex.orders) == ["k"] and ex.orders["k"].remaining == 8
    assert ex.ledger.fill_count == 0


@pytest.mark.parametrize("short", [Decimal(0), Decimal("0.00001")])
def test_spot_buys_are_funded_to_the_last_digit(short: Decimal) -> None:
    """The funds check compares integers (units against floor(balance / buy factor)) while one
    market reserves; it must accept and reject exactly where the Decimal rule does: a buy
    needs price x size x tick x lot x (1 + worst fee) of free quote, resting buys included."""
    spec = spot_spec()  # tick 0.1, lot 0.001, worst fee 0.0002
    need = Decimal("0.1") * Decimal("0.001") * Decimal("1.0002") * (9000 * 4 + 9001 * 3)
    ex = exchange(spec, starting_balances={"USDT": need - short, "BTC": Decimal(0)})
    feed = Feed()
    for event in feed.open(BOOK_BIDS, BOOK_ASKS):
        ex.on_event(event)
    ts = feed.ts
    ex.submit(limit("a", Side.BUY, 9000, 4, ts))
    assert isinstance(ex.drain_reports()[0], OrderAccepted)
    ex.submit(limit("b", Side.BUY, 9001, 3, ts))  # exactly the rest of the balance
    [report] = ex.drain_reports()
    if not short:
        assert isinstance(report, OrderAccepted)
        assert _reject_reason(ex, limit("c", Side.BUY, 1, 1, ts)) is RejectReason.INSUFFICIENT_BALANCE
        ex.submit(cancel("a", ts))
        ex.submit(limit("d", Side.BUY, 9000, 4, ts))  # the cancelled order's funds are free again
        assert isinstance(ex.drain_reports()[-1], OrderAccepted)
    else:
        assert isinstance(report, OrderRejected) and report.reason is RejectReason.INSUFFICIENT_BALANCE
        assert report.text == (
            f"buying needs {Decimal('0.1') * Decimal('0.001') * Decimal('1.0002') * 9001 * 3} USDT "
            f"(with fees), free balance is {need - short - Decimal('3.600720')}"
        )


def test_orders_are_rejected_while_the_venue_book_is_not_synced() -> None:
    ex = exchange()
    feed = Feed()
    ex.on_event(feed.snapshot(BOOK_BIDS, BOOK_ASKS))  # snapshot without its first diff: not live
    assert _reject_reason(ex, limit("a", Side.BUY, 9000, 4, feed.ts)) is RejectReason.MARKET_UNAVAILABLE


# ---- determinism --------------------------------------------------------------------


def _run(seed: int) -> list[OrderReport]:
    settings_latency = PaperLatencySettings(
        order_entry=LatencySettings(kind="lognormal", ms=0.5, sigma=0.8),
        cancel=LatencySettings(kind="uniform", low_ms=0.1, high_ms=2.0),
        market_data=LatencySettings(kind="normal", ms=0.3, stdev_ms=0.2),
    )
    ex = exchange(
        latency=settings_latency, seed=seed, starting_balances={"USDT": Decimal(10**6), "BTC": Decimal(10)}
    )
    maker = ReferenceMarketMaker(ex, SPOT, half_spread=1, skew=1)
    reports: list[OrderReport] = []
    for event in synthetic_stream(SPOT, 3000, seed=5):
        ex.on_event(event)
        maker.on_event(event)
        reports.extend(ex.drain_reports())
    return reports


def test_same_seed_same_reports_other_seed_other_reports() -> None:
    first, again, other = _run(1), _run(1), _run(2)
    assert sum(isinstance(r, OrderFilled) for r in first) > 5
    assert first == again
    assert first != other


def test_exchange_without_report_readers_keeps_no_reports_and_trades_the_same() -> None:
    """``reports=False`` (the reference MM's replay): no outbox, no acks/cancels built; the
    state the strategy reads, the ledger and the change counter are those of a reporting run."""

    def run(reports: bool) -> tuple[PaperExchange, int]:
        ex = PaperExchange(
            (spot_spec(),),
            exchange(starting_balances={"USDT": Decimal(10**6), "BTC": Decimal(10)}).settings,
            reports=reports,
        )
        maker = ReferenceMarketMaker(ex, SPOT, half_spread=1, skew=1)
        kept = 0
        for event in synthetic_stream(SPOT, 3000, seed=5):
            ex.on_event(event)
            maker.on_event(event)
            kept += len(ex.drain_reports())
        return ex, kept

    loud, loud_kept = run(True)
    quiet, quiet_kept = run(False)
    assert loud_kept > 100 and quiet_kept == 0
    assert loud.commands == quiet.commands and loud.fill_seq == quiet.fill_seq > 5
    assert loud.version == quiet.version
    assert list(loud.orders) == list(quiet.orders) and list(loud.closed) == list(quiet.closed)
    assert loud.ledger.position_qty(SPOT) == quiet.ledger.position_qty(SPOT)
    assert loud.export_state() == quiet.export_state()


def test_closed_ids_are_remembered_at_least_as_long_as_the_closed_memory() -> None:
    """A late cancel is answered "already filled/closed" for at least the last CLOSED_MEMORY
    closed ids (two generations: between one and two memories' worth)."""
    closed = RecentlyClosed(size=3)
    for i in range(7):
        closed.add(f"c{i}", "filled" if i % 2 else "closed")
    assert [closed.get(f"c{i}") for i in (4, 5, 6)] == ["closed", "filled", "closed"]  # the last 3
    assert closed.get("c3") == "filled"  # still in the older generation
    assert closed.get("c0") is None and closed.get("c2") is None  # forgotten
    assert list(closed) == ["c3", "c4", "c5", "c6"] and len(closed) == 4
    closed.add("c3", "closed")  # closed again (a rejected duplicate id): the newest state wins
    assert closed.get("c3") == "closed" and list(closed) == ["c4", "c5", "c6", "c3"]
    assert RecentlyClosed().size == CLOSED_MEMORY


@pytest.mark.parametrize(("seed", "window_ms"), [(1, 0.0), (2, 0.0), (3, 50.0), (4, 200.0)])
def test_diffs_that_touch_nothing_of_ours_are_skipped_without_changing_a_fill(
    seed: int, window_ms: float
) -> None:
    """``Market.touched_by``: after a diff that neither reaches our best prices nor changes a
    level we rest at (and with no pending decrease or disarmed order), re-examining our orders
    decides nothing. Skipping it must leave every report and the state exactly as they were."""

    def run(skip: bool) -> tuple[PaperExchange, list[OrderReport]]:
        ex = exchange(
            latency=latency(entry_ms=0.5, md_ms=0.3),
            seed=seed,
            trade_window_ms=window_ms,
            starting_balances={"USDT": Decimal(10**6), "BTC": Decimal(10)},
        )
        ex.skip_untouched = skip
        maker = ReferenceMarketMaker(ex, SPOT, half_spread=seed % 2, skew=1)
        reports: list[OrderReport] = []
        for event in synthetic_stream(SPOT, 4000, seed=seed):
            ex.on_event(event)
            maker.on_event(event)
            reports.extend(ex.drain_reports())
        return ex, reports

    (skipping, skipped_reports), (full, full_reports) = run(True), run(False)
    assert sum(isinstance(r, OrderFilled) for r in full_reports) > 5
    assert skipped_reports == full_reports
    assert skipping.export_state() == full.export_state()
    assert skipping.untouched > full.untouched  # the skip did happen
