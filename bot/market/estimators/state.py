"""MarketState: the frozen snapshot of the estimators that quoters and risk read.

Units (the convention of every model in mmbot, see :mod:`bot.strategy`):

- prices, mid, micro-price, depths from mid: **ticks** (floats where a model needs
  them, e.g. a mid between two ticks);
- sigma: **ticks per sqrt(second)** -- the standard deviation of the mid-price change
  over ``dt`` seconds is ``sigma * sqrt(dt)`` ticks;
- trend: a signed, unitless z-score (EWMA drift divided by its standard error);
- volume rates: **lots per second**; displayed depth: **lots**;
- intensity: ``lambda(delta) = A * exp(-k * delta)`` with ``A`` in arrivals per second
  **per side** and ``k`` per tick (delta in ticks from mid).

Unknown values are ``nan`` (never a made-up number); ``*_warm``/``*_ready`` flags say
when a value has enough data behind it.

The struct stays interpreted (mypyc would drop its class keywords); its per-horizon reads are
compiled in :mod:`bot.market.estimators.horizons`.
"""

from __future__ import annotations

import math

import msgspec

from bot.market.estimators.horizons import sigma_at, trend_at

NAN = math.nan


class MarketState(msgspec.Struct, frozen=True, kw_only=True):
    """What the estimators know at ``ts_ns`` (event time)."""

    instrument: str
    ts_ns: int
    book_ok: bool
    """Book valid, two-sided and not crossed at the last book update."""
    best_bid: int = 0
    best_ask: int = 0
    bid_size: int = 0
    ask_size: int = 0
    mid: float = NAN
    micro: float = NAN
    """Imbalance-weighted mid: (bid * ask_size + ask * bid_size) / (bid_size + ask_size)."""
    horizons_s: tuple[float, ...] = ()
    sigma: tuple[float, ...] = ()
    """Realized volatility per horizon, ticks / sqrt(s)."""
    sigma_warm: tuple[bool, ...] = ()
    trend: tuple[float, ...] = ()
    """Signed drift z-score per horizon (about N(0, 1) when there is no drift)."""
    volume_rate: float = 0.0
    buy_rate: float = 0.0
    sell_rate: float = 0.0
    depth_bid: int = 0
    depth_ask: int = 0
    depth_ratio_bid: float = NAN
    """Displayed bid depth within the band / its EWMA baseline (1 = normal, 0.2 = collapsed)."""
    depth_ratio_ask: float = NAN
    intensity_a: float = NAN
    intensity_k: float = NAN
    intensity_ready: bool = False
    intensity_arrivals: float = 0.0
    """Decayed number of arrivals inside the intensity window."""
    trades: int = 0
    liquidations: int = 0
    """Trades seen / liquidation prints ignored (lifetime counters)."""
    ma: float = NAN
    """Moving average of the mid sampled every second over ``ma_window_s`` (ticks)."""
    ma_std: float = NAN
    """Standard deviation of those samples around ``ma`` (ticks; a dispersion, not per sqrt(s))."""

    def sigma_at(self, horizon_s: float) -> float:
        """Sigma (ticks/sqrt(s)) at a configured horizon; nan while not warm."""
        return sigma_at(self, horizon_s)

    def trend_at(self, horizon_s: float) -> float:
        return trend_at(self, horizon_s)

    @property
    def spread(self) -> int:
        """Best ask - best bid in ticks (0 when a side is missing)."""
        return self.best_ask - self.best_bid if self.best_bid and self.best_ask else 0
