"""Binance diff-depth sync rules (spot and USD-M), exactly as Binance documents them.

Spot (``U``/``u``): drop diffs with ``u <= L`` (L = snapshot ``lastUpdateId``); the
first applied diff has ``U <= L+1 <= u`` (it may start exactly at ``U == L+1``); each
later diff has ``U == previous u + 1``.

USD-M (``pu`` chaining, ids not contiguous): drop diffs with ``u < L``; the first
applied diff has ``U <= L <= u`` -- or ``pu == L``: on a quiet symbol the snapshot is
exactly current, its ``lastUpdateId`` equals the ``u`` of the last diff published before
it, and the next diff starts past it (``U > L``) while chaining onto it (``pu == L``).
Binance's own text only names the first form; refusing the second sends a client into
an endless snapshot loop whenever the book is quiet when the snapshot is taken. Each
later diff has ``pu == previous u``.
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

    def first_rule(self, snapshot_id: int) -> str:
        return f"U <= {snapshot_id + 1} <= u"

    def follow_rule(self, last_id: int) -> str:
        return f"U == {last_id + 1}"

    def describe(self, delta: BookDelta) -> str:
        return f"U={delta.first_id} u={delta.last_id}"


class BinanceUsdmSync(BookSync):
    venue_rule = "binance_usdm"

    def is_obsolete(self, delta: BookDelta, snapshot_id: int) -> bool:
        return delta.last_id < snapshot_id

    def is_first(self, delta: BookDelta, snapshot_id: int) -> bool:
        return delta.first_id <= snapshot_id <= delta.last_id or delta.prev_id == snapshot_id

    def follows(self, delta: BookDelta, last_id: int) -> bool:
        return delta.prev_id == last_id

    def first_rule(self, snapshot_id: int) -> str:
        return f"U <= {snapshot_id} <= u or pu == {snapshot_id}"

    def follow_rule(self, last_id: int) -> str:
        return f"pu == {last_id}"

    def describe(self, delta: BookDelta) -> str:
        return f"U={delta.first_id} u={delta.last_id} pu={delta.prev_id}"
