"""Deal planner: deployment, initial sale and hedges of a market-maker token-loan deal.

Owns the arithmetic behind ``mmbot deal plan``. Given a :class:`~bot.hedge.deal.Deal`,
a planning price, a volatility and a valuation date, :func:`plan_deal` returns a
:class:`DealPlan`: what to put on each venue, what to sell at the start, the net delta
book afterwards and the perp trades that make it delta-neutral, and the call options'
greeks with the hedge they need. Exact ``Decimal`` for inventories, floats for models.

Delta logic of the deal (all in tokens, price P)
-------------------------------------------------
The market maker (MM) receives N tokens for a term; each call tier i lets it keep q_i
tokens against paying the strike K_i at expiry. Its net delta is the hedger's formula
(DESIGN.md), built by :func:`bot.hedge.dealbook.deal_book` for both this planner and the
live hedger:

* tokens held:        +H     (spot / CEX ask inventory, plus the LP's token side x)
* the loan:           -L     (``loan_delta``: L = N for "tokens", L = 0 for "usd_debt")
* the calls:          +sum_i q_i * N(d1_i)   (Black–Scholes delta)
* the perp:           +perp

The deal file says which view of the loan it takes (``loan_delta``):

* ``"usd_debt"`` -- the worked example's view (below): the loan is a fixed dollar debt
  of N x reference price, so selling borrowed tokens *removes* delta. After the
  2,300,000 sale the MM holds 200,000 tokens of CEX asks and a 500,000-token LP, plus
  132,610 of call delta (sigma 0.8, T = 1 year): the neutralising perp is a short of
  832,610, and the book is then delta-neutral in the same convention.
* ``"tokens"`` -- the loan is repaid in tokens: it is a short of N, each borrowed token
  sold is a short sale, and after the same sale the book is short 2,167,390 tokens, so
  the neutralising perp is *long* 2,167,390 (the sale then only converts idle tokens
  into quote for margin and bids).

The plan reports the file's convention as its main perp hedge (what the live hedger
will trade for the same file), and both conventions' figures for comparison.

The worked example (issue 6) follows the "call-option model" analysis by @agintender,
"Death spiral peaks at the open: the inevitability of altcoin liquidity exhaustion from
a delta-neutral perspective" (July 2025; reposted by PANews and WuBlockchain): with
3,000,000 tokens lent at $1, $100k per side within +/-2 % on one CEX and $50k on two
others, and a $1,000,000 50/50 DEX pool, the obligations need 700,000 tokens as sell
inventory (200,000 on the asks, 500,000 in the pool) and 700,000 USDT (bids and the
pool's quote side), raised by selling 700,000 tokens. The remaining 1,600,000 tokens
are what the article calls unhedged, and the MM sells them too: 2,300,000 tokens are
sold at the open. The planner reproduces these numbers exactly from the deal file.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from bot.hedge.black_scholes import NS_PER_YEAR, call_greeks
from bot.hedge.deal import Deal, LoanDelta
from bot.hedge.dealbook import date_ns, deal_book
from bot.hedge.delta import DeltaBreakdown

__all__ = ["DealPlan", "OptionLine", "VenueDeployment", "date_ns", "plan_deal"]

TOKEN_QUANTUM = Decimal("0.00000001")


def _tokens(value: Decimal) -> Decimal:
    """Round to 1e-8 and drop trailing zeros (``700000``, not ``7E+5`` or ``700000.00000000``)."""
    rounded = value.quantize(TOKEN_QUANTUM, rounding=ROUND_HALF_EVEN).normalize()
    exponent = rounded.as_tuple().exponent
    if isinstance(exponent, int) and exponent > 0:
        return rounded.quantize(Decimal(1))
    return rounded


@dataclass(frozen=True, slots=True)
class VenueDeployment:
    """What one venue needs: tokens on the sell side, quote on the buy side."""

    venue: str
    kind: str
    """``cex`` (order-book depth obligation) or ``lp`` (constant-product pool)."""
    tokens: Decimal
    quote: Decimal
    band_pct: Decimal | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "venue": self.venue,
            "kind": self.kind,
            "tokens": str(self.tokens),
            "quote": str(self.quote),
        }
        if self.band_pct is not None:
            out["band_pct"] = str(self.band_pct)
        return out


@dataclass(frozen=True, slots=True)
class OptionLine:
    """One call tier valued at the planning price (position totals, not per token)."""

    strike: Decimal
    quantity: Decimal
    delta_per_token: float
    delta: float
    gamma: float
    vega: float
    """Per 1.00 of volatility (per vol point: divide by 100)."""
    theta_per_day: float
    value: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "strike": str(self.strike),
            "quantity": str(self.quantity),
            "delta_per_token": self.delta_per_token,
            "delta": self.delta,
            "gamma": self.gamma,
            "vega": self.vega,
            "theta_per_day": self.theta_per_day,
            "value": self.value,
        }


@dataclass(frozen=True, slots=True)
class DealPlan:
    deal: Deal
    price: Decimal
    volatility: float
    rate: float
    valuation_date: dt.date
    years_to_expiry: float
    deployment: tuple[VenueDeployment, ...]
    sell_inventory_tokens: Decimal
    """Tokens deployed as sell inventory: CEX asks + the pools' token side."""
    quote_needed: Decimal
    """Quote currency deployed: CEX bids + the pools' quote side."""
    funding_sale_tokens: Decimal
    """Tokens sold at the planning price to raise ``quote_needed``."""
    idle_tokens: Decimal
    """Lent tokens neither deployed nor sold for quote (the article's "unhedged")."""
    shortfall_tokens: Decimal
    """Tokens missing when the deployment and funding need more than was lent (else 0)."""
    initial_sale_tokens: Decimal
    """Spot sold at the start: the funding sale plus the idle tokens."""
    delta_after_sale: DeltaBreakdown
    """Net delta book after the sale, in the deal's ``loan_delta`` convention."""
    perp_hedge_linear: float
    """Perp that neutralises spot + LP - loan after the sale (without the calls)."""
    options: tuple[OptionLine, ...]
    minimal_sale_perp_hedge: float
    """Perp for neutrality if only ``funding_sale_tokens`` are sold (same convention)."""
    perp_hedge_by_convention: dict[LoanDelta, float]
    """The neutralising perp after the initial sale under each ``loan_delta`` convention."""
    delta_by_convention: dict[LoanDelta, DeltaBreakdown]
    """The net delta book after the sale under each convention (the file's is ``delta_after_sale``)."""

    @property
    def loan_delta(self) -> LoanDelta:
        return self.deal.loan_delta

    @property
    def options_delta(self) -> float:
        return sum(line.delta for line in self.options)

    @property
    def options_gamma(self) -> float:
        return sum(line.gamma for line in self.options)

    @property
    def options_vega(self) -> float:
        return sum(line.vega for line in self.options)

    @property
    def options_theta_per_day(self) -> float:
        return sum(line.theta_per_day for line in self.options)

    @property
    def options_value(self) -> float:
        return sum(line.value for line in self.options)

    @property
    def option_hedge(self) -> float:
        """Perp trade that hedges the calls alone (a short)."""
        return -self.options_delta

    @property
    def perp_hedge(self) -> float:
        """Total perp position making the book delta-neutral after the initial sale."""
        return -self.delta_after_sale.net

    def as_dict(self) -> dict[str, Any]:
        deal = self.deal
        return {
            "deal": deal.name,
            "token": deal.token,
            "quote": deal.quote,
            "price": str(self.price),
            "volatility": self.volatility,
            "rate": self.rate,
            "valuation_date": self.valuation_date.isoformat(),
            "loan_delta": self.loan_delta,
            "years_to_expiry": self.years_to_expiry,
            "loan": {
                "tokens": str(deal.loan.tokens),
                "reference_price": str(deal.loan.reference_price),
                "start": deal.loan.start.isoformat(),
                "expiry": deal.loan.expiry.isoformat(),
            },
            "deployment": [venue.as_dict() for venue in self.deployment],
            "inventory": {
                "sell_inventory_tokens": str(self.sell_inventory_tokens),
                "quote_needed": str(self.quote_needed),
                "funding_sale_tokens": str(self.funding_sale_tokens),
                "idle_tokens": str(self.idle_tokens),
                "shortfall_tokens": str(self.shortfall_tokens),
                "initial_sale_tokens": str(self.initial_sale_tokens),
            },
            "delta_after_sale": self.delta_after_sale.as_dict(),
            "perp_hedge": {
                "linear": self.perp_hedge_linear,
                "options": self.option_hedge,
                "total": self.perp_hedge,
            },
            "options": [line.as_dict() for line in self.options],
            "options_total": {
                "delta": self.options_delta,
                "gamma": self.options_gamma,
                "vega": self.options_vega,
                "theta_per_day": self.options_theta_per_day,
                "value": self.options_value,
            },
            "alternatives": {
                "minimal_sale": {
                    "spot_sale_tokens": str(self.funding_sale_tokens),
                    "perp_hedge": self.minimal_sale_perp_hedge,
                },
                "perp_hedge_by_loan_delta": dict(self.perp_hedge_by_convention),
                "delta_by_loan_delta": {
                    name: book.as_dict() for name, book in self.delta_by_convention.items()
                },
            },
        }


