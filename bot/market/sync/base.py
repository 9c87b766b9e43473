"""Book synchronisation: the state machine that decides what reaches the book.

A venue's diff stream is only meaningful relative to a snapshot. :class:`BookSync`
buffers diffs while it waits for a snapshot, splices the two together by update id,
then checks the chain on every diff. Any break (gap, crossed book, stale or
disconnected feed) marks the book invalid, records why, and raises a resync request
that the async edge fulfils (REST snapshot, resubscribe) by feeding a new
:class:`BookSnapshot` back in. Venue rules are three small predicates implemented by
subclasses (see :mod:`bot.market.sync.binance`), plus the text of each rule so that a
message says which rule failed, with the numbers.

A snapshot that no buffered diff can be spliced onto is retried only when it is really
behind the stream (a buffered or arriving diff is past it without connecting to it); the
buffered diffs newer than it are kept for the next one (a REST snapshot may be served
from a cache that lags the stream). Only the longest chained tail of the buffer is
considered: a stray diff with bogus ids breaks the chain and falls out.
:attr:`BookSync.request_attempt` counts the snapshot requests since the book was last
live, so the edge can back off (:class:`~bot.core.actions.RequestSnapshot` ``attempt``).

No I/O and no clock: time arrives with the events.
"""

from __future__ import annotations

from collections import deque
from enum import StrEnum

from bot.core.events import BookDelta, BookSnapshot
from bot.core.instrument import InstrumentSpec
from bot.market.book import OrderBook


class SyncState(StrEnum):
    AWAITING_SNAPSHOT = "awaiting_snapshot"
    SYNCING = "syncing"
    LIVE = "live"


_COUNTER_FIELDS = (
    "applied",
    "checksum_failures",
    "checksums",
    "crossed",
    "dropped",
    "gaps",
    "overflow",
    "resyncs",
    "skipped",
    "snapshot_retries",
    "snapshots",
    "stale",
)
"""The counters, in the order :meth:`SyncCounters.as_dict` lists them (compiled classes have no
``__slots__`` attribute to read them from)."""


class SyncCounters:
    """Monotonic counters exposed to logs and metrics."""

    __slots__ = _COUNTER_FIELDS

    def __init__(self) -> None:
        self.applied = 0  # diffs applied to the book
        self.gaps = 0  # chain breaks detected
        self.crossed = 0  # diffs that left the book crossed
        self.stale = 0  # feed went silent while live
        self.resyncs = 0  # times the book was invalidated and a new snapshot requested
        self.snapshots = 0  # snapshots loaded
        self.snapshot_retries = 0  # snapshots too old for the buffered diffs
        self.dropped = 0  # duplicate / out-of-order diffs discarded while live
        self.skipped = 0  # buffered diffs already covered by the snapshot (normal)
        self.overflow = 0  # diffs lost because the pre-snapshot buffer was full
        self.checksums = 0  # venue book checksums verified equal (OKX)
        self.checksum_failures = 0  # ... that did not match: book invalid, resync

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in _COUNTER_FIELDS}


