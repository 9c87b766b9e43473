"""Human units: prices, sizes and money as decimal text in the instrument's precision, with
no exponent notation and no float noise (bot/core/units.py, bot/risk/view.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.instrument import InstrumentKind, InstrumentSpec
from bot.core.units import (
    base_text,
    exact_text,
    fixed,
    money_places,
    money_text,
    price_text,
    price_value_text,
    size_text,
    tidy,
)
from bot.engine.views import sample_view
from bot.risk.view import human_limits, human_signals
from tests.specs import SPOT_BTC

COARSE = InstrumentSpec(
    venue="binance_usdm",
    symbol="ETHUSDT",
    kind=InstrumentKind.PERP,
    base="ETH",
    quote="USDT",
    tick_size=Decimal("0.5"),
    lot_size=Decimal("0.001"),
    qty_step=Decimal("0.001"),
)
WHOLE = InstrumentSpec(
    venue="binance_spot",
    symbol="SHIBUSDT",
    kind=InstrumentKind.SPOT,
    base="SHIB",
    quote="USDT",
    tick_size=Decimal("0.00000001"),
    lot_size=Decimal("1"),
    qty_step=Decimal("1"),
)


def test_prices_and_sizes_in_the_instruments_precision() -> None:
    assert price_text(SPOT_BTC, 268147) == "2681.47"  # not 2681.4700000000003
    assert price_text(SPOT_BTC, 6185536) == "61855.36"
    assert price_text(SPOT_BTC, 6185536.5) == "61855.365"  # a mid between two ticks
    assert price_text(SPOT_BTC, 6185536.0) == "61855.36"
    assert price_text(SPOT_BTC, 100) == "1.00"
    assert price_text(COARSE, 7) == "3.5" and price_text(COARSE, 7.5) == "3.75"
    assert price_text(WHOLE, 1234) == "0.00001234"
    assert size_text(SPOT_BTC, 0) == "0.00000000"  # not 0E-8
    assert size_text(SPOT_BTC, 432000) == "0.00432000"
    assert size_text(SPOT_BTC, -1) == "-0.00000001"
    assert size_text(WHOLE, 5_000_000) == "5000000"
    assert base_text(SPOT_BTC, 0.004320000000000001) == "0.00432000"
    assert price_value_text(SPOT_BTC, Decimal("61851.28575247")) == "61851.2858"
    assert price_value_text(SPOT_BTC, Decimal("61827.995")) == "61827.995"
    assert price_value_text(SPOT_BTC, Decimal("61828")) == "61828.00"


def test_money_rounds_to_the_quote_precision_without_exponents_or_negative_zero() -> None:
    assert money_places(SPOT_BTC) == 4 and money_places(WHOLE) == 8
    assert money_text(SPOT_BTC, Decimal("-0.6577322071000")) == "-0.6577"
    assert money_text(SPOT_BTC, Decimal("0E-10")) == "0.0000"
    assert money_text(SPOT_BTC, Decimal("-0.00001")) == "0.0000"  # no "-0.0000"
    assert money_text(SPOT_BTC, Decimal("0.00005")) == "0.0000"  # half-even
    assert money_text(SPOT_BTC, Decimal("0.00015")) == "0.0002"
    assert money_text(SPOT_BTC, "100000", signed=True) == "+100000.0000"
    assert money_text(SPOT_BTC, -1.0321977160000001) == "-1.0322"
    assert money_text(SPOT_BTC, Decimal("1E+5")) == "100000.0000"


def test_exact_text_and_tidy() -> None:
    assert exact_text(Decimal("0E-10")) == "0"
    assert exact_text(Decimal("-1.0321977160000")) == "-1.032197716"
    assert exact_text(Decimal("1E+2")) == "100"
    assert tidy({"a": [2681.4700000000003, 0.1 + 0.2], "b": Decimal("0E-8"), "c": "x", "d": None}) == {
        "a": [2681.47, 0.3],
        "b": "0",
        "c": "x",
        "d": None,
    }


@given(st.decimals(min_value=-(10**9), max_value=10**9, allow_nan=False, places=12), st.integers(0, 10))
def test_fixed_never_uses_exponents_and_rounds_exactly(value: Decimal, places: int) -> None:
    text = fixed(value, places)
    assert "E" not in text and "e" not in text
    assert not (text.startswith("-") and Decimal(text) == 0)  # never "-0.00"
    assert abs(Decimal(text) - value) <= Decimal(1).scaleb(-places) / 2
    assert len(text.partition(".")[2]) == places


def test_risk_signals_and_limits_in_prices_and_base_units() -> None:
    signals = {"mid": 6185536.5, "volume_rate": 18320033.113311, "sigma_short_bps": 0.823165, "trend_z": None}
    view = human_signals(SPOT_BTC, signals)
    assert view["mid"] == "61855.365" and view["mid_ticks"] == 6185536.5
    assert view["volume_rate"] == "0.18320033" and view["volume_rate_unit"] == "BTC/s"
    assert view["sigma_short_bps"] == 0.823165 and view["trend_z"] is None
    limits = human_limits(
        SPOT_BTC, {"position_lots": 432000, "position_notional": "0E-10", "daily_loss": "0", "open_orders": 2}
    )
    assert limits == {
        "position": "0.00432000",
        "position_lots": 432000,
        "position_notional": "0.0000",
        "daily_loss": "0.0000",
        "open_orders": 2,
    }


def test_status_sample_in_human_units() -> None:
    sample = {
        "instrument": SPOT_BTC.key,
        "mid": 61855.365,
        "best_bid": 2681.4700000000003,
        "best_ask": 2681.48,
        "bid_quote": None,
        "ask_quote": 2681.5,
        "sigma": 5.091718839024125,
        "regime": "halted",
        "inventory": 0.0,
        "net_delta": None,
        "equity": 100000.0,
        "pnl": {"total": -0.6577322071, "fees": 0.0},
        "strategy": "as_default",
        "note": "pulled",
    }
    view = sample_view(SPOT_BTC, sample)
    assert view["mid"] == "61855.365"
    assert (view["best_bid"], view["best_ask"], view["ask_quote"]) == ("2681.47", "2681.48", "2681.50")
    assert view["bid_quote"] is None and view["net_delta"] is None
    assert view["inventory"] == "0.00000000" and view["equity"] == "100000.0000"
    assert view["pnl"] == {"total": "-0.6577", "fees": "0.0000"}
    assert view["sigma"] == pytest.approx(5.09171883902) and view["regime"] == "halted"


def test_json_logs_write_decimals_in_fixed_point() -> None:
    import io
    import json

    import structlog

    from bot.config import LoggingSettings
    from bot.ops.logging import configure_logging

    stream = io.StringIO()
    configure_logging(LoggingSettings(format="json"), stream=stream)
    try:
        structlog.get_logger("test").info("numbers", zero=Decimal("0E-8"), fee=Decimal("0.0228762527000"))
    finally:
        configure_logging(LoggingSettings())
    record = json.loads(stream.getvalue().splitlines()[-1])
    assert (record["zero"], record["fee"]) == ("0", "0.0228762527")
