"""Funding on a real recording: Binance USD-M BTCUSDT across the 2023-04-05 00:00 UTC
funding time (tests/data/binance_usdm_btcusdt_20230404/05.dat.gz), on a short and on a
long perp position opened through the paper venue.

Binance: funding = position notional x funding rate at the funding time; with a positive
rate longs pay shorts. The expected amount is computed here from the raw JSON lines of
the recording (the last ``markPriceUpdate`` announcing ``T`` = the funding time: its
mark price ``p`` and rate ``r``), independently of the decoder and the paper venue.
"""

from __future__ import annotations

import gzip
import json
from decimal import Decimal

import pytest

from bot.core.events import MarkPrice, Side
from bot.core.orders import FundingPayment, NewOrder, OrderFilled, OrderType, TimeInForce
from bot.paper.exchange import PaperExchange
from bot.paper.settings import PaperSettings
from tests.specs import USDM_BTC
from tests.trading_kit import REPO, recorded_events

FILES = [
    REPO / "tests" / "data" / "binance_usdm_btcusdt_20230404.dat.gz",
    REPO / "tests" / "data" / "binance_usdm_btcusdt_20230405.dat.gz",
]
FUNDING_MS = 1680652800000  # 2023-04-05 00:00:00 UTC


def raw_last_announcement() -> tuple[Decimal, Decimal]:
    """(mark price, rate) of the last raw markPriceUpdate whose T is the funding time."""
    last = None
    for path in FILES:
        with gzip.open(path, "rt") as handle:
            for line in handle:
                if "markPrice" not in line:
                    continue
                data = json.loads(line.partition(" ")[2])["data"]
                if data["T"] == FUNDING_MS:
                    last = data
    assert last is not None
    return Decimal(last["p"]), Decimal(last["r"])


@pytest.mark.parametrize("side", [Side.SELL, Side.BUY])
def test_funding_is_charged_at_the_funding_time_with_the_right_sign(side: Side) -> None:
    exchange = PaperExchange([USDM_BTC], PaperSettings(starting_balances={"USDT": Decimal(10_000)}))
    key = USDM_BTC.key
    lots = 10  # 0.010 BTC
    sent = False
    payments: list[FundingPayment] = []
    fills: list[OrderFilled] = []
    marks_after = 0
    for event in recorded_events(FILES, USDM_BTC, timer_ms=10**12):
        exchange.on_event(event)
        if not sent and exchange.book(key).valid:
            exchange.submit(
                NewOrder(
                    client_id="open",
                    instrument=key,
                    side=side,
                    size=lots,
                    order_type=OrderType.MARKET,
                    tif=TimeInForce.IOC,
                    ts=event.local_ts,
                )
            )
            sent = True
        for report in exchange.drain_reports():
            if isinstance(report, FundingPayment):
                payments.append(report)
            elif isinstance(report, OrderFilled):
                fills.append(report)
        if isinstance(event, MarkPrice) and event.next_funding_ts > FUNDING_MS * 1_000_000:
            marks_after += 1
    assert sum(f.size for f in fills) == lots and marks_after > 100
    assert len(payments) == 1  # one funding time in the recording, settled once
    payment = payments[0]
    mark, rate = raw_last_announcement()
    assert rate > 0
    assert payment.ts == FUNDING_MS * 1_000_000
    assert payment.rate == rate
    assert payment.mark_price * USDM_BTC.tick_size == mark
    assert payment.position == int(side) * lots
    # amount received = -(position notional at the mark) x rate: longs pay, shorts receive
    expected = -mark * (int(side) * lots * USDM_BTC.lot_size) * rate
    assert payment.amount == expected
    assert (payment.amount > 0) == (side is Side.SELL)
    ledger = exchange.ledger
    assert ledger.funding == payment.amount
    assert ledger.position_snapshot(key).funding == payment.amount
