"""An engine's market-making obligation: the quoting overlay and the compliance meter, wired.

:class:`ObligationDesk` is two things for one quoted instrument:

- the **quoting overlay** the :class:`~bot.engine.trading.QuotingPipeline` calls on every
  decision (:meth:`apply`): it works out what the venue account can fund (inventory for
  asks, quote balance for bids, less ``reserve_pct``, within the risk manager's limits),
  asks the pure :class:`~bot.strategy.obligations.ObligationLayer` for the plan (the
  strategy's quotes clamped/trimmed, spread guards, depth ladder) and turns the lane's
  part into commands through its own :class:`~bot.strategy.order_manager.OrderManager`
  (client ids ``<engine>-o<n>``, slots named by the layer). Shortfalls become alerts
  (journal ``obligation_alert`` + a warning log line) that say which venue, which side and
  by how much;
- an **engine handler**, registered after the quoting pipeline and the hedger: after every
  event it measures the obligation on our resting orders at the paper venue
  (:func:`bot.risk.compliance.measure`) and feeds the
  :class:`~bot.risk.compliance.ComplianceMeter`, with the context that explains a breach
  (HALTED and why, book not valid, chosen by policy, funds short, orders in flight).

At start it journals the terms (``obligation_terms``) and resumes the uptime accounting
from the journal (last ``obligation_sample``, the breach open then, closed days and recent
breaches); lane orders an earlier run left resting are cancelled and re-placed.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, Protocol

import structlog

from bot.core.events import Event, Side
from bot.core.instrument import InstrumentSpec
from bot.core.orders import OrderAccepted, OrderCancelled, OrderCommand, OrderFilled, OrderReport
from bot.engine.loop import Engine
from bot.paper.ledger import Ledger
from bot.paper.matching import Market, RestingOrder
from bot.risk.adjust import limit_reduce_only
from bot.risk.compliance import ComplianceMeter, measure
from bot.risk.manager import RiskDecision, RiskManager
from bot.strategy.obligation_terms import ObligationTerms
from bot.strategy.obligations import (
    LaneOrder,
    LayerContext,
    ObligationLayer,
    ObligationPlan,
    Shortfall,
    SideBudget,
)
from bot.strategy.order_manager import OrderManager, SlotState
from bot.strategy.types import DesiredQuotes

log = structlog.get_logger("bot.obligations")

RecordSink = Callable[[str, dict[str, Any], int], None]
ADOPTED_SLOT0 = 1000
"""Lane orders restored from an earlier run sit on slots the layer never names: cancelled."""
ALERT_MIN_GAP_NS = 30_000_000_000
_ZERO = Decimal(0)
_MET = ("", "")
ALERT_CHANGE = 0.05


class PaperVenue(Protocol):
    """What the desk reads of the paper exchange."""

    ledger: Ledger
    markets: dict[str, Market]
    version: int
    now: int
    """Venue time of the last input event (ns)."""

    def open_orders(self, instrument: str | None = None) -> list[RestingOrder]: ...

    @property
    def catching_up(self) -> bool: ...


class DecisionSource(Protocol):
    """What the desk reads of the quoting pipeline (its last decision and main orders)."""

    decision: RiskDecision
    order_manager: OrderManager


class ObligationDesk:
    """Overlay + meter of one engine's obligation (see the module docstring)."""

    def __init__(
        self,
        engine: Engine,
        spec: InstrumentSpec,
        *,
        terms: ObligationTerms,
        layer: ObligationLayer,
        lane: OrderManager,
        venue: PaperVenue,
        risk: RiskManager,
        meter: ComplianceMeter,
        record: RecordSink | None = None,
    ) -> None:
        self.engine = engine
        self.spec = spec
        self.key = spec.key
        self.terms = terms
        self.layer = layer
        self.lane = lane
        self.venue = venue
        self.risk = risk
        self.meter = meter
        self.record = record
        self.pipeline: DecisionSource | None = None
        self.plan: ObligationPlan | None = None
        self.reserve = 1 - terms.params.reserve_pct / 100
        self.alerts: dict[Side, dict[str, Any]] = {}
        self._alert_ts: dict[Side, int] = {}
        self._emitted: dict[Side, tuple[str, float]] = {}
        self._seen: tuple[int, int | None, int | None] | None = None
        self._funds: tuple[int, Decimal] | None = None
        self._caps = (0, 0)
        self._resting: dict[str, tuple[int, int, int]] = {}
        self._reconciled: tuple[int, int, int] | None = None
        self._view_version = -1
        self._view: tuple[LaneOrder, ...] = ()
        self._venue_version = -1
        """Our resting orders (side, price, remaining) by client id, as the reports say."""
        self._log = log.bind(engine=engine.name, instrument=spec.key)
        self.prefix = lane.id_prefix
        self._terms_written = False
        self._closed = False
        self._stopping = False

    # ---- overlay (called by the quoting pipeline) ------------------------------------

    def owns(self, client_id: str) -> bool:
        return client_id.startswith(self.prefix)

    def apply(
        self, desired: DesiredQuotes, decision: RiskDecision, now: int
    ) -> tuple[DesiredQuotes, list[OrderCommand]]:
        book = self.engine.instruments[self.key].book
        bids, asks = self._budgets()
        ctx = LayerContext(
            best_bid=book.best_bid,
            best_ask=book.best_ask,
            lane=self._lane_view(),
            bids=bids,
            asks=asks,
            regime=decision.regime.value,
        )
        plan = self.plan = self.layer.plan(desired, ctx)
        self._alerts(plan.shortfalls, now)
        lane = self.lane
        key = (id(plan.lane_bids), id(plan.lane_asks), lane.version)
        if key == self._reconciled and not lane.blocked(now):
            return plan.inner, []  # same plan, same lane, nothing was sent last time: nothing to do
        commands = lane.reconcile_slots(plan.lane_bids, plan.lane_asks, now)
        self._reconciled = key if not commands else None
        return plan.inner, commands

    def cancel_all(self, now: int) -> list[OrderCommand]:
        return self.lane.cancel_all(now)

    def on_report(self, report: OrderReport) -> None:
        self.lane.on_report(report)

    def adopt_resting(self) -> int:
        """Track lane orders an earlier run left at the venue, on slots the next plan empties."""
        count = 0
        for order in self.venue.open_orders(self.key):
            if self.owns(order.client_id):
                self.lane.adopt(
                    order.client_id,
                    Side(order.side),
                    order.price,
                    order.remaining,
                    order.accepted_ts,
                    first_slot=ADOPTED_SLOT0,
                )
                count += 1
        if count:
            self._log.info("lane orders of an earlier run will be replaced", orders=count)
        return count

    # ---- measurement: every report, and after every event ----------------------------

    def observe_report(self, report: OrderReport) -> None:
        """Every report of the quoted instrument (all lanes), delivered after the venue handled
        an event: our resting set changes at the report's venue time, so the meter is updated
        there -- an order accepted 20 ms after a sweep ends the breach 20 ms after it, not at
        the next event."""
        kind = type(report)
        resting = self._resting
        if kind is OrderAccepted:
            assert isinstance(report, OrderAccepted)
            if report.price is None:
                return
            resting[report.client_id] = (int(report.side), report.price, report.size)
        elif kind is OrderFilled:
            assert isinstance(report, OrderFilled)
            order = resting.get(report.client_id)
            if order is None:
                return
            if report.remaining:
                resting[report.client_id] = (order[0], order[1], report.remaining)
            else:
                del resting[report.client_id]
        elif kind is OrderCancelled:
            if resting.pop(report.client_id, None) is None:  # type: ignore[union-attr]
                return
        else:
            return
        if self.venue.catching_up or self.meter.last_ts is None:
            return
        local = report.ts + self.engine.clock.now - self._venue_now()
        market = self.venue.markets[self.key]
        measurement = measure(self.terms, resting.values(), market.book.best_bid, market.book.best_ask)
        self.meter.update(
            max(self.meter.last_ts, min(local, self.engine.clock.now)), measurement, self._context()
        )

    def __call__(self, event: Event) -> None:
        venue = self.venue
        if venue.catching_up:
            return
        now = self.engine.clock.now
        if not self._terms_written:
            self._terms_written = True
            if self.record is not None:
                self.record("obligation_terms", self.terms_payload(), now)
        market = venue.markets[self.key]
        bid, ask = market.book.best_bid, market.book.best_ask
        seen = (venue.version, bid, ask)
        measurement = None
        if seen != self._seen:
            self._seen = seen
            if venue.version != self._venue_version:
                # the venue's own view is the truth: re-sync the report-built set with it
                self._venue_version = venue.version
                self._resting = {
                    o.client_id: (o.side, o.price, o.remaining) for o in venue.open_orders(self.key)
                }
            measurement = measure(self.terms, self._resting.values(), bid, ask)
        current = measurement if measurement is not None else self.meter.last
        context = self._context() if current is None or not current.met else _MET
        self.meter.update(now, measurement, context)

    def _venue_now(self) -> int:
        return self.venue.now

    def stopping(self) -> None:
        """The bot is shutting down: the quotes it cancels now are not a market event."""
        self._stopping = True

    def close(self, now: int) -> None:
        """Shutdown: account up to ``now`` and journal the final sample (once)."""
        if not self._closed:
            self._closed = True
            self.meter.close(now)

    # ---- internals -------------------------------------------------------------------

    def _lane_view(self) -> tuple[LaneOrder, ...]:
        lane = self.lane
        if lane.version != self._view_version:
            self._view_version = lane.version
            self._view = tuple(
                LaneOrder(o.level, o.side, o.price, o.remaining, o.state is SlotState.LIVE)
                for o in lane.orders.values()
            )
        return self._view

    def _budgets(self) -> tuple[SideBudget, SideBudget]:
        """What all our bids (tick-lots) and asks (lots) may use: the account's holdings less
        the reserve, within the risk limits (per-side notional, worst-case position)."""
        spec, venue = self.spec, self.venue
        market = venue.markets[self.key]
        ledger = venue.ledger
        base_lots = max(0, ledger.position_qty(self.key))
        balance = ledger.balances.get(spec.quote, _ZERO)
        funds = (base_lots, balance)
        if funds != self._funds:
            self._funds = funds
            self._caps = (
                int(max(_ZERO, balance) * self.reserve / market.buy_factor),
                int(base_lots * self.reserve),
            )
        bid_cap, ask_cap = self._caps
        bid_by = ask_by = "balance"
        limits = self.risk.limits
        if self.risk.enabled:
            side_tl = int(limits.max_side_tl * self.reserve)
            if side_tl < bid_cap:
                bid_cap, bid_by = side_tl, "risk limit: max_notional_per_side"
            book = self.engine.instruments[self.key].book
            ref = book.best_ask or book.best_bid
            if ref:
                if side_tl // ref < ask_cap:
                    ask_cap, ask_by = side_tl // ref, "risk limit: max_notional_per_side"
                mid = limits.mid_ticks or ref
                max_lots = int(limits.hard_tl * self.reserve) // mid
                position = limits.position
                if max(0, max_lots + position) < ask_cap:
                    ask_cap, ask_by = max(0, max_lots + position), "risk limit: max_position"
                if max(0, (max_lots - position) * ref) < bid_cap:
                    bid_cap, bid_by = max(0, (max_lots - position) * ref), "risk limit: max_position"
        blocked_bid = blocked_ask = ""
        why = limit_reduce_only(limits) if self.risk.enabled else ""
        if why:
            position = limits.position
            if position >= 0:
                blocked_bid = f"reduce-only ({why})"
            if position <= 0:
                blocked_ask = f"reduce-only ({why})"
        return (
            SideBudget(bid_cap, bid_by, blocked_bid),
            SideBudget(ask_cap, ask_by, blocked_ask),
        )

    def _context(self) -> tuple[str, str]:
        """Why the obligation may not be met right now (label, text)."""
        if self._stopping:
            return "stopping", "mmbot stopping: quotes cancelled"
        pipeline = self.pipeline
        if pipeline is not None and pipeline.decision.pull_all:
            reasons = "; ".join(pipeline.decision.reasons[:2]) or "risk manager HALTED"
            return "halted", f"HALTED: {reasons}"
        state = self.engine.instruments[self.key]
        sync = state.sync
        if not sync.valid:
            return (
                "book_invalid",
                f"book not valid ({sync.invalid_reason or sync.state.value}): quotes pulled",
            )
        if state.health.behind is not None:
            return "book_behind", f"book untradeable ({state.health.behind}): quotes pulled"
        plan = self.plan
        if plan is not None:
            if plan.chosen:
                return "chosen", f"chosen: {plan.chosen}"
            short = [s for s in plan.shortfalls if s.short_tl > 0]
            if short:
                return "funds", "; ".join(self._shortfall_text(s) for s in short)
        if pipeline is not None and self._in_flight(pipeline.order_manager):
            return "placing", "orders being placed or replaced"
        if self._in_flight(self.lane):
            return "placing", "orders being placed or replaced"
        return "", ""

    @staticmethod
    def _in_flight(manager: OrderManager) -> bool:
        return any(o.state is not SlotState.LIVE for o in manager.orders.values())

    def _shortfall_text(self, s: Shortfall) -> str:
        side = "bid" if s.side is Side.BUY else "ask"
        terms = self.terms
        return (
            f"{self.spec.venue} {side} depth: funds support {_fmt(terms.quote(s.supported_tl))} of "
            f"{_fmt(terms.quote(s.required_tl))} {self.spec.quote} required (limited by {s.limited_by})"
        )

    def _alerts(self, shortfalls: tuple[Shortfall, ...], now: int) -> None:
        """Keep ``self.alerts`` current (/status) and journal + log a side's alert when its state
        (short / buffer only / funded) or shortfall changes -- at most once per 30 s per side, so
        a shortfall hovering at a boundary does not flood the journal."""
        by_side = {s.side: s for s in shortfalls}
        for side in (Side.BUY, Side.SELL):
            s = by_side.get(side)
            state = "ok" if s is None else ("short" if s.short_tl > 0 else "buffer")
            short = float(self.terms.quote(s.short_tl)) if s is not None else 0.0
            if s is None:
                self.alerts.pop(side, None)
            else:
                self.alerts[side] = self._alert_payload(side, s)
            emitted = self._emitted.get(side, ("ok", 0.0))
            if emitted[0] == state:
                required = float(self.terms.quote(self.terms.required_tl(int(side))))
                if state == "ok" or abs(emitted[1] - short) <= ALERT_CHANGE * required:
                    continue
            last = self._alert_ts.get(side)
            if last is not None and now - last < ALERT_MIN_GAP_NS:
                continue  # pending: emitted once the gap has passed, if still different
            self._emitted[side] = (state, short)
            self._alert_ts[side] = now
            self._emit_alert(side, s, now)

    def _alert_payload(self, side: Side, s: Shortfall) -> dict[str, Any]:
        spec, terms = self.spec, self.terms
        name = "bid" if side is Side.BUY else "ask"
        state = "short" if s.short_tl > 0 else "buffer"
        book = self.engine.instruments[self.key].book
        ref = book.best_ask or book.best_bid or 0
        short = terms.quote(s.short_tl)
        short_asset = short if side is Side.BUY or not ref else short / spec.price(ref)
        if state == "short":
            text = (
                f"{spec.venue} cannot fund its {name} depth obligation: "
                f"{_fmt(terms.quote(s.supported_tl))} of {_fmt(terms.quote(s.required_tl))} {spec.quote}, "
                f"short by {_fmt(short)} {spec.quote}"
                + (f" (~{_fmt(short_asset)} {spec.base})" if side is Side.SELL else "")
                + f"; limited by {s.limited_by}"
            )
        else:
            text = (
                f"{spec.venue} {name} depth: the obligation is funded but not its buffer "
                f"({_fmt(terms.quote(s.supported_tl))} of {_fmt(terms.quote(s.target_tl))} {spec.quote})"
            )
        return {
            "instrument": self.key,
            "venue": spec.venue,
            "side": name,
            "state": state,
            "required": float(terms.quote(s.required_tl)),
            "target": float(terms.quote(s.target_tl)),
            "supported": float(terms.quote(s.supported_tl)),
            "short_by": float(short),
            "asset": spec.quote if side is Side.BUY else spec.base,
            "short_by_asset": float(short_asset),
            "limited_by": s.limited_by,
            "text": text,
        }

    def _emit_alert(self, side: Side, s: Shortfall | None, now: int) -> None:
        name = "bid" if side is Side.BUY else "ask"
        if s is None:
            payload: dict[str, Any] = {
                "instrument": self.key,
                "venue": self.spec.venue,
                "side": name,
                "state": "ok",
                "text": f"{self.spec.venue} {name} depth obligation funded again",
            }
            self._log.info("obligation funded again", side=name)
        else:
            payload = self._alert_payload(side, s)
            self._log.warning("obligation alert", side=name, state=payload["state"], text=payload["text"])
        if self.record is not None:
            self.record("obligation_alert", payload, now)

    # ---- reading ---------------------------------------------------------------------

    def terms_payload(self) -> dict[str, Any]:
        p = self.terms.params
        return {
            "instrument": self.key,
            "venue": self.spec.venue,
            "symbol": self.spec.symbol,
            "quote": self.spec.quote,
            "base": self.spec.base,
            "max_spread_pct": str(p.max_spread_pct),
            "band_pct": str(p.band_pct),
            "bid_depth": str(p.bid_depth),
            "ask_depth": str(p.ask_depth),
            "min_uptime_pct": str(p.min_uptime_pct),
            "min_spread_notional": str(p.min_spread_notional),
            "tick_size": str(self.spec.tick_size),
        }

    def summary(self) -> dict[str, Any]:
        """Uptime and breaches in a few numbers (run and replay summaries)."""
        meter = self.meter
        return {
            "instrument": self.key,
            "venue": self.spec.venue,
            "uptime_day": meter.today.ratio(),
            "uptime_deal": meter.deal.ratio(),
            "min_uptime": self.terms.min_uptime,
            "measured_s": meter.deal.measured / 1e9,
            "met": (meter.deal.ratio() or 0.0) >= self.terms.min_uptime,
            "breaches": meter.breaches,
            "breach_open": meter.breach is not None,
            "alerts": [a["text"] for a in self.alerts.values()],
        }

    def status(self, now: int) -> dict[str, Any]:
        meter = self.meter
        sample = meter.sample(now, consume=False)
        plan = self.plan
        return {
            "terms": self.terms_payload(),
            "now": {
                "met": sample["met"],
                "spread_pct": sample["spread_pct"],
                "bid_depth": sample["bid_depth"],
                "ask_depth": sample["ask_depth"],
                "mid": _price(self.spec, sample["two_mid"], 2),
                "best_bid": _price(self.spec, sample["best_bid"]),
                "best_ask": _price(self.spec, sample["best_ask"]),
                "context": sample["context"],
            },
            "uptime": {
                "day": meter.today.ratio(),
                "day_name": sample["day"],
                "day_measured_s": meter.today.measured / 1e9,
                "deal": meter.deal.ratio(),
                "deal_measured_s": meter.deal.measured / 1e9,
                "deal_start_ns": meter.deal_start,
                "min": self.terms.min_uptime,
            },
            "breaches": meter.breaches,
            "open_breach": meter.open_breach(),
            "recent_breaches": [b.payload(self.key) for b in list(meter.recent)[-10:]],
            "alerts": list(self.alerts.values()),
            "lane_orders": len(self.lane.orders),
            "layer": {
                "chosen": plan.chosen if plan else "",
                "notes": list(plan.notes) if plan else [],
            },
        }


def _fmt(value: Decimal) -> str:
    return f"{float(value):,.2f}"


def _price(spec: InstrumentSpec, ticks: int | None, divide: int = 1) -> float | None:
    if ticks is None:
        return None
    return float(spec.tick_size * ticks / divide)
