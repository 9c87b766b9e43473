"""The PancakeSwap v2 pool against closed forms.

Sources: PancakeSwap v2 ``PancakePair.sol`` / ``PancakeLibrary.sol`` (the contract's integer
arithmetic: ``amountOut = amountIn*9975*rOut // (rIn*10000 + amountIn*9975)``, the ``K`` check
on ``balance*10000 - amountIn*25``, ``MINIMUM_LIQUIDITY = 1000``, ``_mintFee`` minting
``T*(rootK - rootKLast)*8 // (rootK*17 + rootKLast*8)``), and the constant-product closed
forms: after a fee-less move of the price by ``rho`` the LP is worth ``2 sqrt(rho) / (1 + rho)``
of holding its deposit; with fee factor ``g`` a swap multiplies ``k`` by ``(y + a)/(y + g a)``.
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.dex.pair import MINIMUM_LIQUIDITY, UNIT, PairError, PancakePair, get_amount_in, get_amount_out

E18 = UNIT


def pool(tokens: int = 500_000, quote: int = 500_000, **kw: object) -> PancakePair:
    pair = PancakePair(**kw)  # type: ignore[arg-type]
    pair.mint("mm", tokens * E18, quote * E18)
    return pair


def test_get_amount_out_is_the_routers_integer_formula() -> None:
    # by hand: 1000 USDT into 500,000/500,000: 1000e18*9975*500000e18 // (500000e18*10000 + 1000e18*9975)
    amount_in = 1000 * E18
    expected = amount_in * 9975 * (500_000 * E18) // (500_000 * E18 * 10000 + amount_in * 9975)
    assert get_amount_out(amount_in, 500_000 * E18, 500_000 * E18) == expected
    # 997.5 tokens less the price impact: 1000 * 0.9975 * 500000 / (500000 + 997.5) = 995.51394967...
    assert expected == 995_513_949_670_407_536_963
    # getAmountIn inverts it, rounding up (+1): paying it buys at least the amount
    wanted = 995 * E18
    paid = get_amount_in(wanted, 500_000 * E18, 500_000 * E18)
    assert get_amount_out(paid, 500_000 * E18, 500_000 * E18) >= wanted
    assert get_amount_out(paid - 2, 500_000 * E18, 500_000 * E18) < wanted


def test_first_mint_locks_minimum_liquidity_and_later_mints_are_proportional() -> None:
    pair = PancakePair()
    minted = pair.mint("mm", 4 * E18, 9 * E18)
    assert minted == math.isqrt(36 * E18 * E18) - MINIMUM_LIQUIDITY == 6 * E18 - 1000
    assert pair.balances["address(0)"] == MINIMUM_LIQUIDITY and pair.total_supply == 6 * E18
    other = pair.mint("other", 2 * E18, 9 * E18)  # unbalanced: the scarcer side decides (quote is donated)
    assert other == min(2 * E18 * 6 * E18 // (4 * E18), 9 * E18 * 6 * E18 // (9 * E18)) == 3 * E18
    with pytest.raises(PairError, match="INSUFFICIENT_LIQUIDITY_MINTED"):
        PancakePair().mint("x", 1000, 1000)  # sqrt(1e6) = 1000 = MINIMUM_LIQUIDITY


def test_swap_moves_reserves_exactly_and_k_grows_by_the_fee() -> None:
    pair = pool(protocol_share=None)
    x, y, k0 = pair.reserve0, pair.reserve1, pair.k
    a = 10_000 * E18
    result = pair.swap_exact_in(False, a)  # quote in, tokens out
    g = Fraction(9975, 10000)
    assert result.amount_out == math.floor(g * a * x / (y + g * a))
    assert (pair.reserve0, pair.reserve1) == (x - result.amount_out, y + a)
    # closed form: k' / k = (y + a) / (y + g a), the floor of the output only adds to it
    ratio = Fraction(pair.k, k0)
    closed = (y + a) / (y + g * a)
    assert closed <= ratio < closed + Fraction(1, 10**20)


def test_the_k_check_refuses_asking_for_more_than_the_fee_allows() -> None:
    pair = pool()
    a = 1000 * E18
    fair = get_amount_out(a, pair.reserve1, pair.reserve0)
    with pytest.raises(PairError, match="Pancake: K"):
        pair.swap(fair + 1, 0, 0, a)
    pair.swap(fair, 0, 0, a)  # exactly the router's amount passes
    with pytest.raises(PairError, match="INSUFFICIENT_LIQUIDITY"):
        pair.swap(pair.reserve0, 0, 0, a)


@settings(max_examples=60, deadline=None)
@given(
    rho=st.floats(min_value=0.2, max_value=5.0).filter(lambda r: abs(r - 1) > 1e-3)
)  # rho = 1: no swap to make
def test_fee_less_lp_matches_the_impermanent_loss_closed_form(rho: float) -> None:
    """Move a fee-less pool's price by rho in one swap: LP value / hold value = 2 sqrt(rho)/(1+rho)."""
    pair = pool(1_000_000, 1_000_000, fee_bps=0, protocol_share=None)
    x0, y0 = pair.claim("mm")
    k = pair.k
    if rho > 1:  # buy tokens with quote until y/x = rho: y1 = sqrt(k rho)
        target = math.isqrt(int(k * Fraction(rho).limit_denominator(10**9)))
        pair.swap_exact_in(False, target - pair.reserve1)
    else:
        target = math.isqrt(int(k / Fraction(rho).limit_denominator(10**9)))
        pair.swap_exact_in(True, target - pair.reserve0)
    price = Fraction(pair.reserve1, pair.reserve0)
    x, y = pair.claim("mm")
    lp = x * price + y
    hold = x0 * price + y0
    realised_rho = float(price)  # starts at 1
    closed = 2 * math.sqrt(realised_rho) / (1 + realised_rho)
    assert float(lp / hold) == pytest.approx(closed, rel=1e-12)
    assert abs(realised_rho - rho) < 1e-6 * rho


