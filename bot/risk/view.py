"""The risk manager's numbers in human units, for ``/status`` and ``mmbot regimes show``.

The risk signals are computed (and journaled) in the core's units: the mid in ticks,
the traded volume rate in lots per second. :func:`human_signals` gives the mid as a
price and the volume rate in base units per second (the raw numbers stay as
``mid_ticks`` / ``volume_rate_lots``); :func:`human_limits` does the same for the
limits block of :meth:`bot.risk.manager.RiskManager.status`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bot.core.instrument import InstrumentSpec
from bot.core.units import money_text, price_text, size_places, size_text, tidy


def human_signals(spec: InstrumentSpec, signals: dict[str, Any]) -> dict[str, Any]:
    """Signals with ``mid`` as a price and ``volume_rate`` in base units per second."""
    out: dict[str, Any] = {}
    for key, value in signals.items():
        if key == "mid" and isinstance(value, int | float):
            out["mid"] = price_text(spec, value)
            out["mid_ticks"] = value
        elif key == "volume_rate" and isinstance(value, int | float):
            per_s = Decimal(repr(float(value))) * spec.lot_size
            out["volume_rate"] = format(round(per_s, size_places(spec)), "f")
            out["volume_rate_lots"] = value
        else:
            out[key] = tidy(value)
    if "volume_rate" in out:
        out["volume_rate_unit"] = f"{spec.base}/s"
    return out


def human_limits(spec: InstrumentSpec, limits: dict[str, Any]) -> dict[str, Any]:
    """The limits block with the position in base units and money amounts in fixed point."""
    out: dict[str, Any] = {}
    for key, value in limits.items():
        if key == "position_lots" and isinstance(value, int):
            out["position"] = size_text(spec, value)
            out[key] = value
        elif key in ("position_notional", "daily_loss", "drawdown") and isinstance(value, str | Decimal):
            out[key] = money_text(spec, value)
        else:
            out[key] = tidy(value)
    return out


def human_risk_status(spec: InstrumentSpec, status: dict[str, Any]) -> dict[str, Any]:
    """:meth:`RiskManager.status` with signals and limits in human units."""
    out = dict(status)
    if isinstance(status.get("signals"), dict):
        out["signals"] = human_signals(spec, status["signals"])
    if isinstance(status.get("limits"), dict):
        out["limits"] = human_limits(spec, status["limits"])
    last = status.get("last_transition")
    if isinstance(last, dict) and isinstance(last.get("signals"), dict):
        out["last_transition"] = {**last, "signals": human_signals(spec, last["signals"])}
    return tidy(out)  # type: ignore[no-any-return]
