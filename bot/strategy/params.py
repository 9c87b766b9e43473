"""Validated parameters of each quoter and of the ladder (loaded from profiles).

Pydantic models with ``extra="forbid"``, checked ranges and a description on every
field; a profile (:mod:`bot.strategy.profile`) holds one of the quoter tables plus a
``[ladder]`` table. Units follow :mod:`bot.strategy`: prices in ticks, sigma in
ticks/sqrt(s), gamma, xi and k per tick, A per second, q in quote units, times in
seconds; sizes and positions in the instrument's base asset (exact decimals, turned
into lots when the profile is bound to an instrument).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import Field, model_validator

from bot.inputmodel import InputModel


class _Params(InputModel):
    pass


class _ModelInputs(_Params):
    """Where a model's sigma comes from, and spread guards."""

    sigma: float | None = Field(
        default=None,
        gt=0,
        description="Fixed volatility, ticks/sqrt(s). Unset = the estimators' sigma at sigma_horizon_s.",
    )
    sigma_horizon_s: float = Field(
        default=300.0,
        gt=0,
        description="Which estimator horizon (one of estimators.vol_horizons_s) supplies sigma.",
    )
    sigma_floor: float = Field(
        default=0.0, ge=0, description="Lower bound on the sigma used, ticks/sqrt(s) (0 = none)."
    )
    min_half_spread_ticks: float = Field(
        default=0.0, ge=0, description="Lower bound on the half spread around the reservation price."
    )
    max_half_spread_ticks: float | None = Field(
        default=None, gt=0, description="Upper bound on the half spread (unset = none)."
    )

    @model_validator(mode="after")
    def _spread_bounds(self) -> _ModelInputs:
        if self.max_half_spread_ticks is not None and self.max_half_spread_ticks < self.min_half_spread_ticks:
            raise ValueError("max_half_spread_ticks must be >= min_half_spread_ticks")
        return self


class AvellanedaStoikovParams(_ModelInputs):
    """Avellaneda & Stoikov (2008): r = s - q gamma sigma^2 (T-t);
    spread = gamma sigma^2 (T-t) + (2/gamma) ln(1 + gamma/k)."""

    gamma: float = Field(gt=0, le=1e6, description="Risk aversion, per tick.")
    k: float = Field(
        gt=0, le=1e6, description="Order-arrival decay k, per tick (fallback while the estimate warms up)."
    )
    intensity_source: Literal["fixed", "estimated"] = Field(
        default="fixed",
        description="fixed = use k above; estimated = the estimators' fitted k once ready "
        "(k above until then).",
    )
    horizon: Literal["rolling", "cycle", "finite"] = Field(
        default="rolling",
        description="rolling: T-t = horizon_s always (24/7 markets); cycle: T is the end of the current "
        "horizon_s-long cycle counted from the Unix epoch plus cycle_offset_s (e.g. 86400 = daily at "
        "00:00 UTC); finite: T = end_time, no quotes afterwards.",
    )
    horizon_s: float = Field(
        default=60.0, gt=0, le=365 * 86400, description="T-t (rolling) or the cycle length (cycle), seconds."
    )
    cycle_offset_s: float = Field(
        default=0.0, ge=0, description="Cycle start offset from the Unix epoch, seconds (cycle only)."
    )
    min_tau_s: float = Field(
        default=0.0,
        ge=0,
        description="Lower bound on T-t in cycle mode, so inventory still skews quotes at the cycle end.",
    )
    end_time: datetime | None = Field(
        default=None, description="End of the trading horizon (finite only), ISO 8601 with a time zone."
    )

    @model_validator(mode="after")
    def _horizon(self) -> AvellanedaStoikovParams:
        if self.horizon == "finite":
            if self.end_time is None:
                raise ValueError("horizon = 'finite' needs end_time")
            if self.end_time.tzinfo is None:
                raise ValueError("end_time needs a time zone, e.g. 2026-01-01T00:00:00Z")
        elif self.end_time is not None:
            raise ValueError("end_time applies to horizon = 'finite' only")
        if self.horizon == "cycle" and self.min_tau_s >= self.horizon_s:
            raise ValueError("min_tau_s must be below horizon_s")
        return self


