"""``PaperExchange``: the simulated venue every paper order goes to.

It is an engine handler: ``on_event(event)`` sees every market event (in stream order)
and ``submit(command)`` takes order commands. Its public books are venue-side truth, fed by
the same events: its own copies, or -- registered with ``Engine.add_venue`` -- the engine's
books themselves (:meth:`share_book`), with :meth:`before_event` run before the engine's book
takes each event. Either way, orders arriving between two events meet the book as it was
before the later one. Reports go to ``on_report`` if given, else to an outbox read with
:meth:`drain_reports`.

**Time.** Only event time. The venue time of input event ``i`` is its ``local_ts``
minus the market-data latency; the clock never goes backwards. A command created at
``ts`` reaches the venue at ``ts`` + order-entry (or cancel) latency and is processed
before the first event whose venue time is at or after that -- or immediately if that
moment has already passed. Reports carry the venue time of what they report.

**Journal.** Every command, report, fill, funding payment and equity sample is
appended to the journal (:class:`~bot.paper.records.RecordSink`) *before* it changes
anything in memory. The records of one input event -- and of the commands submitted
while handling it -- form one transaction, together with the exchange state; it is
committed before the next input event is processed (or every ``commit_every`` events,
or on :meth:`flush`). If the commit fails (the journal is in a fault: disk full, I/O
error), nothing is dropped: the exchange keeps working as the venue it simulates, its
records stay buffered in the sink, :attr:`failed` says why, and the commit is retried
(per the sink's backoff) at later unit boundaries until it succeeds. Trading decisions
are the engine's: it halts quoting while the journal cannot write (``bot.engine``).

**Resume.** After a restart the exchange can be restored at the last committed
boundary (:meth:`restore`); with ``replay=True`` it then skips -- feeding only its
books -- the input events up to that boundary, so a driver re-reading the same input
from the start continues exactly where the journal left off. Determinism: latency draws
are keyed by command number and input position (no RNG state), and the matching rules
contain no randomness.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any, Final

import structlog

from bot.core.events import BookDelta, BookSnapshot, Event, FeedState, FeedStatus, MarkPrice, Trade
from bot.core.instrument import InstrumentSpec
from bot.core.orders import NewOrder, OrderCommand, OrderReport
from bot.errors import MmbotError
from bot.market.book import OrderBook
from bot.market.sync import BookSync, make_sync
from bot.paper.execution import Execution, RecentlyClosed
from bot.paper.fees import schedule_for
from bot.paper.ledger import Ledger, MarkSample
from bot.paper.matching import Market, RestingOrder
from bot.paper.queue import make_queue_model
from bot.paper.records import (
    ExchangeState,
    JournalRecord,
    LevelState,
    MarketState,
    NoteRecord,
    OrderState,
    PendingState,
    RecordSink,
    TransferRecord,
)
from bot.paper.restore import load_into
from bot.paper.settings import PaperSettings

log = structlog.get_logger("bot.paper")

# Final aliases of interpreted names used on every event or order: compiled code reads them
# from C statics instead of looking them up in the module dict.
_NEW: Final = NewOrder
_PUSH: Final = heapq.heappush
_POP: Final = heapq.heappop


class PaperExchange(Execution):
    """Simulated venue for a set of instruments sharing one paper account."""

    def __init__(
        self,
        specs: Iterable[InstrumentSpec],
        settings: PaperSettings | None = None,
        *,
        journal: RecordSink | None = None,
        on_report: Callable[[OrderReport], None] | None = None,
        reports: bool = True,
        sync_factory: Callable[[str, OrderBook, int], BookSync] = make_sync,
    ) -> None:
        self.specs = list(specs)
        self.settings = settings = settings or PaperSettings()
        self.latency = settings.latency_model()
        self._md_const = self.latency.market_data_constant_ns
        self._entry_const = self.latency.entry_constant_ns
        self._cancel_const = self.latency.cancel_constant_ns
        overrides = settings.fee_overrides()
        window_ns = int(settings.trade_window_ms * 1_000_000)
        memory_ns = int(settings.trade_memory_ms * 1_000_000)
        self.markets: dict[str, Market] = {
            spec.key: Market(
                spec,
                _bound(sync_factory(spec.venue, OrderBook(spec.key), 10_000), spec),
                schedule_for(spec, overrides),
                make_queue_model(
                    settings.queue_model, power=settings.queue_power, lot_size=float(spec.lot_size)
                ),
                trade_window_ns=window_ns,
                trade_memory_ns=memory_ns,
            )
            for spec in self.specs
        }
        self.ledger = self._new_ledger()
        self.orders: dict[str, RestingOrder] = {}
        """Orders live at the venue, by client id, in arrival order."""
        self.inflight: dict[str, NewOrder] = {}
        """New orders sent but not yet arrived."""
        self.cancels_inflight: dict[str, int] = {}
        """Client ids with cancels sent but not yet arrived (count)."""
        self.closed = RecentlyClosed()
        """Recently closed client ids -> "filled" / "closed"."""
        self._pending: list[tuple[int, int, OrderCommand]] = []
        self.position = -1
        """Index of the last input event handled."""
        self.now = 0
        """Venue time of the last input event (ns)."""
        self.clock = 0
        """Venue time of what is being processed now (an arrival or the last event)."""
        self.commands = 0
        self.fill_seq = 0
        self.next_sample_ts = 0
        self._sample_every = int(settings.equity_interval_s * 1e9)
        self._sink = journal
        self._commit_every = settings.journal.commit_every
        self._dirty = False
        self._unit_position = -1
        self._skip_until = -1
        self.failed: str | None = None
        """Why the last commit could not be written (None once a commit succeeds)."""
        self._on_report = on_report
        self.skip_untouched = True
        """Do not re-examine our orders after a diff that cannot change anything for them
        (:meth:`Market.touched_by`); False re-examines after every diff (same outcome, slower)."""
        self.untouched = 0
        """Diffs after which our orders were not re-examined (nothing to do, or untouched)."""
        self._advanced = False
        """:meth:`before_event` ran for the event :meth:`on_event` is about to handle."""
        self._drop_reports = not reports
        """``reports=False``: nothing reads the reports (a strategy that reads the exchange's
        state, like the reference market maker); they are neither kept nor, unless journaled,
        built. The state, the journal and ``version`` are the same."""
        self.reports: list[OrderReport] = []
        self._delivering = False
        self.version = 0
        """Incremented by every submit and every report: cheap change detection for strategies."""
        self._dispatch: dict[type, Callable[[Any], None]] = {
            BookDelta: self._on_delta,
            Trade: self._on_trade,
            BookSnapshot: self._on_snapshot,
            MarkPrice: self._on_mark_price_event,
            FeedStatus: self._on_feed_status,
        }

    def _new_ledger(self) -> Ledger:
        return Ledger(self.specs, self.settings.starting_balances, leverage=self.settings.leverage)

    # ---- views -----------------------------------------------------------------------

    def book(self, instrument: str) -> OrderBook:
        return self.markets[instrument].book

    def open_orders(self, instrument: str | None = None) -> list[RestingOrder]:
        return [o for o in self.orders.values() if instrument is None or o.order.instrument == instrument]

    @property
    def catching_up(self) -> bool:
        """True while a restored exchange skips input it already handled (replay resume).

        Strategies must not act then: their reactions to that input are in the journal."""
        return self._skip_until >= 0 and self.position <= self._skip_until

    def drain_reports(self) -> list[OrderReport]:
        reports, self.reports = self.reports, []
        return reports

    # ---- input -----------------------------------------------------------------------

    def before_event(self, event: Event) -> None:
        """Settle what arrives at the venue before ``event`` (commands due by its venue time).

        Called by :meth:`on_event`, or -- for a venue sharing the engine's books
        (:meth:`share_book`) -- by the engine before its books take the event."""
        position = self.position + 1
        if (
            self._dirty
            and position - self._unit_position >= self._commit_every
            and (self.failed is None or self._sink.retry_due)  # type: ignore[union-attr]
        ):
            self._commit()
        self.position = position
        self._advanced = True
        if position <= self._skip_until:
            return
        md = self._md_const
        ts = event.local_ts - (md if md is not None else self.latency.market_data_ns(position))
        if ts > self.now:
            self.now = ts
        else:
            ts = self.now
        pending = self._pending
        if pending and pending[0][0] <= ts:
            self._process_due()
        self.clock = ts

    def on_event(self, event: Event) -> None:
        """Handle one input event (engine handler)."""
        if not self._advanced:
            self.before_event(event)
        self._advanced = False
        if self.position <= self._skip_until:
            self._book_only(event)
            return
        handler = self._dispatch.get(type(event))
        if handler is not None:
            handler(event)
        if self.now >= self.next_sample_ts:
            self._sample()
        if self._on_report is not None:
            self._deliver()

    # ---- books shared with the engine ------------------------------------------------

    def share_book(self, key: str, sync: BookSync) -> bool:
        """Read the public book of ``key`` from the engine's ``sync`` instead of a copy.

        Only before the first event, and only when ``sync`` follows the same venue rule with
        the same buffer as this venue's own: then both would hold the same book. The engine
        calls :meth:`before_event` before its book takes each event and :meth:`distrusted`
        before it invalidates the book on its own evidence (feed checks, staleness), which
        the venue does not share: from then on the venue keeps a private copy, and it reads
        the engine's book again once both are live at the same update with the same levels."""
        market = self.markets.get(key)
        own = market.sync if market is not None else None
        if (
            market is None
            or own is None
            or self.position != -1
            or len(market.book)
            or type(own) is not type(sync)
            or own.max_buffer != sync.max_buffer
        ):
            return False
        market.shared = sync
        market.use(sync)
        return True

    def distrusted(self, key: str) -> None:
        """The engine is about to invalidate its book of ``key`` on evidence the venue does
        not see: continue on a private copy of the book as it stands."""
        market = self.markets.get(key)
        if market is not None and market.shared is not None and market.sync is market.shared:
            market.use(market.shared.fork())
            market.recheck = False
            market.forked_at = self.position  # the copy already holds the event being handled

    def _rejoin(self, market: Market) -> None:
        """Read the engine's book again when it holds exactly what the private copy holds."""
        shared = market.shared
        own = market.sync
        assert shared is not None
        if not (own.valid and shared.valid):
            return  # not both live yet: check again on the next event
        market.recheck = False
        if own.last_id == shared.last_id and own.book.same_levels(shared.book):
            market.use(shared)

    def _on_delta(self, event: BookDelta) -> None:
        market = self.markets.get(event.instrument)
        if market is not None:
            if market.feeds_own_copy(self.position):
                market.sync.on_delta(event)
                if market.recheck:
                    self._rejoin(market)
            if market.taken_bids or market.taken_asks or market.spared_bids or market.spared_asks:
                market.venue_updated(event.bids, event.asks)
            if (
                (market.bids or market.asks)
                and market.book.valid
                and (not self.skip_untouched or market.touched_by(event.bids, event.asks))
            ):
                fills = market.on_book(self.clock)
                if fills:
                    self._maker_fills(market, fills)
            else:
                self.untouched += 1

    def _on_trade(self, event: Trade) -> None:
        market = self.markets.get(event.instrument)
        if (
            market is not None
            and (market.bids or market.asks or market.spared_bids or market.spared_asks)
            and not event.liquidation
        ):
            fills = market.on_trade(event.side, event.price, event.size, self.clock)
            if fills:
                self._maker_fills(market, fills)

    def _on_snapshot(self, event: BookSnapshot) -> None:
        market = self.markets.get(event.instrument)
        if market is not None:
            if market.feeds_own_copy(self.position):
                market.sync.on_snapshot(event)
                if market.shared is not None:
                    market.recheck = True
                    self._rejoin(market)
            if market.taken_bids or market.taken_asks or market.spared_bids or market.spared_asks:
                market.venue_reloaded()
            if (market.bids or market.asks) and market.book.valid:
                fills = market.on_book(self.clock)
                if fills:
                    self._maker_fills(market, fills)

    def _on_mark_price_event(self, event: MarkPrice) -> None:
        market = self.markets.get(event.instrument)
        if market is not None:
            self._on_mark_price(market, event)

    def _on_feed_status(self, event: FeedStatus) -> None:
        market = self.markets.get(event.instrument)
        if market is not None and event.state is FeedState.DISCONNECTED and market.sync is not market.shared:
            market.sync.invalidate(f"disconnected: {event.reason}", request_snapshot=False)

    def submit(self, command: OrderCommand) -> None:
        """Send a command; it reaches the venue after its latency (see module doc)."""
        if self._skip_until >= 0 and self.position <= self._skip_until:
            raise MmbotError(
                f"order command while the paper exchange replays journaled input (event {self.position} "
                f"of {self._skip_until}); strategies must check PaperExchange.catching_up"
            )
        seq = self.commands
        self.commands = seq + 1
        self.version += 1
        if type(command) is _NEW:
            latency = self._entry_const
            arrival = command.ts + (latency if latency is not None else self.latency.entry_ns(seq))
        else:
            latency = self._cancel_const
            arrival = command.ts + (latency if latency is not None else self.latency.cancel_ns(seq))
        if self._sink is not None:
            self._record(command, command.ts)
        if arrival <= self.now:
            self.clock = self.now
            self._arrive(command)
        else:
            _PUSH(self._pending, (arrival, seq, command))
            client_id = command.client_id
            if type(command) is _NEW:
                self.inflight[client_id] = command
            else:
                self.cancels_inflight[client_id] = self.cancels_inflight.get(client_id, 0) + 1
        if self._on_report is not None:
            self._deliver()

    def transfer(self, asset: str, amount: Decimal, ref: str, *, reason: str = "") -> TransferRecord | None:
        """Deposit (``amount`` > 0) or withdraw (< 0) ``asset``, journaled in the current unit.

        Valued at the asset's spot mark (the ledger's last mark, else the book mid; 1 for the
        quote asset). Returns ``None`` when ``ref`` was already applied (a retried step);
        raises :class:`MmbotError` when it cannot be done (unknown asset, no mark yet, a
        withdrawal larger than what is free of resting orders)."""
        if self.failed is not None:
            raise MmbotError(self.failed)
        ledger = self.ledger
        if ref in ledger.transfer_refs:
            return None
        mark = Decimal(1)
        if asset != ledger.quote:
            market = next((m for m in self.markets.values() if m.is_spot and m.spec.base == asset), None)
            if market is None:
                raise MmbotError(f"transfer {ref}: no spot market for {asset} in this account")
            known = ledger.mark(market.key)
            value = market.valuation() if known is None else known
            if value is None:
                raise MmbotError(f"transfer {ref}: no mark for {asset} yet")
            mark = value
            if amount < 0:
                free = ledger.position_qty(market.key) - market.open_sell_lots
                if -amount > market.spec.size(free):
                    raise MmbotError(
                        f"transfer {ref}: withdrawal of {-amount} {asset} exceeds the "
                        f"{market.spec.size(free)} free of resting orders"
                    )
        elif amount < 0:
            reserved = sum(m.buy_factor * m.open_buy_units for m in self.markets.values() if m.is_spot)
            if -amount > ledger.balances.get(asset, Decimal(0)) - reserved:
                raise MmbotError(f"transfer {ref}: withdrawal of {-amount} {asset} exceeds the free balance")
        problem = ledger.check_transfer(asset, amount, ref)
        if problem is not None:
            raise MmbotError(f"transfer {ref}: {problem}")
        record = TransferRecord(ts=self.now, asset=asset, amount=amount, mark=mark, ref=ref, reason=reason)
        self._record(record, self.now)
        ledger.apply_transfer(asset, amount, mark, ref, self.now)
        self.version += 1
        return record

    def note(self, kind: str, payload: dict[str, Any]) -> None:
        """Journal a component's record in the current unit (committed with the exchange state)."""
        if self.failed is not None:
            raise MmbotError(self.failed)
        self._record(NoteRecord(ts=self.now, kind=kind, payload=payload), self.now)

    def flush(self) -> bool:
        """Commit the open unit of work now, whatever a fault's backoff says (shutdown, or a
        driver's own cadence). True if nothing is left unwritten."""
        if self._dirty:
            self._commit(force=True)
        return not self._dirty

    def begin_replay(self) -> None:
        """Expect the input again from its first event: events up to the current
        position only update the books (see :meth:`restore`)."""
        self._skip_until = self.position
        self.position = -1

    # ---- arrivals --------------------------------------------------------------------

    def _process_due(self) -> None:
        pending = self._pending
        now = self.now
        while pending and pending[0][0] <= now:
            arrival, _, command = _POP(pending)
            self.clock = arrival
            client_id = command.client_id
            if type(command) is _NEW:
                if self.inflight.get(client_id) is command:
                    del self.inflight[client_id]
                self._arrive_new(command)
            else:
                count = self.cancels_inflight.get(client_id, 0) - 1
                if count > 0:
                    self.cancels_inflight[client_id] = count
                else:
                    self.cancels_inflight.pop(client_id, None)
                self._arrive_cancel(command)  # type: ignore[arg-type]

    def _arrive(self, command: OrderCommand) -> None:
        if type(command) is _NEW:
            self._arrive_new(command)
        else:
            self._arrive_cancel(command)  # type: ignore[arg-type]

    # ---- marks, funding, equity samples ----------------------------------------------

    def _sample(self) -> None:
        self.next_sample_ts = self.now + self._sample_every
        marks: dict[str, Decimal] = {}
        for key, market in self.markets.items():
            if market.sync.valid or market.mark_price is not None:
                value = market.valuation()
                if value is not None:
                    marks[key] = value
        if marks:
            sample = MarkSample(ts=self.now, marks=marks)
            self._record(sample, self.now)
            self.ledger.apply_marks(sample)

    # ---- journal ---------------------------------------------------------------------

    def _commit(self, force: bool = False) -> None:
        sink = self._sink
        assert sink is not None
        if sink.commit(self.export_state(), force=force):
            self._dirty = False
            self.failed = None
        else:
            self.failed = sink.fault or "journal write failed"

    def _book_only(self, event: Event) -> None:
        kind = type(event)
        if kind is BookDelta or kind is BookSnapshot or kind is FeedStatus:
            market = self.markets.get(event.instrument)  # type: ignore[union-attr]
            if market is not None and market.feeds_own_copy(self.position):
                # books only: queue and taken-liquidity state were restored as of the boundary
                if kind is BookDelta:
                    market.sync.on_delta(event)  # type: ignore[arg-type]
                elif kind is BookSnapshot:
                    market.sync.on_snapshot(event)  # type: ignore[arg-type]
                    market.recheck = market.shared is not None
                elif event.state is FeedState.DISCONNECTED:  # type: ignore[union-attr]
                    market.sync.invalidate("disconnected", request_snapshot=False)
                if market.recheck:
                    self._rejoin(market)

    # ---- state -----------------------------------------------------------------------

    def export_state(self) -> ExchangeState:
        levels = []
        for key, market in self.markets.items():
            for side, book_levels in ((1, market.bids), (-1, market.asks)):
                for price, level in book_levels.items():
                    levels.append(
                        LevelState(
                            instrument=key,
                            side=side,
                            price=price,
                            displayed=level.displayed,
                            pending=[item.as_tuple() for item in level.pending],
                            next_mark=level.next_mark,
                            front=level.front,
                        )
                    )
        return ExchangeState(
            position=self.position,
            now=self.now,
            commands=self.commands,
            fill_seq=self.fill_seq,
            next_sample_ts=self.next_sample_ts,
            orders=[
                OrderState(
                    order=o.order,
                    remaining=o.remaining,
                    accepted_ts=o.accepted_ts,
                    ahead=o.ahead,
                    armed=o.armed,
                    mark=o.mark,
                )
                for o in self.orders.values()
            ],
            pending=[PendingState(arrival=a, seq=s, command=c) for a, s, c in sorted(self._pending)],
            levels=levels,
            markets=[
                MarketState(
                    instrument=key,
                    mark_price=m.mark_price,
                    funding_rate=m.funding_rate,
                    funding_ts=m.funding_ts,
                    taken_bids=sorted(m.taken_bids.items()),
                    taken_asks=sorted(m.taken_asks.items()),
                    spared_bids=sorted(m.spared_bids.items()),
                    spared_asks=sorted(m.spared_asks.items()),
                )
                for key, m in self.markets.items()
            ],
        )

    def restore(self, records: Iterable[JournalRecord], state: ExchangeState | None, *, replay: bool) -> None:
        """Rebuild ledger and orders from committed ``records`` and ``state``.

        ``replay=True``: the input will be fed again from its first event; events up to
        ``state.position`` only update the books. Otherwise input continues after it."""
        load_into(self, records, state)
        if replay:
            self.begin_replay()


def _bound(sync: BookSync, spec: InstrumentSpec) -> BookSync:
    """Give the sync rule its instrument (OKX verifies checksums from tick / lot text)."""
    sync.bind(spec)
    return sync
