"""The quoting pipeline of one engine: the glue between the core components.

:class:`QuotingPipeline` is an engine handler registered *after* the paper exchange
(which sees each market event first, as the venue). For every event it updates the
estimators, and on book changes, timers and fills of the quoted instrument it asks the
risk manager for a decision, the quoter for desired quotes, and the order manager for
the commands that get there; every command passes the risk manager's pre-trade check
before it goes to the venue. Venue reports flow back through :meth:`on_report`.

It also owns the "explainability" records: risk transitions and kill records, strategy
switches and a market/position sample every ``sample_interval`` of event time go to
the record sink (the journal) and the log; so do the markouts of our fills
(:mod:`bot.strategy.markouts`) as each horizon completes (``markout`` events), which
also feed the quoter's optional adverse-selection term.

**Holds.** Conditions outside the market stop quoting through the risk manager's holds
(:meth:`QuotingPipeline.hold` / :meth:`~QuotingPipeline.release`): while one is on, the
regime is HALTED, every quote is pulled and no new order is placed. The pipeline holds
by itself while its journal cannot write (``persistence.fault``, checked on every event:
the event that meets the fault is the one that halts) and, when writes succeed again,
releases the hold -- quoting re-enters through CRISIS -- or, with
``on_journal_recovery = "stay_halted"``, latches a kill (journaled) that only ``mmbot
resume`` clears. The testnet executor holds until its start-up reconciliation is done.

Time is event time only (``engine.clock.now``). No I/O besides the record sink.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Final, Protocol

import structlog

from bot.core.events import NS_PER_S, BookDelta, BookSnapshot, Event, Timer, TopOfBook, Trade
from bot.core.orders import NewOrder, OrderCommand, OrderFilled, OrderRejected, OrderReport
from bot.engine.loop import Engine
from bot.market.estimators import Estimators
from bot.paper.ledger import Attribution
from bot.risk.explain import KillRecord, RegimeTransition, RiskRecord, record_type, to_payload
from bot.risk.manager import RiskDecision, RiskManager
from bot.risk.triggers import Trigger
from bot.strategy.costs import NO_ADVERSE, AdverseSelection
from bot.strategy.markouts import MarkoutTracker
from bot.strategy.order_manager import OrderManager
from bot.strategy.profile import StrategyQuoter
from bot.strategy.types import DesiredQuotes

log = structlog.get_logger("bot.trading")

# Final aliases of interpreted names used on every event: compiled code reads them from C
# statics instead of looking them up in the module dict.
_TIMER: Final = Timer
_DELTA: Final = BookDelta
_SNAPSHOT: Final = BookSnapshot
_TRADE: Final = Trade
_TOP: Final = TopOfBook
_FILLED: Final = OrderFilled
_REJECTED: Final = OrderRejected

RecordSink = Callable[[str, dict[str, Any], int], None]
"""(type, payload, ts) -> durably written (e.g. ``Journal.append_event``)."""


class Venue(Protocol):
    """What the pipeline needs from the execution venue (the paper exchange)."""

    def submit(self, command: OrderCommand) -> None: ...

    @property
    def catching_up(self) -> bool: ...


class PositionSource(Protocol):
    """What the pipeline reads from the ledger."""

    def position_qty(self, instrument: str) -> int: ...

    def start_qty(self, instrument: str) -> int: ...

    def attribution(self) -> Attribution: ...

    def equity(self) -> Decimal: ...


class Persistence(Protocol):
    """What the pipeline reads from its journal: why it cannot write now (None: it can)."""

    @property
    def fault(self) -> str | None: ...


class QuoteOverlay(Protocol):
    """A second lane of orders that shapes the strategy's quotes (the obligation desk,
    :class:`bot.engine.obligations.ObligationDesk`): its own client ids, its own orders."""

    def owns(self, client_id: str) -> bool: ...

    def apply(
        self, desired: DesiredQuotes, decision: RiskDecision, now: int
    ) -> tuple[DesiredQuotes, list[OrderCommand]]: ...

    def cancel_all(self, now: int) -> list[OrderCommand]: ...

    def on_report(self, report: OrderReport) -> None: ...


class HedgeView(Protocol):
    """What the samples read from the engine's hedger (:class:`bot.engine.hedging.HedgePipeline`)."""

    def net_delta(self) -> float | None: ...

    def hedge_pnl(self) -> float: ...

    def model_pnl(self) -> Decimal: ...


