"""Counters of one ccxt.pro market-data adapter (logs, status and metrics read them)."""

from __future__ import annotations


class CcxtStats:
    """Monotonic counters of one :class:`~bot.venues.ccxtpro.adapter.CcxtProMarketData`."""

    __slots__ = (
        "book_updates",
        "ccxt_resyncs",
        "checksum_errors",
        "deltas",
        "duplicate_trades",
        "errors",
        "events",
        "invalid",
        "malformed",
        "market_load_errors",
        "marks",
        "message_errors",
        "network_errors",
        "off_tick",
        "sink_errors",
        "snapshot_requests",
        "snapshots",
        "stale_reconnects",
        "trades",
    )

    def __init__(self) -> None:
        self.book_updates = 0  # book images received from ccxt (watch_order_book returns)
        self.snapshots = 0  # BookSnapshot events sent (first image, after every resync / request)
        self.deltas = 0  # BookDelta events sent (diff of consecutive images)
        self.trades = 0  # Trade events sent
        self.marks = 0  # MarkPrice events sent
        self.events = 0  # events handed to the sink (incl. feed status)
        self.snapshot_requests = 0  # request_snapshot() calls (answered with the next image)
        self.ccxt_resyncs = 0  # ccxt replaced its book (after a ChecksumError / reconnect)
        self.checksum_errors = 0  # ccxt ChecksumError: sequence gap or checksum mismatch
        self.network_errors = 0  # ccxt NetworkError / closed connection; retried with backoff
        self.errors = 0  # any other exception from ccxt; retried with backoff
        self.market_load_errors = 0  # load_markets failures; retried with backoff
        self.stale_reconnects = 0  # no book image for stale_after_s: connections dropped
        self.malformed = 0  # frames ccxt could not decode (skipped; its receive loop kept alive)
        self.message_errors = 0  # frames a ccxt handler raised on (skipped)
        self.off_tick = 0  # images/trades with a price or size off the tick/lot grid (skipped)
        self.invalid = 0  # images/trades with missing or unusable values (skipped)
        self.duplicate_trades = 0  # trades ccxt returned twice (dropped by id)
        self.sink_errors = 0  # exceptions raised by the sink (a core bug; logged)

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}
