"""Net delta book: spot - loan + perp + options + LP, per asset, with its breakdown."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.hedge.amm import ConstantProductLP
from bot.hedge.black_scholes import NS_PER_YEAR, call_greeks, put_greeks
from bot.hedge.delta import DeltaBook, OptionKind, OptionPosition, aggregate_spot

T0 = 1_700_000_000 * 1_000_000_000  # an arbitrary event time (ns)


def _call(strike: str, qty: str, years: float = 1.0, vol: float = 0.8) -> OptionPosition:
    return OptionPosition(
        asset="ABC",
        strike=Decimal(strike),
        quantity=Decimal(qty),
        expiry_ns=T0 + int(years * NS_PER_YEAR),
        volatility=vol,
    )


def test_components_add_up_with_the_right_signs() -> None:
    book = DeltaBook()
    book.set_spot("ABC", Decimal("200000"))
    book.set_loan("ABC", Decimal("3000000"))
    book.set_perp("ABC", Decimal("-1000"))
    book.add_lp("ABC", ConstantProductLP.from_quote_size(1_000_000, 1.0), label="pancakeswap")
    for strike in ("1.25", "1.50", "2.00"):
        book.add_option(_call(strike, "100000"))
    d = book.breakdown("ABC", 1.0, T0)
    expected_options = sum(100_000 * call_greeks(1.0, k, 1.0, 0.8).delta for k in (1.25, 1.5, 2.0))
    assert d.spot == 200_000.0
    assert d.loan == -3_000_000.0
    assert d.perp == -1000.0
    assert d.lp == pytest.approx(500_000.0)
    assert d.options == pytest.approx(expected_options, rel=1e-12)
    assert round(d.options) == 132_610  # LIBRARY_NOTES reference
    assert d.net == pytest.approx(200_000 - 3_000_000 - 1000 + 500_000 + expected_options)
    assert d.ex_perp == pytest.approx(d.net + 1000)
    assert [name for name, _ in d.option_detail] == ["ABC call 1.25", "ABC call 1.50", "ABC call 2.00"]
    # gamma: long calls are long gamma, the LP short gamma (-x / 2P)
    expected_gamma = sum(100_000 * call_greeks(1.0, k, 1.0, 0.8).gamma for k in (1.25, 1.5, 2.0)) - 250_000
    assert d.gamma == pytest.approx(expected_gamma)
    assert d.as_dict()["net"] == d.net


def test_option_delta_moves_with_price_and_time() -> None:
    book = DeltaBook()
    book.add_option(_call("1.25", "100000"))
    low = book.breakdown("ABC", 0.8, T0).options
    high = book.breakdown("ABC", 1.6, T0).options
    assert low < high
    # half a year later the same option has T = 0.5
    later = book.breakdown("ABC", 1.0, T0 + NS_PER_YEAR // 2).options
    assert later == pytest.approx(100_000 * call_greeks(1.0, 1.25, 0.5, 0.8).delta)
    # after expiry: intrinsic, delta 0 or 1 per token
    assert book.breakdown("ABC", 1.3, T0 + 2 * NS_PER_YEAR).options == 100_000.0
    assert book.breakdown("ABC", 1.2, T0 + 2 * NS_PER_YEAR).options == 0.0


def test_fills_update_exact_inventories() -> None:
    book = DeltaBook()
    book.set_spot("ABC", Decimal("0.1"))
    for _ in range(10):
        book.add_spot("ABC", Decimal("0.1"))
    book.add_perp("ABC", Decimal("-0.3"))
    book.add_perp("ABC", Decimal("-0.8"))
    assert book.spot("ABC") == Decimal("1.1")  # exact, no float drift
    assert book.perp("ABC") == Decimal("-1.1")
    assert book.breakdown("ABC", 1.0, T0).net == 0.0


def test_assets_are_separate_and_puts_are_negative() -> None:
    book = DeltaBook()
    book.set_spot("BTC", Decimal("2"))
    book.set_perp("ETH", Decimal("-5"))
    book.add_option(
        OptionPosition(
            asset="ETH",
            strike=Decimal("3000"),
            quantity=Decimal("10"),
            expiry_ns=T0 + NS_PER_YEAR // 4,
            volatility=0.6,
            kind=OptionKind.PUT,
        )
    )
    out = book.breakdowns({"BTC": 60_000.0, "ETH": 3000.0, "SOL": 1.0}, T0)
    assert sorted(out) == ["BTC", "ETH"]
    assert out["BTC"].net == 2.0
    put_delta = 10 * put_greeks(3000.0, 3000.0, 0.25, 0.6).delta
    assert put_delta < 0
    assert out["ETH"].net == pytest.approx(-5 + put_delta)


def test_loan_must_be_non_negative_and_spot_aggregates() -> None:
    with pytest.raises(ValueError):
        DeltaBook().set_loan("ABC", Decimal(-1))
    totals = aggregate_spot([("ABC", Decimal("1.5")), ("BTC", Decimal("0.1")), ("ABC", Decimal("2.5"))])
    assert totals == {"ABC": Decimal("4.0"), "BTC": Decimal("0.1")}
