"""Fees in the quote (issue 16): fee-adjusted Avellaneda-Stoikov and GLFT, the break-even floor
of every quoter, rebates, adverse-selection widening, and the venue fee tiers reaching both the
paper exchange and the quoter.

The fee-adjusted GLFT (bot/strategy/glft.py) rests on one claim: with a fee eps per unit filled,
the HJB of Gueant, Lehalle & Fernandez-Tapia (2013) is the fee-free one with A' = A exp(-k eps),
and every optimal depth is eps plus the fee-free depth for A'. It is checked here against a
direct numerical solution of that HJB with the fee inside the Hamiltonian (no closed form used).
"""

from __future__ import annotations

import math
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from bot.config import Settings
from bot.engine.assemble import build_engine, load_strategy
from bot.strategy.avellaneda_stoikov import AvellanedaStoikovQuoter, optimal_spread
from bot.strategy.costs import AdverseSelection, FeeRates, apply_costs, ask_floor, bid_floor
from bot.strategy.glft import GlftQuoter, glft_coefficients
from bot.strategy.params import (
    AvellanedaStoikovParams,
    CostParams,
    FixedSpreadParams,
    GlftParams,
    LadderParams,
)
from bot.strategy.profile import StrategyProfile, build_quoter
from bot.strategy.types import NO_ADJUSTMENT, Theo
from bot.venues.fee_tiers import FEE_TIERS, tier_rates
from tests.quant_helpers import btcusdt_spec, market_state
from tests.specs import SPOT_BTC
from tests.trading_kit import write_profile

# ---- the fee-adjusted models --------------------------------------------------------------


def test_avellaneda_stoikov_moves_each_quote_out_by_the_fee() -> None:
    """gamma 0.01, k 0.5, sigma 5, T-t 10, q 2, fee eps = 1.5 ticks:
    r = 1000 - 2 * 0.01 * 25 * 10 = 995; half = (0.01 * 25 * 10 + 200 ln 1.02) / 2 = 3.2303
    without the fee, 4.7303 with it; quotes 990.2697 / 999.7303."""
    params = AvellanedaStoikovParams(gamma=0.01, k=0.5, sigma=5.0, horizon_s=10.0)
    quoter = AvellanedaStoikovQuoter(params)
    free = quoter.theo(market_state(), 1000.0, 2.0, NO_ADJUSTMENT)
    paid = quoter.theo(market_state(), 1000.0, 2.0, NO_ADJUSTMENT, 1.5)
    assert isinstance(free, Theo) and isinstance(paid, Theo)
    assert free.reservation == paid.reservation == pytest.approx(995.0)
    assert free.half_spread == pytest.approx(0.5 * optimal_spread(0.01, 5.0, 10.0, 0.5))
    assert free.half_spread == pytest.approx(3.2303, abs=1e-4)
    assert paid.half_spread == pytest.approx(free.half_spread + 1.5)
    assert (paid.bid, paid.ask) == pytest.approx((990.2697, 999.7303), abs=1e-4)
    # a rebate (negative eps) tightens by the same rule
    rebate = quoter.theo(market_state(), 1000.0, 2.0, NO_ADJUSTMENT, -0.5)
    assert isinstance(rebate, Theo) and rebate.half_spread == pytest.approx(free.half_spread - 0.5)


def test_glft_fee_shifts_the_depths_and_rescales_the_intensity() -> None:
    """The issue-4 fixture (A 2.98616, k 0.0423574 per tick, sigma 10.69, gamma = xi = 0.05):
    c1 = 15.59, c2 = 0.9133. With eps = 6 ticks: A' = A exp(-6k) = 2.3164, c2' = c2 exp(3k)
    = 1.0371, half spread = 6 + 15.59 + 10.69 * 1.0371 / 2 = 27.13, skew 11.086 per unit."""
    params = GlftParams(gamma=0.05, a=2.98616, k=0.0423574, sigma=10.69, inventory_limit=100.0)
    theo = GlftQuoter(params).theo(market_state(), 1000.0, 1.0, NO_ADJUSTMENT, 6.0)
    assert isinstance(theo, Theo)
    c1, c2 = glft_coefficients(0.05, 0.05, 2.98616 * math.exp(-6 * 0.0423574), 0.0423574)
    assert c1 == pytest.approx(15.59, abs=0.01) and c2 == pytest.approx(1.0371, abs=1e-4)
    assert theo.half_spread == pytest.approx(6 + c1 + 0.5 * 10.69 * c2)
    assert theo.half_spread == pytest.approx(27.13, abs=0.01)
    assert 1000.0 - theo.reservation == pytest.approx(10.69 * c2)
    assert 1000.0 - theo.reservation == pytest.approx(11.086, abs=1e-3)