class QuotingPipeline:
    """Estimators → risk → quoter → order manager → venue, for one quoted instrument."""

    def __init__(
        self,
        engine: Engine,
        instrument: str,
        *,
        venue: Venue,
        ledger: PositionSource,
        estimators: Estimators,
        risk: RiskManager,
        quoter: StrategyQuoter,
        order_manager: OrderManager,
        record: RecordSink | None = None,
        sample_interval_s: float = 1.0,
        markouts: MarkoutTracker | None = None,
        decide_on_change: bool = False,
        persistence: Persistence | None = None,
        on_journal_recovery: str = "resume",
    ) -> None:
        self.engine = engine
        self.instrument = instrument
        self.state = engine.instruments[instrument]
        self.book = self.state.book
        self.spec = self.state.spec
        self.venue = venue
        self.ledger = ledger
        self.estimators = estimators
        self.risk = risk
        self.quoter = quoter
        self.order_manager = order_manager
        self.record = record
        self.markouts = markouts if markouts is not None else MarkoutTracker()
        self.sample_interval_ns = int(sample_interval_s * NS_PER_S)
        self.next_sample_ts = 0
        self.desired = DesiredQuotes(note="not started")
        self.decision: RiskDecision = risk.decision
        self.position = self._position()
        self.vetoes = 0
        self.fills = 0
        self.rejects: dict[str, int] = {}
        """Venue rejects and risk vetoes of our quote orders in this session, by reason."""
        self.sent = {"buy": 0, "sell": 0}
        """Quote orders sent to the venue in this session, by side."""
        self.first_quote_ts: int | None = None
        """Event time of the first quote order sent in this session."""
        self._dirty = True
        self._quoting = False
        self.decide_on_change = decide_on_change
        """``[quoting] decide = "on-change"``: a book change is decided on only if the best
        prices (and their sizes for a micro-price fair value), the volatility estimates or
        quotability changed since the last decision; fills, order states, timers (which also
        carry the risk signals, refreshed at most every 100 ms) decide as always."""
        self._inputs: tuple[int | None, int | None, int, int, bool] | None = None
        self._vol = -1
        self.skipped = 0
        """Book changes not decided on (nothing the decision reads had changed)."""
        self.decisions = 0
        """Quote decisions taken (risk -> quoter -> order manager passes)."""
        self.hedge_view: HedgeView | None = None
        """Set by the assembly when the engine hedges: fills the samples' net_delta and pnl.hedge."""
        self.report_observers: list[Callable[[OrderReport], None]] = []
        """Also told every report of this instrument (e.g. the testnet order mirror)."""
        self.risk_observers: list[Callable[[RiskRecord], None]] = []
        """Also told every regime transition and kill record (e.g. the dashboard's timeline)."""
        self.persistence = persistence
        self.on_journal_recovery = on_journal_recovery
        self.holds: dict[Trigger, str] = {}
        """Holds on now (trigger -> why); quoting is pulled while any is on."""
        self._journal_fault: str | None = None
        self.overlay: QuoteOverlay | None = None
        """Set by the assembly when the engine has an obligation: clamps/trims the strategy's
        quotes and keeps the obligation lane (spread guards, depth ladder)."""
        risk.sink = self._on_risk_record
        self._log = log.bind(engine=engine.name, instrument=instrument, regime=self.decision.regime.value)

    # ---- events ----------------------------------------------------------------------

    def __call__(self, event: Event) -> None:
        kind = type(event)
        now = self.engine.clock.now
        persistence = self.persistence
        if persistence is not None and (persistence.fault is None) != (self._journal_fault is None):
            self._persistence_changed(persistence.fault, now)
        if self.venue.catching_up:
            # replaying journaled input: our reactions to it are already in the journal, but
            # the estimators must see the market they would have seen
            if kind is not _TIMER and event.instrument == self.instrument:  # type: ignore[union-attr]
                self.estimators.on_event(event, self.book)
            return
        if self.markouts.pending:
            self._markouts(now)
        if kind is _TIMER:
            self._decide(now)
        elif event.instrument == self.instrument:  # type: ignore[union-attr]
            self.estimators.on_event(event, self.book)
            if self._dirty:
                self._decide(now)
            elif kind is _DELTA or kind is _SNAPSHOT:
                if not self.decide_on_change or self._changed():
                    self._decide(now)
                else:
                    self.skipped += 1
            elif kind is _TRADE or kind is _TOP:
                # they move estimators, not the book: quotes follow on the next book change --
                # unless their cross-check just made the book unquotable (pull now)
                if self._quoting and not self.state.quotable:
                    self._decide(now)
            else:
                self._decide(now)
        if self.record is not None and now >= self.next_sample_ts:
            self._sample(now)
        if persistence is not None and (persistence.fault is None) != (self._journal_fault is None):
            self._persistence_changed(persistence.fault, now)

    def on_report(self, report: OrderReport) -> None:
        """Every venue report for our orders (called synchronously by the venue)."""
        if getattr(report, "instrument", None) != self.instrument:
            return
        for observer in self.report_observers:
            observer(report)
        overlay = self.overlay
        if overlay is not None and overlay.owns(getattr(report, "client_id", "")):
            overlay.on_report(report)
        else:
            self.order_manager.on_report(report)
        self.risk.on_report(report)
        if type(report) is _REJECTED:
            self._count_reject(report.reason.value)
        if type(report) is _FILLED:
            self.fills += 1
            self.markouts.on_fill(report.fill_id, report.ts, int(report.side), report.price, report.size)
            self.position = self._position()
            pnl = self.ledger.attribution().total
            if self.hedge_view is not None:  # deal options / LP the ledger does not hold
                pnl += self.hedge_view.model_pnl()
            self.risk.on_position(self.position, pnl, report.ts)
        self._dirty = True

    # ---- decisions -------------------------------------------------------------------

    def _top(self) -> tuple[int | None, int | None, int, int, bool]:
        """The book inputs of a decision: best prices, their sizes when the fair value is the
        micro-price (the mid does not read them), quotability."""
        book = self.book
        if self.quoter.fair_source == "micro":
            return book.best_bid, book.best_ask, book.best_bid_size, book.best_ask_size, self.state.quotable
        return book.best_bid, book.best_ask, 0, 0, self.state.quotable

    def _changed(self) -> bool:
        """Did an input of the decision change since the last one (decide on change)?"""
        return self._top() != self._inputs or self.estimators.vol_version != self._vol

    def _decide(self, now: int) -> None:
        self._dirty = False
        self.decisions += 1
        if self.decide_on_change:
            self._inputs = self._top()
            self._vol = self.estimators.vol_version
        state = self.estimators.snapshot()
        instrument = self.state
        valid = instrument.sync.valid
        current = instrument.health.behind is None  # not falling behind the exchange
        decision = self.decision = self.risk.on_market(state, book_valid=valid, feed_fresh=current, now=now)
        om = self.order_manager
        if self.holds or decision.pull_all or not valid or not current:
            if self.holds:
                note = "pulled: " + "; ".join(self.holds.values())
            elif decision.pull_all:
                note = "pulled: " + "; ".join(decision.reasons[:3])
            else:
                note = f"book not quotable: {instrument.reason}"
            self.desired = DesiredQuotes(note=note)
            commands = om.cancel_all(now)
            if self.overlay is not None:
                commands += self.overlay.cancel_all(now)
            self._quoting = False
        else:
            desired = self.quoter.quote(state, self.position, decision.adjustments, self._adverse())
            lane: list[OrderCommand] = []
            if self.overlay is not None:
                desired, lane = self.overlay.apply(desired, decision, now)
            self.desired = desired
            commands = om.reconcile(desired, now)
            commands += lane
            self._quoting = True
        for command in commands:
            self.send(command)

    def _adverse(self) -> AdverseSelection:
        costs = self.quoter.profile.costs
        if costs.adverse_selection_weight <= 0.0:
            return NO_ADVERSE
        return self.markouts.adverse(costs.adverse_selection_horizon_s)

    def _markouts(self, now: int) -> None:
        """Complete the markouts due by ``now`` at the book mid (journaled)."""
        mid = self.book.mid()
        if mid is None or not self.state.sync.valid:
            return  # no trustworthy mid: they complete at the next valid one
        for markout in self.markouts.advance(now, mid):
            if self.record is not None:
                self.record("markout", markout.payload(self.instrument), now)

    def send(self, command: OrderCommand) -> None:
        """Pre-trade check, then the venue; a veto is answered like a venue reject."""
        veto = self.risk.check(command)
        if veto is not None and type(command) is NewOrder:  # cancels are never vetoed
            self.vetoes += 1
            report = veto.report(command)
            self._count_reject(f"{report.reason.value} ({veto.rule})")
            overlay = self.overlay
            if overlay is not None and overlay.owns(command.client_id):
                overlay.on_report(report)
            else:
                self.order_manager.on_report(report)
            return
        if type(command) is NewOrder:
            self.sent["buy" if command.side > 0 else "sell"] += 1
            if self.first_quote_ts is None:
                self.first_quote_ts = command.ts
        self.venue.submit(command)

    def _count_reject(self, reason: str) -> None:
        self.rejects[reason] = self.rejects.get(reason, 0) + 1

    def pull_all(self, now: int) -> None:
        """Cancel every quote now (shutdown, kill)."""
        commands = self.order_manager.cancel_all(now)
        if self.overlay is not None:
            commands += self.overlay.cancel_all(now)
        for command in commands:
            self.venue.submit(command)

    def switch_quoter(self, quoter: StrategyQuoter, now: int, *, source: str) -> None:
        """Swap the strategy in place; the next decision uses it. Journaled."""
        old = self.quoter.name
        self.quoter = quoter
        self.risk.base_levels = quoter.ladder.levels
        payload = {
            "instrument": self.instrument,
            "from": old,
            "to": quoter.name,
            "source": source,
            "quoter": quoter.profile.quoter,
        }
        if self.record is not None:
            self.record("strategy_switch", payload, now)
        self._log.info("strategy switched", **payload)
        self._decide(now)

    def kill(self, reason: str, source: str, now: int) -> KillRecord:
        record = self.risk.kill(reason, source, now)
        self.pull_all(now)
        return record

    def resume(self, reason: str, source: str, now: int) -> KillRecord:
        record = self.risk.resume(reason, source, now)
        self._decide(now)
        return record

    # ---- holds -----------------------------------------------------------------------

    def hold(self, trigger: Trigger, note: str, now: int) -> None:
        """Pull every quote now and place nothing until :meth:`release` (HALTED)."""
        first = trigger not in self.holds
        self.holds[trigger] = f"{trigger.value}: {note}"
        self.risk.hold(trigger, note, now)
        if first:
            self._log.warning("quoting held", hold=trigger.value, reason=note)
        if self.engine.events:  # before the first event there is nothing to pull yet
            self._decide(now)

    def release(self, trigger: Trigger, note: str, now: int) -> None:
        if self.holds.pop(trigger, None) is None:
            return
        self.risk.release(trigger, note, now)
        self._log.info("quoting hold released", hold=trigger.value, reason=note)
        if self.engine.events:
            self._decide(now)

    def _persistence_changed(self, fault: str | None, now: int) -> None:
        previous, self._journal_fault = self._journal_fault, fault
        if fault is not None:
            self.hold(Trigger.JOURNAL_FAILED, f"journal not writable: {fault}", now)
            return
        if self.on_journal_recovery == "stay_halted":
            self.risk.kill(
                f"the journal could not write ({previous}); staying halted until resume "
                "(paper.journal.on_recovery = stay_halted)",
                "journal",
                now,
            )
        self.release(Trigger.JOURNAL_FAILED, "journal writable again", now)

    # ---- records ---------------------------------------------------------------------

    def _position(self) -> int:
        return self.ledger.position_qty(self.instrument) - self.ledger.start_qty(self.instrument)

    def _on_risk_record(self, record: RiskRecord) -> None:
        payload = to_payload(record)
        if self.record is not None:
            self.record(record_type(record), payload, record.ts)
        if isinstance(record, RegimeTransition):
            self._log = self._log.bind(regime=str(record.to_state.value))
            self._log.info(
                "regime transition",
                **{k: payload[k] for k in ("from_state", "to_state", "rule") if k in payload},
            )
        else:
            self._log.warning("kill switch", **payload)
        for observer in self.risk_observers:  # after the journal: an observer never costs a record
            observer(record)

    def _sample(self, now: int) -> None:
        self.next_sample_ts = now + self.sample_interval_ns
        assert self.record is not None
        if self.book.mid() is not None:  # no market yet: nothing to sample
            self.record("sample", self.sample(now), now)

    def sample(self, now: int) -> dict[str, Any]:
        """Market, quotes, position and PnL now (journaled; also /status)."""
        spec, book, desired = self.spec, self.book, self.desired
        state = self.estimators.snapshot()
        tick = spec.tick_size
        mid = book.mid()
        sigma = state.sigma_at(state.horizons_s[0]) if state.horizons_s else math.nan
        bid_quote = desired.bids[0].price if desired.bids else None
        ask_quote = desired.asks[0].price if desired.asks else None
        pnl = self.ledger.attribution()
        hedge = self.hedge_view

        def price(ticks: float | None) -> float | None:
            # via Decimal: 268147 * 0.01 is 2681.47, not 2681.4700000000003
            return None if ticks is None else float(Decimal(ticks) * tick)

        return {
            "instrument": self.instrument,
            "mid": price(mid),
            "best_bid": price(book.best_bid),
            "best_ask": price(book.best_ask),
            "bid_quote": price(bid_quote),
            "ask_quote": price(ask_quote),
            "sigma": None if math.isnan(sigma) else round(sigma * float(tick), 12),
            "regime": self.decision.regime.value,
            "inventory": float(spec.size(self.position)),
            "net_delta": hedge.net_delta() if hedge is not None else None,
            "equity": float(self.ledger.equity()),
            "pnl": {
                "spread_capture": float(pnl.spread_capture),
                "rebates": float(pnl.rebates),
                "fees": float(pnl.fees),
                "inventory": float(pnl.inventory),
                "hedge": hedge.hedge_pnl() if hedge is not None else 0.0,
                "funding": float(pnl.funding),
                "total": float(pnl.total),
            },
            "strategy": self.quoter.name,
            "note": desired.note,
        }

    def markout_summary(self) -> dict[str, Any]:
        """Markouts of our fills per horizon and side (bps; totals in the quote currency)."""
        spec = self.spec
        return self.markouts.summary(float(spec.tick_size * spec.lot_size * spec.contract_size))
