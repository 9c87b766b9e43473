"""The hedge decision: how much perp to trade, given the net delta. Pure, no I/O.

Owns the rule that turns a net delta (from :mod:`bot.hedge.delta`) into one perp
order quantity, and the hedger's settings model.

Rule (all quantities in units of the base asset):

1. Deviation ``dev = net_delta - target``. If ``|dev| <= band``: do nothing (``None``).
2. The ideal trade is ``-dev``. Orders come in multiples of the perp's ``qty_step``
   (times ``contract_size``). Rounding toward zero never overshoots the target; one
   step more is taken instead when it lands closer to the target *and* still inside
   the band. Consequently, whenever ``step <= 2 * band`` the result is inside the
   band, and the trade never pushes the delta past the opposite band edge.
3. The order must be at least ``min_hedge``, the venue's ``min_qty`` and (given a
   price) its ``min_notional``. A smaller trade is enlarged to that minimum only if the
   enlarged trade does not cross the opposite band edge; otherwise nothing is done
   (the delta stays just outside the band: the band is narrower than the minimum order).
4. ``max_order`` caps one order; the next decision continues the work.

Re-hedging "as spot fills arrive and option deltas move" is this same function called
again with the updated delta; while an order is working, add its remaining signed
quantity (``HedgeExecutor.pending_delta``) to the net delta so it is not doubled.
"""

from __future__ import annotations

import math
from decimal import ROUND_CEILING, Decimal
from typing import Literal

import msgspec
from pydantic import Field, model_validator

from bot.core.events import Side
from bot.core.instrument import InstrumentSpec
from bot.inputmodel import InputModel


class HedgerSettings(InputModel):
    """When and how the hedger trades the perpetual (``[hedge]`` in the config)."""

    enabled: bool = Field(True, description="Hedge the net delta on the perp; false = only report it.")
    band: float = Field(
        gt=0,
        allow_inf_nan=False,
        description="Dead band in base-asset units: no trade while |net delta - target| <= band.",
    )
    target: float = Field(
        0.0, allow_inf_nan=False, description="Net delta the hedger steers to (0 = delta-neutral)."
    )
    min_hedge: Decimal = Field(
        Decimal(0),
        ge=0,
        allow_inf_nan=False,
        description="Smallest hedge order in base-asset units (on top of the venue's min qty/notional).",
    )
    max_order: Decimal | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="Largest single hedge order in base-asset units; larger hedges go in slices. "
        "Unset = no cap.",
    )
    mode: Literal["taker", "passive"] = Field(
        "taker",
        description="taker = cross the spread at once; passive = rest at the touch, then go taker "
        "after passive_timeout_s.",
    )
    passive_timeout_s: float = Field(
        5.0,
        gt=0,
        le=3600,
        description="How long a passive hedge may rest before it is cancelled for a taker.",
    )
    passive_offset_ticks: int = Field(
        0,
        ge=0,
        le=1_000_000,
        description="Passive price this many ticks behind the touch (0 = join best bid/ask).",
    )

    @model_validator(mode="after")
    def _check(self) -> HedgerSettings:
        if self.max_order is not None and self.max_order < self.min_hedge:
            raise ValueError("max_order must be >= min_hedge")
        return self


class HedgeDecision(msgspec.Struct, frozen=True, kw_only=True):
    """One perp order the hedger wants: ``lots`` of the perp's size unit on ``side``."""

    side: Side
    lots: int
    quantity: Decimal
    """Order quantity in the perp's size units (``lots * lot_size``), always > 0."""
    delta_before: float
    delta_after: float
    """Net delta once the order is filled (base-asset units)."""

    @property
    def signed_delta(self) -> float:
        """Change of net delta this order makes when filled."""
        return self.delta_after - self.delta_before


def decide_hedge(
    net_delta: float,
    settings: HedgerSettings,
    spec: InstrumentSpec,
    *,
    price: Decimal | None = None,
) -> HedgeDecision | None:
    """The perp order that brings ``net_delta`` back inside the band, or ``None``.

    ``spec`` is the perp's instrument spec; ``price`` (optional) enables the
    min-notional check. See the module docstring for the rule.
    """
    if not math.isfinite(net_delta):
        raise ValueError(f"net delta must be finite, got {net_delta}")
    band = settings.band
    dev = net_delta - settings.target
    if abs(dev) <= band:
        return None
    unit_dec = spec.qty_step * spec.contract_size
    unit = float(unit_dec)
    direction = -1 if dev > 0 else 1  # perp trade sign that reduces the deviation
    size = abs(dev)

    def after(steps: int) -> float:
        return dev + direction * steps * unit  # deviation left after trading `steps`

    def crosses_far_edge(steps: int) -> bool:
        # For dev > 0 the remaining deviation must stay >= -band (and symmetric).
        return after(steps) * -direction < -band

    near = int(size // unit)
    steps = near
    if not crosses_far_edge(near + 1) and abs(after(near + 1)) < abs(after(near)):
        steps = near + 1

    min_steps = _min_steps(settings, spec, unit_dec, price)
    if steps < min_steps:
        if crosses_far_edge(min_steps):
            return None
        steps = min_steps
    if settings.max_order is not None:
        cap = int(settings.max_order // unit_dec)
        steps = min(steps, cap)
    if steps <= 0:
        return None
    lots = steps * spec.step_lots
    return HedgeDecision(
        side=Side.BUY if direction > 0 else Side.SELL,
        lots=lots,
        quantity=spec.size(lots),
        delta_before=net_delta,
        delta_after=settings.target + after(steps),
    )


def _steps_for(quantity: Decimal, unit: Decimal) -> int:
    """Smallest number of steps of ``unit`` whose total is >= ``quantity``."""
    if quantity <= 0:
        return 0
    return int((quantity / unit).to_integral_value(rounding=ROUND_CEILING))


def _min_steps(settings: HedgerSettings, spec: InstrumentSpec, unit: Decimal, price: Decimal | None) -> int:
    steps = max(
        1,
        _steps_for(settings.min_hedge, unit),
        _steps_for(spec.min_qty * spec.contract_size, unit),
    )
    if price is not None and spec.min_notional > 0:
        if price <= 0:
            raise ValueError(f"price must be positive, got {price}")
        steps = max(steps, _steps_for(spec.min_notional / price, unit))
    return steps
