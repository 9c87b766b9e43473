"""Closed forms of the quoters against hand-computed values and the papers' numbers.

Sources: Avellaneda & Stoikov, "High-frequency trading in a limit order book",
Quantitative Finance 8(3), 2008, eqs. (29)-(30); Gueant, Lehalle & Fernandez-Tapia,
"Dealing with the inventory risk", Math. Financ. Econ. 7(4), 2013 (closed-form
approximations; fixture from issue 4 / hftbacktest's GLFT tutorial numbers).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from bot.strategy.avellaneda_stoikov import (
    AvellanedaStoikovQuoter,
    arrival_spread,
    optimal_spread,
    reservation_price,
)
from bot.strategy.fixed_spread import FixedSpreadQuoter
from bot.strategy.glft import GlftQuoter, glft_coefficients, glft_half_spread, glft_skew
from bot.strategy.params import AvellanedaStoikovParams, FixedSpreadParams, GlftParams
from bot.strategy.types import NO_ADJUSTMENT, QuoteAdjustments, Theo
from tests.quant_helpers import market_state as state

NS = 1_000_000_000


# ---- Avellaneda-Stoikov -----------------------------------------------------------------


def test_as_reservation_price_hand_computed() -> None:
    # r = s - q gamma sigma^2 (T-t) = 100 - 2 * 0.1 * 4 * 0.5
    assert reservation_price(100.0, 2.0, 0.1, 2.0, 0.5) == pytest.approx(99.6, abs=1e-12)
    assert reservation_price(100.0, -3.0, 0.01, 2.0, 1.0) == pytest.approx(100.12, abs=1e-12)
    assert reservation_price(100.0, 5.0, 0.5, 2.0, 0.0) == 100.0  # at T the skew vanishes


def test_as_spread_hand_computed() -> None:
    # gamma sigma^2 (T-t) + (2/gamma) ln(1 + gamma/k) = 0.1*4*0.5 + 20*ln(16/15) = 0.2 + 1.290770...
    assert optimal_spread(0.1, 2.0, 0.5, 1.5) == pytest.approx(0.2 + 1.2907704227514, abs=1e-10)
    # the paper's table column is the arrival term alone: 1.29 / 1.33 / 1.15
    assert arrival_spread(0.1, 1.5) == pytest.approx(1.2908, abs=5e-5)
    assert arrival_spread(0.01, 1.5) == pytest.approx(1.3289, abs=5e-5)
    assert arrival_spread(0.5, 1.5) == pytest.approx(1.1507, abs=5e-5)
    # gamma -> 0: the spread tends to 2/k
    assert arrival_spread(1e-9, 1.5) == pytest.approx(2 / 1.5, rel=1e-6)


def as_quoter(**kw: object) -> AvellanedaStoikovQuoter:
    params: dict[str, object] = {"gamma": 0.1, "k": 1.5, "sigma": 2.0, "horizon_s": 0.5}
    params.update(kw)
    return AvellanedaStoikovQuoter(AvellanedaStoikovParams(**params))  # type: ignore[arg-type]


def test_as_quoter_rolling_horizon_quotes() -> None:
    theo = as_quoter().theo(state(), 1000.0, 2.0, NO_ADJUSTMENT)
    assert isinstance(theo, Theo)
    assert theo.reservation == pytest.approx(999.6)
    assert theo.half_spread == pytest.approx(0.5 * (0.2 + 1.2907704227514))
    assert theo.bid == pytest.approx(999.6 - theo.half_spread)
    assert theo.ask == pytest.approx(999.6 + theo.half_spread)
    # rolling: the same answer at any time
    later = as_quoter().theo(state(ts_ns=123 * NS), 1000.0, 2.0, NO_ADJUSTMENT)
    assert later == theo


def test_as_quoter_cycle_and_finite_horizons() -> None:
    cyclic = as_quoter(horizon="cycle", horizon_s=3600.0, min_tau_s=60.0)
    assert cyclic.time_left(10 * 3600 * NS + 600 * NS) == pytest.approx(3000.0)
    assert cyclic.time_left(11 * 3600 * NS - 10 * NS) == pytest.approx(60.0)  # floored at min_tau_s
    offset = as_quoter(horizon="cycle", horizon_s=86400.0, cycle_offset_s=8 * 3600.0)
    assert offset.time_left(0) == pytest.approx(8 * 3600.0)  # epoch is 16 h into a cycle starting 08:00

    end = datetime(2026, 1, 1, tzinfo=UTC)
    end_ns = int(end.timestamp()) * NS
    finite = as_quoter(horizon="finite", end_time=end)
    assert finite.time_left(end_ns - 30 * NS) == pytest.approx(30.0)
    theo = finite.theo(state(ts_ns=end_ns - 30 * NS), 1000.0, 1.0, NO_ADJUSTMENT)
    assert isinstance(theo, Theo)
    assert theo.reservation == pytest.approx(1000.0 - 1.0 * 0.1 * 4.0 * 30.0)
    assert finite.theo(state(ts_ns=end_ns), 1000.0, 1.0, NO_ADJUSTMENT) == "trading horizon ended"
    with pytest.raises(ValueError, match="needs end_time"):
        AvellanedaStoikovParams(gamma=0.1, k=1.5, horizon="finite")
    with pytest.raises(ValueError, match="time zone"):
        AvellanedaStoikovParams(gamma=0.1, k=1.5, horizon="finite", end_time=datetime(2026, 1, 1))


def test_as_quoter_uses_estimated_sigma_and_k_and_adjustments() -> None:
    quoter = as_quoter(sigma=None, sigma_horizon_s=300.0, intensity_source="estimated", k=99.0)
    warming = state(sigma_warm=(True, False))
    assert quoter.theo(warming, 1000.0, 0.0, NO_ADJUSTMENT) == "sigma(300s) warming up"
    ready = state(sigma=3.0, intensity_ready=True, intensity_k=1.5, intensity_a=7.0)
    theo = quoter.theo(ready, 1000.0, 0.0, NO_ADJUSTMENT)
    assert isinstance(theo, Theo)
    assert theo.half_spread == pytest.approx(0.5 * optimal_spread(0.1, 3.0, 0.5, 1.5))
    # k not ready -> the configured fallback
    fallback = quoter.theo(state(sigma=3.0), 1000.0, 0.0, NO_ADJUSTMENT)
    assert isinstance(fallback, Theo)
    assert fallback.half_spread == pytest.approx(0.5 * optimal_spread(0.1, 3.0, 0.5, 99.0))
    wide = quoter.theo(ready, 1000.0, 1.0, QuoteAdjustments(spread_mult=2.0, gamma_mult=3.0))
    assert isinstance(wide, Theo)
    assert wide.half_spread == pytest.approx(optimal_spread(0.3, 3.0, 0.5, 1.5))
    assert wide.reservation == pytest.approx(1000.0 - 0.3 * 9.0 * 0.5)


# ---- GLFT ----------------------------------------------------------------------------


GLFT_FIXTURE = {"gamma": 0.05, "xi": 0.05, "a": 2.98616, "k": 0.0423574, "sigma": 10.69}


def test_glft_closed_form_fixture() -> None:
    c1, c2 = glft_coefficients(0.05, 0.05, 2.98616, 0.0423574, delta=1.0)
    assert c1 == pytest.approx(15.59, abs=0.005)
    assert c2 == pytest.approx(0.9133, abs=0.00005)
    assert glft_half_spread(c1, c2, 10.69) == pytest.approx(20.472, abs=0.0005)
    assert glft_skew(c2, 10.69) == pytest.approx(9.763, abs=0.0005)
    # against the formula written out independently
    x = 0.05 / 0.0423574
    assert c1 == pytest.approx(math.log(1 + x) / 0.05, rel=1e-12)
    assert c2 == pytest.approx(
        math.sqrt(0.05 / (2 * 2.98616 * 0.0423574) * (1 + x) ** (1 / x + 1)), rel=1e-12
    )


def test_glft_quoter_skews_and_respects_inventory_limits() -> None:
    quoter = GlftQuoter(GlftParams(**GLFT_FIXTURE, inventory_limit=3.0))  # type: ignore[arg-type]
    flat = quoter.theo(state(), 1000.0, 0.0, NO_ADJUSTMENT)
    assert isinstance(flat, Theo)
    assert flat.bid == pytest.approx(1000.0 - 20.472, abs=0.001)
    assert flat.ask == pytest.approx(1000.0 + 20.472, abs=0.001)
    long2 = quoter.theo(state(), 1000.0, 2.0, NO_ADJUSTMENT)
    assert isinstance(long2, Theo)
    # bid depth c1 + (1/2 + q) sigma c2, ask depth c1 + (1/2 - q) sigma c2
    assert 1000.0 - long2.bid == pytest.approx(20.472 + 2 * 9.763, abs=0.002)
    assert long2.ask - 1000.0 == pytest.approx(20.472 - 2 * 9.763, abs=0.002)
    assert long2.allow_bid and long2.allow_ask  # q + 1 = 3 <= Q
    at_limit = quoter.theo(state(), 1000.0, 2.5, NO_ADJUSTMENT)
    assert isinstance(at_limit, Theo)
    assert not at_limit.allow_bid and at_limit.allow_ask
    short = quoter.theo(state(), 1000.0, -2.5, NO_ADJUSTMENT)
    assert isinstance(short, Theo)
    assert short.allow_bid and not short.allow_ask


def test_fixed_spread_ignores_inventory() -> None:
    quoter = FixedSpreadQuoter(FixedSpreadParams(half_spread_ticks=7.0))
    for q in (-5.0, 0.0, 5.0):
        theo = quoter.theo(state(), 1000.0, q, NO_ADJUSTMENT)
        assert isinstance(theo, Theo)
        assert (theo.bid, theo.ask) == (993.0, 1007.0)
