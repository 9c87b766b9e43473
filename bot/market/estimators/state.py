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

A plain class with read-only (``Final``) attributes, not a msgspec struct: it is built once per
quoting decision and read field by field by the risk manager, its signals and the quoters, all
compiled with mypyc, which read a compiled class's attributes directly (a struct's go through
Python attribute lookup). It is never serialized.
"""

from __future__ import annotations

import math
from typing import Final

NAN = math.nan


class MarketState:
    """What the estimators know at ``ts_ns`` (event time). Keyword arguments only; read-only."""

    __slots__ = (
        "ask_size",
        "best_ask",
        "best_bid",
        "bid_size",
        "book_ok",
        "buy_rate",
        "depth_ask",
        "depth_bid",
        "depth_ratio_ask",
        "depth_ratio_bid",
        "horizons_s",
        "instrument",
        "intensity_a",
        "intensity_arrivals",
        "intensity_k",
        "intensity_ready",
        "liquidations",
        "ma",
        "ma_std",
        "micro",
        "mid",
        "sell_rate",
        "sigma",
        "sigma_warm",
        "trades",
        "trend",
        "ts_ns",
        "volume_rate",
    )

    def __init__(
        self,
        *,
        instrument: str,
        ts_ns: int,
        book_ok: bool,
        best_bid: int = 0,
        best_ask: int = 0,
        bid_size: int = 0,
        ask_size: int = 0,
        mid: float = NAN,
        micro: float = NAN,
        horizons_s: tuple[float, ...] = (),
        sigma: tuple[float, ...] = (),
        sigma_warm: tuple[bool, ...] = (),
        trend: tuple[float, ...] = (),
        volume_rate: float = 0.0,
        buy_rate: float = 0.0,
        sell_rate: float = 0.0,
        depth_bid: int = 0,
        depth_ask: int = 0,
        depth_ratio_bid: float = NAN,
        depth_ratio_ask: float = NAN,
        intensity_a: float = NAN,
        intensity_k: float = NAN,
        intensity_ready: bool = False,
        intensity_arrivals: float = 0.0,
        trades: int = 0,
        liquidations: int = 0,
        ma: float = NAN,
        ma_std: float = NAN,
    ) -> None:
        self.instrument: Final = instrument
        self.ts_ns: Final = ts_ns
        self.book_ok: Final = book_ok
        """Book valid, two-sided and not crossed at the last book update."""
        self.best_bid: Final = best_bid
        self.best_ask: Final = best_ask
        self.bid_size: Final = bid_size
        self.ask_size: Final = ask_size
        self.mid: Final = mid
        self.micro: Final = micro
        """Imbalance-weighted mid: (bid * ask_size + ask * bid_size) / (bid_size + ask_size)."""
        self.horizons_s: Final = horizons_s
        self.sigma: Final = sigma
        """Realized volatility per horizon, ticks / sqrt(s)."""
        self.sigma_warm: Final = sigma_warm
        self.trend: Final = trend
        """Signed drift z-score per horizon (about N(0, 1) when there is no drift)."""
        self.volume_rate: Final = volume_rate
        self.buy_rate: Final = buy_rate
        self.sell_rate: Final = sell_rate
        self.depth_bid: Final = depth_bid
        self.depth_ask: Final = depth_ask
        self.depth_ratio_bid: Final = depth_ratio_bid
        """Displayed bid depth within the band / its EWMA baseline (1 = normal, 0.2 = collapsed)."""
        self.depth_ratio_ask: Final = depth_ratio_ask
        self.intensity_a: Final = intensity_a
        self.intensity_k: Final = intensity_k
        self.intensity_ready: Final = intensity_ready
        self.intensity_arrivals: Final = intensity_arrivals
        """Decayed number of arrivals inside the intensity window."""
        self.trades: Final = trades
        self.liquidations: Final = liquidations
        """Trades seen / liquidation prints ignored (lifetime counters)."""
        self.ma: Final = ma
        """Moving average of the mid sampled every second over ``ma_window_s`` (ticks)."""
        self.ma_std: Final = ma_std
        """Standard deviation of those samples around ``ma`` (ticks; a dispersion, not per sqrt(s))."""

    def sigma_at(self, horizon_s: float) -> float:
        """Sigma (ticks/sqrt(s)) at a configured horizon; nan while not warm."""
        index = self._index(horizon_s)
        return self.sigma[index] if self.sigma_warm[index] else math.nan

    def trend_at(self, horizon_s: float) -> float:
        """Trend z-score at a configured horizon; nan while not warm."""
        index = self._index(horizon_s)
        return self.trend[index] if self.sigma_warm[index] else math.nan

    def _index(self, horizon_s: float) -> int:
        horizons = self.horizons_s
        try:
            return horizons.index(horizon_s)
        except ValueError:
            raise KeyError(f"no estimator horizon {horizon_s} s (have {list(horizons)})") from None

    @property
    def spread(self) -> int:
        """Best ask - best bid in ticks (0 when a side is missing)."""
        return self.best_ask - self.best_bid if self.best_bid and self.best_ask else 0

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in _FIELDS)
        return f"MarketState({fields})"


_FIELDS = (
    "instrument",
    "ts_ns",
    "book_ok",
    "best_bid",
    "best_ask",
    "bid_size",
    "ask_size",
    "mid",
    "micro",
    "horizons_s",
    "sigma",
    "sigma_warm",
    "trend",
    "volume_rate",
    "buy_rate",
    "sell_rate",
    "depth_bid",
    "depth_ask",
    "depth_ratio_bid",
    "depth_ratio_ask",
    "intensity_a",
    "intensity_k",
    "intensity_ready",
    "intensity_arrivals",
    "trades",
    "liquidations",
    "ma",
    "ma_std",
)
"""The fields in declaration order (for ``repr``; compiled classes have no ``__slots__`` to read)."""