class GlftParams(_ModelInputs):
    """Gueant, Lehalle & Fernandez-Tapia (2013) infinite-horizon closed form."""

    gamma: float = Field(gt=0, le=1e6, description="Risk aversion, per tick.")
    xi: float | None = Field(
        default=None, gt=0, le=1e6, description="Utility parameter xi, per tick (unset = gamma)."
    )
    a: float = Field(
        gt=0, le=1e9, description="Arrival rate A per second per side (fallback while the estimate warms up)."
    )
    k: float = Field(gt=0, le=1e6, description="Arrival decay k, per tick (fallback likewise).")
    intensity_source: Literal["fixed", "estimated"] = Field(
        default="fixed", description="fixed = a and k above; estimated = the estimators' fit once ready."
    )
    inventory_limit: float = Field(
        gt=0,
        le=1e9,
        description="Q: |q| limit in quote units; no quote on a side whose fill would take |q| past it.",
    )


class FixedSpreadParams(_Params):
    """A fixed symmetric spread around fair value (the baseline)."""

    half_spread_ticks: float = Field(gt=0, le=1e9, description="Half spread around fair value, ticks.")


class SpreadOptimizerParams(_Params):
    """Static optimum of P(|move| > h) * (h - fee), move ~ N(0, sigma), around the moving average.

    As in its source: sigma is the standard deviation of the 1-second prices around their
    moving average (``estimators.ma_window_s``, 60 s) and the quotes are centred on that
    average; plus an inventory skew."""

    sigma: float | None = Field(
        default=None,
        gt=0,
        description="Fixed sigma, ticks (a price dispersion, not per sqrt(s)). Unset = the estimators' "
        "std of the 1-second mids around their moving average.",
    )
    sigma_floor: float = Field(default=0.0, ge=0, description="Lower bound on the sigma used, ticks.")
    inventory_skew: float = Field(
        default=0.0,
        ge=0,
        le=100,
        description="Quotes move by inventory_skew * sigma per unit of q against the inventory "
        "(centre = moving average - inventory_skew * sigma * q); 0 = symmetric as in the source.",
    )
    min_half_spread_ticks: float = Field(
        default=0.0, ge=0, description="Lower bound on the half spread around the centre."
    )
    max_half_spread_ticks: float | None = Field(
        default=None, gt=0, description="Upper bound on the half spread (unset = none)."
    )


class CostParams(_Params):
    """The profile's ``[costs]`` table: fee break-even and adverse selection (bot.strategy.costs)."""

    allow_below_break_even: bool = Field(
        default=False,
        description="true = quotes may sit inside the fee break-even distance from fair value (e.g. to "
        "work inventory off at a loss); false = never (the default).",
    )
    min_edge_bps: float = Field(
        default=0.0,
        ge=0,
        le=1000,
        description="Quote at least this far beyond the fee break-even, bps of fair value.",
    )
    adverse_selection_weight: float = Field(
        default=0.0,
        ge=0,
        le=10,
        description="Widen a side by weight x the EWMA of its fills' negative markouts (bps) at "
        "adverse_selection_horizon_s; 0 = off.",
    )
    adverse_selection_horizon_s: Literal[1, 10, 60] = Field(
        default=10, description="Which markout horizon feeds the adverse-selection term."
    )
    adverse_selection_cap_bps: float = Field(
        default=20.0, gt=0, le=1000, description="Largest widening the term may add, bps."
    )


class LadderParams(_Params):
    """How model quotes become orders: levels, sizes, limits (sizes in base asset)."""

    levels: int = Field(default=1, ge=1, le=50, description="Quote levels per side.")
    spacing_ticks: int = Field(default=1, ge=1, le=1_000_000, description="Gap between levels, ticks.")
    size: Decimal = Field(
        gt=0, description="Base order size in base asset, e.g. '0.001'; also the unit of inventory q."
    )
    size_growth: float = Field(
        default=1.0, ge=0.1, le=10, description="Size multiplier from one level to the next (1 = flat)."
    )
    inventory_shaping: float = Field(
        default=0.0,
        ge=0,
        le=10,
        description="eta: bid sizes scale by 1 - eta*u and ask sizes by 1 + eta*u (clipped at 0), "
        "u = (position - target) / max_position.",
    )
    max_position: Decimal = Field(
        gt=0, description="|position| limit in base asset: no level whose fill could go past it."
    )
    inventory_target: Decimal = Field(
        default=Decimal(0), description="Position the quoter steers to, base asset (q is measured from it)."
    )
    post_only: bool = Field(
        default=True,
        description="Bids strictly below the best ask and asks strictly above the best bid.",
    )
    bump_to_min: bool = Field(
        default=True,
        description="Raise a level below min qty / min notional to the minimum (else drop the level).",
    )

    @model_validator(mode="after")
    def _target(self) -> LadderParams:
        if abs(self.inventory_target) >= self.max_position:
            raise ValueError("|inventory_target| must be below max_position")
        return self
