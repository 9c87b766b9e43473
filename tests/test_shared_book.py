"""One book per instrument: the paper venue reads the engine's book (issue 19).

``Engine.add_venue`` lets a :class:`~bot.paper.exchange.PaperExchange` read the engine's book
instead of applying every diff to a copy of its own. The venue's book is the feed's sequence and
nothing else, while the engine may distrust its book on its own evidence (a top of book that
contradicts it, staleness) and wait for a new snapshot. These tests replay the real Binance spot
recording through two identical engines -- one whose venue keeps its own copy (a plain handler),
one sharing -- with the reference market maker trading, and disturb the feed: everything the two
venues do (reports, fills, balances, the book they match against) must be the same, the sharing
venue must take a private copy when the engine distrusts its book, and read the engine's book
again once both are live with the same levels.
"""

from __future__ import annotations

import functools
from pathlib import Path

from bot.core.events import NS_PER_S, BookDelta, BookSnapshot, MarketEvent, Timer, TopOfBook
from bot.core.instrument import InstrumentSpec
from bot.core.orders import OrderReport
from bot.engine.loop import Engine
from bot.paper.exchange import PaperExchange
from bot.paper.refmm import ReferenceMarketMaker
from bot.paper.settings import PaperSettings
from bot.replay.readers import open_replay

REPO = Path(__file__).resolve().parents[1]
SPOT_2024 = REPO / "bot/emulator/data/binance_spot_btcusdt_20240808.gz"
TIMER_NS = NS_PER_S // 10


@functools.cache
def recording() -> tuple[list[MarketEvent], InstrumentSpec]:
    replay = open_replay([SPOT_2024])
    events = list(replay)
    return events, next(iter(replay.specs.values()))


class Venue:
    """An engine, its paper venue (sharing the engine's book or not) and the reference MM."""

    def __init__(self, shared: bool) -> None:
        self.events, self.spec = recording()
        self.key = self.spec.key
        self.engine = Engine("t", [self.spec])
        self.exchange = PaperExchange([self.spec], PaperSettings())
        if shared:
            self.engine.add_venue(self.exchange)
        else:
            self.engine.add_handler(self.exchange.on_event)
        self.refmm = ReferenceMarketMaker(
            self.exchange,
            self.key,
            book=self.engine.book(self.key),
            size=100_000,
            half_spread=1,
            skew=1,
            skew_unit=100_000,
            max_inventory=1_000_000,
        )
        self.engine.add_handler(self.refmm.on_event)
        self.reports: list[OrderReport] = []
        self.next_timer = 0

    def step(self, event: MarketEvent) -> None:
        while self.next_timer and event.local_ts > self.next_timer:
            self._one(Timer(local_ts=self.next_timer))
            self.next_timer += TIMER_NS
        if not self.next_timer:
            self.next_timer = event.local_ts + TIMER_NS
        self._one(event)

    def _one(self, event: MarketEvent | Timer) -> None:
        self.engine.on_event(event)
        self.engine.drain_actions()
        self.reports.extend(self.exchange.drain_reports())

    @property
    def market_book_is_engines(self) -> bool:
        return self.exchange.markets[self.key].book is self.engine.book(self.key)


def _next_fill(start: int) -> int:
    """Index of the first event from ``start`` on at which the MM gets a maker fill (undisturbed run)."""
    probe = Venue(shared=False)
    for index, event in enumerate(probe.events):
        seen = len(probe.reports)
        probe.step(event)
        if index >= start and any(type(r).__name__ == "OrderFilled" for r in probe.reports[seen:]):
            return index
    raise AssertionError("no fill after the start")


def _contradiction(venue: Venue, upcoming: BookDelta) -> TopOfBook:
    """A bookTicker for the ``upcoming`` diff's update id whose bid cannot be right: the engine
    invalidates its book when that diff has been applied (in the middle of that event)."""
    book = venue.engine.book(venue.key)
    assert book.valid and book.best_ask is not None
    return TopOfBook(
        instrument=venue.key,
        local_ts=venue.engine.clock.now,
        update_id=upcoming.last_id,
        bid_price=1,
        bid_size=1,
        ask_price=book.best_ask,
        ask_size=1,
    )


