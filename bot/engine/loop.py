"""The engine loop: feeds market events to books and synchronous handlers.

One :class:`Engine` serves one quoted market and its hedge instrument. It owns an
:class:`OrderBook`, a venue :class:`BookSync` and a :class:`FeedHealth` (cross-checks
against the trade and top-of-book streams, per-stream staleness, falling behind) per
instrument, keeps the event clock, applies the staleness rules on :class:`Timer`
events, and then hands each event to its registered handlers (estimators, paper
exchange, risk, quoter, ...) in registration order. A book is *quotable* when its sync
is live and its feed is not behind (:attr:`InstrumentState.quotable`). Handlers are plain
synchronous callables; whatever needs the outside world goes to :attr:`Engine.outbox` for
the driver.

The :mod:`bot.engine` package is the only place that wires components together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final, Protocol, cast

import structlog

from bot.core.actions import Action, RequestSnapshot
from bot.core.clock import EventClock
from bot.core.events import (
    NS_PER_S,
    BookDelta,
    BookSnapshot,
    Event,
    FeedState,
    FeedStatus,
    MarketEvent,
    Timer,
    TopOfBook,
    Trade,
)
from bot.core.instrument import InstrumentSpec
from bot.market.book import OrderBook
from bot.market.feed_settings import FeedCheckSettings
from bot.market.feedhealth import FeedHealth
from bot.market.sync import BookSync, make_sync

log = structlog.get_logger("bot.engine")

# Final aliases of interpreted names used on every event or order: compiled code reads them
# from C statics instead of looking them up in the module dict.
_TIMER: Final = Timer
_DELTA: Final = BookDelta
_TOP: Final = TopOfBook
_TRADE: Final = Trade
_SNAPSHOT: Final = BookSnapshot
_STATUS: Final = FeedStatus


class Handler(Protocol):
    def __call__(self, event: Event, /) -> None: ...


class BookSharer(Protocol):
    """A paper venue that reads the engine's books instead of keeping copies
    (:meth:`bot.paper.exchange.PaperExchange.share_book`)."""

    def share_book(self, key: str, sync: BookSync) -> bool: ...

    def before_event(self, event: Event, /) -> None: ...

    def on_event(self, event: Event, /) -> None: ...

    def distrusted(self, key: str) -> None: ...


class InstrumentState:
    """Book, sync and feed bookkeeping of one instrument inside an engine."""

    __slots__ = ("book", "health", "last_event_ts", "spec", "sync")

    def __init__(self, spec: InstrumentSpec, sync: BookSync, health: FeedHealth | None = None) -> None:
        self.spec = spec
        self.book = sync.book
        self.sync = sync
        self.health = health or FeedHealth(spec=spec)
        self.last_event_ts = 0

    @property
    def quotable(self) -> bool:
        """The book may be quoted from: its sync is live and its feed is not behind."""
        return self.sync.valid and self.health.behind is None

    @property
    def reason(self) -> str:
        """Why the book is not quotable ('' when it is)."""
        if not self.sync.valid:
            return self.sync.invalid_reason
        return self.health.behind or ""


class Engine:
    """Synchronous event loop of one market-making engine."""

    def __init__(
        self,
        name: str,
        instruments: Iterable[InstrumentSpec],
        *,
        stale_after_s: float = 5.0,
        max_buffer: int = 10_000,
        sync_factory: Callable[[str, OrderBook, int], BookSync] = make_sync,
        checks: FeedCheckSettings | None = None,
    ) -> None:
        self.name = name
        self.clock = EventClock()
        self.stale_after_ns = int(stale_after_s * NS_PER_S)
        self.instruments: dict[str, InstrumentState] = {}
        checks = checks or FeedCheckSettings()
        for spec in instruments:
            sync = sync_factory(spec.venue, OrderBook(spec.key), max_buffer)
            sync.bind(spec)
            self.instruments[spec.key] = InstrumentState(spec, sync, FeedHealth(checks, spec))
        self.handlers: list[Handler] = []
        self._before: list[Handler] = []
        """Run before the books take an event: venues sharing them settle what arrived earlier."""
        self._distrust: list[Callable[[str], None]] = []
        """Told before the engine invalidates a book on its own evidence (feed checks, staleness)."""
        self.outbox: list[Action] = []
        self.events = 0
        self._log = log.bind(engine=name)

    # ---- wiring ----------------------------------------------------------------------

    def add_handler(self, handler: Handler) -> None:
        self.handlers.append(handler)

    def add_venue(self, venue: BookSharer) -> None:
        """Register a paper venue as a handler that reads this engine's books.

        Each event is applied once, to the engine's book: the venue settles the orders that
        arrived before it (``before_event``) before the book changes, and handles it after
        (``on_event``). When the engine invalidates a book on its own evidence, the venue
        first takes a private copy (``distrusted``): the venue's book stays what the feed's
        sequence makes it. A venue that can share none of the books is a plain handler."""
        shared = [key for key, state in self.instruments.items() if venue.share_book(key, state.sync)]
        if shared:
            self._before.append(venue.before_event)
            self._distrust.append(venue.distrusted)
        self.handlers.append(venue.on_event)

    def _invalidate(self, key: str, sync: BookSync, reason: str) -> None:
        for distrusted in self._distrust:
            distrusted(key)
        sync.invalidate(reason)

    def book(self, instrument: str) -> OrderBook:
        return self.instruments[instrument].book

    def drain_actions(self) -> list[Action]:
        actions, self.outbox = self.outbox, []
        return actions

    # ---- the loop --------------------------------------------------------------------

    def on_event(self, event: Event, queue_lag_ns: int = 0) -> None:
        """Process one event to completion (book, cross-checks, then every handler).

        ``queue_lag_ns``: how long the event waited between its socket receipt stamp
        (``local_ts``) and now, measured by a live driver (0 = not measured: replay)."""
        self.events += 1
        now = self.clock.advance(event.local_ts)
        if type(event) is _TIMER:
            for before in self._before:
                before(event)
            self._on_timer(now)
        else:
            instrument = cast(MarketEvent, event).instrument
            state = self.instruments.get(instrument)
            if state is None:
                return
            for before in self._before:
                before(event)
            state.last_event_ts = now
            sync = state.sync
            health = state.health
            was_quotable = sync.valid and health.behind is None
            kind = type(event)
            problem = None
            if kind is _DELTA:
                sync.on_delta(event)  # type: ignore[arg-type]
                problem = health.on_depth(event, state.book, sync.valid, now)  # type: ignore[arg-type]
            elif kind is _TOP:
                problem = health.on_top(event, state.book, sync.valid, now)  # type: ignore[arg-type]
            elif kind is _TRADE:
                problem = health.on_trade(event, state.book, sync.valid, now)  # type: ignore[arg-type]
            elif kind is _SNAPSHOT:
                sync.on_snapshot(event)  # type: ignore[arg-type]
                health.on_snapshot(now)
            elif kind is _STATUS:
                self._on_feed_status(state, event)  # type: ignore[arg-type]
            if queue_lag_ns or health.queue_lag_ns:
                health.on_queue_lag(queue_lag_ns, now)
            if problem is None and health.deadline and now >= health.deadline:
                problem = health.overdue(state.book, sync.valid, now)
            if problem is not None:
                self._invalidate(instrument, sync, problem)
            if sync.pending_request is not None:
                self._request(instrument, sync)
            if (sync.valid and health.behind is None) != was_quotable:
                if not sync.valid:
                    health.reset()
                self._log_validity(state)
        for handler in self.handlers:
            handler(event)

    def _request(self, key: str, sync: BookSync) -> None:
        self.outbox.append(
            RequestSnapshot(instrument=key, reason=sync.pending_request or "", attempt=sync.request_attempt)
        )
        sync.pending_request = None

    def _on_feed_status(self, state: InstrumentState, event: FeedStatus) -> None:
        if event.state is FeedState.CONNECTED:
            state.sync.request_snapshot(f"connected: {event.reason}" if event.reason else "connected")
        else:
            state.sync.invalidate(f"disconnected: {event.reason}", request_snapshot=False)

    def _on_timer(self, now: int) -> None:
        for key, state in self.instruments.items():
            sync = state.sync
            health = state.health
            was_quotable = sync.valid and health.behind is None
            if sync.valid and state.last_event_ts and now - state.last_event_ts > self.stale_after_ns:
                silent = (now - state.last_event_ts) / NS_PER_S
                self._invalidate(key, sync, f"stale: no data for {silent:.1f}s")
            else:
                problem = health.overdue(state.book, sync.valid, now)
                if problem is not None:
                    self._invalidate(key, sync, problem)
            if sync.pending_request is not None:
                self._request(key, sync)
            if (sync.valid and health.behind is None) != was_quotable:
                if not sync.valid:
                    health.reset()
                self._log_validity(state)

    def _log_validity(self, state: InstrumentState) -> None:
        sync = state.sync
        if state.quotable:
            self._log.info(
                "book valid", instrument=state.spec.key, update_id=sync.last_id, levels=len(state.book)
            )
        elif sync.valid:
            self._log.warning(
                "book untradeable",
                instrument=state.spec.key,
                reason=state.health.behind,
                lag_s=round(state.health.lag_ns / NS_PER_S, 3),
                queue_lag_s=round(state.health.queue_lag_ns / NS_PER_S, 3),
            )
        else:
            self._log.warning(
                "book invalid",
                instrument=state.spec.key,
                reason=sync.invalid_reason,
                **sync.counters.as_dict(),
                **state.health.counters.as_dict(),
            )