def _glft_exact_bid_depths(
    a: float, k: float, gamma: float, sigma: float, t: float, qs: np.ndarray
) -> np.ndarray:
    """GLFT (2013) exact finite-horizon bid depths for exponential intensity (xi = gamma):
    omega(t) = exp(-M t) 1, M = diag(alpha q^2) - eta (shifts), alpha = k gamma sigma^2 / 2,
    eta = A (1 + gamma/k)^-(1 + k/gamma); depth = ln(omega_q / omega_q+1) / k + ln(1 + gamma/k) / gamma."""
    alpha = k * gamma * sigma**2 / 2
    eta = a * (1 + gamma / k) ** (-(1 + k / gamma))
    n = len(qs)
    m = np.diag(alpha * qs**2) - eta * (np.eye(n, k=1) + np.eye(n, k=-1))
    w, v = np.linalg.eigh(m)
    omega = v @ (np.exp(-w * t) * (v.T @ np.ones(n)))
    depths: np.ndarray = np.log(omega[:-1] / omega[1:]) / k + math.log1p(gamma / k) / gamma
    return depths


def test_glft_fee_substitution_against_a_numerical_hjb_solution() -> None:
    """Solve d theta/dt - gamma sigma^2 q^2 / 2 + H_b + H_a = 0, theta(T) = 0, backward in
    time, with H_b = sup_d A e^(-k d) (1 - exp(-gamma (d - eps + theta(q+1) - theta(q)))) / gamma
    maximised on a grid (the fee inside the Hamiltonian), on the Avellaneda-Stoikov set-up
    (A 140, k 1.5, gamma 0.1, sigma 2, T 1), |q| <= 8, eps 0.3. Its optimal bid depths at
    t = 0 equal eps + the exact fee-free depths with A' = A exp(-k eps) (to 1e-4); with A left
    unchanged they would be off by ~0.065."""
    gamma, k, a, sigma, horizon, eps = 0.1, 1.5, 140.0, 2.0, 1.0, 0.3
    qs = np.arange(-8, 9, dtype=float)
    grid = np.linspace(-1.0, 3.0, 401)[:, None]
    arrivals = a * np.exp(-k * grid)
    theta = np.zeros_like(qs)
    dt = 1e-3
    for _ in range(round(horizon / dt)):
        bid_gain = theta[1:] - theta[:-1]
        ask_gain = theta[:-1] - theta[1:]
        h_bid = (arrivals * (1 - np.exp(-gamma * (grid - eps + bid_gain))) / gamma).max(axis=0)
        h_ask = (arrivals * (1 - np.exp(-gamma * (grid - eps + ask_gain))) / gamma).max(axis=0)
        slope = 0.5 * gamma * sigma**2 * qs**2
        slope[:-1] -= h_bid
        slope[1:] -= h_ask
        theta = theta - dt * slope
    fine = np.linspace(-1.0, 3.0, 400_001)[:, None]
    gain = theta[1:] - theta[:-1]
    objective = a * np.exp(-k * fine) * (1 - np.exp(-gamma * (fine - eps + gain)))
    numeric = fine[np.argmax(objective, axis=0), 0]
    shifted = eps + _glft_exact_bid_depths(a * math.exp(-k * eps), k, gamma, sigma, horizon, qs)
    naive = eps + _glft_exact_bid_depths(a, k, gamma, sigma, horizon, qs)
    assert np.abs(numeric - shifted).max() < 1e-4
    assert np.abs(numeric - naive).max() > 0.05


# ---- the break-even floor ---------------------------------------------------------------


def _quote(quoter_profile: StrategyProfile, fees: FeeRates, **state: object):  # type: ignore[no-untyped-def]
    quoter = build_quoter(quoter_profile, btcusdt_spec(), fees)
    return quoter.quote(market_state(**state), 0)


def _fixed(half: float, **costs: object) -> StrategyProfile:
    return StrategyProfile(
        quoter="fixed_spread",
        fixed_spread=FixedSpreadParams(half_spread_ticks=half),
        ladder=LadderParams(size=Decimal("0.001"), max_position=Decimal("0.01")),
        costs=CostParams(**costs),  # type: ignore[arg-type]
    )


