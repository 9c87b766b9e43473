"""Market-maker token-loan deal files (``config/deals/*.toml``): model and validation.

Owns the schema of a deal — the contract between a token project and a market maker:
tokens lent (with the reference price the loan is struck at) for a term, how the loan
counts in the net delta (``loan_delta``), depth
obligations on centralised exchanges (a +/- % band around mid with a quote-currency
size per side), liquidity in constant-product DEX pools (quote value, deposited 50/50),
and tiers of European call options the market maker receives (strike, quantity),
together with the volatility and rate used to value them.

Validation is strict: unknown keys, non-positive sizes, strikes that are not positive
and strictly ascending, an expiry not after the start, an LP larger than the loan, or
an expiry that is already past on the valuation date are each reported as one
:class:`~bot.errors.InputError` naming the file and the field. ``loan_delta`` has no
default: the two conventions put the perp hedge a whole loan apart, so a file must say
which it means. The valuation date is the file's ``[valuation] date`` or an argument;
nothing in mmbot values a deal on the machine's clock.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from bot.errors import ConfigError
from bot.inputmodel import InputModel
from bot.tomlfile import format_validation_error, read_toml

_SYMBOL = r"^[A-Z0-9]{2,20}$"
_NAME = r"^[a-z0-9][a-z0-9_.-]{0,39}$"


class _Strict(InputModel):
    pass


class LoanTerms(_Strict):
    tokens: Decimal = Field(gt=0, allow_inf_nan=False, description="Tokens lent to the market maker.")
    reference_price: Decimal = Field(
        gt=0,
        allow_inf_nan=False,
        description="Price (quote per token) the loan is struck at; default planning price.",
    )
    start: dt.date = Field(description="First day of the term (tokens delivered).")
    expiry: dt.date = Field(
        description="Last day of the term: tokens are returned, or calls exercised (European)."
    )

    @field_validator("expiry")
    @classmethod
    def _after_start(cls, value: dt.date, info: Any) -> dt.date:
        start = info.data.get("start")
        if start is not None and value <= start:
            raise ValueError(f"expiry {value} must be after start {start}")
        return value

    @property
    def value(self) -> Decimal:
        """Loan value at the reference price (quote currency)."""
        return self.tokens * self.reference_price


class CexObligation(_Strict):
    exchange: str = Field(pattern=_NAME, description="Exchange name, e.g. binance.")
    band_pct: Decimal = Field(
        gt=0, lt=100, allow_inf_nan=False, description="Depth band around mid, in percent (2 = +/-2 %)."
    )
    bid_size: Decimal = Field(
        gt=0, allow_inf_nan=False, description="Bids required within the band, quote currency."
    )
    ask_size: Decimal = Field(
        gt=0, allow_inf_nan=False, description="Asks required within the band, quote currency."
    )


class LiquidityPool(_Strict):
    venue: str = Field(pattern=_NAME, description="DEX, e.g. pancakeswap.")
    size: Decimal = Field(
        gt=0,
        allow_inf_nan=False,
        description="Pool position value in quote currency, deposited 50/50 (constant product).",
    )


class CallTier(_Strict):
    strike: Decimal = Field(gt=0, allow_inf_nan=False, description="Strike, quote per token.")
    quantity: Decimal = Field(gt=0, allow_inf_nan=False, description="Tokens the call is on.")


class Valuation(_Strict):
    volatility: float = Field(
        gt=0, le=10, allow_inf_nan=False, description="Annualised volatility for Black–Scholes (0.8 = 80 %)."
    )
    rate: float = Field(
        0.0, ge=-1, le=1, allow_inf_nan=False, description="Continuously compounded rate, per year."
    )
    date: dt.date | None = Field(
        None,
        description="Valuation date of `mmbot deal plan` (YYYY-MM-DD; --date overrides). There is no "
        "default: a plan never depends on the day it is run.",
    )


LoanDelta = Literal["tokens", "usd_debt"]

LOAN_DELTA_HELP = (
    "How the loan counts in the net delta (the planner and the live hedger both use it). "
    '"tokens": the loan is owed back in tokens, so it is a short of loan.tokens (delta -tokens; '
    "every borrowed token sold is a short sale that needs a long hedge). "
    '"usd_debt": the loan is treated as a fixed dollar debt of tokens x reference_price (no token '
    "delta): only the tokens still held, the LP and the calls carry delta -- the 'sell at the open' "
    "view of the worked example."
)


class Deal(_Strict):
    """One market-maker deal file."""

    name: str = Field(pattern=_NAME, description="Short deal name.")
    description: str = Field("", description="Free text: counterparty, notes.")
    token: str = Field(pattern=_SYMBOL, description="Token symbol, e.g. ABC.")
    quote: str = Field("USDT", pattern=_SYMBOL, description="Quote currency of sizes and prices.")
    loan: LoanTerms
    loan_delta: LoanDelta = Field(description=LOAN_DELTA_HELP)
    cex: list[CexObligation] = Field(default_factory=list, description="CEX depth obligations.")
    lp: list[LiquidityPool] = Field(default_factory=list, description="DEX liquidity positions.")
    calls: list[CallTier] = Field(
        default_factory=list, description="Call tiers the market maker holds, strikes ascending."
    )
    valuation: Valuation

    @field_validator("calls")
    @classmethod
    def _ascending(cls, calls: list[CallTier]) -> list[CallTier]:
        for index in range(1, len(calls)):
            previous, current = calls[index - 1].strike, calls[index].strike
            if current <= previous:
                raise ValueError(
                    f"strikes must be strictly ascending: calls[{index}].strike {current} follows {previous}"
                )
        return calls

    @field_validator("cex")
    @classmethod
    def _unique_exchanges(cls, cex: list[CexObligation]) -> list[CexObligation]:
        seen: set[str] = set()
        for item in cex:
            if item.exchange in seen:
                raise ValueError(f"exchange {item.exchange!r} listed twice")
            seen.add(item.exchange)
        return cex

    @model_validator(mode="after")
    def _distinct_symbols(self) -> Deal:
        if self.token == self.quote:
            raise ValueError("token and quote must differ")
        return self

    @property
    def lp_size(self) -> Decimal:
        return sum((pool.size for pool in self.lp), Decimal(0))

    @property
    def loan_owed_delta(self) -> Decimal:
        """Tokens the loan counts as owed in the net delta (0 for a dollar debt)."""
        return self.loan.tokens if self.loan_delta == "tokens" else Decimal(0)


def _cross_check(deal: Deal, valuation_date: dt.date) -> list[str]:
    """Checks that need more than one field, or the valuation date; ``field: problem``."""
    problems: list[str] = []
    if deal.lp_size > deal.loan.value:
        problems.append(
            f"lp: LP size {deal.lp_size:,} {deal.quote} is larger than the loan "
            f"({deal.loan.tokens:,} {deal.token} x {deal.loan.reference_price} = "
            f"{deal.loan.value:,} {deal.quote})"
        )
    if deal.loan.expiry <= valuation_date:
        problems.append(
            f"loan.expiry: {deal.loan.expiry} is not after the valuation date {valuation_date} "
            "(the deal has expired)"
        )
    return problems


def _missing_loan_delta(data: dict[str, Any], source: str) -> str:
    loan = data.get("loan") if isinstance(data.get("loan"), dict) else {}
    tokens = loan.get("tokens") if isinstance(loan, dict) else None
    size = f"{tokens:,}" if isinstance(tokens, int | float) else "loan.tokens"
    return (
        f"{source}: loan_delta: required key is missing. State how the loan counts in the net delta, "
        'because the two views put the perp hedge a whole loan apart: "tokens" (owed back in tokens: '
        f"the loan is a short of {size} tokens and every borrowed token sold needs a long hedge) or "
        '"usd_debt" (a fixed dollar debt: no token delta, selling borrowed tokens removes delta). '
        "`mmbot deal plan` prints the hedge under both."
    )


def parse_deal(data: dict[str, Any], source: str) -> Deal:
    """The schema alone (no date checks); one :class:`ConfigError` naming ``source`` and fields."""
    if isinstance(data, dict) and "loan_delta" not in data:
        raise ConfigError(_missing_loan_delta(data, source))
    try:
        return Deal.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None


def check_deal(deal: Deal, source: str, valuation_date: dt.date) -> Deal:
    """The checks that need the valuation date (or several fields)."""
    problems = _cross_check(deal, valuation_date)
    if problems:
        raise ConfigError("\n".join(f"{source}: {problem}" for problem in problems))
    return deal


def validate_deal(data: dict[str, Any], source: str, valuation_date: dt.date) -> Deal:
    """Validate parsed deal data; raise one :class:`ConfigError` naming ``source`` and fields."""
    return check_deal(parse_deal(data, source), source, valuation_date)


def load_deal(path: Path, valuation_date: dt.date) -> Deal:
    """Read and validate a deal file (missing file, TOML syntax and schema -> ConfigError)."""
    return validate_deal(read_toml(path), str(path), valuation_date)


def read_deal(path: Path) -> Deal:
    """Read a deal file and check its schema, leaving the dated checks to :func:`check_deal`."""
    return parse_deal(read_toml(path), str(path))
