"""Requests the synchronous core hands to the async edges.

The core never performs I/O; when it needs something from the outside world (a
fresh book snapshot, ...) it appends an action to the engine's outbox and the driver
that owns the connections carries it out.
"""

from __future__ import annotations

import msgspec


class RequestSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """The book of ``instrument`` needs a new snapshot (REST fetch or resubscribe).

    ``attempt`` counts the requests since the book was last valid (1 = the first): an
    edge that pays for snapshots (REST weight) backs off on retries."""

    instrument: str
    reason: str
    attempt: int = 1


Action = RequestSnapshot
