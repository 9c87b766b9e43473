"""Model inputs taken from a :class:`MarketState`: fair value, sigma, intensity.

Each helper returns ``nan`` plus a short reason when the input is not available, so
a quoter can decline to quote and say why instead of quoting on a made-up number.
"""

from __future__ import annotations

import math
from typing import Literal

from bot.market.estimators.state import MarketState

FairValue = Literal["mid", "micro"]


def fair_value(state: MarketState, source: FairValue) -> float:
    """Mid or micro-price in ticks (nan when the book has no two-sided top)."""
    return state.micro if source == "micro" else state.mid


def resolve_sigma(
    state: MarketState, fixed: float | None, horizon_s: float, floor: float
) -> tuple[float, str]:
    """``(sigma in ticks/sqrt(s), "")`` or ``(nan, reason)``."""
    if fixed is not None:
        return max(fixed, floor), ""
    sigma = state.sigma_at(horizon_s)
    if math.isnan(sigma):
        return math.nan, f"sigma({horizon_s:g}s) warming up"
    return max(sigma, floor), ""


def resolve_intensity(
    state: MarketState, source: Literal["fixed", "estimated"], a: float, k: float
) -> tuple[float, float]:
    """``(A, k)``: the estimators' fit when asked for and ready, else the fixed values."""
    if source == "estimated" and state.intensity_ready:
        return state.intensity_a, state.intensity_k
    return a, k


def clamp_half_spread(half: float, low: float, high: float | None) -> float:
    if half < low:
        half = low
    if high is not None and half > high:
        half = high
    return half
