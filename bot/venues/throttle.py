"""Client-side REST throttling by request weight.

Binance limits REST traffic by *request weight* per minute (a depth snapshot of
1000 levels costs 50 on spot, 20 on USD-M). ``asyncio_throttle.Throttler`` counts
calls in a sliding window and knows nothing of weights, so
:class:`WeightedThrottler` acquires it once per weight unit: a request of weight
``w`` enters only when ``w`` units fit into the last ``period_s`` seconds. The
window is sliding, which is stricter than Binance's fixed minute buckets (never
over the limit, at the cost of occasionally waiting a little longer than needed).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from asyncio_throttle import Throttler  # type: ignore[attr-defined]


class WeightedThrottler:
    """Sliding-window weight budget: ``limit`` units per ``period_s`` seconds."""

    def __init__(self, limit: int, period_s: float = 60.0, *, retry_interval_s: float = 0.01) -> None:
        if limit <= 0:
            raise ValueError(f"limit must be positive, got {limit}")
        if period_s <= 0:
            raise ValueError(f"period_s must be positive, got {period_s}")
        self.limit = limit
        self.period_s = period_s
        self._throttler = Throttler(rate_limit=limit, period=period_s, retry_interval=retry_interval_s)
        self._lock = asyncio.Lock()
        self.acquired = 0
        """Weight units granted so far (monotonic)."""
        self.waited_s = 0.0
        """Total time callers spent waiting for budget."""

    async def acquire(self, weight: int = 1) -> None:
        """Wait until ``weight`` units fit into the window, then take them.

        Requests are served first come, first served (a lock keeps a heavy request
        from being starved by a stream of light ones interleaving their units).
        """
        if weight <= 0:
            raise ValueError(f"weight must be positive, got {weight}")
        loop = asyncio.get_running_loop()
        started = loop.time()
        async with self._lock:
            for _ in range(weight):
                await self._throttler.acquire()  # type: ignore[no-untyped-call]
        self.acquired += weight
        self.waited_s += loop.time() - started

    @asynccontextmanager
    async def slot(self, weight: int = 1) -> AsyncIterator[None]:
        """``async with throttler.slot(50): ...`` -- acquire, then run the block."""
        await self.acquire(weight)
        yield

    def in_window(self) -> int:
        """Units used in the current window (for status/metrics)."""
        self._throttler.flush()  # type: ignore[no-untyped-call]
        return len(self._throttler._task_logs)
