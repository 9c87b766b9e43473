"""Markouts of our fills, computed as the fills age: the live measure of adverse selection.

A fill of side ``s`` (+1 buy, -1 sell) at price ``p`` has the markout at horizon ``h``

    markout_h = s * (mid(t + h) - p) / p * 1e4   bps

where ``t`` is the fill's (venue) time and ``mid(t + h)`` the book mid prevailing at
``t + h`` -- the mid after the last book event at or before ``t + h``, taken when the
first event after it arrives (event time, no clock). Positive = the market moved our way
(we bought below / sold above where it went); negative = adverse selection. Horizons:
1 s, 10 s and 60 s.

:class:`MarkoutTracker` keeps the fills waiting for each horizon, completes them in
:meth:`~MarkoutTracker.advance` and returns the completed :class:`Markout` records (the
engine journals them, so ``mmbot report`` and replays read the same numbers), and keeps
per horizon and side: the count, the mean in bps, the size-weighted total in ticks x lots,
and an EWMA over fills (``alpha = 1 / ewma_fills``) that the quoter's optional
adverse-selection term reads (:mod:`bot.strategy.costs`). Pure and synchronous. Compiled with
mypyc; the :class:`Markout` struct lives in :mod:`bot.strategy.markout_record` (re-exported here).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any

from bot.strategy.fee_rates import AdverseSelection
from bot.strategy.markout_record import Markout

__all__ = ["HORIZONS_S", "NS", "Markout", "MarkoutTracker", "SideStats", "from_payload"]

HORIZONS_S: tuple[int, ...] = (1, 10, 60)
NS = 1_000_000_000


class SideStats:
    """Markouts of one horizon and side."""

    __slots__ = ("ewma_bps", "n", "sum_bps", "total")

    def __init__(self) -> None:
        self.n = 0
        self.sum_bps = 0.0
        self.total = 0.0
        """Size-weighted sum of ``side * (mid - price)`` in ticks x lots."""
        self.ewma_bps = 0.0

    def add(self, markout: Markout, alpha: float) -> None:
        self.n += 1
        self.sum_bps += markout.bps
        self.total += markout.side * (markout.mid - markout.price) * markout.size
        self.ewma_bps = markout.bps if self.n == 1 else self.ewma_bps + alpha * (markout.bps - self.ewma_bps)

    @property
    def mean_bps(self) -> float | None:
        return self.sum_bps / self.n if self.n else None


class MarkoutTracker:
    """Fills waiting for their horizons, and the running statistics."""

    __slots__ = ("_alpha", "_last_mid", "_pending", "horizons_s", "stats")

    def __init__(self, horizons_s: tuple[int, ...] = HORIZONS_S, ewma_fills: float = 20.0) -> None:
        self.horizons_s = horizons_s
        self._alpha = 1.0 / max(ewma_fills, 1.0)
        self._pending: dict[int, deque[tuple[int, int, int, int, int]]] = {h: deque() for h in horizons_s}
        """horizon -> (due ts, fill id, side, price, size), in due order."""
        self.stats: dict[tuple[int, int], SideStats] = {
            (h, side): SideStats() for h in horizons_s for side in (1, -1)
        }
        self._last_mid: float | None = None

    def on_fill(
        self, fill_id: int, ts: int, side: int, price: int, size: int, skip: Iterable[int] = ()
    ) -> None:
        """Our fill at venue time ``ts``; ``skip``: horizons already completed (journal restore)."""
        done = set(skip)
        for horizon in self.horizons_s:
            if horizon not in done:
                self._pending[horizon].append((ts + horizon * NS, fill_id, side, price, size))

    @property
    def pending(self) -> int:
        return sum(len(queue) for queue in self._pending.values())

    def advance(self, now: int, mid: float) -> list[Markout]:
        """The book mid is ``mid`` (ticks) as of event time ``now``: complete every due markout."""
        completed: list[Markout] = []
        previous = self._last_mid if self._last_mid is not None else mid
        for horizon, queue in self._pending.items():
            while queue and queue[0][0] <= now:
                due, fill_id, side, price, size = queue.popleft()
                value = mid if due == now else previous
                markout = Markout(
                    fill_id=fill_id,
                    side=side,
                    price=price,
                    size=size,
                    fill_ts=due - horizon * NS,
                    horizon_s=horizon,
                    mid=value,
                    bps=side * (value - price) / price * 1e4,
                )
                self.record(markout)
                completed.append(markout)
        self._last_mid = mid
        return completed

    def record(self, markout: Markout) -> None:
        """Count a completed markout (also used to restore from the journal)."""
        stats = self.stats.get((markout.horizon_s, markout.side))
        if stats is not None:
            stats.add(markout, self._alpha)

    def adverse(self, horizon_s: int) -> AdverseSelection:
        """The EWMA markouts per side at ``horizon_s`` (0 until a markout exists)."""
        return AdverseSelection(
            bid_bps=self.stats[(horizon_s, 1)].ewma_bps, ask_bps=self.stats[(horizon_s, -1)].ewma_bps
        )

    def summary(self, quote_per_tick_lot: float = 1.0) -> dict[str, Any]:
        """Per horizon (``"1s"``...) and side (``buy``/``sell``/``all``): n, mean and EWMA bps,
        total in the quote currency (``quote_per_tick_lot`` = tick size x lot size)."""
        out: dict[str, Any] = {}
        for horizon in self.horizons_s:
            row: dict[str, Any] = {}
            buy, sell = self.stats[(horizon, 1)], self.stats[(horizon, -1)]
            for name, stats in (("buy", buy), ("sell", sell)):
                row[name] = {
                    "n": stats.n,
                    "mean_bps": _round(stats.mean_bps),
                    "ewma_bps": _round(stats.ewma_bps) if stats.n else None,
                    "total": round(stats.total * quote_per_tick_lot, 8),
                }
            n = buy.n + sell.n
            row["all"] = {
                "n": n,
                "mean_bps": _round((buy.sum_bps + sell.sum_bps) / n) if n else None,
                "total": round((buy.total + sell.total) * quote_per_tick_lot, 8),
            }
            out[f"{horizon}s"] = row
        out["pending"] = self.pending
        return out


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def from_payload(payload: dict[str, Any]) -> Markout:
    """A journaled ``markout`` event back into a :class:`Markout`."""
    fields = {name: payload[name] for name in Markout.__struct_fields__}
    return Markout(**fields)
