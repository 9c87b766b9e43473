"""How late market data arrives, by the exchange's clock, without trusting either clock.

A message's delay ``local receipt - exchange event time`` mixes the network latency with
the offset between the two clocks, which can be anything: the bundled 2024 recordings
were made by a recorder whose clock ran 1.27-1.52 s *behind* the exchange (negative
delays), an emulator replays years-old event times, a VM's clock is off by a few hundred
milliseconds. So the lag is measured against a learned baseline, the lowest delay seen:
``lag = delay - baseline``, zero when data arrives as fast as it ever has.

The baseline is a *leaky* minimum: it follows any lower delay at once and may rise by at
most ``drift`` seconds per second of local time. A bot that stops for a few seconds
(``SIGSTOP``, a GC or VM pause, a congested link) comes back to a backlog whose delays
are seconds above the baseline: a lag the check sees at once, although every local
receipt stamp of that backlog is fresh (it waited in the kernel's socket buffer, where
no local stamp can see it). Genuine clock drift (parts per million) and an emulator
replaying faster than real time (delays fall) are absorbed; an emulator replaying slower
than real time makes delays rise by ``1 - speed`` per second, so ``drift`` must exceed
that there. A lag that builds up slower than ``drift`` is forgiven too: the price of not
trusting the clocks.

Pure integer arithmetic on event timestamps: no clock is read here.
"""

from __future__ import annotations


class ExchangeLag:
    """Leaky-minimum baseline of ``local_ts - exch_ts`` and the lag above it (see module doc)."""

    __slots__ = ("_last_local", "baseline", "drift", "known")

    def __init__(self, drift: float = 0.01) -> None:
        if drift < 0:
            raise ValueError(f"drift must be >= 0, got {drift}")
        self.drift = drift
        self.baseline = 0
        """Lowest recent delay, ns (valid once :attr:`known`)."""
        self.known = False
        self._last_local = 0

    def observe(self, local_ts: int, exch_ts: int) -> int:
        """The lag (ns, >= 0) of one message received at ``local_ts`` stamped ``exch_ts``."""
        delay = local_ts - exch_ts
        if not self.known:
            self.known = True
            self.baseline = delay
            self._last_local = local_ts
            return 0
        elapsed = local_ts - self._last_local
        baseline = self.baseline
        if elapsed > 0:
            baseline += int(self.drift * elapsed)
            self._last_local = local_ts
        if delay < baseline:
            baseline = delay
        self.baseline = baseline
        return delay - baseline

    def exchange_age(self, now: int, exch_ts: int) -> int:
        """How old, in exchange time, data stamped ``exch_ts`` is at local time ``now`` (ns)."""
        if not self.known:
            return 0
        return now - self.baseline - exch_ts