def _snapshot(venue: Venue) -> BookSnapshot:
    """A REST snapshot of the venue's true book (what the venue sequence says), as the edge would fetch."""
    book = venue.exchange.book(venue.key)
    return BookSnapshot(
        instrument=venue.key,
        local_ts=venue.engine.clock.now,
        update_id=book.update_id,
        bids=list(book.bid_levels()),
        asks=list(book.ask_levels()),
    )


def test_sharing_venue_trades_exactly_as_a_venue_with_its_own_copy_through_distrust_and_resync() -> None:
    own, shared = Venue(shared=False), Venue(shared=True)
    events = own.events
    assert shared.market_book_is_engines and not own.market_book_is_engines
    # distrust the engine's book just before a resting order of the MM fills (found on an
    # undisturbed run): the venue must fill it on its private copy
    disturb = _next_fill(len(events) // 4)
    resync = disturb + len(events) // 4
    upcoming = resync  # the diff whose book the engine will distrust (set at the contradiction)
    health = shared.engine.instruments[shared.key].health
    for index, event in enumerate(events):
        # contradict once no real bookTicker is pending (the check keeps the oldest one)
        if disturb <= index < upcoming and not health._top_since and isinstance(event, BookDelta):
            upcoming = index
            for venue in (own, shared):
                venue.step(_contradiction(venue, event))
            assert shared.market_book_is_engines  # nothing proven wrong yet
        if index == resync:
            assert not shared.engine.instruments[shared.key].sync.valid  # nobody served the request
            distrusted_to = len(own.reports)
            snapshot = _snapshot(own)
            for venue in (own, shared):
                venue.step(snapshot)
        for venue in (own, shared):
            venue.step(event)
        if index == upcoming:
            assert not shared.engine.instruments[shared.key].sync.valid
            # the venue took a private copy: its book stays valid and keeps taking the diffs
            assert not shared.market_book_is_engines
            assert shared.exchange.book(shared.key).valid
            distrusted_from = len(own.reports)
        if upcoming <= index < resync:
            assert not shared.market_book_is_engines
            assert shared.exchange.book(shared.key).same_levels(own.exchange.book(own.key))
            # the copy was taken with the diff it was forked in applied: it is not applied twice
            copy, reference = (v.exchange.markets[v.key].sync.counters for v in (shared, own))
            assert copy.as_dict() == reference.as_dict()
    # live again at the same update with the same levels: one book again
    assert shared.engine.instruments[shared.key].sync.valid
    assert shared.market_book_is_engines
    assert shared.exchange.book(shared.key).same_levels(own.exchange.book(own.key))
    fills = [r for r in own.reports if type(r).__name__ == "OrderFilled"]
    assert len(fills) > 10, "the market maker must trade for this to compare anything"
    # fills while the engine distrusted its book (the MM's resting orders filled by the venue)
    assert any(type(r).__name__ == "OrderFilled" for r in own.reports[distrusted_from:distrusted_to])
    assert shared.reports == own.reports
    assert shared.exchange.ledger.balances == own.exchange.ledger.balances
    assert shared.exchange.commands == own.exchange.commands


def test_a_venue_with_another_sync_rule_or_after_its_first_event_keeps_its_own_copy() -> None:
    events, spec = recording()
    engine = Engine("t", [spec])
    exchange = PaperExchange([spec], PaperSettings())
    exchange.on_event(next(e for e in events if isinstance(e, BookSnapshot)))
    assert not exchange.share_book(spec.key, engine.instruments[spec.key].sync)
    late = Engine("t", [spec], max_buffer=100)
    fresh = PaperExchange([spec], PaperSettings())
    assert not fresh.share_book(spec.key, late.instruments[spec.key].sync)  # a different buffer
    late.add_venue(fresh)
    assert fresh.book(spec.key) is not late.book(spec.key)
    delta = next(e for e in events if isinstance(e, BookDelta))
    assert not fresh.share_book(delta.instrument + "-other", late.instruments[spec.key].sync)
