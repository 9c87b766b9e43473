"""Noise (uninformed) swap flow on a pool: seeded, restartable from any arrival.

Owns the arrival process of the swaps that are not arbitrage: a Poisson process of
``rate_per_s`` swaps per second of event time, each a buy or a sell of the token with
probability ``buy_probability``, of a quote notional drawn lognormal around
``median_notional`` (log-std ``sigma``). Arrival ``n`` is drawn from its own generator
seeded with ``(seed, n)`` -- no running RNG state -- so a restarted process that knows
the last arrival continues the very same sequence.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from decimal import Decimal

NS_PER_S = 1_000_000_000


@dataclass(frozen=True, slots=True)
class NoiseSwap:
    index: int
    ts: int
    buy: bool
    """True: the trader buys the token with quote; False: sells the token for quote."""
    notional: Decimal
    """Quote value of the swap (whole quote units, 6 decimals)."""


class NoiseFlow:
    """The seeded arrival process; ``due(now)`` returns the swaps that arrived up to ``now``."""

    def __init__(
        self,
        *,
        seed: int,
        rate_per_s: float,
        median_notional: Decimal,
        sigma: float = 1.0,
        buy_probability: float = 0.5,
        start_ns: int = 0,
        index: int = 0,
    ) -> None:
        if rate_per_s < 0 or not math.isfinite(rate_per_s):
            raise ValueError(f"rate_per_s must be >= 0, got {rate_per_s}")
        if median_notional <= 0:
            raise ValueError(f"median_notional must be > 0, got {median_notional}")
        if not 0 <= buy_probability <= 1:
            raise ValueError(f"buy_probability must be in [0, 1], got {buy_probability}")
        self.seed = seed
        self.rate = rate_per_s
        self.median = float(median_notional)
        self.sigma = sigma
        self.buy_probability = buy_probability
        self.index = index
        """Arrivals drawn so far (the next arrival's number)."""
        self.next_ts = start_ns
        self._pending: NoiseSwap | None = None
        if rate_per_s > 0:
            self._pending = self._draw(index, start_ns)

    def _draw(self, index: int, after_ns: int) -> NoiseSwap:
        rng = random.Random(f"noise:{self.seed}:{index}")
        gap_s = rng.expovariate(self.rate)
        buy = rng.random() < self.buy_probability
        notional = self.median * math.exp(self.sigma * rng.gauss(0.0, 1.0))
        return NoiseSwap(
            index=index,
            ts=after_ns + max(1, round(gap_s * NS_PER_S)),
            buy=buy,
            notional=Decimal(f"{notional:.6f}"),
        )

    @property
    def pending(self) -> NoiseSwap | None:
        """The next arrival (not yet due)."""
        return self._pending

    def due(self, now: int) -> list[NoiseSwap]:
        """Every arrival with ``ts <= now``, in order; the process moves past them."""
        out: list[NoiseSwap] = []
        swap = self._pending
        while swap is not None and swap.ts <= now:
            out.append(swap)
            self.index = swap.index + 1
            self.next_ts = swap.ts
            swap = self._pending = self._draw(self.index, swap.ts)
        return out

    def state(self) -> dict[str, int]:
        return {"index": self.index, "after_ns": self.next_ts}
