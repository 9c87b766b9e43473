"""``mmbot deal plan FILE``: print a market-maker deal's deployment, initial sale and hedges.

The valuation date is ``--date`` or the deal file's ``[valuation] date`` -- never the
machine's clock, so a plan prints the same whatever day it is run. Bad files, prices,
volatilities or dates end with one ``InputError`` (exit code 2).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from bot.errors import InputError
from bot.hedge.deal import check_deal, read_deal
from bot.hedge.planner import DealPlan, plan_deal


def register(subparsers: Any) -> None:
    deal = subparsers.add_parser("deal", help="Market-maker token-loan deals.")
    actions = deal.add_subparsers(dest="deal_command", metavar="ACTION")
    actions.required = True
    plan = actions.add_parser(
        "plan",
        help="Print a deal's deployment, initial spot sale, perp hedge and option deltas.",
        description="Plan a market-maker deal file (config/deals/*.toml): tokens and stablecoins "
        "needed per venue, the spot sale at the start, the net delta book afterwards and the perp "
        "hedge that makes it delta-neutral, and the call options' greeks and hedge at the price.",
    )
    plan.add_argument(
        "file",
        type=Path,
        metavar="FILE",
        help="Deal file, e.g. config/deals/abc.toml (the worked example; `mmbot config init` writes a copy).",
    )
    plan.add_argument(
        "--price",
        metavar="P",
        help="Token price in the quote currency (default: the loan's reference price).",
    )
    plan.add_argument("--vol", metavar="V", help="Annualised volatility, e.g. 0.8 (default: the file's).")
    plan.add_argument(
        "--date",
        metavar="YYYY-MM-DD",
        help="Valuation date (default: the deal file's [valuation] date; no clock is read). Before the "
        "deal's start the plan is valued at the start.",
    )
    plan.add_argument("--json", action="store_true", help="Print JSON only.")
    plan.set_defaults(func=start_deal_plan)


def _parse_price(text: str | None) -> Decimal | None:
    if text is None:
        return None
    try:
        price = Decimal(text)
    except InvalidOperation:
        raise InputError(f"--price: not a number: {text!r}") from None
    if not price.is_finite() or price <= 0:
        raise InputError(f"--price: must be a positive number, got {text!r}")
    return price


def _parse_vol(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        vol = float(text)
    except ValueError:
        raise InputError(f"--vol: not a number: {text!r}") from None
    if not (math.isfinite(vol) and 0 < vol <= 10):
        raise InputError(f"--vol: must be in (0, 10], got {text!r}")
    return vol


def _parse_date(text: str | None) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InputError(f"--date: expected YYYY-MM-DD, got {text!r}") from None


def start_deal_plan(args: argparse.Namespace) -> int:
    price = _parse_price(args.price)
    vol = _parse_vol(args.vol)
    given = _parse_date(args.date)
    deal = read_deal(args.file)
    valuation_date = given if given is not None else deal.valuation.date
    if valuation_date is None:
        raise InputError(
            f"{args.file}: no valuation date: set [valuation] date = YYYY-MM-DD in the deal file or pass "
            "--date YYYY-MM-DD (a plan never depends on the day it is run)"
        )
    check_deal(deal, str(args.file), valuation_date)
    plan = plan_deal(deal, valuation_date=valuation_date, price=price, volatility=vol)
    if args.json:
        print(json.dumps(plan.as_dict(), indent=2))
    else:
        print(format_plan(plan, str(args.file)))
    return 0


def _n(value: Decimal | float, places: int = 0) -> str:
    """Thousands separators; floats rounded to ``places``; '-0' shown as '0'."""
    if isinstance(value, Decimal):
        text = f"{value:,f}"
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return text
    text = f"{value:,.{places}f}"
    return text[1:] if text.startswith("-") and not any(c in "123456789" for c in text) else text


def _signed(value: float) -> str:
    text = _n(value)
    return text if text.startswith("-") or text == "0" else "+" + text


def format_plan(plan: DealPlan, source: str) -> str:
    deal = plan.deal
    tok, quote = deal.token, deal.quote
    d = plan.delta_after_sale
    idle_terms = (deal.loan.tokens, plan.sell_inventory_tokens, plan.funding_sale_tokens)
    lines = [
        f"Deal {deal.name} ({source}): {deal.description}".rstrip(": "),
        f"  loan {_n(deal.loan.tokens)} {tok} at {deal.loan.reference_price} {quote}, "
        f"{deal.loan.start} to {deal.loan.expiry}",
        f"  planned at {plan.price} {quote}/{tok}, valued {plan.valuation_date} "
        f"(T = {plan.years_to_expiry:.4f} y), vol {plan.volatility:g}, rate {plan.rate:g}",
        "",
        "Deployment",
        f"  {'venue':<14}{'kind':<6}{'band':>7}{'sell inventory ' + tok:>24}{quote + ' for bids/pool':>24}",
    ]
    for venue in plan.deployment:
        band = f"±{_n(venue.band_pct)}%" if venue.band_pct is not None else ""
        lines.append(
            f"  {venue.venue:<14}{venue.kind:<6}{band:>7}{_n(venue.tokens):>24}{_n(venue.quote):>24}"
        )
    lines += [
        f"  {'total':<27}{_n(plan.sell_inventory_tokens):>24}{_n(plan.quote_needed):>24}",
        "",
        f"Initial spot sale ({tok})",
        f"  {'sold to raise ' + _n(plan.quote_needed) + ' ' + quote + ' at ' + str(plan.price):<44}"
        f"{_n(plan.funding_sale_tokens):>14}",
        f"  {'idle: ' + ' - '.join(_n(x) for x in idle_terms):<44}{_n(plan.idle_tokens):>14}",
        f"  {'sold at the start (funding + idle)':<44}{_n(plan.initial_sale_tokens):>14}",
    ]
    if plan.shortfall_tokens > 0:
        lines.append(
            f"  SHORTFALL: the obligations need {_n(plan.shortfall_tokens)} {tok} more than was lent "
            f"at this price (bring {quote} or tokens)"
        )
    view = {
        "tokens": "the loan is owed back in tokens",
        "usd_debt": "the loan is a fixed " + quote + " debt, no token delta",
    }
    books = plan.delta_by_convention
    heads = [f'loan_delta = "{name}"' + (" *" if name == plan.loan_delta else "") for name in books]
    lines += [
        "",
        f"Net delta after the sale ({tok}), under both loan conventions (* = this file: {view[plan.loan_delta]})",
        f"  {'':<30}{heads[0]:>26}{heads[1]:>26}",
    ]
    rows = (
        ("spot inventory (CEX asks)", lambda b: b.spot),
        ("LP delta", lambda b: b.lp),
        ("loan obligation", lambda b: b.loan),
        ("call options", lambda b: b.options),
        ("net before perp", lambda b: b.net),
    )
    for label, value in rows:
        lines.append(f"  {label:<30}" + "".join(f"{_signed(value(b)):>26}" for b in books.values()))
    lines.append(
        f"  {'perp hedge for delta-neutral':<30}"
        + "".join(f"{_signed(plan.perp_hedge_by_convention[name]):>26}" for name in books)
    )
    lines += [
        f"  this file: perp {_signed(plan.perp_hedge)} {tok} ({_signed(plan.perp_hedge_linear)} for spot + LP - loan, "
        f"{_signed(plan.option_hedge)} for the calls); the conventions differ by the whole loan, "
        f"{_n(deal.loan.tokens)} {tok}",
        f"  gamma (calls {_signed(plan.options_gamma)}, LP {_signed(d.gamma - plan.options_gamma)}): "
        f"{_signed(d.gamma)} {tok} per 1 {quote} move",
        "",
        f"Call options at {plan.price}",
        f"  {'strike':>8}{'quantity':>12}{'delta/tok':>11}{'delta':>12}{'gamma':>12}"
        f"{'vega':>11}{'theta/day':>11}{'value':>11}",
    ]
    for line in plan.options:
        lines.append(
            f"  {line.strike!s:>8}{_n(line.quantity):>12}{line.delta_per_token:>11.4f}{_n(line.delta):>12}"
            f"{_n(line.gamma):>12}{_n(line.vega):>11}{_n(line.theta_per_day):>11}{_n(line.value):>11}"
        )
    lines += [
        f"  {'total':>8}{'':>12}{'':>11}{_n(plan.options_delta):>12}{_n(plan.options_gamma):>12}"
        f"{_n(plan.options_vega):>11}{_n(plan.options_theta_per_day):>11}{_n(plan.options_value):>11}",
        f"  hedge for the calls: {_signed(plan.option_hedge)} {tok} on the perp",
        "",
        "Alternatives",
        f"  sell only the {_n(plan.funding_sale_tokens)} {tok} needed for {quote}: "
        f"perp {_signed(plan.minimal_sale_perp_hedge)} {tok}",
    ]
    return "\n".join(lines)
