"""Sync for venues that send the snapshot in the stream itself (Bybit v5, OKX).

On these venues a (re)subscription answers with a full book snapshot *in the same
websocket stream*, followed by deltas; there is no REST snapshot to splice and
nothing to buffer. So, unlike :class:`~bot.market.sync.base.BookSync`'s Binance
procedure:

- a snapshot replaces the book and the book is live at once (it *is* the current
  book); deltas buffered while waiting for it predate it and are discarded
  (counted as ``skipped``);
- each later delta must continue the chain (:meth:`follows`); a break invalidates
  the book and asks for a new snapshot, which the adapter fulfils by resubscribing
  the book channel;
- :meth:`_verify` runs after the snapshot and after every applied delta; a venue
  rule that can check the book (OKX's checksum) overrides it and returns a reason
  on mismatch.

No I/O and no clock: time arrives with the events.
"""

from __future__ import annotations

from bot.core.events import BookDelta, BookSnapshot
from bot.market.sync.base import BookSync, SyncState


class StreamSnapshotSync(BookSync):
    """Base of in-stream snapshot venues (see module doc)."""

    venue_rule = "stream"

    # The splice predicates of the REST procedure do not apply: the snapshot is the book.
    def is_obsolete(self, delta: BookDelta, snapshot_id: int) -> bool:
        return True

    def is_first(self, delta: BookDelta, snapshot_id: int) -> bool:
        return False

    def _verify(self, checksum: int | None, update_id: int) -> str | None:
        """Check the book against the venue's own check value; a reason if it fails."""
        return None

    def on_snapshot(self, snapshot: BookSnapshot) -> bool:
        """Replace the book; live at once unless the snapshot itself is bad."""
        self.counters.skipped += len(self._buffer)
        self._buffer.clear()
        self.book.load(snapshot.bids, snapshot.asks, snapshot.update_id)
        self.counters.snapshots += 1
        self._snapshot_id = self.last_id = snapshot.update_id
        self.pending_request = None
        book = self.book
        if book.is_crossed:
            self.counters.crossed += 1
            self._invalidate(
                f"crossed snapshot {snapshot.update_id}: bid {book.best_bid} >= ask {book.best_ask}"
            )
            return False
        problem = self._verify(snapshot.checksum, snapshot.update_id)
        if problem is not None:
            self._invalidate(problem)
            return False
        self._go_live()
        book.valid = True
        return True

    def _apply(self, delta: BookDelta) -> bool:
        applied = super()._apply(delta)
        if self.state is SyncState.LIVE:
            problem = self._verify(delta.checksum, delta.last_id)
            if problem is not None:
                self._invalidate(problem)
        return applied
