"""Arbitrage against the CEX price (closed form), noise flow, and the LP position's accounting.

Closed form (constant product, fee factor g = 0.9975, outside price P): buying tokens from
the pool with quote ``a`` earns ``P*g*a*x/(y + g*a) - a``, maximal at
``a* = (sqrt(P*g*x*y) - y)/g``; nothing is profitable while ``g <= (y/x)/P <= 1/g``.
"""

from __future__ import annotations

import math
import random
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.dex.arbitrage import find_arbitrage, optimal_input, profit
from bot.dex.flow import NoiseFlow
from bot.dex.pair import UNIT, PancakePair
from bot.dex.position import LpPosition, hold_il, to_units, units

E18 = UNIT
G = 0.9975


def pool(tokens: int = 500_000, quote: int = 500_000) -> PancakePair:
    pair = PancakePair()
    pair.mint("mm", tokens * E18, quote * E18)
    return pair


@settings(max_examples=80, deadline=None)
@given(price=st.decimals(min_value=Decimal("0.5"), max_value=Decimal("2"), places=4))
def test_optimal_arbitrage_is_the_closed_form_and_a_profit_maximum(price: Decimal) -> None:
    pair = pool()
    x, y = pair.reserve0, pair.reserve1
    zero_for_one, amount = optimal_input(x, y, price)
    p = float(price)
    if y / x < G * p:  # pool too cheap: buy tokens from it
        assert not zero_for_one
        assert amount == pytest.approx((math.sqrt(p * G * x * y) - y) / G, rel=1e-9)
    elif y / x > p / G:  # pool too dear: sell tokens into it
        assert zero_for_one
        assert amount == pytest.approx((math.sqrt(G * x * y / p) - x) / G, rel=1e-9)
    else:
        assert amount == 0
        return
    best = profit(zero_for_one, amount, x, y, price)
    assert best > 0
    for factor in (Decimal("0.99"), Decimal("1.01")):  # a 1 % smaller or larger trade earns less
        other = int(Decimal(amount) * factor)
        assert profit(zero_for_one, other, x, y, price) < best


def test_arbitrage_leaves_the_pool_at_the_edge_of_the_fee_band() -> None:
    pair = pool()
    price = Decimal("1.05")
    arb = find_arbitrage(pair.reserve0, pair.reserve1, price)
    assert arb is not None and not arb.zero_for_one
    x, y = pair.reserve0, pair.reserve1
    a = arb.amount_in
    pair.swap_exact_in(arb.zero_for_one, a)
    # at the optimum (y + g a)^2 = P g x y: x' = x y / (y + g a) and y' = y + a, so the pool's
    # price is y'/x' = (y + a) sqrt(P g x y) / (x y) -- g P, plus the fee that stayed in the pool
    closed = (y + a) * math.sqrt(1.05 * G * x * y) / (x * y)
    assert pair.price() == pytest.approx(closed, rel=1e-9)
    assert G * 1.05 < pair.price() < G * 1.05 * (1 + 0.0025 * a / y)
    assert find_arbitrage(pair.reserve0, pair.reserve1, price) is None  # nothing left to take


def test_no_arbitrage_inside_the_band_and_costs_widen_it() -> None:
    pair = pool()
    assert find_arbitrage(pair.reserve0, pair.reserve1, Decimal("1.0024")) is None  # < 0.25 %
    assert find_arbitrage(pair.reserve0, pair.reserve1, Decimal("1.0030")) is not None
    # 10 bps of outside costs: a 0.30 % gap is no longer worth it, 0.40 % is
    cost = Decimal(10)
    assert find_arbitrage(pair.reserve0, pair.reserve1, Decimal("1.0030"), cost_bps=cost) is None
    assert find_arbitrage(pair.reserve0, pair.reserve1, Decimal("1.0040"), cost_bps=cost) is not None
    # a minimum profit filters dust
    small = find_arbitrage(pair.reserve0, pair.reserve1, Decimal("1.0030"))
    assert small is not None
    assert find_arbitrage(pair.reserve0, pair.reserve1, Decimal("1.0030"), min_profit=small.profit) is None


