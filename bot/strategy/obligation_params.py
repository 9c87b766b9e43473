"""Market-making obligations: the ``[obligations]`` section of the configuration.

An obligation is what a venue (or a token project) requires of a market maker on one
market, and how mmbot's quoting layer meets it (:mod:`bot.strategy.obligations`); the
compliance meter (:mod:`bot.risk.compliance`) measures it the way exchanges do::

    [obligations.engines.abc_binance]     # keyed by engine name (= venue + symbol)
    max_spread_pct = "0.1"                # our best ask - our best bid <= 0.1 % of our best ask
    band_pct = "2"                        # depth counted within +-2 % of mid
    bid_depth = "100000"                  # quote currency, per side
    ask_depth = "100000"
    min_uptime_pct = "95"                 # share of time all three must hold

Percentages are written as percent (``"0.1"`` = 0.1 %), money in the quote currency;
both exact decimals. Pydantic models, ``extra="forbid"``, every field described.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import Field, model_validator

from bot.strategy.params import _Params


class ObligationParams(_Params):
    """One engine's obligation (the measured terms) and how the quoting layer meets it."""

    max_spread_pct: Decimal = Field(
        gt=0,
        le=50,
        description="Maximum spread of our own best quotes, percent of our best ask: "
        "(our best ask - our best bid) / our best ask * 100.",
    )
    band_pct: Decimal = Field(
        gt=0, lt=100, description="Depth is counted within +-band_pct % of the mid price."
    )
    bid_depth: Decimal = Field(
        gt=0, description="Required sum of price x size of our bids within the band, quote currency."
    )
    ask_depth: Decimal = Field(
        gt=0, description="Required sum of price x size of our asks within the band, quote currency."
    )
    min_uptime_pct: Decimal = Field(
        Decimal(95),
        ge=0,
        le=100,
        description="Minimum share of time (per UTC day and over the deal) with spread and both depths met.",
    )
    min_spread_notional: Decimal = Field(
        Decimal(0),
        ge=0,
        description="Only our orders at least this large (quote currency) count as our best bid/ask "
        "for the spread (0 = any order); the spread guards are at least this large.",
    )
    quote: bool = Field(
        True,
        description="false = measure only: the quoting layer places nothing (no guards, no depth "
        "ladder) and leaves the strategy's quotes as they are.",
    )
    depth_levels: int = Field(
        8, ge=2, le=40, description="Orders per side in the depth ladder (the outer ladder)."
    )
    depth_buffer_pct: Decimal = Field(
        Decimal(20),
        ge=0,
        le=200,
        description="The depth ladder places this much more than the requirement, so one level "
        "being replaced or partly filled leaves the obligation met (>= 100 / (depth_levels - 1)).",
    )
    depth_from_pct: Decimal = Field(
        Decimal(25),
        gt=0,
        lt=100,
        description="Innermost depth level, percent of the band away from mid.",
    )
    depth_to_pct: Decimal = Field(
        Decimal(80),
        gt=0,
        lt=100,
        description="Outermost depth level, percent of the band away from mid (< 100: a mid move "
        "must not push it out of the band at once).",
    )
    spread_use_pct: Decimal = Field(
        Decimal(70),
        gt=0,
        le=100,
        description="The spread guards (and clamped strategy quotes) aim at this share of "
        "max_spread_pct, leaving the rest as room for mid moves between re-quotes.",
    )
    guard_notional: Decimal = Field(
        Decimal(0),
        ge=0,
        description="Size of each spread guard, quote currency (0 = the larger of the venue's minimum "
        "order and min_spread_notional).",
    )
    clamp_strategy: bool = Field(
        True,
        description="Pull the strategy's quotes in so their spread stays within the limit (their "
        "sizes unchanged); false = only the guards hold the spread.",
    )
    crisis: Literal["cap", "widen"] = Field(
        "cap",
        description="In CRISIS: cap = the risk manager widens the strategy only up to the limit and "
        "the guards stay; widen = no guards and no clamp: the spread breach is recorded as chosen.",
    )
    reserve_pct: Decimal = Field(
        Decimal(2),
        ge=0,
        lt=100,
        description="Share of the venue balance (base for asks, quote for bids) the layer never "
        "commits, for fees and rounding.",
    )

    @model_validator(mode="after")
    def _ranges(self) -> ObligationParams:
        if self.depth_from_pct >= self.depth_to_pct:
            raise ValueError("depth_from_pct must be below depth_to_pct")
        if self.depth_buffer_pct * (self.depth_levels - 1) < 100:
            need = (Decimal(100) / (self.depth_levels - 1)).quantize(Decimal("0.1"))
            raise ValueError(
                f"depth_buffer_pct {self.depth_buffer_pct} is below 100 / (depth_levels - 1) = {need}: "
                "replacing one level would break the obligation"
            )
        return self

    @property
    def target_factor(self) -> Decimal:
        """Placed depth / required depth."""
        return 1 + self.depth_buffer_pct / 100


class ObligationsSettings(_Params):
    """The ``[obligations]`` table: per-engine terms plus the accounting windows."""

    engines: dict[str, ObligationParams] = Field(
        default_factory=dict, description="Obligation per engine name (engines.NAME)."
    )
    sample_interval_s: float = Field(
        1.0,
        gt=0,
        le=3600,
        description="Journal the measured spread, depths and uptime totals this often (event time); "
        "a restart resumes the uptime accounting from the last one.",
    )
    deal_start: datetime | None = Field(
        None,
        description="Start of the deal's accounting window (ISO 8601 with a time zone); unset = the "
        "first measurement on this data directory.",
    )
    deal_end: datetime | None = Field(None, description="End of the deal's accounting window; unset = open.")

    @model_validator(mode="after")
    def _window(self) -> ObligationsSettings:
        for name in ("deal_start", "deal_end"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"{name} needs a time zone, e.g. 2026-12-01T00:00:00Z")
        if self.deal_start and self.deal_end and self.deal_end <= self.deal_start:
            raise ValueError("deal_end must be after deal_start")
        return self

    def window_ns(self) -> tuple[int | None, int | None]:
        """(start, end) of the deal window in ns since the epoch (None = open)."""

        def ns(value: datetime | None) -> int | None:
            return (
                None if value is None else int(value.timestamp()) * 1_000_000_000 + value.microsecond * 1000
            )

        return ns(self.deal_start), ns(self.deal_end)
