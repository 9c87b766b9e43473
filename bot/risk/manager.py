"""RiskManager: the one object the engine wires (regimes, triggers, limits, kill switch).

Per event the engine calls :meth:`RiskManager.on_market` with the estimators' snapshot
and the book/feed health, and reads the returned :class:`RiskDecision`: the regime,
the :class:`~bot.strategy.types.QuoteAdjustments` for the quoter, and ``pull_all``
(cancel every quote, quote nothing). It calls :meth:`on_position` when inventory or
equity changes, :meth:`on_report` with every order report, and :meth:`check` on every
order command before sending it (a :class:`~bot.risk.limits.Veto` means: do not send;
answer the order manager as if the venue had rejected it).

Kill switch: :meth:`kill` halts in the same call and latches until :meth:`resume`.
Both return a :class:`~bot.risk.explain.KillRecord` (also given to the sink) that the
engine journals; after a restart :meth:`restore` replays those records so the bot comes
back HALTED. Every regime transition goes to the sink as a
:class:`~bot.risk.explain.RegimeTransition`.

Everything runs on event time (``now`` in ns from the events); nothing reads a clock.
Compiled with mypyc; the :class:`RiskDecision` struct lives in :mod:`bot.risk.decision`
(re-exported here).

Wiring sketch (one quoted instrument)::

    risk = RiskManager(settings.risk, spec, sink=journal_and_log, base_levels=quoter.ladder.levels)
    risk.restore(from_payload(p, t) for t, p in journal_risk_records)   # kill survives restarts
    ...per event, after the engine updated the book and the estimators:
    state = estimators.snapshot()
    decision = risk.on_market(state, book_valid=engine.instruments[key].sync.valid)
    if decision.pull_all:
        commands = order_manager.cancel_all(now)
    else:
        commands = order_manager.reconcile(quoter.quote(state, position, decision.adjustments), now)
    for command in commands:
        veto = risk.check(command)            # never vetoes a cancel
        if veto is not None:
            order_manager.on_report(veto.report(command))   # as if rejected; nothing sent
        else:
            paper.submit(command)
    ...per order report:  order_manager.on_report(r); risk.on_report(r)
    ...per fill / mark:   risk.on_position(position_lots, equity_pnl, ts)
    ...kill switch:       record = risk.kill(reason, "signal" | "cli" | "http", now)  (journal it)
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

import msgspec

from bot.core.instrument import InstrumentSpec
from bot.core.orders import OrderCommand, OrderReport
from bot.core.units import size_text
from bot.market.estimators.state import MarketState
from bot.risk.adjust import build_adjustments, limit_reduce_only
from bot.risk.decision import RiskDecision
from bot.risk.explain import KillRecord, Reason, Regime, RegimeTransition, RiskRecord
from bot.risk.limits import Limits, Veto
from bot.risk.regimes import RegimeMachine
from bot.risk.settings import RiskSettings, StateProfile
from bot.risk.signals import SignalTracker
from bot.risk.triggers import HOLDS, LATCHED, Trigger, TriggerBoard, evaluate_market
from bot.strategy.types import QuoteAdjustments

_PULL = QuoteAdjustments(size_mult=0.0, allow_bid=False, allow_ask=False)
_CRISIS_DEPTH_RULE = frozenset({Regime.CRISIS, Regime.HALTED})
"""States that use the depth-collapse threshold for CRISIS."""

__all__ = ["RiskDecision", "RiskManager"]


class RiskManager:
    """Risk state of one quoted instrument."""

    def __init__(
        self,
        settings: RiskSettings,
        spec: InstrumentSpec,
        *,
        sink: Callable[[RiskRecord], None] | None = None,
        base_levels: int | None = None,
        history: int = 100,
    ) -> None:
        self.settings = settings
        self.spec = spec
        self.instrument = spec.key
        self.enabled = settings.enabled
        self.sink = sink
        self.base_levels = base_levels
        """The strategy's ladder levels (the 'more levels' rule adds to it; None = rule off)."""
        self.signals = SignalTracker(settings.regimes, settings.triggers, spec.key)
        self.board = TriggerBoard(settings.triggers)
        self.machine = RegimeMachine(settings.regimes, spec.key, self._on_transition)
        self.limits = Limits(settings.limits, spec)
        self.history: deque[RegimeTransition] = deque(maxlen=history)
        self._triggers = settings.triggers
        self.now = 0
        self._profiles: dict[Regime, StateProfile] = {
            Regime.CALM: settings.profiles.calm,
            Regime.RANGING: settings.profiles.ranging,
            Regime.TRENDING: settings.profiles.trending,
            Regime.CRISIS: settings.profiles.crisis,
        }
        self._key: tuple[Any, ...] | None = None
        self._fast_key: tuple[Any, ...] | None = None
        self._refresh_ts = 0
        self._refresh_ns = int(settings.rules.refresh_s * 1e9)
        self._decision: RiskDecision
        if self.enabled:
            self.board.set(
                Trigger.WARMUP, Reason(rule="trigger.warmup", note="waiting for a valid book and vol")
            )
            self.board.take_fired()
        else:
            self.machine.state = Regime.CALM
            self.machine.reasons = (Reason(rule="disabled", note="risk manager disabled by config"),)
        self._decide()

    # ---- events -----------------------------------------------------------------------

    def on_market(
        self,
        state: MarketState,
        *,
        book_valid: bool = True,
        feed_fresh: bool = True,
        now: int | None = None,
    ) -> RiskDecision:
        """One market event: update signals, triggers and regime; returns the decision."""
        ts = state.ts_ns if now is None else now
        if ts > self.now:
            self.now = ts
        if not self.enabled:
            return self._decision
        now = self.now
        signals = self.signals
        signals.update(state, now)
        limits = self.limits
        if signals.known:
            limits.mid_ticks = (state.best_bid + state.best_ask) >> 1
        if now >= limits.next_day_ts:
            limits.roll_day(now)
        machine = self.machine
        evaluate_market(
            self.board,
            signals,
            self._triggers,
            book_valid,
            feed_fresh,
            now,
            machine.state in _CRISIS_DEPTH_RULE,
        )
        if limits.position:
            self._check_inventory()
        machine.step(signals, self.board, now)
        return self._decide()

    def on_position(
        self, position_lots: int, pnl: Decimal | None = None, now: int | None = None
    ) -> RiskDecision:
        """Inventory of the quoted instrument (lots, signed) and equity PnL (quote currency,
        any fixed origin) changed at ``now``."""
        if now is not None and now > self.now:
            self.now = now
        limits = self.limits
        limits.on_position(position_lots, pnl, self.now)
        if not self.enabled:
            return self._decision
        self._check_inventory()
        max_dd = self.settings.limits.max_drawdown
        drawdown = limits.drawdown()
        if drawdown >= max_dd and Trigger.DRAWDOWN not in self.board.active:
            reason = Reason(
                rule="trigger.drawdown",
                metric="drawdown",
                observed=float(drawdown),
                op=">=",
                threshold=float(max_dd),
                unit=self.spec.quote,
                note=f"equity {limits.pnl} vs peak {limits.peak}; latched until resume",
            )
            self.board.set(Trigger.DRAWDOWN, reason)
            self._emit(
                KillRecord(
                    ts=self.now,
                    action="kill",
                    trigger=Trigger.DRAWDOWN.value,
                    reason=reason.text(),
                    source="risk",
                    instrument=self.instrument,
                )
            )
        self.machine.step(self.signals, self.board, self.now)
        return self._decide()

    def on_report(self, report: OrderReport) -> None:
        """Every order report of the quoted instrument (keeps the open-order view)."""
        self.limits.on_report(report)

    def check(self, command: OrderCommand) -> Veto | None:
        """Pre-trade check of one order command: None = send it, else the veto."""
        if not self.enabled:
            return None
        return self.limits.check(
            command,
            halted=self.machine.state is Regime.HALTED,
            reduce_only=limit_reduce_only(self.limits),
        )

    # ---- kill switch ------------------------------------------------------------------

    def kill(self, reason: str, source: str, ts: int) -> KillRecord:
        """Manual kill: HALTED now, latched until :meth:`resume`. Journal the returned record."""
        if ts > self.now:
            self.now = ts
        self.board.set(
            Trigger.MANUAL_KILL,
            Reason(rule="trigger.manual_kill", note=f"{source}: {reason}" if reason else source),
        )
        record = KillRecord(
            ts=self.now, action="kill", reason=reason, source=source, instrument=self.instrument
        )
        self._emit(record)
        self.machine.step(self.signals, self.board, self.now)
        self._decide()
        return record

    def resume(self, reason: str, source: str, ts: int) -> KillRecord:
        """Clear the kill and every other latched trigger (drawdown restarts from the current
        equity). Quoting restarts through CRISIS once no other trigger is active."""
        if ts > self.now:
            self.now = ts
        note = f"resumed by {source}: {reason}" if reason else f"resumed by {source}"
        for trigger in LATCHED:
            self.board.clear(trigger, Reason(rule=f"clear.{trigger.value}", note=note), self.now)
        self.limits.reset_peak()
        record = KillRecord(
            ts=self.now, action="resume", reason=reason, source=source, instrument=self.instrument
        )
        self._emit(record)
        if self.enabled:
            self.machine.step(self.signals, self.board, self.now)
        self._decide()
        return record

    # ---- holds: conditions outside the market ----------------------------------------

    def hold(self, trigger: Trigger, note: str, ts: int) -> None:
        """Stop quoting now for a reason outside the market (one of
        :data:`~bot.risk.triggers.HOLDS`): HALTED in this call, until :meth:`release`."""
        if trigger not in HOLDS:
            raise ValueError(f"{trigger.value} is not a hold")
        if ts > self.now:
            self.now = ts
        self.board.set(trigger, Reason(rule=f"trigger.{trigger.value}", note=note))
        if self.enabled:
            self.machine.step(self.signals, self.board, self.now)
        self._decide()

    def release(self, trigger: Trigger, note: str, ts: int) -> None:
        """The hold's condition is gone; quoting re-enters through CRISIS once nothing else
        is active (the normal way out of HALTED)."""
        if ts > self.now:
            self.now = ts
        self.board.clear(trigger, Reason(rule=f"clear.{trigger.value}", note=note), self.now)
        if self.enabled:
            self.machine.step(self.signals, self.board, self.now)
        self._decide()

    def held(self, trigger: Trigger) -> bool:
        return trigger in self.board.active

    def restore(self, records: Iterable[RiskRecord]) -> None:
        """Replay journaled records (oldest first) after a restart: a kill or drawdown latch
        without a later resume is active again, so the bot comes back HALTED."""
        for record in records:
            if not isinstance(record, KillRecord):
                continue
            if record.action == "kill":
                try:
                    trigger = Trigger(record.trigger)
                except ValueError:
                    trigger = Trigger.MANUAL_KILL
                self.board.set(
                    trigger,
                    Reason(
                        rule=f"trigger.{trigger.value}", note=f"restored: {record.source}: {record.reason}"
                    ),
                )
            else:
                for trigger in LATCHED:
                    self.board.active.pop(trigger, None)
        self.board.take_fired()
        if self.machine.state is not Regime.HALTED and self.board.active:
            self.machine.step(self.signals, self.board, self.now)
        self.machine.reasons = self.board.reasons() or self.machine.reasons
        self._decide()

    # ---- reading ----------------------------------------------------------------------

    @property
    def decision(self) -> RiskDecision:
        return self._decision

    @property
    def regime(self) -> Regime:
        return self.machine.state

    @property
    def killed(self) -> bool:
        return Trigger.MANUAL_KILL in self.board.active

    def status(self) -> dict[str, Any]:
        """JSON-able snapshot for /status: regime, since, reasons, triggers, signals, limits."""
        limits = self.limits
        decision = self._decision
        return {
            "instrument": self.instrument,
            "enabled": self.enabled,
            "regime": self.machine.state.value,
            "since_ts": self.machine.entered_ts,
            "reasons": [r.text() for r in self.machine.reasons],
            "active_triggers": {t.value: r.text() for t, r in self.board.active.items()},
            "halt_ready_ts": self.board.ready_at() if self.machine.state is Regime.HALTED else None,
            "adjustments": msgspec.to_builtins(decision.adjustments),
            "pull_all": decision.pull_all,
            "notes": list(decision.reasons),
            "signals": self.signals.values(),
            "limits": {
                "position_lots": limits.position,
                "position_notional": str(limits.notional(limits.position_tl)),
                "open_orders": len(limits.orders),
                "daily_loss": str(limits.daily_loss()),
                "daily_loss_breached": limits.daily_breached,
                "drawdown": str(limits.drawdown()),
            },
            "last_transition": msgspec.to_builtins(self.machine.last) if self.machine.last else None,
        }

    # ---- internals --------------------------------------------------------------------

    def _check_inventory(self) -> None:
        limits = self.limits
        if not limits.mid_ticks:
            return
        position_tl = limits.position_tl
        board = self.board
        if position_tl > limits.halt_tl:
            board.set(
                Trigger.INVENTORY,
                Reason(
                    rule="trigger.inventory",
                    metric="position_notional",
                    observed=float(limits.notional(position_tl)),
                    op=">",
                    threshold=float(self.settings.limits.halt_position),
                    unit=self.spec.quote,
                    note=f"position {size_text(self.spec, limits.position)} {self.spec.base}",
                ),
            )
        elif Trigger.INVENTORY in board.active and position_tl <= limits.hard_tl:
            board.clear(
                Trigger.INVENTORY,
                Reason(
                    rule="clear.inventory",
                    metric="position_notional",
                    observed=float(limits.notional(position_tl)),
                    op="<=",
                    threshold=float(self.settings.limits.max_position),
                    unit=self.spec.quote,
                ),
                self.now,
            )

    def _on_transition(self, record: RegimeTransition) -> None:
        self.history.append(record)
        self._emit(record)

    def _emit(self, record: RiskRecord) -> None:
        if self.sink is not None:
            self.sink(record)

    def _decide(self) -> RiskDecision:
        machine = self.machine
        regime = machine.state
        if regime is Regime.HALTED:
            key: tuple[Any, ...] = (regime, machine.entered_ts, *self.board.active)
            if key != self._key:
                self._key = key
                self._decision = RiskDecision(
                    regime=regime,
                    adjustments=_PULL,
                    pull_all=True,
                    reasons=tuple(r.text() for r in machine.reasons),
                    ts=self.now,
                )
            return self._decision
        # Signal-driven multipliers move with the estimators' 1 s vol samples: recompute them
        # at most every refresh interval, but at once when regime, position or limits change.
        limits = self.limits
        fast = (regime, machine.entered_ts, limits.position, limits.daily_breached)
        if fast == self._fast_key and self.now < self._refresh_ts:
            return self._decision
        self._fast_key = fast
        self._refresh_ts = self.now + self._refresh_ns
        profile = self._profiles[regime]
        rules = self.settings.rules
        adjustments, _ = build_adjustments(
            regime,
            profile,
            self.signals,
            rules,
            limits,
            trend_dir=machine.trend_dir,
            base_levels=self.base_levels,
        )
        key = (regime, machine.entered_ts, adjustments)
        if key != self._key:
            self._key = key
            _, notes = build_adjustments(
                regime,
                profile,
                self.signals,
                rules,
                limits,
                trend_dir=machine.trend_dir,
                base_levels=self.base_levels,
                explain=True,
            )
            self._decision = RiskDecision(
                regime=regime,
                adjustments=adjustments,
                pull_all=False,
                reasons=(*(r.text() for r in machine.reasons), *notes),
                ts=self.now,
            )
        return self._decision
