"""The engine loop: feeds market events to books and synchronous handlers.

One :class:`Engine` serves one quoted market and its hedge instrument. It owns an
:class:`OrderBook` and a venue :class:`BookSync` per instrument, keeps the event
clock, applies the core staleness rule on :class:`Timer` events, and then hands
each event to its registered handlers (estimators, paper exchange, risk, quoter, ...)
in registration order. Handlers are plain synchronous callables; whatever needs the
outside world goes to :attr:`Engine.outbox` for the driver.

The :mod:`bot.engine` package is the only place that wires components together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

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
    Timer,
)
from bot.core.instrument import InstrumentSpec
from bot.market.book import OrderBook
from bot.market.sync import BookSync, make_sync

log = structlog.get_logger("bot.engine")


class Handler(Protocol):
    def __call__(self, event: Event, /) -> None: ...


class InstrumentState:
    """Book, sync and feed bookkeeping of one instrument inside an engine."""

    __slots__ = ("book", "last_event_ts", "spec", "sync")

    def __init__(self, spec: InstrumentSpec, sync: BookSync) -> None:
        self.spec = spec
        self.book = sync.book
        self.sync = sync
        self.last_event_ts = 0


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
    ) -> None:
        self.name = name
        self.clock = EventClock()
        self.stale_after_ns = int(stale_after_s * NS_PER_S)
        self.instruments: dict[str, InstrumentState] = {}
        for spec in instruments:
            sync = sync_factory(spec.venue, OrderBook(spec.key), max_buffer)
            sync.bind(spec)
            self.instruments[spec.key] = InstrumentState(spec, sync)
        self.handlers: list[Handler] = []
        self.outbox: list[Action] = []
        self.events = 0
        self._log = log.bind(engine=name)

    # ---- wiring ----------------------------------------------------------------------

    def add_handler(self, handler: Handler) -> None:
        self.handlers.append(handler)

    def book(self, instrument: str) -> OrderBook:
        return self.instruments[instrument].book

    def drain_actions(self) -> list[Action]:
        actions, self.outbox = self.outbox, []
        return actions

    # ---- the loop --------------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        """Process one event to completion (book, then every handler)."""
        self.events += 1
        now = self.clock.advance(event.local_ts)
        if isinstance(event, Timer):
            self._check_staleness(now)
        else:
            state = self.instruments.get(event.instrument)
            if state is None:
                return
            state.last_event_ts = now
            sync = state.sync
            was_valid = sync.valid
            if isinstance(event, BookDelta):
                sync.on_delta(event)
            elif isinstance(event, BookSnapshot):
                sync.on_snapshot(event)
            elif isinstance(event, FeedStatus):
                self._on_feed_status(state, event)
            if sync.pending_request is not None:
                self.outbox.append(RequestSnapshot(instrument=event.instrument, reason=sync.pending_request))
                sync.pending_request = None
            if sync.valid != was_valid:
                self._log_validity(state)
        for handler in self.handlers:
            handler(event)

    def _on_feed_status(self, state: InstrumentState, event: FeedStatus) -> None:
        if event.state is FeedState.CONNECTED:
            state.sync.request_snapshot(f"connected: {event.reason}" if event.reason else "connected")
        else:
            state.sync.invalidate(f"disconnected: {event.reason}", request_snapshot=False)

    def _check_staleness(self, now: int) -> None:
        for key, state in self.instruments.items():
            sync = state.sync
            if sync.valid and state.last_event_ts and now - state.last_event_ts > self.stale_after_ns:
                silent = (now - state.last_event_ts) / NS_PER_S
                sync.invalidate(f"stale: no data for {silent:.1f}s")
                if sync.pending_request is not None:
                    self.outbox.append(RequestSnapshot(instrument=key, reason=sync.pending_request))
                    sync.pending_request = None
                self._log_validity(state)

    def _log_validity(self, state: InstrumentState) -> None:
        sync = state.sync
        if sync.valid:
            self._log.info(
                "book valid", instrument=state.spec.key, update_id=sync.last_id, levels=len(state.book)
            )
        else:
            self._log.warning(
                "book invalid",
                instrument=state.spec.key,
                reason=sync.invalid_reason,
                **sync.counters.as_dict(),
            )
