"""Hedge decision: band, target, step rounding, minimum size, caps; settings validation."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bot.core.events import Side
from bot.core.instrument import InstrumentKind, InstrumentSpec
from bot.hedge.hedger import HedgerSettings, decide_hedge


def perp(
    qty_step: str = "1",
    lot_size: str = "1",
    min_qty: str = "0",
    min_notional: str = "0",
    contract_size: str = "1",
) -> InstrumentSpec:
    return InstrumentSpec(
        venue="binance_usdm",
        symbol="ABCUSDT",
        kind=InstrumentKind.PERP,
        base="ABC",
        quote="USDT",
        tick_size=Decimal("0.0001"),
        lot_size=Decimal(lot_size),
        qty_step=Decimal(qty_step),
        min_qty=Decimal(min_qty),
        min_notional=Decimal(min_notional),
        contract_size=Decimal(contract_size),
    )


def test_inside_the_band_does_nothing() -> None:
    s = HedgerSettings(band=1000)
    spec = perp()
    for delta in (0.0, 999.9, -999.9, 1000.0, -1000.0):
        assert decide_hedge(delta, s, spec) is None


def test_outside_the_band_returns_to_target() -> None:
    s = HedgerSettings(band=1000)
    long_side = decide_hedge(132_610.4, s, perp())
    assert long_side is not None
    assert long_side.side is Side.SELL
    assert long_side.lots == 132_610
    assert long_side.quantity == Decimal(132_610)
    assert long_side.delta_after == pytest.approx(0.4)
    short_side = decide_hedge(-2_167_390.4, s, perp())
    assert short_side is not None
    assert short_side.side is Side.BUY
    assert short_side.lots == 2_167_390
    assert short_side.delta_after == pytest.approx(-0.4)


def test_rounds_up_one_step_only_when_it_lands_closer_inside_the_band() -> None:
    spec = perp(qty_step="10")
    s = HedgerSettings(band=4)
    d = decide_hedge(1007.0, s, spec)  # 100 steps leave +7 (outside); 101 leave -3 (inside)
    assert d is not None and d.lots == 1010 and d.delta_after == pytest.approx(-3.0)
    d = decide_hedge(1003.0, HedgerSettings(band=2), spec)  # 100 steps leave +3 > band...
    # ...101 steps would leave -7, past the opposite edge: never overshoot, keep 100
    assert d is not None and d.lots == 1000 and d.delta_after == pytest.approx(3.0)


def test_target_shifts_the_band() -> None:
    s = HedgerSettings(band=10, target=500)
    assert decide_hedge(505.0, s, perp()) is None
    d = decide_hedge(400.0, s, perp())
    assert d is not None and d.side is Side.BUY and d.lots == 100 and d.delta_after == 500.0


def test_minimum_size_enlarges_only_without_crossing_the_far_edge() -> None:
    spec = perp(qty_step="0.1", lot_size="0.1")
    d = decide_hedge(0.6, HedgerSettings(band=0.5, min_hedge=Decimal("1")), spec)
    assert d is not None and d.quantity == Decimal("1.0") and d.delta_after == pytest.approx(-0.4)
    # min 2 would leave -1.4, past -0.5: nothing (the band is narrower than the minimum order)
    assert decide_hedge(0.6, HedgerSettings(band=0.5, min_hedge=Decimal("2")), spec) is None


def test_venue_min_qty_and_min_notional() -> None:
    spec = perp(qty_step="1", min_qty="5", min_notional="100")
    s = HedgerSettings(band=3)
    d = decide_hedge(6.0, s, spec)
    assert d is not None and d.lots == 6  # 6 >= min_qty 5
    d = decide_hedge(4.0, s, perp(qty_step="1", min_qty="5"))
    assert d is not None and d.lots == 5 and d.delta_after == -1.0
    # at price 10, min notional 100 means >= 10 tokens: would leave -6 < -3 -> nothing
    assert decide_hedge(6.0, s, spec, price=Decimal("10")) is None
    assert decide_hedge(12.0, s, spec, price=Decimal("10")) is not None


def test_max_order_slices_large_hedges() -> None:
    s = HedgerSettings(band=100, max_order=Decimal("250000"))
    d = decide_hedge(-2_167_390.0, s, perp())
    assert d is not None and d.side is Side.BUY and d.lots == 250_000
    assert d.delta_after == pytest.approx(-1_917_390.0)


def test_contract_size_and_fine_lots() -> None:
    # 1 contract = 10 tokens; the order step is 0.01 contracts in lots of 0.001
    spec = perp(qty_step="0.01", lot_size="0.001", contract_size="10")
    d = decide_hedge(123.456, HedgerSettings(band=0.05), spec)
    assert d is not None
    assert d.quantity == Decimal("12.35")  # contracts
    assert d.lots == 12_350
    assert d.delta_after == pytest.approx(123.456 - 123.5)


@settings(max_examples=400, deadline=None)
@given(
    delta=st.floats(-1e7, 1e7),
    band=st.floats(0.01, 1e5),
    step_ratio=st.floats(0.001, 2.0),
    target_ratio=st.floats(-0.9, 0.9),
)
def test_property_inside_band_after_every_hedge(
    delta: float, band: float, step_ratio: float, target_ratio: float
) -> None:
    """With step <= 2*band, every decision lands inside the band and none overshoots."""
    step = Decimal(str(band * step_ratio)).quantize(Decimal("0.001"), rounding=ROUND_DOWN)
    if step <= 0:
        return
    spec = perp(qty_step=str(step), lot_size="0.001")
    s = HedgerSettings(band=band, target=band * target_ratio)
    d = decide_hedge(delta, s, spec)
    dev = delta - s.target
    if abs(dev) <= band:
        assert d is None
        return
    assert d is not None
    assert d.lots % spec.step_lots == 0 and d.lots > 0
    signed = float(d.quantity) * (1 if d.side is Side.BUY else -1)
    assert d.delta_after == pytest.approx(delta + signed, abs=1e-6 * max(1.0, abs(delta)))
    assert abs(d.delta_after - s.target) <= band * (1 + 1e-9) + 1e-9 * abs(delta)
    assert (d.side is Side.SELL) == (dev > 0)


@settings(max_examples=200, deadline=None)
@given(delta=st.floats(-1e6, 1e6), band=st.floats(0.01, 100.0), step=st.integers(1, 5000))
def test_property_coarse_steps_never_overshoot(delta: float, band: float, step: int) -> None:
    """Steps wider than the band: reduce |delta| but never push it past the opposite edge."""
    d = decide_hedge(delta, HedgerSettings(band=band), perp(qty_step=str(step)))
    if d is None:
        return
    assert abs(d.delta_after) < abs(delta)
    assert d.delta_after * (1 if delta > 0 else -1) >= -band - 1e-9


def test_settings_are_strict() -> None:
    with pytest.raises(ValidationError):
        HedgerSettings(band=0)
    with pytest.raises(ValidationError):
        HedgerSettings(band=10, colour="red")  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        HedgerSettings(band=10, mode="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        HedgerSettings(band=10, min_hedge=Decimal(5), max_order=Decimal(1))
    assert HedgerSettings.model_fields["band"].description
    with pytest.raises(ValueError):
        decide_hedge(float("nan"), HedgerSettings(band=1), perp())
