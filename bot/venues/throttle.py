"""Client-side REST throttling by request weight, with its waits on record.

Binance limits REST traffic by *request weight* per minute (a depth snapshot of 1000
levels costs 50 on spot, 20 on USD-M; the limit is the ``REQUEST_WEIGHT`` entry of
``exchangeInfo.rateLimits``: 6000 per minute on spot, 2400 on USD-M when this was
written). :class:`WeightedThrottler` keeps a sliding window of the weights it granted: a
request of weight ``w`` enters only when ``w`` more units fit into the last ``period_s``
seconds. The window is sliding, which is stricter than Binance's fixed minute buckets
(never over the limit, at the cost of occasionally waiting a little longer than needed).
The venue's own count (the ``X-MBX-USED-WEIGHT-1M`` response header: other clients on
the same IP spend the same budget) is folded in with :meth:`WeightedThrottler.note_used`.

A wait is never silent: the throttler knows how long the current one will last
(:meth:`WeightedThrottler.wait_remaining`, for ``/status``), counts waits and waited
seconds (``/metrics``), and calls ``on_wait(weight, seconds, used, limit)`` when one
starts (the adapter logs it).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress

WaitHook = Callable[[int, float, int, int], None]
"""(weight asked, seconds to wait, units used in the window, limit)."""


class WeightedThrottler:
    """Sliding-window weight budget: ``limit`` units per ``period_s`` seconds."""

    def __init__(self, limit: int, period_s: float = 60.0, *, on_wait: WaitHook | None = None) -> None:
        self._check(limit, period_s)
        self.limit = limit
        self.period_s = period_s
        self.on_wait = on_wait
        self._granted: deque[tuple[float, int]] = deque()  # (loop time, weight), oldest first
        self._used = 0
        self._lock: asyncio.Lock | None = None
        self.acquired = 0
        """Weight units granted so far (monotonic)."""
        self.waited_s = 0.0
        """Total time callers spent waiting for budget."""
        self.waits = 0
        """Requests that had to wait for budget."""
        self.waiting_until: float | None = None
        """Loop time at which the request now waiting expects to proceed (None: none waits)."""

    @staticmethod
    def _check(limit: int, period_s: float) -> None:
        if limit <= 0:
            raise ValueError(f"limit must be positive, got {limit}")
        if period_s <= 0:
            raise ValueError(f"period_s must be positive, got {period_s}")

    def set_limit(self, limit: int, period_s: float | None = None) -> None:
        """Adopt the venue's published limit (e.g. from ``exchangeInfo``)."""
        period = self.period_s if period_s is None else period_s
        self._check(limit, period)
        self.limit = limit
        self.period_s = period

    async def acquire(self, weight: int = 1) -> None:
        """Wait until ``weight`` units fit into the window, then take them.

        Requests are served first come, first served (a lock keeps a heavy request
        from being starved by a stream of light ones).
        """
        if weight <= 0:
            raise ValueError(f"weight must be positive, got {weight}")
        if weight > self.limit:
            raise ValueError(f"weight {weight} can never fit into a budget of {self.limit}")
        loop = asyncio.get_running_loop()
        if self._lock is None:
            self._lock = asyncio.Lock()
        started = loop.time()
        async with self._lock:
            waited = False
            while True:
                now = loop.time()
                wait = self._wait_needed(weight, now)
                if wait <= 0:
                    break
                if not waited:
                    waited = True
                    self.waits += 1
                    if self.on_wait is not None:
                        self.on_wait(weight, wait, self._used, self.limit)
                self.waiting_until = now + wait
                try:
                    await asyncio.sleep(wait)
                finally:
                    self.waiting_until = None
            self._granted.append((now, weight))
            self._used += weight
        self.acquired += weight
        self.waited_s += loop.time() - started

    @asynccontextmanager
    async def slot(self, weight: int = 1) -> AsyncIterator[None]:
        """``async with throttler.slot(50): ...`` -- acquire, then run the block."""
        await self.acquire(weight)
        yield

    def note_used(self, used: int) -> None:
        """The venue says ``used`` units of the window are spent (its response header): count
        what we did not spend ourselves as spent now."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        self._expire(now)
        if used > self._used:
            self._granted.append((now, used - self._used))
            self._used = used

    def in_window(self) -> int:
        """Units used in the current window (for status/metrics)."""
        with suppress(RuntimeError):  # no loop: nothing expires
            self._expire(asyncio.get_running_loop().time())
        return self._used

    def wait_remaining(self) -> float:
        """Seconds until the request now waiting for budget may proceed (0: none waits)."""
        if self.waiting_until is None:
            return 0.0
        return max(0.0, self.waiting_until - asyncio.get_running_loop().time())

    # ---- internals -----------------------------------------------------------------------------

    def _expire(self, now: float) -> None:
        horizon = now - self.period_s
        granted = self._granted
        while granted and granted[0][0] <= horizon:
            self._used -= granted.popleft()[1]

    def _wait_needed(self, weight: int, now: float) -> float:
        self._expire(now)
        excess = self._used + weight - self.limit
        if excess <= 0:
            return 0.0
        freed = 0
        for granted_at, units in self._granted:
            freed += units
            if freed >= excess:
                return granted_at + self.period_s - now + 1e-3
        return self.period_s  # the limit shrank below what is in flight: wait a window
