"""Net delta book per base asset, with its breakdown by component.

Owns the one formula the hedger, the deal planner and ``/status`` share
(DESIGN.md, Hedger):

    net delta = spot inventory - loan obligation + perp position
                + sum of option deltas + AMM LP delta

all in units of the base asset (tokens). Inventories (spot, loan, perp) are exact
``Decimal`` quantities that change with fills; option and LP deltas are model floats
(Black–Scholes, constant product) evaluated at a price and a valuation time that the
caller passes in — nothing here reads a clock.

Sign conventions: spot and perp are signed holdings (perp: contracts x contract size,
short < 0); the loan is the positive number of tokens owed and enters with a minus
sign; option quantities are signed (long > 0). Each :class:`DeltaBreakdown` keeps the
components apart (and the per-option detail) so status pages and PnL attribution can
show where the delta comes from; ``gamma`` sums option and LP gamma (the LP is short
gamma, long calls are long gamma).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from bot.hedge.amm import ConstantProductLP
from bot.hedge.black_scholes import Greeks, call_greeks, put_greeks, year_fraction


class OptionKind(StrEnum):
    CALL = "call"
    PUT = "put"


@dataclass(frozen=True, slots=True)
class OptionPosition:
    """European options on ``asset``: ``quantity`` units (long > 0) struck at ``strike``."""

    asset: str
    strike: Decimal
    quantity: Decimal
    expiry_ns: int
    volatility: float
    rate: float = 0.0
    kind: OptionKind = OptionKind.CALL
    label: str = ""

    def __post_init__(self) -> None:
        if self.strike <= 0:
            raise ValueError(f"option strike must be positive, got {self.strike}")
        if not self.volatility >= 0:
            raise ValueError(f"volatility must be >= 0, got {self.volatility}")

    @property
    def name(self) -> str:
        return self.label or f"{self.asset} {self.kind.value} {self.strike}"

    def greeks(self, price: float, now_ns: int) -> Greeks:
        """Per-unit greeks at ``price`` and valuation time ``now_ns``."""
        t = year_fraction(now_ns, self.expiry_ns)
        model = call_greeks if self.kind is OptionKind.CALL else put_greeks
        return model(price, float(self.strike), t, self.volatility, self.rate)

    def delta(self, price: float, now_ns: int) -> float:
        """Position delta in units of the asset."""
        return float(self.quantity) * self.greeks(price, now_ns).delta


@dataclass(frozen=True, slots=True)
class DeltaBreakdown:
    """Net delta of one base asset and where it comes from (units of the asset)."""

    asset: str
    price: float
    spot: float
    loan: float
    """Contribution of the loan obligation: minus the tokens owed."""
    perp: float
    options: float
    lp: float
    option_detail: tuple[tuple[str, float], ...] = ()
    gamma: float = 0.0
    """Options + LP gamma: change of delta per 1.0 move of the price."""
    options_value: float = 0.0
    """Model value of the options (Black–Scholes), quote currency."""
    options_theta: float = 0.0
    """Options' theta: dV/dt per year of calendar time (negative when long)."""
    options_gamma: float = 0.0
    lp_value: float = 0.0
    """Model value of the LP positions (2 sqrt(K P) each), quote currency."""

    @property
    def net(self) -> float:
        return self.spot + self.loan + self.perp + self.options + self.lp

    @property
    def ex_perp(self) -> float:
        """Everything the perp has to offset: the net delta without the perp."""
        return self.net - self.perp

    def as_dict(self) -> dict[str, Any]:
        return {
            "asset": self.asset,
            "price": self.price,
            "spot": self.spot,
            "loan": self.loan,
            "perp": self.perp,
            "options": self.options,
            "lp": self.lp,
            "net": self.net,
            "gamma": self.gamma,
            "option_detail": {name: delta for name, delta in self.option_detail},
            "options_value": self.options_value,
            "options_theta": self.options_theta,
            "lp_value": self.lp_value,
        }


@dataclass(slots=True)
class _AssetBook:
    spot: Decimal = Decimal(0)
    loan: Decimal = Decimal(0)
    perp: Decimal = Decimal(0)
    options: list[OptionPosition] = field(default_factory=list)
    lps: list[tuple[str, ConstantProductLP]] = field(default_factory=list)


