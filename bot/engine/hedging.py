"""The hedger inside an engine: net delta from the ledger and the deal, perp orders to the venue.

:class:`HedgePipeline` is an engine handler registered after the quoting pipeline. It
keeps the engine's net delta (DESIGN.md, Hedger)::

    net = spot (ledger, + external holdings) - loan + perp (ledger) + calls + LP

in the base asset: spot and perp come from the paper ledger the venue keeps (exact
lots), the loan, the calls and the LP from the configured deal file (through
:func:`bot.hedge.dealbook.deal_book`, the same positions ``mmbot deal plan`` uses), the
price from the quoted market's mid (the perp's when that book is not valid). When the
net delta leaves the band it trades the perp through the *same* venue as the quotes
(one paper account: spot and perp share a ledger), with its own client-id prefix:
:func:`~bot.hedge.hedger.decide_hedge` picks the quantity (band, target, step and lot
rounding, minimum size and notional, max order), :class:`~bot.hedge.execution.HedgeExecutor`
works it (taker at once, or post-only at the touch and taker after the timeout).

When it re-decides: after every event of its two instruments whose mid moved, every
``Timer`` (time decay, passive timeouts), every fill of the quoted market (reported by
the venue) and every finished hedge order -- immediately, in the same event, so the
book is never left outside the band while no hedge order is working, except while it
cannot trade (perp book not valid, a retry pause after a hedge that traded nothing, or
a band smaller than half the perp's minimum order). One hedge order works at a time;
while it is in flight (order latency) the delta may drift, and the next decision
follows as soon as it is done. Orders of an earlier run found open on the venue at
start (restored from the journal) are cancelled first and block new hedges until closed.
The kill switch pulls the quotes, not the hedger: hedging only reduces risk, and keeps
going on a halted engine (``[hedge] enabled = false`` stops it). While the journal cannot
write (``persistence.fault``) no new hedge starts: a hedge already working finishes.

PnL attribution (:meth:`HedgePipeline.status`): the exact hedge components from the
ledger (:class:`~bot.hedge.reporting.HedgeAttribution`: spread capture of the quotes,
hedge fees + spread paid, hedge PnL, funding) and the deal's options and LP on the
model (:class:`~bot.hedge.attribution.ModelPnl`: value change, hedge share, theta,
gamma scalping). Building it from the config: :mod:`bot.engine.hedge_setup`.

Sans-IO: time is the engine's event clock; nothing here sleeps or reads a clock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from bot.core.events import NS_PER_S, Event, Timer
from bot.core.orders import (
    CancelOrder,
    FundingPayment,
    NewOrder,
    OrderAccepted,
    OrderCancelled,
    OrderFilled,
    OrderRejected,
    OrderReport,
    OrderType,
    TimeInForce,
)
from bot.engine.loop import Engine
from bot.hedge.attribution import ModelPnl
from bot.hedge.deal import Deal
from bot.hedge.dealbook import date_ns, deal_book, valuation_ns
from bot.hedge.delta import DeltaBook, DeltaBreakdown
from bot.hedge.execution import CancelOrder as CancelHedge
from bot.hedge.execution import (
    HedgeAction,
    HedgeDone,
    HedgeExecutor,
    OrderStatus,
    PlacePassive,
    PlaceTaker,
)
from bot.hedge.hedger import HedgeDecision, decide_hedge
from bot.hedge.reporting import HedgeAttribution, HedgeRecord
from bot.hedge.settings import EngineHedge
from bot.paper.ledger import PositionSnapshot

if TYPE_CHECKING:
    from bot.engine.trading import Persistence, RecordSink, Venue

log = structlog.get_logger("bot.hedging")

_MAX_ROUNDS = 8
"""Decisions per event at most (each round needs the previous hedge to have finished)."""
_FAIL_LOG_EVERY = 60
_MONEY = Decimal("1e-8")


class HedgeLedger(Protocol):
    """What the hedger reads from the paper ledger."""

    def position_qty(self, instrument: str) -> int: ...

    def spread_capture_of(self, instrument: str) -> Decimal: ...

    def position_snapshot(self, instrument: str) -> PositionSnapshot: ...


@dataclass(slots=True)
class _Working:
    ts: int
    decision: HedgeDecision
    ex_perp: float
    price: float


class HedgePipeline:
    """Net delta book + hedge decisions + hedge order execution for one engine."""

    def __init__(
        self,
        engine: Engine,
        *,
        underlying: str,
        hedge: str,
        venue: Venue,
        ledger: HedgeLedger,
        settings: EngineHedge,
        deal: Deal | None = None,
        record: RecordSink | None = None,
        id_prefix: str = "hedge",
        first_seq: int = 1,
        orphans: Mapping[str, int] | None = None,
        start: Mapping[str, Any] | None = None,
        persistence: Persistence | None = None,
    ) -> None:
        self.engine = engine
        self.persistence = persistence
        self.underlying = underlying
        self.hedge = hedge
        self.spot_state = engine.instruments[underlying]
        self.perp_state = engine.instruments[hedge]
        self.spot_spec = self.spot_state.spec
        self.perp_spec = self.perp_state.spec
        self.asset = self.spot_spec.base
        self.venue = venue
        self.ledger = ledger
        self.settings = settings
        self.hedger = settings.hedger
        self.deal = deal
        self.book: DeltaBook = (
            deal_book(deal, volatility=settings.volatility) if deal is not None else DeltaBook()
        )
        self.expiry_ns = date_ns(deal.loan.expiry) if deal is not None else 0
        self.record = record
        self.id_prefix = id_prefix
        self._prefix = id_prefix + "-"
        self.executor = HedgeExecutor(self.hedger, id_prefix, first_seq=first_seq)
        self.orphans: dict[str, int] = dict(orphans or {})
        """Hedge orders of an earlier run still open/in flight: client id -> signed lots left."""
        self._orphans_cancelled = False
        self.model = ModelPnl()
        self._identity: dict[str, Any] = {
            "deal": None if deal is None else deal.name,
            "volatility": settings.volatility,
        }
        if start is not None and all(start.get(k) == v for k, v in self._identity.items()):
            self.model.restore_start(
                int(start["start_ns"]),
                float(start["price"]),
                float(start["options_value"]),
                float(start["lp_value"]),
            )
        self._start_recorded = self.model.has_start
        self.last: DeltaBreakdown | None = None
        self.history: deque[HedgeRecord] = deque(maxlen=1000)
        self.orders = 0
        self.hedges = 0
        self.failed = 0
        self.fills = 0
        self.volume = Decimal(0)
        self.funding_payments = 0
        self._cum: dict[str, int] = {}
        self._working: _Working | None = None
        self._dirty = True
        self._running = False
        self.retry_at = 0
        """No new hedge before this event time (after a hedge that traded nothing)."""
        self._retry_ns = int(settings.retry_after_s * NS_PER_S)
        self._last_price: float | None = None
        self._perp_valid = False
        self._expired_logged = False
        self._log = log.bind(engine=engine.name, instrument=hedge)

    # ---- engine handler --------------------------------------------------------------

    def __call__(self, event: Event) -> None:
        if self.venue.catching_up:
            return
        now = self.engine.clock.now
        if type(event) is Timer:
            if self.executor.busy:
                self._apply(self.executor.on_timer(now), now)
            self._dirty = True  # time passed: option deltas decay
        else:
            instrument = event.instrument  # type: ignore[union-attr]
            if instrument == self.hedge:
                valid = self.perp_state.quotable
                if valid != self._perp_valid:
                    self._perp_valid = valid
                    self._dirty = True
            elif instrument != self.underlying:
                return
        self._run(now)

    def on_report(self, report: OrderReport) -> None:
        """Every venue report (called synchronously by the venue)."""
        if self.venue.catching_up:
            return
        kind = type(report)
        instrument = report.instrument
        now = self.engine.clock.now
        if instrument == self.underlying:
            if kind is OrderFilled:
                self._dirty = True
                self._run(now)
            return
        if instrument != self.hedge:
            return
        if kind is FundingPayment:
            self.funding_payments += 1
            return
        client_id = report.client_id  # type: ignore[union-attr]
        if client_id in self.orphans:
            self._on_orphan(report, now)
            return
        if client_id not in self._cum:
            return
        cum = self._cum[client_id]
        if kind is OrderFilled:
            assert isinstance(report, OrderFilled)
            cum = self._cum[client_id] = cum + report.size
            self.fills += 1
            self.volume += self.perp_spec.size(report.size) * self.perp_spec.contract_size
            status = OrderStatus.FILLED if report.remaining == 0 else OrderStatus.PARTIALLY_FILLED
        elif kind is OrderAccepted:
            status = OrderStatus.ACCEPTED
        elif kind is OrderCancelled:
            status = OrderStatus.CANCELED
        elif kind is OrderRejected:
            assert isinstance(report, OrderRejected)
            status = OrderStatus.REJECTED
            self._log.warning(
                "hedge order rejected", client_id=client_id, reason=report.reason.value, text=report.text
            )
        else:
            return  # CancelRejected: the fill or close it raced is reported on its own
        if status in (OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED):
            del self._cum[client_id]
        self._apply(self.executor.on_order_update(now, client_id, status, cum), now)
        if self._dirty:
            self._run(now)

    # ---- views -----------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """A hedge order (or an earlier run's) is working."""
        return self.executor.busy or bool(self.orphans)

    def pending_delta(self) -> float:
        """Delta the unfilled rest of working hedge orders will add when filled."""
        lots = self.executor.pending_lots + sum(self.orphans.values())
        return float(self.perp_spec.size(lots) * self.perp_spec.contract_size)

    def net_delta(self) -> float | None:
        return None if self.last is None else self.last.net

    def price(self) -> float | None:
        """Underlying price (quote per base unit): quoted market mid, else the perp's."""
        for state in (self.spot_state, self.perp_state):
            if state.sync.valid:
                mid = state.book.mid()
                if mid is not None:
                    return mid * float(state.spec.tick_size)
        return None

    def breakdown(self, price: float, now: int) -> DeltaBreakdown:
        """The net delta book at ``price`` and event time ``now`` from the ledger's positions."""
        ledger = self.ledger
        spot = self.spot_spec.size(ledger.position_qty(self.underlying)) + self.settings.external_spot
        perp = self.perp_spec.size(ledger.position_qty(self.hedge)) * self.perp_spec.contract_size
        book = self.book
        book.set_spot(self.asset, spot)
        book.set_perp(self.asset, perp)
        return book.breakdown(self.asset, price, self._valuation_ns(now))

    def attribution(self) -> HedgeAttribution:
        ledger = self.ledger
        perp = ledger.position_snapshot(self.hedge)
        fees = perp.fees_paid - perp.rebates
        return HedgeAttribution(
            spread_capture=ledger.spread_capture_of(self.underlying),
            hedge_fees=fees,
            hedge_spread=-ledger.spread_capture_of(self.hedge),
            hedge_pnl=perp.realized + perp.unrealized - fees,
            funding=perp.funding,
        )

    def model_pnl(self) -> Decimal:
        """PnL of the positions outside the ledger (deal options + LP value change), for risk."""
        return Decimal(self.model.off_ledger_pnl).quantize(_MONEY)

    def hedge_pnl(self) -> float:
        """The perp hedge's PnL net of fees, without funding (the journaled sample's pnl.hedge)."""
        return float(self.attribution().hedge_pnl)

    def status(self, now: int | None = None) -> dict[str, Any]:
        b = self.last
        deal = self.deal
        return {
            "instrument": self.hedge,
            "underlying": self.underlying,
            "asset": self.asset,
            "enabled": self.hedger.enabled,
            "mode": self.hedger.mode,
            "band": self.hedger.band,
            "target": self.hedger.target,
            "deal": None if deal is None else {"name": deal.name, "loan_delta": deal.loan_delta},
            "state": self.executor.state.value,
            "orphans": len(self.orphans),
            "price": None if b is None else b.price,
            "net_delta": None if b is None else b.net,
            "pending_delta": self.pending_delta(),
            "delta": None if b is None else b.as_dict(),
            "orders": self.orders,
            "hedges": self.hedges,
            "failed": self.failed,
            "fills": self.fills,
            "volume": str(self.volume),
            "funding_payments": self.funding_payments,
            "last_hedge": self.history[-1].as_dict() if self.history else None,
            "pnl": {**self.attribution().as_dict(), **self.model.as_dict()},
        }

    # ---- decisions -------------------------------------------------------------------

    def _valuation_ns(self, now: int) -> int:
        return now if self.deal is None else valuation_ns(self.deal, now)

    def _run(self, now: int) -> None:
        if self._running:
            self._dirty = True
            return
        self._running = True
        try:
            for _ in range(_MAX_ROUNDS):
                price = self.price()
                if price is None:
                    return
                if not self._dirty and price == self._last_price:
                    return
                self._dirty = False
                self._last_price = price
                self._evaluate(now, price)
                if not self._dirty:
                    return
        finally:
            self._running = False

    def _evaluate(self, now: int, price: float) -> None:
        b = self.breakdown(price, now)
        self.last = b
        self.model.update(self._valuation_ns(now), b)
        if not self._start_recorded:
            self._start_recorded = True
            if self.record is not None:
                self.record("hedge_start", {**self._identity, **self.model.start_payload()}, now)
        if self.expiry_ns and now >= self.expiry_ns and not self._expired_logged:
            self._expired_logged = True
            self._log.warning("deal expired: its calls are valued at intrinsic value", deal=self.deal.name)  # type: ignore[union-attr]
        if self.orphans and not self._orphans_cancelled:
            self._cancel_orphans(now)
        if not self.hedger.enabled or self.busy or now < self.retry_at:
            return
        if self.persistence is not None and self.persistence.fault is not None:
            return  # nothing new while the journal cannot write
        perp = self.perp_state
        bid, ask = perp.book.best_bid, perp.book.best_ask
        if not perp.quotable or bid is None or ask is None:
            return
        perp_mid = Decimal(bid + ask) * self.perp_spec.tick_size / 2
        decision = decide_hedge(b.net, self.hedger, self.perp_spec, price=perp_mid)
        if decision is None:
            return
        self._working = _Working(now, decision, b.ex_perp, price)
        self.orders += 1
        payload = {
            "instrument": self.hedge,
            "side": "buy" if decision.side > 0 else "sell",
            "quantity": str(decision.quantity),
            "delta_before": decision.delta_before,
            "delta_after": decision.delta_after,
            "price": price,
            "mode": self.hedger.mode,
            "delta": b.as_dict(),
        }
        if self.record is not None:
            self.record("hedge_order", payload, now)
        self._log.debug(
            "hedge", **{k: payload[k] for k in ("side", "quantity", "delta_before", "delta_after")}
        )
        self._apply(self.executor.start(now, decision, bid, ask), now)

    def _apply(self, actions: list[HedgeAction], now: int) -> None:
        for action in actions:
            if isinstance(action, PlacePassive | PlaceTaker):
                self._cum[action.client_id] = 0
                passive = isinstance(action, PlacePassive)
                self.venue.submit(
                    NewOrder(
                        client_id=action.client_id,
                        instrument=self.hedge,
                        side=action.side,
                        size=action.lots,
                        price=action.price if isinstance(action, PlacePassive) else None,
                        order_type=OrderType.LIMIT if passive else OrderType.MARKET,
                        tif=TimeInForce.GTX if passive else TimeInForce.IOC,
                        ts=now,
                    )
                )
            elif isinstance(action, CancelHedge):
                self.venue.submit(CancelOrder(client_id=action.client_id, instrument=self.hedge, ts=now))
            else:
                self._done(action, now)

    def _done(self, done: HedgeDone, now: int) -> None:
        working, self._working = self._working, None
        self._dirty = True
        self.hedges += 1
        unit = self.perp_spec.contract_size
        price = self.price() or (working.price if working is not None else 0.0)
        after = self.breakdown(price, now) if price else None
        if working is not None:
            record = HedgeRecord(
                decided_ts=working.ts,
                done_ts=now,
                side=int(done.side),
                requested=self.perp_spec.size(done.requested_lots) * unit,
                filled=self.perp_spec.size(done.filled_lots) * unit,
                passive=self.perp_spec.size(done.passive_lots) * unit,
                reason=done.reason,
                delta_before=working.decision.delta_before,
                delta_expected=working.decision.delta_after,
                ex_perp_at_decision=working.ex_perp,
                perp_after=after.perp if after is not None else 0.0,
                net_after=after.net if after is not None else 0.0,
                price_at_decision=working.price,
                price_after=price,
            )
            self.history.append(record)
            self._log.info(
                "hedge done",
                side="buy" if record.side > 0 else "sell",
                filled=str(record.filled),
                requested=str(record.requested),
                reason=record.reason,
                net_after=round(record.net_after, 10),
            )
            if self.record is not None:
                self.record("hedge_done", {"instrument": self.hedge, **record.as_dict()}, now)
        if done.filled_lots == 0:
            self.failed += 1
            self.retry_at = now + self._retry_ns
            if self.failed % _FAIL_LOG_EVERY == 1:
                self._log.warning(
                    "hedge traded nothing; retrying later",
                    reason=done.reason,
                    failed=self.failed,
                    retry_after_s=self.settings.retry_after_s,
                )

    # ---- orders of an earlier run ----------------------------------------------------

    def _cancel_orphans(self, now: int) -> None:
        self._orphans_cancelled = True
        self._log.info("cancelling hedge orders of an earlier run", orders=sorted(self.orphans))
        for client_id in sorted(self.orphans):
            self.venue.submit(CancelOrder(client_id=client_id, instrument=self.hedge, ts=now))

    def _on_orphan(self, report: OrderReport, now: int) -> None:
        client_id = report.client_id  # type: ignore[union-attr]
        if isinstance(report, OrderFilled):
            left = self.orphans[client_id] - int(report.side) * report.size
            if report.remaining == 0 or left == 0:
                del self.orphans[client_id]
            else:
                self.orphans[client_id] = left
        elif isinstance(report, OrderCancelled | OrderRejected):
            del self.orphans[client_id]
        if not self.orphans:
            self._dirty = True
            self._run(now)
