"""Limits: the pre-trade check on every order command and the limit-driven quote scaling.

Money is exact: every notional limit is converted once into integer "tick-lots" of the
instrument (``notional = price_ticks * size_lots * tick_size * lot_size *
contract_size``), so checks compare integers. Position limits are notionals at the
current mid (the same defaults fit BTC and ETH).

- **Position**: above ``soft_position`` sizes shrink and skew grows (linearly up to
  the hard limit); at ``max_position`` quoting is reduce-only and any order whose
  worst case (position + every open order on its side + this order) would exceed the
  limit is refused; beyond ``halt_position`` the inventory pull trigger fires.
- **Order**: ``max_order`` notional per order; ``max_notional_per_side`` over the open
  orders of a side (live and in flight); ``max_open_orders``; a token bucket on new
  orders (``orders_per_s``, ``order_burst``) in event time.
- **Loss**: loss since the start of the UTC day (event time) beyond ``daily_loss`` ->
  reduce-only until the next UTC day; equity ``max_drawdown`` below its peak -> the
  drawdown pull trigger (latched until a resume).

Cancels are never refused: they only ever reduce risk. Open orders are tracked from
the commands this check approves and the venue's reports (:meth:`Limits.on_report`).
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

import msgspec

from bot.core.events import Side
from bot.core.instrument import InstrumentSpec
from bot.core.orders import (
    CancelRejected,
    CancelRejectReason,
    FundingPayment,
    NewOrder,
    OrderCancelled,
    OrderCommand,
    OrderFilled,
    OrderRejected,
    OrderReport,
    RejectReason,
)
from bot.risk.settings import LimitSettings

NS_PER_DAY = 86_400 * 1_000_000_000


class Veto(msgspec.Struct, frozen=True, kw_only=True):
    """Why an order command was refused: the rule and the numbers."""

    rule: str
    text: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.text}"

    def report(self, command: NewOrder, ts: int | None = None) -> OrderRejected:
        """The rejection to hand the order manager for a vetoed order (it was never sent)."""
        return OrderRejected(
            client_id=command.client_id,
            instrument=command.instrument,
            ts=command.ts if ts is None else ts,
            reason=RejectReason.RISK_LIMIT,
            text=str(self),
        )


class TokenBucket:
    """``rate`` tokens per second of event time, at most ``burst`` stored."""

    __slots__ = ("burst", "rate_per_ns", "tokens", "ts")

    def __init__(self, rate_per_s: float, burst: int) -> None:
        self.rate_per_ns = rate_per_s / 1e9
        self.burst = float(burst)
        self.tokens = float(burst)
        self.ts = -1

    def take(self, now: int) -> bool:
        if self.ts >= 0 and now > self.ts:
            self.tokens = min(self.burst, self.tokens + (now - self.ts) * self.rate_per_ns)
        if now > self.ts:
            self.ts = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class _Open:
    __slots__ = ("price", "remaining", "side")

    def __init__(self, side: Side, price: int, remaining: int) -> None:
        self.side = side
        self.price = price
        self.remaining = remaining


def _tick_lots(amount: Decimal, unit: Decimal) -> int:
    return int((amount / unit).to_integral_value(ROUND_FLOOR))


class Limits:
    """Limit state of one quoted instrument."""

    def __init__(self, settings: LimitSettings, spec: InstrumentSpec) -> None:
        self.settings = settings
        self.spec = spec
        unit = spec.tick_size * spec.lot_size * spec.contract_size
        self.unit = unit
        self.soft_tl = _tick_lots(settings.soft_position, unit)
        self.hard_tl = _tick_lots(settings.max_position, unit)
        self.halt_tl = _tick_lots(settings.halt_position, unit)
        self.max_order_tl = _tick_lots(settings.max_order, unit)
        self.max_side_tl = _tick_lots(settings.max_notional_per_side, unit)
        self.bucket = TokenBucket(settings.orders_per_s, settings.order_burst)
        self.orders: dict[str, _Open] = {}
        self.open_lots = {Side.BUY: 0, Side.SELL: 0}
        self.open_tl = {Side.BUY: 0, Side.SELL: 0}
        self.position = 0
        self.mid_ticks = 0
        self.pnl: Decimal | None = None
        self.peak: Decimal | None = None
        self.day = -1
        self.next_day_ts = 0
        self.day_start_pnl = Decimal(0)
        self.daily_breached = False

    # ---- state ------------------------------------------------------------------------

    def set_mid(self, mid_ticks: int) -> None:
        self.mid_ticks = mid_ticks

    def on_position(self, position_lots: int, pnl: Decimal | None, now: int) -> None:
        """Inventory (lots, signed) and equity PnL (quote currency) at event time ``now``."""
        self.position = position_lots
        self.roll_day(now)
        if pnl is None:
            return
        if self.pnl is None:
            self.day_start_pnl = pnl  # the first equity seen starts the day
        self.pnl = pnl
        if self.peak is None or pnl > self.peak:
            self.peak = pnl
        if not self.daily_breached and self.day_start_pnl - pnl >= self.settings.daily_loss:
            self.daily_breached = True

    def roll_day(self, now: int) -> None:
        """Start a new UTC day (event time) if ``now`` is in one: daily loss counts from here."""
        day = now // NS_PER_DAY
        if day != self.day:
            self.day = day
            self.next_day_ts = (day + 1) * NS_PER_DAY
            self.day_start_pnl = self.pnl if self.pnl is not None else Decimal(0)
            self.daily_breached = False

    def reset_peak(self) -> None:
        """Start drawdown afresh from the current equity (after a manual resume)."""
        self.peak = self.pnl

    @property
    def position_tl(self) -> int:
        """|position| notional at the current mid, tick-lots."""
        return abs(self.position) * self.mid_ticks

    def daily_loss(self) -> Decimal:
        return self.day_start_pnl - self.pnl if self.pnl is not None else Decimal(0)

    def drawdown(self) -> Decimal:
        if self.pnl is None or self.peak is None:
            return Decimal(0)
        return self.peak - self.pnl

    def notional(self, tick_lots: int) -> Decimal:
        """Tick-lots -> quote currency."""
        return tick_lots * self.unit

    def soft_excess(self) -> float:
        """0 at or below the soft limit, 1 at or beyond the hard limit."""
        position = self.position_tl
        if position <= self.soft_tl:
            return 0.0
        span = self.hard_tl - self.soft_tl
        return 1.0 if span <= 0 else min(1.0, (position - self.soft_tl) / span)

    # ---- orders -----------------------------------------------------------------------

    def check(self, command: OrderCommand, *, halted: bool, reduce_only: str = "") -> Veto | None:
        """``None`` if ``command`` may be sent, else the :class:`Veto`. Approved new orders are
        counted as open (in flight) at once. ``reduce_only`` names why only reducing orders
        are allowed now (empty = not reduce-only)."""
        if not isinstance(command, NewOrder):
            return None  # cancels are always allowed
        if halted:
            return Veto(rule="halted", text="risk manager is HALTED: no new orders")
        size = command.size
        side = command.side
        price = command.price if command.price is not None else self.mid_ticks
        notional = price * size
        if notional > self.max_order_tl:
            return Veto(
                rule="max_order",
                text=f"order notional {self._q(notional)} > {self.settings.max_order}",
            )
        if len(self.orders) >= self.settings.max_open_orders:
            return Veto(
                rule="max_open_orders",
                text=f"{len(self.orders)} open orders >= {self.settings.max_open_orders}",
            )
        side_total = self.open_tl[side] + notional
        if side_total > self.max_side_tl:
            return Veto(
                rule="max_notional_per_side",
                text=f"{side.name} open notional would be {self._q(side_total)} > "
                f"{self.settings.max_notional_per_side}",
            )
        position = self.position
        worst = position + side * (self.open_lots[side] + size)
        increases = abs(worst) > abs(position)
        if reduce_only and (increases or worst * position < 0):
            return Veto(
                rule="reduce_only",
                text=f"{reduce_only}: {side.name} {size} lots would not only reduce position {position} "
                f"(worst case {worst})",
            )
        mid = self.mid_ticks or price
        if increases and abs(worst) * mid > self.hard_tl:
            return Veto(
                rule="max_position",
                text=f"worst-case position notional {self._q(abs(worst) * mid)} > {self.settings.max_position}",
            )
        if not self.bucket.take(command.ts):
            return Veto(
                rule="rate_limit",
                text=f"more than {self.settings.order_burst} new orders in a burst / "
                f"{self.settings.orders_per_s:g} per s",
            )
        if command.client_id in self.orders:  # a duplicate id: the venue rejects it; do not double count
            return None
        self.orders[command.client_id] = _Open(side, price, size)
        self.open_lots[side] += size
        self.open_tl[side] += notional
        return None

    def on_report(self, report: OrderReport) -> None:
        """Keep open orders in step with the venue's answers."""
        if isinstance(report, FundingPayment):
            return
        order = self.orders.get(report.client_id)
        if order is None:
            return
        if isinstance(report, OrderFilled):
            self._reduce(report.client_id, order, order.remaining - report.remaining)
        elif isinstance(report, OrderCancelled | OrderRejected):
            self._reduce(report.client_id, order, order.remaining)
        elif isinstance(report, CancelRejected) and report.reason is not CancelRejectReason.ALREADY_FILLED:
            self._reduce(report.client_id, order, order.remaining)  # unknown or closed: not open

    def _reduce(self, client_id: str, order: _Open, lots: int) -> None:
        lots = max(0, min(lots, order.remaining))
        order.remaining -= lots
        self.open_lots[order.side] -= lots
        self.open_tl[order.side] -= lots * order.price
        if order.remaining <= 0:
            del self.orders[client_id]

    def _q(self, tick_lots: int) -> str:
        return f"{self.notional(tick_lots).normalize():f}"
