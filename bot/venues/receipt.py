"""Receipt stamps taken where the bytes arrive, not where the message is decoded.

The websockets library parses frames in its protocol's ``data_received`` callback and
queues whole messages; the adapter's read loop picks them up later -- after whatever
else the event loop had to do (decoding and processing the messages before them, a
snapshot, an HTTP request). :class:`StampedClientConnection` records the clock for each
complete data message as it is queued, so the adapter can hand the core the time the
message reached the process (``local_ts``), and the queue lag (receipt -> processing) is
measured over the whole wait inside the process.

What no local stamp can see is a backlog held by the kernel's socket buffer (a process
stopped with ``SIGSTOP``, a paused VM): those bytes are read, and stamped, only when the
process runs again. The exchange-time lag (:mod:`bot.market.lag`) catches that case.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.frames import Frame, Opcode

_DATA = (Opcode.TEXT, Opcode.BINARY, Opcode.CONT)


class StampedClientConnection(ClientConnection):
    """A client connection that stamps each received data message (see module doc)."""

    clock: Callable[[], int] = staticmethod(time.time_ns)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.receipts: deque[int] = deque()
        """Receipt stamps (ns) of the messages queued and not yet read, oldest first."""

    def process_event(self, event: Any) -> None:
        if isinstance(event, Frame) and event.fin and event.opcode in _DATA:
            self.receipts.append(self.clock())
        super().process_event(event)


def stamped_connection(clock: Callable[[], int]) -> type[StampedClientConnection]:
    """A :class:`StampedClientConnection` class reading ``clock`` (an adapter's injected clock)."""
    if clock is time.time_ns:
        return StampedClientConnection
    return type("StampedClientConnection", (StampedClientConnection,), {"clock": staticmethod(clock)})
