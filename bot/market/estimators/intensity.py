"""Order-arrival intensity lambda(delta) = A * exp(-k * delta), fitted from trades.

Avellaneda & Stoikov (2008, section 2.4) model the rate at which a limit order
resting ``delta`` away from the mid is hit as ``A * exp(-k * delta)``. Following the
usual estimation (Gueant-Lehalle-Fernandez-Tapia 2013 practice, hftbacktest's GLFT
tutorial), each market order is an *arrival* at depth ``delta`` = |trade price - mid|
(the deepest price it reached), and an order resting at depth ``x`` is filled by
every arrival with ``delta >= x``. So ``lambda(x)`` is the rate of arrivals at or
beyond ``x``; with exponentially distributed depths it is again ``A * exp(-k x)``.

State: decayed arrival counts in ``bins`` depth bins of ``bin_ticks`` each (the last
bin also holds everything deeper), forming an exponentially weighted rolling window
with time constant ``window_s``. Adding an arrival is O(1): counts are stored scaled
by ``exp(t / window)`` so old arrivals never need touching (rescaled when the factor
gets large). A fit is a weighted least-squares regression of ``ln lambda(x_j)`` on the
bin edges ``x_j`` (weights = arrival counts, the inverse variance of a log Poisson
count); it runs at most every ``refit_interval_s`` and costs O(bins).

Units: delta and 1/k in ticks; ``A`` in arrivals per second *per side* (the fit uses
both sides and halves the rate, i.e. assumes a symmetric book). Bin discreteness
biases ``A`` by at most a factor ``exp(k * bin_ticks / 2)``.

Prints of one aggressor order (same side, same exchange timestamp) form one arrival at
their deepest price, not several shallow ones.
"""

from __future__ import annotations

import math

_RESCALE_ARG = 250.0
"""Rescale the stored counts once their time weight would exceed exp(250)."""


def fit_exponential(
    depths: list[float], rates: list[float], weights: list[float]
) -> tuple[float, float] | None:
    """Weighted least squares of ``ln rate = ln A - k * depth``; returns ``(A, k)``.

    ``None`` when the points do not determine a line (fewer than two distinct depths).
    ``k`` may come out <= 0 on bad data; callers decide what to do with it.
    """
    sw = sx = sy = sxx = sxy = 0.0
    for x, rate, w in zip(depths, rates, weights, strict=True):
        if rate <= 0.0 or w <= 0.0:
            continue
        y = math.log(rate)
        sw += w
        sx += w * x
        sy += w * y
        sxx += w * x * x
        sxy += w * x * y
    if sw <= 0.0:
        return None
    denominator = sw * sxx - sx * sx
    if denominator <= 1e-12 * max(1.0, sw * sxx):
        return None
    slope = (sw * sxy - sx * sy) / denominator
    intercept = (sy - slope * sx) / sw
    return math.exp(intercept), -slope


