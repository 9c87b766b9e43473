"""Event time: the only clock the core reads.

The core's notion of "now" is the local timestamp of the latest event it processed
(live: receive time; replay: the recorded receive time). Drivers inject
:class:`bot.core.events.Timer` events so that silence is noticed too.
"""

from __future__ import annotations


class EventClock:
    __slots__ = ("now",)

    def __init__(self, start_ns: int = 0) -> None:
        self.now = start_ns

    def advance(self, ts_ns: int) -> int:
        """Move to ``ts_ns`` if it is later; the clock never goes backwards."""
        if ts_ns > self.now:
            self.now = ts_ns
        return self.now
