"""The moving-average band: the mean of the sampled mid over a window and the standard
deviation of the samples around it (the spread optimizer's sigma, as in its source).

The mid prevailing at every whole ``sample_s`` of event time is a sample (a quiet book
repeats its mid; no sample is invented before the first mid). Over the last
``window_s / sample_s`` samples ``p_i``::

    ma  = mean(p_i)
    std = sqrt(mean((p_i - ma)^2))

For a random walk with volatility sigma per sqrt(s) the deviations around a 60-sample
moving average have a standard deviation of about ``sigma * sqrt(60 / 6) = 3.2 sigma``
(the variance of a Brownian path around its own mean over a window ``W`` is
``sigma^2 W / 6``) -- about three times the std of 1-second moves.
Both are ``nan`` until the window is full. O(window) once per sample, O(1) otherwise.
"""

from __future__ import annotations

import math
from collections import deque


class MovingAverageBand:
    __slots__ = ("_next_ns", "_prev_mid", "_sample_ns", "_samples", "ma", "std")

    def __init__(self, window_s: float = 60.0, sample_s: float = 1.0) -> None:
        self._sample_ns = int(sample_s * 1e9)
        size = max(2, round(window_s / sample_s))
        self._samples: deque[float] = deque(maxlen=size)
        self._next_ns = -1
        self._prev_mid = math.nan
        self.ma = math.nan
        self.std = math.nan

    @property
    def window(self) -> int:
        return self._samples.maxlen or 0

    def on_mid(self, mid: float, ts_ns: int) -> None:
        """The mid is ``mid`` from ``ts_ns`` on (ticks, event time)."""
        step = self._sample_ns
        if self._next_ns < 0:
            self._next_ns = (ts_ns // step + 1) * step
        elif ts_ns >= self._next_ns:
            # every sample point passed since the last update saw the previous mid
            count = (ts_ns - self._next_ns) // step + 1
            samples = self._samples
            for _ in range(min(count, samples.maxlen or 0)):
                samples.append(self._prev_mid)
            self._next_ns += count * step
            if len(samples) == samples.maxlen:
                ma = math.fsum(samples) / len(samples)
                self.ma = ma
                self.std = math.sqrt(math.fsum((p - ma) ** 2 for p in samples) / len(samples))
        self._prev_mid = mid
