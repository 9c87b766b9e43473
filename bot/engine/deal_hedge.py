"""The deal's perp hedge: the whole book's net delta kept inside a band on one perpetual.

:class:`DealHedge` turns the desk's net delta (every venue's inventory, the pool
position, the calls, the perp, the loan) into perp orders on the hedge account with
:func:`~bot.hedge.hedger.decide_hedge` (band, target, step and lot rounding, minimum
size and notional, max order) and :class:`~bot.hedge.execution.HedgeExecutor` (taker at
once, or passive then taker). One hedge order works at a time; while it is in flight
its remaining quantity counts as delta already hedged. Hedge orders of an earlier run
found open after a restart are cancelled first and block new hedges until closed.
:meth:`close` flattens the perp at the end of the deal (reduce-only IOC slices).
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal
from typing import Any

import structlog

from bot.core.events import NS_PER_S, Side
from bot.core.orders import (
    CancelOrder,
    NewOrder,
    OrderAccepted,
    OrderCancelled,
    OrderFilled,
    OrderRejected,
    OrderReport,
    OrderType,
    TimeInForce,
)
from bot.engine.deal_accounts import DealAccount, program_of
from bot.engine.loop import InstrumentState
from bot.hedge.execution import CancelOrder as CancelHedge
from bot.hedge.execution import HedgeAction, HedgeDone, HedgeExecutor, OrderStatus, PlacePassive, PlaceTaker
from bot.hedge.hedger import HedgerSettings, decide_hedge

log = structlog.get_logger("bot.deal.hedge")

PREFIX = "hedge"
CLOSE = "close"


class DealHedge:
    def __init__(
        self,
        account: DealAccount,
        perp: InstrumentState,
        settings: HedgerSettings,
        *,
        retry_after_s: float,
        note: Any,
    ) -> None:
        self.account = account
        self.exchange = account.exchange
        self.state = perp
        self.spec = perp.spec
        self.settings = settings
        self.executor = HedgeExecutor(settings, PREFIX, first_seq=self.exchange.commands + 1)
        self._note = note
        self._cum: dict[str, int] = {}
        self.orphans: dict[str, int] = {}
        for order in self.exchange.open_orders(self.spec.key):
            self.orphans[order.client_id] = int(order.side) * order.remaining
        for client_id, command in self.exchange.inflight.items():
            if command.instrument == self.spec.key:
                self.orphans[client_id] = int(command.side) * command.size
        self._orphans_cancelled = False
        self.retry_at = 0
        self._retry_ns = int(retry_after_s * NS_PER_S)
        self.orders = 0
        self.hedges = 0
        self.failed = 0
        self.volume = Decimal(0)
        self.history: deque[dict[str, Any]] = deque(maxlen=200)
        self._working: dict[str, Any] | None = None
        self.closing = False

    # ---- views -----------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self.executor.busy or bool(self.orphans) or bool(self._cum)

    def position(self) -> Decimal:
        """The perp position in tokens (short < 0)."""
        lots = self.exchange.ledger.position_qty(self.spec.key)
        return self.spec.size(lots) * self.spec.contract_size

    def pending_delta(self) -> float:
        lots = self.executor.pending_lots + sum(self.orphans.values())
        return float(self.spec.size(lots) * self.spec.contract_size)

    def can_trade(self) -> bool:
        book = self.state.book
        return self.state.quotable and book.best_bid is not None and book.best_ask is not None

    # ---- decisions -------------------------------------------------------------------

    def step(self, now: int, net: float, price: float) -> None:
        """Re-hedge ``net`` (tokens) if it is outside the band and nothing is working."""
        if self.orphans and not self._orphans_cancelled:
            self._orphans_cancelled = True
            for client_id in sorted(self.orphans):
                self.exchange.submit(CancelOrder(client_id=client_id, instrument=self.spec.key, ts=now))
        if self.executor.busy:
            self._apply(self.executor.on_timer(now), now)
        if not self.settings.enabled or self.busy or now < self.retry_at or not self.can_trade():
            return
        book = self.state.book
        bid, ask = book.best_bid, book.best_ask
        assert bid is not None and ask is not None
        mid = Decimal(bid + ask) * self.spec.tick_size / 2
        decision = decide_hedge(net, self.settings, self.spec, price=mid)
        if decision is None:
            return
        self.orders += 1
        self._working = {
            "decided_ts": now,
            "side": "buy" if decision.side > 0 else "sell",
            "quantity": str(decision.quantity),
            "delta_before": decision.delta_before,
            "delta_after": decision.delta_after,
            "price": price,
        }
        self._note("hedge_order", dict(self._working))
        self._apply(self.executor.start(now, decision, bid, ask), now)

    def close(self, now: int) -> bool:
        """Flatten the perp (reduce-only IOC, max_order slices); True once it is flat."""
        self.closing = True
        position = self.exchange.ledger.position_qty(self.spec.key)
        if position == 0:
            return not self.busy
        if self.busy or now < self.retry_at or not self.can_trade():
            return False
        lots = abs(position)
        if self.settings.max_order is not None:
            cap = int(self.settings.max_order / (self.spec.lot_size * self.spec.contract_size))
            lots = min(lots, max(cap, self.spec.step_lots))
        lots -= lots % self.spec.step_lots
        if lots <= 0:
            return True  # less than one order step: nothing a venue would accept
        client_id = f"{CLOSE}-{self.exchange.commands + 1}"
        self._cum[client_id] = 0
        self.exchange.submit(
            NewOrder(
                client_id=client_id,
                instrument=self.spec.key,
                side=Side.SELL if position > 0 else Side.BUY,
                size=lots,
                order_type=OrderType.MARKET,
                tif=TimeInForce.IOC,
                reduce_only=True,
                ts=now,
            )
        )
        return False

    def on_report(self, report: OrderReport, now: int) -> None:
        if getattr(report, "instrument", None) != self.spec.key:
            return
        client_id = getattr(report, "client_id", "")
        kind = type(report)
        if client_id in self.orphans:
            if isinstance(report, OrderFilled):
                left = self.orphans[client_id] - int(report.side) * report.size
                if report.remaining == 0 or left == 0:
                    del self.orphans[client_id]
                else:
                    self.orphans[client_id] = left
            elif isinstance(report, OrderCancelled | OrderRejected):
                del self.orphans[client_id]
            return
        if client_id not in self._cum:
            return
        cum = self._cum[client_id]
        if kind is OrderFilled:
            assert isinstance(report, OrderFilled)
            cum = self._cum[client_id] = cum + report.size
            self.volume += self.spec.size(report.size) * self.spec.contract_size
            status = OrderStatus.FILLED if report.remaining == 0 else OrderStatus.PARTIALLY_FILLED
        elif kind is OrderAccepted:
            status = OrderStatus.ACCEPTED
        elif kind is OrderCancelled:
            status = OrderStatus.CANCELED
        elif kind is OrderRejected:
            status = OrderStatus.REJECTED
        else:
            return
        done = status in (OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED)
        if done:
            del self._cum[client_id]
        if program_of(client_id) == CLOSE:
            if done and cum == 0:
                self.retry_at = now + self._retry_ns
            return
        self._apply(self.executor.on_order_update(now, client_id, status, cum), now)

    def _apply(self, actions: list[HedgeAction], now: int) -> None:
        for action in actions:
            if isinstance(action, PlacePassive | PlaceTaker):
                self._cum[action.client_id] = 0
                passive = isinstance(action, PlacePassive)
                self.exchange.submit(
                    NewOrder(
                        client_id=action.client_id,
                        instrument=self.spec.key,
                        side=action.side,
                        size=action.lots,
                        price=action.price if isinstance(action, PlacePassive) else None,
                        order_type=OrderType.LIMIT if passive else OrderType.MARKET,
                        tif=TimeInForce.GTX if passive else TimeInForce.IOC,
                        ts=now,
                    )
                )
            elif isinstance(action, CancelHedge):
                self.exchange.submit(
                    CancelOrder(client_id=action.client_id, instrument=self.spec.key, ts=now)
                )
            else:
                self._done(action, now)

    def _done(self, done: HedgeDone, now: int) -> None:
        working, self._working = self._working, None
        self.hedges += 1
        unit = self.spec.lot_size * self.spec.contract_size
        record = {
            **(working or {}),
            "done_ts": now,
            "requested": str(done.requested_lots * unit),
            "filled": str(done.filled_lots * unit),
            "passive": str(done.passive_lots * unit),
            "reason": done.reason,
            "perp_after": str(self.position()),
        }
        self.history.append(record)
        self._note("hedge_done", record)
        if done.filled_lots == 0:
            self.failed += 1
            self.retry_at = now + self._retry_ns
            if self.failed % 60 == 1:
                log.warning(
                    "deal hedge traded nothing; retrying later", reason=done.reason, failed=self.failed
                )

    def status(self) -> dict[str, Any]:
        return {
            "instrument": self.spec.key,
            "enabled": self.settings.enabled,
            "band": self.settings.band,
            "mode": self.settings.mode,
            "state": self.executor.state.value,
            "position": str(self.position()),
            "pending_delta": self.pending_delta(),
            "orders": self.orders,
            "hedges": self.hedges,
            "failed": self.failed,
            "volume": str(self.volume),
            "orphans": len(self.orphans),
            "last_hedge": self.history[-1] if self.history else None,
        }
