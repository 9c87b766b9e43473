"""Bybit v5 order-book sync rules (``orderbook.{depth}.{symbol}``, spot and linear).

Bybit's documented procedure: the first message after subscribing is a ``snapshot``;
then ``delta`` messages with absolute sizes (0 deletes a level). A later snapshot
replaces the book. ``u`` is the update id; a message with ``u == 1`` is a full book
sent after a service restart and also replaces the book. Bybit documents ``u`` as
"sequential in normal cases"; the recorded 2024 stream (XRPUSDT ``orderbook.500``, 49
deltas) has every delta at ``u == previous u + 1``, so a delta that does not continue
the chain that way is a break: the book is invalid until a resubscription delivers a
new snapshot. A delta whose ``u`` is not above the last one is a duplicate (dropped).

The decoder maps each message to one event with ``first_id == last_id == u``
(snapshots: ``update_id = u``).
"""

from __future__ import annotations

from bot.core.events import BookDelta, BookSnapshot
from bot.market.sync.stream import StreamSnapshotSync

RESET_ID = 1
"""``u == 1``: Bybit's full book after a service restart."""


class BybitSync(StreamSnapshotSync):
    venue_rule = "bybit"

    def follows(self, delta: BookDelta, last_id: int) -> bool:
        return delta.first_id == last_id + 1

    def follow_rule(self, last_id: int) -> str:
        return f"u == {last_id + 1}"

    def describe(self, delta: BookDelta) -> str:
        return f"u={delta.last_id}"

    def on_delta(self, delta: BookDelta) -> bool:
        if delta.last_id == RESET_ID:
            # a full book, whatever the message type said: replace ours
            return self.on_snapshot(
                BookSnapshot(
                    instrument=delta.instrument,
                    local_ts=delta.local_ts,
                    exch_ts=delta.exch_ts,
                    update_id=RESET_ID,
                    bids=delta.bids,
                    asks=delta.asks,
                )
            )
        return super().on_delta(delta)
