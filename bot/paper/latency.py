"""Latency model of the paper exchange: order entry, cancel and market data.

Each latency is a :class:`LatencyDistribution` (constant, uniform, lognormal or
truncated normal, in milliseconds) sampled with a *counter-based* RNG: the n-th draw of
a stream is ``splitmix64(seed, stream, n)``. A draw therefore depends only on the seed
and on which command / input event it belongs to, never on how many draws happened
before -- which is what makes a restarted run (resuming from the journal) draw exactly
the same latencies as an uninterrupted one, with no RNG state to persist.

Latencies are integer nanoseconds of event time; floats are used only to shape the
distribution.
"""

from __future__ import annotations

import math
from enum import StrEnum
from statistics import NormalDist

import msgspec

_MASK = (1 << 64) - 1
_NORMAL = NormalDist()
_TWO_53 = float(1 << 53)

STREAM_ENTRY = 1
STREAM_CANCEL = 2
STREAM_MARKET_DATA = 3


def splitmix64(x: int) -> int:
    """One splitmix64 output for state ``x`` (Steele, Lea & Flood 2014)."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def uniform01(seed: int, stream: int, index: int) -> float:
    """A uniform float in (0, 1) determined by ``(seed, stream, index)``."""
    key = splitmix64((seed & _MASK) ^ (stream * 0xD1B54A32D192ED03 & _MASK))
    bits = splitmix64((key + index) & _MASK) >> 11
    return (bits + 0.5) / _TWO_53


class DistributionKind(StrEnum):
    CONSTANT = "constant"
    UNIFORM = "uniform"
    LOGNORMAL = "lognormal"
    NORMAL = "normal"


class LatencyDistribution(msgspec.Struct, frozen=True, kw_only=True):
    """A latency distribution in milliseconds.

    - ``constant``: always ``ms``.
    - ``uniform``: between ``low_ms`` and ``high_ms``.
    - ``lognormal``: median ``ms``, shape ``sigma`` (of the underlying normal).
    - ``normal``: mean ``ms``, standard deviation ``stdev_ms``.
    Every draw is clipped to ``[low_ms, high_ms]`` when those are set (``high_ms`` <= 0
    means no upper bound); latencies are never negative.
    """

    kind: DistributionKind = DistributionKind.CONSTANT
    ms: float = 0.0
    low_ms: float = 0.0
    high_ms: float = 0.0
    sigma: float = 0.5
    stdev_ms: float = 0.0

    @property
    def is_constant(self) -> bool:
        return self.kind is DistributionKind.CONSTANT

    def quantile_ms(self, u: float) -> float:
        """The latency at quantile ``u`` in (0, 1), before clipping."""
        kind = self.kind
        if kind is DistributionKind.CONSTANT:
            return self.ms
        if kind is DistributionKind.UNIFORM:
            return self.low_ms + (self.high_ms - self.low_ms) * u
        if kind is DistributionKind.LOGNORMAL:
            return self.ms * math.exp(self.sigma * _NORMAL.inv_cdf(u))
        return self.ms + self.stdev_ms * _NORMAL.inv_cdf(u)

    def sample_ns(self, u: float) -> int:
        value = self.quantile_ms(u)
        low = max(self.low_ms, 0.0)
        if value < low:
            value = low
        if self.high_ms > 0 and value > self.high_ms:
            value = self.high_ms
        return round(value * 1_000_000)


class LatencyModel:
    """Order-entry, cancel and market-data latencies drawn per command / per event."""

    __slots__ = ("_cancel_const", "_entry_const", "_md_const", "cancel", "entry", "market_data", "seed")

    def __init__(
        self,
        entry: LatencyDistribution | None = None,
        cancel: LatencyDistribution | None = None,
        market_data: LatencyDistribution | None = None,
        seed: int = 0,
    ) -> None:
        self.entry = entry or LatencyDistribution()
        self.cancel = cancel or LatencyDistribution()
        self.market_data = market_data or LatencyDistribution()
        self.seed = seed
        self._entry_const = self.entry.sample_ns(0.5) if self.entry.is_constant else None
        self._cancel_const = self.cancel.sample_ns(0.5) if self.cancel.is_constant else None
        self._md_const = self.market_data.sample_ns(0.5) if self.market_data.is_constant else None

    def entry_ns(self, command_seq: int) -> int:
        """Order-entry latency of the ``command_seq``-th command (time to reach the venue)."""
        if self._entry_const is not None:
            return self._entry_const
        return self.entry.sample_ns(uniform01(self.seed, STREAM_ENTRY, command_seq))

    def cancel_ns(self, command_seq: int) -> int:
        if self._cancel_const is not None:
            return self._cancel_const
        return self.cancel.sample_ns(uniform01(self.seed, STREAM_CANCEL, command_seq))

    @property
    def entry_constant_ns(self) -> int | None:
        return self._entry_const

    @property
    def cancel_constant_ns(self) -> int | None:
        return self._cancel_const

    @property
    def market_data_constant_ns(self) -> int | None:
        """The market-data latency if it is constant (the exchange's fast path)."""
        return self._md_const

    def market_data_ns(self, position: int) -> int:
        """How long before we received input event ``position`` it happened at the venue."""
        if self._md_const is not None:
            return self._md_const
        return self.market_data.sample_ns(uniform01(self.seed, STREAM_MARKET_DATA, position))
