"""The positions a deal adds to a net delta book: the loan, the call tiers and the LPs.

Owns the one translation from a :class:`~bot.hedge.deal.Deal` to
:class:`~bot.hedge.delta.DeltaBook` positions, shared by the deal planner
(``mmbot deal plan``) and the live hedger (:mod:`bot.engine.hedging`), so that both
count the same delta for the same file:

- the loan obligation: ``deal.loan_owed_delta`` tokens (``loan_delta = "tokens"``: all
  tokens lent; ``"usd_debt"``: none -- a dollar debt carries no token delta);
- one European call per tier (strike, quantity), expiring at ``loan.expiry`` (midnight
  UTC), valued with the deal's volatility (or an override) and rate;
- one constant-product LP per pool, deposited 50/50 at ``lp_price`` (default: the
  loan's reference price), whose delta is its token holdings ``sqrt(K / P)``.

Spot and perp inventories are *not* part of the deal: the caller sets them (the
planner from its plan, the hedger from the paper ledger).

Valuation time: before the deal starts its options are valued as of the start (the
opening plan); :func:`valuation_ns` applies that rule to an event time. No clock here.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from bot.hedge.amm import ConstantProductLP
from bot.hedge.black_scholes import NS_PER_YEAR
from bot.hedge.deal import Deal
from bot.hedge.delta import DeltaBook, OptionKind, OptionPosition

_EPOCH = dt.date(1970, 1, 1)
NS_PER_DAY = NS_PER_YEAR // 365


def date_ns(day: dt.date) -> int:
    """Midnight UTC of ``day`` in ns since the epoch (deal start and expiry instants)."""
    return (day - _EPOCH).days * NS_PER_DAY


def valuation_ns(deal: Deal, now_ns: int) -> int:
    """The time the deal's options are valued at for event time ``now_ns``: never before the start."""
    return max(now_ns, date_ns(deal.loan.start))


def deal_options(deal: Deal, *, volatility: float | None = None) -> list[OptionPosition]:
    """The deal's call tiers as option positions (long, in tokens)."""
    sigma = deal.valuation.volatility if volatility is None else volatility
    expiry_ns = date_ns(deal.loan.expiry)
    return [
        OptionPosition(
            asset=deal.token,
            strike=tier.strike,
            quantity=tier.quantity,
            expiry_ns=expiry_ns,
            volatility=sigma,
            rate=deal.valuation.rate,
            kind=OptionKind.CALL,
            label=f"call {tier.strike}",
        )
        for tier in deal.calls
    ]


def deal_lps(deal: Deal, *, lp_price: Decimal | None = None) -> list[tuple[str, ConstantProductLP]]:
    """Each pool as (venue, constant-product position deposited at ``lp_price``)."""
    price = deal.loan.reference_price if lp_price is None else lp_price
    return [(pool.venue, ConstantProductLP.from_quote_size(pool.size, price)) for pool in deal.lp]


def deal_book(
    deal: Deal,
    *,
    volatility: float | None = None,
    lp_price: Decimal | None = None,
    book: DeltaBook | None = None,
) -> DeltaBook:
    """A :class:`DeltaBook` (new, or ``book``) holding the deal's loan, calls and LPs."""
    book = DeltaBook() if book is None else book
    book.set_loan(deal.token, deal.loan_owed_delta)
    for venue, lp in deal_lps(deal, lp_price=lp_price):
        book.add_lp(deal.token, lp, label=venue)
    for option in deal_options(deal, volatility=volatility):
        book.add_option(option)
    return book