def plan_deal(
    deal: Deal,
    *,
    valuation_date: dt.date,
    price: Decimal | None = None,
    volatility: float | None = None,
) -> DealPlan:
    """Plan ``deal`` at ``price`` (default: the loan's reference price).

    The options are valued on ``valuation_date``, or on the deal's start if that is
    later (the plan is the opening plan). ``volatility`` overrides the file's.
    """
    p = deal.loan.reference_price if price is None else price
    if p <= 0:
        raise ValueError(f"price must be positive, got {p}")
    sigma = deal.valuation.volatility if volatility is None else volatility
    if not sigma > 0:
        raise ValueError(f"volatility must be positive, got {sigma}")
    rate = deal.valuation.rate
    value_on = max(valuation_date, deal.loan.start)
    if deal.loan.expiry <= value_on:
        raise ValueError(f"deal expired on {deal.loan.expiry}, valuation date {value_on}")
    now_ns = date_ns(value_on)
    expiry_ns = date_ns(deal.loan.expiry)
    years = (expiry_ns - now_ns) / NS_PER_YEAR

    deployment: list[VenueDeployment] = []
    ask_tokens = Decimal(0)
    bid_quote = Decimal(0)
    for cex in deal.cex:
        tokens = _tokens(cex.ask_size / p)
        deployment.append(VenueDeployment(cex.exchange, "cex", tokens, cex.bid_size, cex.band_pct))
        ask_tokens += tokens
        bid_quote += cex.bid_size
    lp_tokens = Decimal(0)
    lp_quote = Decimal(0)
    for pool in deal.lp:
        half = pool.size / 2
        tokens = _tokens(half / p)
        deployment.append(VenueDeployment(pool.venue, "lp", tokens, half))
        lp_tokens += tokens
        lp_quote += half

    sell_inventory = ask_tokens + lp_tokens
    quote_needed = bid_quote + lp_quote
    funding_sale = _tokens(quote_needed / p)
    idle = deal.loan.tokens - sell_inventory - funding_sale
    shortfall = max(-idle, Decimal(0))
    idle = max(idle, Decimal(0))
    initial_sale = funding_sale + idle

    token = deal.token
    book = deal_book(deal, volatility=sigma, lp_price=p)
    book.set_spot(token, deal.loan.tokens - lp_tokens - initial_sale)
    lines: list[OptionLine] = []
    for tier in deal.calls:
        greeks = call_greeks(float(p), float(tier.strike), years, sigma, rate)
        qty = float(tier.quantity)
        lines.append(
            OptionLine(
                strike=tier.strike,
                quantity=tier.quantity,
                delta_per_token=greeks.delta,
                delta=qty * greeks.delta,
                gamma=qty * greeks.gamma,
                vega=qty * greeks.vega,
                theta_per_day=qty * greeks.theta / 365.0,
                value=qty * greeks.price,
            )
        )
    after = book.breakdown(token, float(p), now_ns)
    linear = -(after.spot + after.loan + after.lp)
    options_delta = after.options
    unowed = after.spot + after.lp + options_delta  # net delta if the loan carried none
    by_convention: dict[LoanDelta, float] = {
        "tokens": -(unowed - float(deal.loan.tokens)),
        "usd_debt": -unowed,
    }
    books: dict[LoanDelta, DeltaBreakdown] = {
        "tokens": dataclasses.replace(after, loan=-float(deal.loan.tokens)),
        "usd_debt": dataclasses.replace(after, loan=0.0),
    }
    return DealPlan(
        deal=deal,
        price=p,
        volatility=sigma,
        rate=rate,
        valuation_date=value_on,
        years_to_expiry=years,
        deployment=tuple(deployment),
        sell_inventory_tokens=sell_inventory,
        quote_needed=quote_needed,
        funding_sale_tokens=funding_sale,
        idle_tokens=idle,
        shortfall_tokens=shortfall,
        initial_sale_tokens=initial_sale,
        delta_after_sale=after,
        perp_hedge_linear=linear,
        options=tuple(lines),
        minimal_sale_perp_hedge=linear - float(idle) - options_delta,
        perp_hedge_by_convention=by_convention,
        delta_by_convention=books,
    )
