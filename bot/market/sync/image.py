"""The book-sync rule for image feeds (ccxt.pro venues).

The ccxt.pro adapter receives whole book images that ccxt has already synchronised,
and sends the core a :class:`BookSnapshot` after every (re)sync and
:class:`BookDelta` diffs between consecutive images otherwise, with contiguous ids
(``first_id == previous last_id + 1``; ``last_id`` is ccxt's nonce where it grows,
e.g. Binance's ``u``). :class:`CcxtImageSync` checks exactly that chain, like the
Binance spot rule, with one difference: an image is the current book, so a snapshot
makes the book valid at once instead of waiting for the first diff after it (the
native REST snapshot may predate the stream; an image cannot). A crossed image is
refused and a new one requested. Pure logic: no I/O, no clock.
"""

from __future__ import annotations

from bot.core.events import BookDelta, BookSnapshot
from bot.market.sync.base import BookSync, SyncState


class CcxtImageSync(BookSync):
    venue_rule = "ccxt_image"

    def is_obsolete(self, delta: BookDelta, snapshot_id: int) -> bool:
        return delta.last_id <= snapshot_id

    def is_first(self, delta: BookDelta, snapshot_id: int) -> bool:
        return delta.first_id <= snapshot_id + 1 <= delta.last_id

    def follows(self, delta: BookDelta, last_id: int) -> bool:
        return delta.first_id == last_id + 1

    def on_snapshot(self, snapshot: BookSnapshot) -> bool:
        if super().on_snapshot(snapshot):
            return True
        if self.state is not SyncState.SYNCING:
            return False  # buffered diffs are newer than the image: another one was requested
        book = self.book
        if book.is_crossed:
            self.counters.crossed += 1
            self._invalidate(
                f"crossed image {snapshot.update_id}: bid {book.best_bid} >= ask {book.best_ask}"
            )
            return False
        self._go_live()
        book.valid = True
        return True