def test_fixed_spread_inside_the_fee_is_held_at_break_even() -> None:
    """Fair 100,000 ticks, maker 10 bps: a bid pays b * 1.001 for 100,000 of value -> at most
    99,900.0999 (floor 99,900); an ask receives a * 0.999 -> at least 100,100.1001 (ceil
    100,101). A 5-tick half spread is widened to that; a 200-tick one is left alone."""
    wide_book = {"best_bid": 99_000, "best_ask": 101_000, "mid": 100_000.0, "micro": 100_000.0}
    fees = FeeRates(maker=0.001, taker=0.001)
    tight = _quote(_fixed(5.0), fees, **wide_book)
    assert (tight.bids[0].price, tight.asks[0].price) == (99_900, 100_101)
    assert "fee break-even" in tight.note
    assert bid_floor(100_000.0, 0.001) == pytest.approx(99_900.0999, abs=1e-4)
    assert ask_floor(100_000.0, 0.001) == pytest.approx(100_100.1001, abs=1e-4)
    wide = _quote(_fixed(200.0), fees, **wide_book)
    assert (wide.bids[0].price, wide.asks[0].price) == (99_800, 100_200)
    # explicitly allowed: the profile's own half spread
    allowed = _quote(_fixed(5.0, allow_below_break_even=True), fees, **wide_book)
    assert (allowed.bids[0].price, allowed.asks[0].price) == (99_995, 100_005)
    # a minimum edge on top: 2 bps more per side -> bid <= 100,000 * 0.9998 / 1.001 = 99,880.12
    edged = _quote(_fixed(5.0, min_edge_bps=2.0), fees, **wide_book)
    assert (edged.bids[0].price, edged.asks[0].price) == (99_880, 100_121)


def test_a_maker_rebate_lets_quotes_join_the_touch() -> None:
    """Maker -1 bp: the floor is beyond fair value (bid <= 100,010.001), so a 5-tick half
    spread stands -- the rebate is earned on top."""
    book = {"best_bid": 99_990, "best_ask": 100_010, "mid": 100_000.0, "micro": 100_000.0}
    quotes = _quote(_fixed(5.0), FeeRates(maker=-0.0001, taker=0.0004), **book)
    assert (quotes.bids[0].price, quotes.asks[0].price) == (99_995, 100_005)
    assert "break-even" not in quotes.note


def test_a_crossing_quote_without_post_only_is_held_at_the_taker_break_even() -> None:
    """Maker -1 bp (rebate), taker 5 bps, fair 100,000, best ask 100,010. The maker floor is
    100,000 / 0.9999 = 100,010.001 -- at or above the best ask, so a bid there would not rest
    but take: a non-post-only bid is held at the taker floor 100,000 / 1.0005 = 99,950.02.
    Post-only, the bid can only rest (maker fill): the maker floor applies (the ladder then
    keeps it below the best ask)."""
    theo = Theo(fair=100_000.0, reservation=100_020.0, half_spread=0.0, bid=100_020.0, ask=100_030.0)
    fees = FeeRates(maker=-0.0001, taker=0.0005)
    held = apply_costs(
        theo, fees=fees, costs=CostParams(), post_only=False, best_bid=99_990, best_ask=100_010
    )
    assert held.bid == pytest.approx(100_000.0 / 1.0005)
    assert held.ask == 100_030.0
    maker = apply_costs(
        theo, fees=fees, costs=CostParams(), post_only=True, best_bid=99_990, best_ask=100_010
    )
    assert maker.bid == pytest.approx(100_000.0 / 0.9999)
    # no rebate: the maker floor is fair value, below the best ask -- a maker fill, maker floor
    plain = apply_costs(
        theo, fees=FeeRates(maker=0.0, taker=0.0005), costs=CostParams(), post_only=False, best_bid=99_990,
        best_ask=100_010,
    )  # fmt: skip
    assert plain.bid == pytest.approx(100_000.0)


def test_adverse_selection_widens_the_side_that_gets_picked_off() -> None:
    """EWMA markout of our buys -3 bps, sells +1 bp, weight 1: bids 3 bps (30 ticks at fair
    100,000) lower, asks unchanged; weight 2 with a 4 bps cap: bids 4 bps lower."""
    theo = Theo(fair=100_000.0, reservation=100_000.0, half_spread=50.0, bid=99_950.0, ask=100_050.0)
    markouts = AdverseSelection(bid_bps=-3.0, ask_bps=1.0)
    fees = FeeRates()
    out = apply_costs(
        theo,
        fees=fees,
        costs=CostParams(adverse_selection_weight=1.0),
        post_only=True,
        best_bid=99_990,
        best_ask=100_010,
        adverse=markouts,
    )
    assert (out.bid, out.ask) == pytest.approx((99_920.0, 100_050.0))
    capped = apply_costs(
        theo,
        fees=fees,
        costs=CostParams(adverse_selection_weight=2.0, adverse_selection_cap_bps=4.0),
        post_only=True,
        best_bid=99_990,
        best_ask=100_010,
        adverse=markouts,
    )
    assert capped.bid == pytest.approx(99_910.0)
    off = apply_costs(
        theo, fees=fees, costs=CostParams(), post_only=True, best_bid=1, best_ask=2, adverse=markouts
    )
    assert off is theo