class IntensityEstimator:
    """Rolling, O(1)-per-trade estimate of ``A`` and ``k`` (see the module docstring)."""

    __slots__ = (
        "_a_scaled",
        "_bin_ticks",
        "_counts",
        "_fit_dirty",
        "_inv_bin",
        "_k",
        "_last_bin",
        "_last_fit_ns",
        "_last_key_side",
        "_last_key_ts",
        "_last_weight",
        "_min_count",
        "_min_points",
        "_points",
        "_ref_ns",
        "_refit_ns",
        "_start_ns",
        "_tau_s",
        "arrivals_total",
    )

    def __init__(
        self,
        *,
        window_s: float,
        bin_ticks: float,
        bins: int,
        min_count: float,
        min_points: int,
        refit_interval_s: float,
    ) -> None:
        self._tau_s = window_s
        self._bin_ticks = bin_ticks
        self._inv_bin = 1.0 / bin_ticks
        self._counts = [0.0] * bins
        self._min_count = min_count
        self._min_points = min_points
        self._refit_ns = int(refit_interval_s * 1e9)
        self._start_ns = -1
        self._ref_ns = 0
        self._last_key_side = 0
        self._last_key_ts = 0
        self._last_bin = 0
        self._last_weight = 0.0
        self._fit_dirty = False
        self._last_fit_ns = -(1 << 62)
        self._k = math.nan
        self._a_scaled = math.nan
        self._points = 0
        self.arrivals_total = 0

    def add(self, ts_ns: int, depth_ticks: float, side: int, exch_ts: int) -> None:
        """Record an aggressor print at ``depth_ticks`` from mid (O(1))."""
        counts = self._counts
        index = int(depth_ticks * self._inv_bin) if depth_ticks > 0.0 else 0
        last = len(counts) - 1
        if index > last:
            index = last
        if exch_ts and exch_ts == self._last_key_ts and side == self._last_key_side:
            # Another print of the same aggressor order: move the arrival deeper if needed.
            if index > self._last_bin:
                weight = self._last_weight
                counts[self._last_bin] -= weight
                counts[index] += weight
                self._last_bin = index
                self._fit_dirty = True
            return
        if self._start_ns < 0:
            self._start_ns = ts_ns
            self._ref_ns = ts_ns
        arg = (ts_ns - self._ref_ns) * 1e-9 / self._tau_s
        if arg > _RESCALE_ARG:
            factor = math.exp(-arg)  # may underflow to 0.0: those arrivals are long gone
            for i in range(len(counts)):
                counts[i] *= factor
            self._last_weight *= factor
            self._ref_ns = ts_ns
            arg = 0.0
        weight = math.exp(arg)
        counts[index] += weight
        self._last_key_side = side
        self._last_key_ts = exch_ts
        self._last_bin = index
        self._last_weight = weight
        self._fit_dirty = True
        self.arrivals_total += 1

    def _decay(self, ts_ns: int) -> float:
        return math.exp(-(ts_ns - self._ref_ns) * 1e-9 / self._tau_s)

    def _observed_s(self, ts_ns: int) -> float:
        """Length of the (exponentially weighted) observation window so far, seconds."""
        if self._start_ns < 0:
            return 0.0
        elapsed = max(0.0, (ts_ns - self._start_ns) * 1e-9)
        return self._tau_s * -math.expm1(-elapsed / self._tau_s)

    def arrivals(self, ts_ns: int) -> float:
        """Decayed number of arrivals in the window at ``ts_ns``."""
        if self._start_ns < 0:
            return 0.0
        total = 0.0  # a compiled loop; the same additions in the same order as sum()
        for count in self._counts:
            total += count
        return total * self._decay(ts_ns)

    def _refit(self, ts_ns: int) -> None:
        counts = self._counts
        decay = self._decay(ts_ns)
        self._fit_dirty = False
        self._last_fit_ns = ts_ns
        if decay <= 0.0:
            self._points = 0
            self._k = self._a_scaled = math.nan
            return
        min_scaled = self._min_count / decay
        depths: list[float] = []
        tails: list[float] = []
        tail = 0.0
        for j in range(len(counts) - 1, -1, -1):
            tail += counts[j]
            if tail >= min_scaled:
                depths.append(j * self._bin_ticks)
                tails.append(tail)
        self._points = len(depths)
        fit = fit_exponential(depths, tails, tails) if self._points >= 2 else None
        if fit is None:
            self._k = math.nan
            self._a_scaled = math.nan
        else:
            self._a_scaled, self._k = fit

    def estimate(self, ts_ns: int) -> tuple[float, float, bool]:
        """``(A per second per side, k per tick, ready)`` at ``ts_ns``; nan when unknown."""
        if self._fit_dirty and ts_ns - self._last_fit_ns >= self._refit_ns:
            self._refit(ts_ns)
        k = self._k
        observed = self._observed_s(ts_ns)
        if not (k > 0.0) or observed <= 0.0:
            return math.nan, k if k > 0.0 else math.nan, False
        a = 0.5 * self._a_scaled * self._decay(ts_ns) / observed
        return a, k, self._points >= self._min_points
