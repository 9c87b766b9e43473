"""Binance diff-depth sync rules (spot and USD-M), exactly as Binance documents them.

Spot (``U``/``u``): drop diffs with ``u <= L`` (L = snapshot ``lastUpdateId``); the
first applied diff has ``U <= L+1 <= u`` (it may start exactly at ``U == L+1``); each
later diff has ``U == previous u + 1``.

USD-M (``pu`` chaining, ids not contiguous): drop diffs with ``u < L``; the first
applied diff has ``U <= L <= u``; each later diff has ``pu == previous u``.
"""

from __future__ import annotations

from bot.core.events import BookDelta
from bot.market.sync.base import BookSync


class BinanceSpotSync(BookSync):
    venue_rule = "binance_spot"

    def is_obsolete(self, delta: BookDelta, snapshot_id: int) -> bool:
        return delta.last_id <= snapshot_id

    def is_first(self, delta: BookDelta, snapshot_id: int) -> bool:
        return delta.first_id <= snapshot_id + 1 <= delta.last_id

    def follows(self, delta: BookDelta, last_id: int) -> bool:
        return delta.first_id == last_id + 1


class BinanceUsdmSync(BookSync):
    venue_rule = "binance_usdm"

    def is_obsolete(self, delta: BookDelta, snapshot_id: int) -> bool:
        return delta.last_id < snapshot_id

    def is_first(self, delta: BookDelta, snapshot_id: int) -> bool:
        return delta.first_id <= snapshot_id <= delta.last_id

    def follows(self, delta: BookDelta, last_id: int) -> bool:
        return delta.prev_id == last_id
