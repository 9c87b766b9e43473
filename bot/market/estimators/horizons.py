"""A :class:`~bot.market.estimators.state.MarketState`'s per-horizon values read by horizon:
sigma and trend at a configured estimator horizon.

The hot path's reads (every quote reads sigma), compiled with mypyc; the struct's methods
(:meth:`MarketState.sigma_at`, :meth:`MarketState.trend_at`) call these, and compiled callers
call them directly. The struct itself stays in the interpreted :mod:`bot.market.estimators.state`
(mypyc would drop its class keywords).
"""

from __future__ import annotations

import math
from typing import Protocol


class PerHorizon(Protocol):
    """The per-horizon fields read here (:class:`~bot.market.estimators.state.MarketState`,
    which imports this module)."""

    @property
    def horizons_s(self) -> tuple[float, ...]: ...
    @property
    def sigma(self) -> tuple[float, ...]: ...
    @property
    def sigma_warm(self) -> tuple[bool, ...]: ...
    @property
    def trend(self) -> tuple[float, ...]: ...


def horizon_index(state: PerHorizon, horizon_s: float) -> int:
    """Position of ``horizon_s`` in ``state.horizons_s``; KeyError naming the horizons if absent."""
    horizons = state.horizons_s
    try:
        return horizons.index(horizon_s)
    except ValueError:
        raise KeyError(f"no estimator horizon {horizon_s} s (have {list(horizons)})") from None


def sigma_at(state: PerHorizon, horizon_s: float) -> float:
    """Sigma (ticks/sqrt(s)) at a configured horizon; nan while not warm."""
    index = horizon_index(state, horizon_s)
    return state.sigma[index] if state.sigma_warm[index] else math.nan


def trend_at(state: PerHorizon, horizon_s: float) -> float:
    """Trend z-score at a configured horizon; nan while not warm."""
    index = horizon_index(state, horizon_s)
    return state.trend[index] if state.sigma_warm[index] else math.nan