def test_mint_fee_gives_the_protocol_eight_25ths_of_the_sqrt_k_growth() -> None:
    pair = pool()
    root_k_last = math.isqrt(pair.k_last)
    for i in range(200):  # round trips: k grows by the fees, the price comes back
        pair.swap_exact_in(i % 2 == 0, 20_000 * E18)
    root_k = math.isqrt(pair.k)
    supply = pair.total_supply
    pending = pair.pending_protocol_liquidity()
    assert pending == supply * (root_k - root_k_last) * 8 // (root_k * 17 + root_k_last * 8)
    # closed form: the protocol's share of the pool after _mintFee is 8/25 of the sqrt(k) growth
    share = Fraction(pending, supply + pending)
    growth = Fraction(root_k - root_k_last, root_k)
    assert abs(share - Fraction(8, 25) * growth) < Fraction(1, 10**15)
    # our burn pays the claim computed beforehand, and feeTo now holds the minted liquidity
    claim = pair.claim("mm")
    paid = pair.burn("mm", pair.balances["mm"])
    assert paid == claim
    assert pair.balances["feeTo"] == pending


def test_lp_fee_income_is_68_percent_of_the_swap_fee() -> None:
    """Round trips at an unchanged price: the LP keeps 0.17 % of the volume, the protocol 0.08 %."""
    pair = pool(1_000_000, 1_000_000)
    value0 = sum(pair.claim("mm"))
    volume = 0
    for _ in range(100):
        out = pair.swap_exact_in(False, 5_000 * E18).amount_out  # buy tokens
        volume += 5_000 * E18
        pair.swap_exact_in(True, out)  # sell them back: price (almost) back
        volume += out
    x, y = pair.claim("mm")
    gained = x + y - value0  # valued at 1.00: every round trip puts the tokens back
    fee_rate = Fraction(gained, volume)
    assert float(fee_rate) == pytest.approx(0.0017, rel=0.02)


def test_state_round_trips() -> None:
    pair = pool()
    pair.swap_exact_in(True, 1234 * E18)
    copy = PancakePair()
    copy.restore(pair.state())
    assert copy.state() == pair.state() and copy.claim("mm") == pair.claim("mm")
    assert Decimal(pair.state()["reserve0"]) == pair.reserve0