def test_noise_flow_is_seeded_and_restartable_from_any_arrival() -> None:
    flow = NoiseFlow(seed=7, rate_per_s=2.0, median_notional=Decimal(1000))
    swaps = flow.due(100 * 10**9)
    assert 150 < len(swaps) < 250  # ~200 arrivals in 100 s at 2/s
    assert [s.index for s in swaps] == list(range(len(swaps)))
    assert 0.35 < sum(s.buy for s in swaps) / len(swaps) < 0.65
    median = sorted(float(s.notional) for s in swaps)[len(swaps) // 2]
    assert 600 < median < 1600
    # a process restarted at arrival 100 continues the very same sequence
    again = NoiseFlow(seed=7, rate_per_s=2.0, median_notional=Decimal(1000), start_ns=swaps[99].ts, index=100)
    assert again.due(100 * 10**9) == swaps[100:]
    assert NoiseFlow(seed=8, rate_per_s=2.0, median_notional=Decimal(1000)).due(10**10) != swaps[:20]


def test_lp_position_channels_sum_to_its_pnl_exactly() -> None:
    """Random marks, noise swaps and arbitrage: fees + IL + delta + entry/exit == value - basis."""
    rng = random.Random(3)
    pair = PancakePair()
    lp = LpPosition(pair, "mm")
    mark = Decimal("1.0000")
    lp.on_mark(mark)
    pair.mint("mm", 500_000 * E18, 500_000 * E18)
    lp.on_liquidity(Decimal(1_000_000))
    assert lp.entry_exit == lp.value() - Decimal(1_000_000) < 0  # MINIMUM_LIQUIDITY
    for _ in range(400):
        mark = (mark * Decimal(1 + rng.gauss(0, 0.003))).quantize(Decimal("0.0001"))
        lp.on_mark(mark)
        if rng.random() < 0.5:
            buy = rng.random() < 0.5
            quote = rng.uniform(100, 20_000)
            amount = to_units(Decimal(f"{quote:.2f}"))
            if not buy:
                amount = amount * pair.reserve0 // pair.reserve1
            before = pair.balances["mm"], pair.total_supply + pair.pending_protocol_liquidity()
            pair.swap_exact_in(not buy, amount)
            lp.on_swap(not buy, amount, *before)
        arb = find_arbitrage(pair.reserve0, pair.reserve1, mark, cost_bps=Decimal(5))
        if arb is not None:
            before = pair.balances["mm"], pair.total_supply + pair.pending_protocol_liquidity()
            pair.swap_exact_in(arb.zero_for_one, arb.amount_in)
            lp.on_swap(arb.zero_for_one, arb.amount_in, *before)
        assert lp.channels_sum() == lp.pnl()
    assert lp.fees > 0 and lp.impermanent_loss < 0  # arbitrage takes, fees pay
    # burning everything: the payout is the claim, and the books still add up
    x, y = pair.claim("mm")
    paid = pair.burn("mm", pair.balances["mm"])
    assert paid == (x, y)
    lp.on_liquidity(-(units(x) * mark + units(y)))
    assert lp.value() == 0 and lp.channels_sum() == lp.pnl() == -lp.basis


def test_hold_il_closed_form() -> None:
    assert hold_il(1.0, 1.0) == 0
    assert hold_il(4.0, 1.0) == pytest.approx(2 * 2 / 5 - 1)  # -20 %
    assert hold_il(0.25, 1.0) == pytest.approx(2 * 0.5 / 1.25 - 1)
    assert float(Fraction(2 * 3, 1 + 9) - 1) == pytest.approx(hold_il(9.0, 1.0))


@settings(max_examples=40, deadline=None)
@given(rho=st.decimals(min_value=Decimal("0.4"), max_value=Decimal("2.5"), places=3))
def test_lp_channels_of_one_price_move_are_the_impermanent_loss_closed_form(rho: Decimal) -> None:
    """Fee-less pair, the outside price jumps from P0 = 1 to rho and one (cost-free) arbitrage
    swap brings the pool there. Closed form (constant product, e.g. Pintail, "Uniswap: A Good Deal
    for Liquidity Providers?", 2019; Milionis et al., "Automated Market Making and Loss-Versus-
    Rebalancing", 2022): the claim goes from (x0, y0) to (x0/sqrt(rho), y0*sqrt(rho)), so

    - delta_pnl = x0 * (rho - 1) -- the deposit's tokens times the move (what holding earns);
    - impermanent_loss = LP - hold at rho = hold(rho) * (2 sqrt(rho) / (1 + rho) - 1);
    - fees = 0."""
    pair = PancakePair(fee_bps=0, protocol_share=None)
    lp = LpPosition(pair, "mm")
    lp.on_mark(Decimal(1))
    pair.mint("mm", 1_000_000 * E18, 1_000_000 * E18)
    lp.on_liquidity(Decimal(2_000_000))
    x0, y0 = (units(v) for v in pair.claim("mm"))
    lp.on_mark(rho)
    arb = find_arbitrage(pair.reserve0, pair.reserve1, rho, fee_bps=0, min_profit=Decimal(0))
    if rho == 1:
        assert arb is None
        return
    assert arb is not None
    before = pair.balances["mm"], pair.total_supply
    pair.swap_exact_in(arb.zero_for_one, arb.amount_in)
    lp.on_swap(arb.zero_for_one, arb.amount_in, *before)
    r = float(rho)
    hold = float(x0) * r + float(y0)
    assert float(Fraction(pair.reserve1, pair.reserve0)) == pytest.approx(r, rel=1e-12)  # at the price
    assert lp.delta_pnl == x0 * (rho - 1)  # exact
    assert lp.fees == 0
    assert float(lp.impermanent_loss) == pytest.approx(hold * hold_il(r, 1.0), rel=1e-9, abs=1e-9)
    assert lp.channels_sum() == lp.pnl()
