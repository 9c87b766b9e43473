"""Counters of one market-data adapter (logs, status and metrics read them).

The same counters for every venue, so dashboards and tests compare venues directly.
Counters that do not apply to a venue stay 0 (Bybit and OKX fetch no REST snapshots;
Binance sends no application pings).
"""

from __future__ import annotations


class AdapterStats:
    """Monotonic counters of one adapter (exposed to logs, status and metrics)."""

    __slots__ = (
        "acks",
        "connect_failures",
        "connections_opened",
        "decode_errors",
        "disconnects",
        "events",
        "invalid",
        "malformed",
        "messages",
        "off_tick",
        "pings_sent",
        "pong_timeouts",
        "reconnects",
        "resubscribes",
        "rollovers",
        "sink_errors",
        "snapshot_backoffs",
        "snapshot_deduped",
        "snapshot_errors",
        "snapshot_fetches",
        "snapshot_requests",
        "snapshot_skipped",
        "snapshot_timeouts",
        "snapshots_delivered",
        "snapshots_discarded",
        "stale_reconnects",
        "unknown_streams",
        "weight_wait_s",
        "weight_waits",
    )

    def __init__(self) -> None:
        self.messages = 0  # websocket frames received
        self.events = 0  # events handed to the sink (incl. snapshots and feed status)
        self.acks = 0  # frames with nothing for the core: subscription acks, pongs, notices,
        # ticker deltas that change no mark / funding field
        self.decode_errors = 0  # frames that could not be decoded (all kinds below)
        self.malformed = 0  # ... broken JSON / wrong shape
        self.unknown_streams = 0  # ... stream or symbol we did not subscribe to
        self.off_tick = 0  # ... price/size not a multiple of tick/lot
        self.invalid = 0  # ... well-formed JSON with invalid content (incl. venue error answers)
        self.sink_errors = 0  # exceptions raised by the sink (a core bug; logged)
        self.connections_opened = 0  # successful websocket handshakes
        self.connect_failures = 0  # attempts that never completed the handshake
        self.disconnects = 0  # open connections lost or closed
        self.reconnects = 0  # reconnect attempts scheduled
        self.rollovers = 0  # proactive reconnects at max_connection_age_s
        self.stale_reconnects = 0  # reconnects because nothing arrived for stale_after_s
        self.pings_sent = 0  # application-level pings (Bybit {"op":"ping"}, OKX "ping")
        self.pong_timeouts = 0  # ... unanswered within ping_timeout_s: connection closed
        self.snapshot_requests = 0  # request_snapshot() calls
        self.snapshot_deduped = 0  # ... ignored: a fetch / resubscription for it was in flight
        self.snapshot_skipped = 0  # ... ignored: its connection was down (CONNECTED asks again)
        self.snapshot_fetches = 0  # REST depth requests sent
        self.snapshot_errors = 0  # ... failed (HTTP status, network, undecodable body); retried
        self.snapshots_delivered = 0  # snapshots handed to the sink
        self.snapshots_discarded = 0  # fetched, but the connection changed meanwhile
        self.resubscribes = 0  # book channels unsubscribed + subscribed again to get a snapshot
        self.snapshot_timeouts = 0  # ... because a (re)subscription brought no snapshot in time
        self.snapshot_backoffs = 0  # snapshot retries that waited their back-off first
        self.weight_waits = 0  # REST requests that had to wait for request weight
        self.weight_wait_s = 0.0  # ... seconds waited in total

    def as_dict(self) -> dict[str, int | float]:
        return {name: getattr(self, name) for name in self.__slots__}