def test_glft_whose_fee_dwarfs_the_intensity_scale_quotes_nothing() -> None:
    """eps = 60 / k: GLFT's inventory term grows like exp(k eps / 2) = e^30 -- the model says
    no fill comes that far out. The quoter declines instead of quoting absurd prices."""
    profile = StrategyProfile(
        quoter="glft",
        glft=GlftParams(gamma=1e-4, a=5.0, k=0.01, sigma=500.0, inventory_limit=8.0),
        ladder=LadderParams(size=Decimal("0.001"), max_position=Decimal("0.01")),
    )
    quotes = _quote(
        profile,
        FeeRates(maker=0.001, taker=0.001),
        best_bid=6_000_000,
        best_ask=6_000_001,
        mid=6_000_000.5,
        micro=6_000_000.5,
    )
    assert quotes.empty and "beyond 10% of the price" in quotes.note


# ---- venue fee tiers --------------------------------------------------------------------


def test_every_tier_is_a_sane_rate_with_a_source() -> None:
    for venue, tiers in FEE_TIERS.items():
        for name, tier in tiers.items():
            assert Decimal("-0.0001") <= tier.maker <= Decimal("0.001"), (venue, name)
            assert Decimal("0") < tier.taker <= Decimal("0.001"), (venue, name)
            assert tier.maker <= tier.taker and tier.source, (venue, name)
    assert tier_rates("binance_spot", "vip0").maker == Decimal("0.001")
    assert tier_rates("binance_usdm", "lp3").maker == Decimal("-0.00005")


def test_unknown_tier_is_a_config_error_naming_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"binance_spot.fee_tier: unknown fee tier 'gold'.*vip0, vip1"):
        Settings(venues={"binance_spot": {"fee_tier": "gold"}})
    # explicit rates override the tier; "metadata" = the venue metadata's own rates
    both = Settings(venues={"binance_spot": {"fee_tier": "vip0", "maker_fee": "0", "taker_fee": "0.0001"}})
    assert both.venues.fee_rates("binance_spot") == (Decimal(0), Decimal("0.0001"))
    assert (
        Settings(venues={"binance_spot": {"fee_tier": "metadata"}}).venues.fee_rates("binance_spot") is None
    )
    # the defaults (= config/default.toml): Binance spot on the market-maker programme
    assert Settings().venues.fee_rates("binance_spot") == (Decimal(0), Decimal("0.001"))
    assert Settings().venues.fee_rates("binance_usdm") == (Decimal("0.0002"), Decimal("0.0005"))


@pytest.mark.parametrize(
    ("venues", "paper_fees", "expected"),
    [
        ({"fee_tier": "vip3"}, None, (0.00042, 0.0006)),
        ({"fee_tier": "lp1"}, None, (0.0, 0.001)),
        ({"maker_fee": "-0.0001", "taker_fee": "0.0004"}, None, (-0.0001, 0.0004)),
        ({"fee_tier": "vip3"}, {"maker": "0.0002", "taker": "0.0003"}, (0.0002, 0.0003)),
    ],
)
def test_the_quoter_quotes_against_exactly_what_the_paper_exchange_charges(
    tmp_path: Path, venues: dict[str, str], paper_fees: dict[str, str] | None, expected: tuple[float, float]
) -> None:
    write_profile(tmp_path / "s", "fx", "quoter = 'fixed_spread'\n[fixed_spread]\nhalf_spread_ticks = 5\n"
                  "[ladder]\nsize = '0.001'\nmax_position = '0.01'\n")  # fmt: skip
    settings = Settings(
        data_dir=str(tmp_path / "d"),
        engines={"btc": {"venue": "binance_spot", "symbol": "BTCUSDT"}},
        venues={"binance_spot": venues},
        paper={"fees": {"binance_spot": paper_fees}} if paper_fees else {},
        http={"enabled": False},
    )
    trading = build_engine(
        "btc",
        settings.engines["btc"],
        settings,
        {SPOT_BTC.key: SPOT_BTC},
        profile=load_strategy(tmp_path / "s", "fx"),
        data_dir=tmp_path / "d",
    )
    try:
        assert trading.pipeline is not None and trading.exchange is not None
        schedule = trading.exchange.markets[SPOT_BTC.key].fees
        assert (float(schedule.maker), float(schedule.taker)) == pytest.approx(expected)
        assert (trading.pipeline.quoter.fees.maker, trading.pipeline.quoter.fees.taker) == pytest.approx(
            expected
        )
    finally:
        trading.close()
