"""Ledger: funding, marks, margin and reduce-only through the exchange; exact invariants
(attribution sums to total PnL, cash + position value conservation, fees counted once)
as hypothesis property tests."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.events import Side
from bot.core.orders import (
    FundingPayment,
    Liquidity,
    OrderCancelled,
    OrderFilled,
    OrderRejected,
    RejectReason,
    TimeInForce,
)
from bot.paper.exchange import PaperExchange
from bot.paper.ledger import Ledger, MarkSample
from bot.paper.refmm import ReferenceMarketMaker
from bot.paper.settings import LatencySettings, PaperLatencySettings
from bot.paper.synthetic import synthetic_stream
from tests.helpers.paperkit import (
    PERP,
    SPOT,
    Feed,
    MemorySink,
    exchange,
    limit,
    market,
    perp_spec,
    spot_spec,
)

T1, T2, T3 = 1_700_028_800 * 10**9, 1_700_057_600 * 10**9, 1_700_086_400 * 10**9


def _perp(**kw: object) -> tuple[PaperExchange, Feed]:
    fields: dict[str, object] = dict(starting_balances={"USDT": Decimal(100_000)}, equity_interval_s=1e-6)
    fields.update(kw)
    ex = exchange(perp_spec(), **fields)  # type: ignore[arg-type]
    feed = Feed(PERP)
    for event in feed.open([(10000, 5000)], [(10001, 5000), (10002, 5000)]):
        ex.on_event(event)
    return ex, feed


def test_funding_is_charged_at_funding_times_longs_pay_when_rate_positive() -> None:
    ex, feed = _perp()
    ex.on_event(feed.mark(10000, "0.0001", T1))
    ex.submit(market("buy", Side.BUY, 1000, feed.ts, instrument=PERP))  # long 1 BTC at 1000.1
    ex.on_event(feed.mark(10100, "0.0001", T1))  # mark 1010.0, same funding period
    ex.drain_reports()
    position = ex.ledger.snapshot().positions[PERP]
    assert position.unrealized == Decimal("9.9")  # (1010.0 - 1000.1) x 1 on the mark price
    ex.on_event(feed.mark(10100, "0.0002", T2))  # funding time T1 passed
    [paid] = [r for r in ex.drain_reports() if isinstance(r, FundingPayment)]
    assert paid.ts == T1 and paid.position == 1000 and paid.rate == Decimal("0.0001")
    assert paid.amount == Decimal("-0.101")  # long pays 1010.0 x 1 x 0.0001
    ex.submit(market("flip", Side.SELL, 2000, feed.ts, instrument=PERP))  # short 1 BTC
    ex.on_event(feed.mark(10100, "-0.0003", T3))  # funding time T2 at the rate announced for it
    [received] = [r for r in ex.drain_reports() if isinstance(r, FundingPayment)]
    assert received.position == -1000 and received.amount == Decimal("0.202")  # short receives
    ledger = ex.ledger
    assert ledger.funding == Decimal("0.101") and ledger.snapshot().positions[PERP].funding == Decimal(
        "0.101"
    )
    attribution = ledger.attribution()
    assert attribution.funding == Decimal("0.101")
    assert attribution.components_sum() == attribution.total


def test_perp_valued_on_mark_price_not_mid() -> None:
    ex, feed = _perp()
    ex.on_event(feed.mark(9990, "0", T1))  # mark 999.0 while the book mid is 1000.05
    ex.submit(market("buy", Side.BUY, 1000, feed.ts, instrument=PERP))
    attribution = ex.ledger.attribution()
    assert attribution.spread_capture == Decimal("-0.05")  # paid 1000.1 against mid 1000.05
    assert attribution.inventory == Decimal("-1.05")  # mid 1000.05 -> mark 999.0
    assert attribution.total == Decimal("-1.1") - Decimal("0.40004")  # minus the taker fee
    assert attribution.components_sum() == attribution.total


def test_margin_and_reduce_only() -> None:
    ex, feed = _perp(starting_balances={"USDT": Decimal(300)}, leverage=2)
    ex.submit(limit("big", Side.BUY, 9990, 1000, feed.ts, instrument=PERP))  # 999 notional > 600
    ex.submit(limit("ok", Side.BUY, 9990, 500, feed.ts, instrument=PERP))  # 499.5 <= 600
    ex.submit(limit("ro", Side.SELL, 10010, 100, feed.ts, instrument=PERP, reduce_only=True))
    reports = ex.drain_reports()
    assert [(type(r).__name__, getattr(r, "reason", None)) for r in reports] == [
        ("OrderRejected", RejectReason.INSUFFICIENT_MARGIN),
        ("OrderAccepted", None),
        ("OrderRejected", RejectReason.REDUCE_ONLY),  # no position to reduce
    ]
    ex.on_event(feed.trade(Side.SELL, 9980, 500))  # 500 lots print through "ok": long 0.5
    ex.submit(limit("ro", Side.SELL, 10010, 500, feed.ts, instrument=PERP, reduce_only=True))
    ex.submit(market("cut", Side.SELL, 200, feed.ts, instrument=PERP))  # position now 0.3
    ex.drain_reports()
    ex.on_event(feed.trade(Side.BUY, 10020, 500))  # 500 lots through the reduce-only ask
    reports = ex.drain_reports()
    fill = next(r for r in reports if isinstance(r, OrderFilled))
    cancelled = next(r for r in reports if isinstance(r, OrderCancelled))
    assert (fill.size, fill.liquidity) == (300, Liquidity.MAKER)  # only what reduces the position
    assert cancelled.reason.value == "reduce_only" and cancelled.remaining == 200
    assert ex.ledger.position_qty(PERP) == 0


def test_spot_buy_needs_quote_including_fees() -> None:
    ex = exchange(starting_balances={"USDT": Decimal("100.02")})  # taker 0.02 %
    feed = Feed()
    for event in feed.open([(9990, 5000)], [(10000, 5000)]):
        ex.on_event(event)
    ex.submit(limit("b", Side.BUY, 10000, 101, feed.ts, tif=TimeInForce.IOC))  # 101.0 + fee > 100.02
    ex.submit(limit("c", Side.BUY, 10000, 100, feed.ts, tif=TimeInForce.IOC))  # 100.0 + 0.02 fits
    reports = ex.drain_reports()
    assert isinstance(reports[0], OrderRejected) and reports[0].reason is RejectReason.INSUFFICIENT_BALANCE
    assert sum(r.size for r in reports if isinstance(r, OrderFilled)) == 100
    assert ex.ledger.balances["USDT"] == Decimal(0)


# ---- properties of the ledger itself -------------------------------------------------

SPECS = [spot_spec(), perp_spec()]
fills = st.tuples(
    st.sampled_from(["fill"]),
    st.sampled_from([SPOT, PERP]),
    st.sampled_from([Side.BUY, Side.SELL]),
    st.integers(9000, 11000),  # price, ticks
    st.integers(1, 3000),  # lots
    st.booleans(),  # maker
    st.integers(-5, 5),  # mid offset from the price, half ticks
)
marks = st.tuples(st.sampled_from(["mark"]), st.sampled_from([SPOT, PERP]), st.integers(9000, 11000))
fundings = st.tuples(st.sampled_from(["funding"]), st.integers(-300, 300))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(fills, marks, fundings), min_size=1, max_size=40))
def test_ledger_invariants(ops: list[tuple[object, ...]]) -> None:
    start_usdt, start_btc = Decimal(1_000_000), Decimal(5)
    ledger = Ledger(SPECS, {"USDT": start_usdt, "BTC": start_btc}, leverage=3)
    tick, lot = Decimal("0.1"), Decimal("0.001")
    fees = {SPOT: (Decimal("-0.0001"), Decimal("0.0002")), PERP: (Decimal("0.0002"), Decimal("0.0004"))}
    traded = {SPOT: Decimal(0), PERP: Decimal(0)}  # sum of -s*p*x (quote)
    lots = {SPOT: 0, PERP: 0}
    fee_total = {SPOT: Decimal(0), PERP: Decimal(0)}
    funding_total = Decimal(0)
    for n, op in enumerate(ops):
        if op[0] == "fill":
            _, key, side, price, size, maker, offset = op
            assert isinstance(key, str) and isinstance(price, int) and isinstance(size, int)
            assert isinstance(side, Side) and isinstance(offset, int)
            notional = tick * price * lot * size
            fee = notional * fees[key][0 if maker else 1]
            fill = OrderFilled(
                client_id=f"o{n}",
                instrument=key,
                ts=n,
                fill_id=n,
                side=side,
                price=price,
                size=size,
                liquidity=Liquidity.MAKER if maker else Liquidity.TAKER,
                fee=fee,
                fee_asset="USDT",
                remaining=0,
            )
            mid = tick * price + tick / 2 * offset
            mark = mid if key == SPOT else (ledger.mark(PERP) or mid)
            ledger.apply_fill(fill, mid, mark)
            traded[key] -= int(side) * notional
            lots[key] += int(side) * size
            fee_total[key] += fee
        elif op[0] == "mark":
            _, key, price = op
            assert isinstance(key, str) and isinstance(price, int)
            ledger.apply_marks(MarkSample(ts=n, marks={key: tick * price}))
        else:
            rate = Decimal(int(op[1])) / 1_000_000  # type: ignore[call-overload]
            mark = ledger.mark(PERP)
            if mark is not None and lots[PERP]:
                amount = -mark * lots[PERP] * lot * rate
                ledger.apply_funding(
                    FundingPayment(
                        instrument=PERP,
                        ts=n,
                        rate=rate,
                        mark_price=int(mark / tick),
                        position=lots[PERP],
                        amount=amount,
                        asset="USDT",
                    )
                )
                funding_total += amount
    snapshot = ledger.snapshot()
    attribution = snapshot.attribution
    # PnL attribution sums exactly to total PnL (= equity - starting equity)
    assert attribution.components_sum() == attribution.total == snapshot.equity - snapshot.equity_start
    # fees accounted once: fees paid and rebates received are exactly the fills' fees
    assert attribution.fees + attribution.rebates == -(fee_total[SPOT] + fee_total[PERP])
    assert attribution.funding == funding_total
    # positions are the sum of fills; spot inventory is the base balance
    spot, perp = snapshot.positions[SPOT], snapshot.positions[PERP]
    assert spot.qty == 5000 + lots[SPOT] and perp.qty == lots[PERP]
    assert snapshot.balances["BTC"] == start_btc + lots[SPOT] * lot
    # cash + position value conservation: spot cash moves by the traded notional and fees only;
    # perp wallet by realized PnL, fees and funding; realized + unrealized = cash flows + q * mark
    perp_wallet = perp.realized - fee_total[PERP] + funding_total
    assert snapshot.balances["USDT"] == start_usdt + traded[SPOT] - fee_total[SPOT] + perp_wallet
    if perp.mark is not None:
        assert perp.realized + perp.unrealized == traded[PERP] + perp.qty * lot * perp.mark
    value = snapshot.balances["USDT"] + perp.unrealized
    if spot.mark is not None:
        value += snapshot.balances["BTC"] * spot.mark
    assert snapshot.equity == value


# ---- the exchange's ledger equals the fold of what it journaled ----------------------


@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    half_spread=st.integers(0, 4),
    model=st.sampled_from(["risk_averse", "proportional"]),
    entry_ms=st.floats(0.0, 3.0),
)
def test_journal_fold_rebuilds_the_live_ledger(
    seed: int, half_spread: int, model: str, entry_ms: float
) -> None:
    sink = MemorySink()
    lat = PaperLatencySettings(
        order_entry=LatencySettings(kind="lognormal", ms=entry_ms + 0.05, sigma=0.7),
        cancel=LatencySettings(ms=entry_ms),
        market_data=LatencySettings(kind="uniform", low_ms=0.0, high_ms=0.5),
    )
    ex = exchange(
        spot_spec(),
        journal=sink,
        latency=lat,
        queue_model=model,
        seed=seed,
        equity_interval_s=0.5,
        starting_balances={"USDT": Decimal(10**6), "BTC": Decimal(3)},
    )
    maker = ReferenceMarketMaker(ex, SPOT, half_spread=half_spread, skew=1)
    for event in synthetic_stream(SPOT, 1500, seed=seed):
        ex.on_event(event)
        maker.on_event(event)
    ex.flush()
    live = ex.ledger.snapshot()
    assert live.attribution.components_sum() == live.attribution.total
    rebuilt = exchange(
        spot_spec(),
        latency=lat,
        queue_model=model,
        seed=seed,
        equity_interval_s=0.5,
        starting_balances={"USDT": Decimal(10**6), "BTC": Decimal(3)},
    )
    rebuilt.restore(*sink.committed(), replay=False)
    assert rebuilt.ledger.snapshot() == live
    assert rebuilt.export_state() == sink.state  # the state committed with the last unit