class BookSync:
    """Venue-neutral sync state machine around one :class:`OrderBook`."""

    venue_rule = "abstract"

    def __init__(self, book: OrderBook, max_buffer: int = 10_000) -> None:
        self.book = book
        self.state = SyncState.AWAITING_SNAPSHOT
        self.counters = SyncCounters()
        self._buffer: deque[BookDelta] = deque(maxlen=max_buffer)
        self._snapshot_id = -1
        self.last_id = -1
        self.invalid_reason = "no snapshot yet"
        self.last_break = ""
        """Why the book was last invalidated (kept while it resyncs: the reason moves on to
        what the resync waits for)."""
        self.pending_request: str | None = None
        """Why a (new) snapshot is needed; the engine turns it into a resync action."""
        self.request_attempt = 0
        """Snapshot requests since the book was last live (1 = the first one): retries back off."""
        self.spec: InstrumentSpec | None = None

    def bind(self, spec: InstrumentSpec) -> None:
        """Give the rule the instrument's spec (the engine calls this once). Rules that
        need tick / lot sizes (OKX's text checksum) read them from here."""
        self.spec = spec

    def fork(self) -> BookSync:
        """An independent sync in this one's exact state, around a copy of its book: from here
        on the two may be fed differently (the paper venue's copy when the engine distrusts
        its book; see :meth:`bot.paper.exchange.PaperExchange.share_book`)."""
        other = type(self)(self.book.copy(), self.max_buffer)
        if self.spec is not None:
            other.bind(self.spec)
        other.state = self.state
        other._buffer.extend(self._buffer)
        other._snapshot_id = self._snapshot_id
        other.last_id = self.last_id
        other.invalid_reason = self.invalid_reason
        other.last_break = self.last_break
        other.pending_request = self.pending_request
        other.request_attempt = self.request_attempt
        for name in _COUNTER_FIELDS:
            setattr(other.counters, name, getattr(self.counters, name))
        self._fork_into(other)
        return other

    def _fork_into(self, other: BookSync) -> None:
        """Copy a venue rule's own state into ``other`` (same class) in :meth:`fork`."""

    # ---- venue rules (override) ------------------------------------------------------

    def is_obsolete(self, delta: BookDelta, snapshot_id: int) -> bool:
        """The delta is fully contained in the snapshot: discard it."""
        raise NotImplementedError

    def is_first(self, delta: BookDelta, snapshot_id: int) -> bool:
        """The delta is the first one to apply on top of the snapshot."""
        raise NotImplementedError

    def follows(self, delta: BookDelta, last_id: int) -> bool:
        """The delta continues the chain whose last applied update id is ``last_id``."""
        raise NotImplementedError

    def is_duplicate(self, delta: BookDelta, last_id: int) -> bool:
        """A live delta that does not follow but is already covered (dropped, not a gap).
        Venues whose ids may restart lower (OKX after maintenance) say False: for them
        every delta that does not follow is a break."""
        return delta.last_id <= last_id

    def first_rule(self, snapshot_id: int) -> str:
        """The splice rule for a snapshot with this id, in the venue's terms (for messages)."""
        return f"first_id <= {snapshot_id + 1} <= last_id"

    def follow_rule(self, last_id: int) -> str:
        """The chain rule after ``last_id``, in the venue's terms (for messages)."""
        return f"first_id == {last_id + 1}"

    def describe(self, delta: BookDelta) -> str:
        """One diff's ids, in the venue's terms (for messages)."""
        return f"{delta.first_id}..{delta.last_id}"

    # ---- inputs ----------------------------------------------------------------------

    @property
    def max_buffer(self) -> int:
        """Diffs buffered at most while waiting for a snapshot."""
        return self._buffer.maxlen or 0

    @property
    def valid(self) -> bool:
        return self.state is SyncState.LIVE

    def on_snapshot(self, snapshot: BookSnapshot) -> bool:
        """Load a snapshot and splice the buffered diffs onto it. True if now live.

        The splice point is the first buffered diff the venue's rule accepts as the
        first one after the snapshot; diffs before it are covered by the snapshot and
        are discarded. If none is accepted but some are newer than the snapshot, the
        snapshot is behind the stream: those diffs are kept and another snapshot is
        requested. If all are covered, the book waits for the first live diff.
        """
        self.book.load(snapshot.bids, snapshot.asks, snapshot.update_id)
        self.book.valid = False
        self.counters.snapshots += 1
        snapshot_id = self._snapshot_id = self.last_id = snapshot.update_id
        self.pending_request = None
        buffered = self._chained_tail()
        self._buffer.clear()
        splice = next((i for i, d in enumerate(buffered) if self.is_first(d, snapshot_id)), None)
        if splice is None:
            newer = [d for d in buffered if not self.is_obsolete(d, snapshot_id)]
            self.counters.skipped += len(buffered) - len(newer)
            if newer:
                self.counters.snapshot_retries += 1
                self._buffer.extend(newer)
                self.state = SyncState.AWAITING_SNAPSHOT
                self.invalid_reason = (
                    f"snapshot {snapshot_id} older than the diff stream: buffered diff "
                    f"{self.describe(newer[0])} is past it (the first diff must have "
                    f"{self.first_rule(snapshot_id)})"
                )
                self._request(self.invalid_reason)
                return False
            self.state = SyncState.SYNCING  # wait for the first live diff
            self.invalid_reason = f"waiting for the first diff after snapshot {snapshot_id}"
            return False
        self.counters.skipped += splice
        self.state = SyncState.SYNCING
        for position in range(splice, len(buffered)):
            self.on_delta(buffered[position])
            if self.state is SyncState.AWAITING_SNAPSHOT:
                # a break after the splice: keep the rest for the next snapshot
                self._buffer.extend(buffered[position + 1 :])
                break
        return self.valid

    def on_delta(self, delta: BookDelta) -> bool:
        """Route one diff. True if it was applied to the book."""
        state = self.state
        if state is SyncState.LIVE:
            if self.follows(delta, self.last_id):
                return self._apply(delta)
            if self.is_duplicate(delta, self.last_id):
                self.counters.dropped += 1  # duplicate or late: already covered
                return False
            self.counters.gaps += 1
            self._invalidate(
                f"gap: expected continuation of {self.last_id} ({self.follow_rule(self.last_id)}), "
                f"got {self.describe(delta)}"
            )
            self._buffer.append(delta)
            return False
        if state is SyncState.SYNCING:
            snapshot_id = self._snapshot_id
            if self.is_obsolete(delta, snapshot_id):
                self.counters.skipped += 1
                return False
            if self.is_first(delta, snapshot_id):
                self._go_live()
                return self._apply(delta)
            self.counters.snapshot_retries += 1
            self.state = SyncState.AWAITING_SNAPSHOT
            self.invalid_reason = (
                f"snapshot {snapshot_id} older than the diff stream: the next diff "
                f"{self.describe(delta)} is past it (the first diff must have {self.first_rule(snapshot_id)})"
            )
            self._buffer.append(delta)  # the next snapshot may still need it
            self._request(self.invalid_reason)
            return False
        if len(self._buffer) == self._buffer.maxlen:
            self.counters.overflow += 1
        self._buffer.append(delta)
        return False

    def invalidate(self, reason: str, *, request_snapshot: bool = True) -> None:
        """Mark the book untrustworthy from outside (stale feed, disconnect)."""
        if reason.startswith("stale") and self.state is not SyncState.AWAITING_SNAPSHOT:
            self.counters.stale += 1
        self._buffer.clear()
        self._invalidate(reason, request_snapshot=request_snapshot)

    def request_snapshot(self, reason: str) -> None:
        """Ask for a snapshot without changing state (e.g. after connecting)."""
        if self.state is SyncState.AWAITING_SNAPSHOT:
            self._request(reason)

    # ---- internals -------------------------------------------------------------------

    def _request(self, reason: str) -> None:
        self.pending_request = reason
        self.request_attempt += 1

    def _go_live(self) -> None:
        self.state = SyncState.LIVE
        self.invalid_reason = ""
        self.request_attempt = 0

    def _chained_tail(self) -> list[BookDelta]:
        """The longest suffix of the buffer in which every diff continues the one before."""
        buffered = list(self._buffer)
        start = len(buffered) - 1
        while start > 0 and self.follows(buffered[start], buffered[start - 1].last_id):
            start -= 1
        return buffered[max(start, 0) :]

    def _apply(self, delta: BookDelta) -> bool:
        book = self.book
        book.apply(delta.bids, delta.asks)
        book.update_id = self.last_id = delta.last_id
        self.counters.applied += 1
        if book.is_crossed:
            self.counters.crossed += 1
            self._invalidate(
                f"crossed book after update {delta.last_id}: bid {book.best_bid} >= ask {book.best_ask}"
            )
            return True
        book.valid = True
        return True

    def _invalidate(self, reason: str, *, request_snapshot: bool = True) -> None:
        if self.state is not SyncState.AWAITING_SNAPSHOT:
            self.counters.resyncs += 1
        self.state = SyncState.AWAITING_SNAPSHOT
        self.book.valid = False
        self.invalid_reason = self.last_break = reason
        self.pending_request = None
        if request_snapshot:
            self._request(reason)