class DeltaBook:
    """Positions per base asset; evaluates their net delta at a price and time.

    Sans-IO and synchronous: the engine calls ``add_spot``/``add_perp`` as fills
    arrive and ``breakdown(asset, price, now_ns)`` when the hedger needs a number.
    """

    def __init__(self) -> None:
        self._assets: dict[str, _AssetBook] = {}

    def _book(self, asset: str) -> _AssetBook:
        book = self._assets.get(asset)
        if book is None:
            book = self._assets[asset] = _AssetBook()
        return book

    def assets(self) -> list[str]:
        return sorted(self._assets)

    # -- inventories (exact) -------------------------------------------------
    def set_spot(self, asset: str, quantity: Decimal) -> None:
        self._book(asset).spot = quantity

    def add_spot(self, asset: str, quantity: Decimal) -> None:
        """Apply a spot fill: ``quantity`` > 0 bought, < 0 sold."""
        self._book(asset).spot += quantity

    def set_loan(self, asset: str, tokens_owed: Decimal) -> None:
        if tokens_owed < 0:
            raise ValueError(f"tokens owed must be >= 0, got {tokens_owed}")
        self._book(asset).loan = tokens_owed

    def set_perp(self, asset: str, quantity: Decimal) -> None:
        """Perp position in units of the asset (contracts x contract size), short < 0."""
        self._book(asset).perp = quantity

    def add_perp(self, asset: str, quantity: Decimal) -> None:
        self._book(asset).perp += quantity

    def spot(self, asset: str) -> Decimal:
        return self._book(asset).spot

    def perp(self, asset: str) -> Decimal:
        return self._book(asset).perp

    def loan(self, asset: str) -> Decimal:
        return self._book(asset).loan

    # -- model positions -----------------------------------------------------
    def add_option(self, option: OptionPosition) -> None:
        self._book(option.asset).options.append(option)

    def add_lp(self, asset: str, lp: ConstantProductLP, label: str = "lp") -> None:
        self._book(asset).lps.append((label, lp))

    # -- evaluation ----------------------------------------------------------
    def breakdown(self, asset: str, price: float, now_ns: int) -> DeltaBreakdown:
        """Net delta of ``asset`` at ``price`` (quote per token) and time ``now_ns``."""
        book = self._book(asset)
        detail: list[tuple[str, float]] = []
        options_gamma = 0.0
        options_total = 0.0
        options_value = 0.0
        options_theta = 0.0
        for option in book.options:
            greeks = option.greeks(price, now_ns)
            qty = float(option.quantity)
            delta = qty * greeks.delta
            detail.append((option.name, delta))
            options_total += delta
            options_gamma += qty * greeks.gamma
            options_value += qty * greeks.price
            options_theta += qty * greeks.theta
        gamma = options_gamma
        lp_total = 0.0
        lp_value = 0.0
        for _label, lp in book.lps:
            lp_total += lp.delta(price)
            gamma += lp.gamma(price)
            lp_value += lp.value(price)
        return DeltaBreakdown(
            asset=asset,
            price=price,
            spot=float(book.spot),
            loan=-float(book.loan),
            perp=float(book.perp),
            options=options_total,
            lp=lp_total,
            option_detail=tuple(detail),
            gamma=gamma,
            options_value=options_value,
            options_theta=options_theta,
            options_gamma=options_gamma,
            lp_value=lp_value,
        )

    def breakdowns(self, prices: Mapping[str, float], now_ns: int) -> dict[str, DeltaBreakdown]:
        """Breakdown of every asset that has a price in ``prices``."""
        return {
            asset: self.breakdown(asset, prices[asset], now_ns) for asset in self.assets() if asset in prices
        }


def aggregate_spot(holdings: Iterable[tuple[str, Decimal]]) -> dict[str, Decimal]:
    """Sum exact spot holdings (e.g. one per venue) per asset."""
    totals: dict[str, Decimal] = {}
    for asset, quantity in holdings:
        totals[asset] = totals.get(asset, Decimal(0)) + quantity
    return totals
