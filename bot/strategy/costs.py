"""What a fill costs the quoter: exchange fees (or rebates) and adverse selection.

Every quoter quotes against the fees the paper exchange will charge (the instrument's
schedule: venue fee tier, overrides; :class:`FeeRates`). Two things use them:

- **the models** (:mod:`~bot.strategy.avellaneda_stoikov`, :mod:`~bot.strategy.glft`,
  :mod:`~bot.strategy.spread_optimizer`) take the maker fee per unit in ticks,
  ``eps = maker_rate * fair``, into their optimum (see each module for the formula and
  its source); a rebate is a negative ``eps`` and tightens them;
- **the break-even floor** (:func:`apply_costs`), for every quoter including the fixed
  spread: a bid filled at ``b`` pays ``b * (1 + f)`` for what is worth ``fair``, an ask
  at ``a`` receives ``a * (1 - f)``; neither is quoted where that loses against fair
  value, plus ``min_edge_bps``::

      bid <= fair * (1 - edge) / (1 + f)        ask >= fair * (1 + edge) / (1 - f)

  ``f`` is the rate of the fill type the quote will get: the maker rate (post-only
  quotes, or quotes that do not cross), the taker rate for a non-post-only quote that
  crosses the book. A profile may set ``[costs] allow_below_break_even = true``
  (e.g. to work inventory off at a loss); otherwise the floor always holds.

**Adverse selection** (optional, ``[costs] adverse_selection_weight``): the markout
tracker (:mod:`bot.strategy.markouts`) keeps an EWMA of our fills' markouts per side; a
side whose fills lose on average (negative markout) is quoted ``weight * |EWMA|`` bps
further out (capped), before the break-even floor is applied.

The structs (:class:`FeeRates`, :class:`AdverseSelection`) live in
:mod:`bot.strategy.fee_rates` and are re-exported here; this module is compiled with mypyc
(``[tool.mmbot.compiled]``).
"""

from __future__ import annotations

import math

import msgspec

from bot.strategy.fee_rates import NO_ADVERSE, NO_FEES, AdverseSelection, FeeRates
from bot.strategy.params import CostParams
from bot.strategy.types import Theo

__all__ = [
    "NO_ADVERSE",
    "NO_FEES",
    "AdverseSelection",
    "FeeRates",
    "apply_costs",
    "ask_floor",
    "bid_floor",
    "fee_ticks",
]


def fee_ticks(rate: float, fair: float) -> float:
    """The fee per unit in ticks at price ``fair`` (ticks): ``rate * fair``."""
    return rate * fair


def bid_floor(fair: float, rate: float, edge_bps: float = 0.0) -> float:
    """Highest bid (ticks) that does not lose against ``fair`` after fee ``rate``."""
    return fair * (1.0 - edge_bps * 1e-4) / (1.0 + rate)


def ask_floor(fair: float, rate: float, edge_bps: float = 0.0) -> float:
    """Lowest ask (ticks) that does not lose against ``fair`` after fee ``rate``."""
    return fair * (1.0 + edge_bps * 1e-4) / (1.0 - rate)


def apply_costs(
    theo: Theo,
    *,
    fees: FeeRates,
    costs: CostParams,
    post_only: bool,
    best_bid: int | None,
    best_ask: int | None,
    adverse: AdverseSelection = NO_ADVERSE,
) -> Theo:
    """Widen ``theo`` for adverse selection, then hold each side at its break-even floor."""
    fair = theo.fair
    bid, ask = theo.bid, theo.ask
    if not (math.isfinite(fair) and math.isfinite(bid) and math.isfinite(ask)):
        return theo
    notes = [theo.note] if theo.note else []
    weight = costs.adverse_selection_weight
    if weight > 0.0:
        cap = costs.adverse_selection_cap_bps
        widen_bid = min(cap, weight * max(0.0, -adverse.bid_bps))
        widen_ask = min(cap, weight * max(0.0, -adverse.ask_bps))
        bid -= widen_bid * 1e-4 * fair
        ask += widen_ask * 1e-4 * fair
    if not costs.allow_below_break_even:
        edge = costs.min_edge_bps
        top_bid = bid_floor(fair, fees.maker, edge)
        if not post_only and best_ask is not None and min(bid, top_bid) >= best_ask:
            top_bid = min(top_bid, bid_floor(fair, fees.taker, edge))  # it would take: taker fee
        if bid > top_bid:
            bid = top_bid
            notes.append("bid at fee break-even")
        low_ask = ask_floor(fair, fees.maker, edge)
        if not post_only and best_bid is not None and max(ask, low_ask) <= best_bid:
            low_ask = max(low_ask, ask_floor(fair, fees.taker, edge))
        if ask < low_ask:
            ask = low_ask
            notes.append("ask at fee break-even")
    if bid == theo.bid and ask == theo.ask:
        return theo
    return msgspec.structs.replace(
        theo,
        bid=bid,
        ask=ask,
        reservation=0.5 * (bid + ask),
        half_spread=0.5 * (ask - bid),
        note="; ".join(notes),
    )
