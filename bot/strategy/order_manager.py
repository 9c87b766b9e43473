"""Order manager: turns desired quotes into the minimal cancel/new commands.

Each desired quote occupies a *slot* ``(side, level)``: level 0 is the best price of
that side. A slot holds at most one of our orders, in one of three states:

- ``PENDING_NEW``: sent, not yet acknowledged. Left alone until the venue answers.
- ``LIVE``: resting. Kept while its price is within ``refresh_ticks`` of the desired
  price, its remaining size within ``size_tolerance`` of the desired size and it is
  younger than ``max_age``; otherwise cancelled.
- ``PENDING_CANCEL``: cancel sent. The slot stays occupied until the venue confirms
  (cancelled, or filled: a cancel can lose the race with a fill), so a level is never
  quoted twice while a cancel is pending. The replacement is placed by the next
  reconcile after the confirmation.

Everything is driven by event time; no I/O. Commands are returned, the caller sends
them (to the paper exchange) and feeds every report back through :meth:`on_report`.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from bot.core.events import Side
from bot.core.orders import (
    CancelOrder,
    CancelRejected,
    CancelRejectReason,
    NewOrder,
    OrderAccepted,
    OrderCancelled,
    OrderCommand,
    OrderFilled,
    OrderRejected,
    OrderReport,
    TimeInForce,
)
from bot.strategy.types import DesiredQuotes, Quote


class SlotState(StrEnum):
    PENDING_NEW = "pending_new"
    LIVE = "live"
    PENDING_CANCEL = "pending_cancel"


class TrackedOrder:
    """Our view of one order we sent."""

    __slots__ = (
        "acked",
        "client_id",
        "created_ts",
        "doomed",
        "level",
        "price",
        "remaining",
        "side",
        "size",
        "state",
    )

    def __init__(self, client_id: str, side: Side, level: int, price: int, size: int, ts: int) -> None:
        self.client_id = client_id
        self.side = side
        self.level = level
        self.price = price
        self.size = size
        self.remaining = size
        self.created_ts = ts
        self.state = SlotState.PENDING_NEW
        self.acked = False
        self.doomed = False  # cancel as soon as the venue acknowledges it

    def as_dict(self) -> dict[str, object]:
        return {
            "client_id": self.client_id,
            "side": self.side.name,
            "level": self.level,
            "price": self.price,
            "size": self.size,
            "remaining": self.remaining,
            "state": self.state.value,
        }


class OrderManagerStats:
    __slots__ = ("cancel_rejects", "cancels", "fills", "new_orders", "rejects")

    def __init__(self) -> None:
        self.new_orders = 0
        self.cancels = 0
        self.rejects = 0
        self.cancel_rejects = 0
        self.fills = 0

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}


class OrderManager:
    """Keeps one instrument's resting quotes in line with the quoter's wishes."""

    def __init__(
        self,
        instrument: str,
        *,
        id_prefix: str,
        refresh_ticks: int = 0,
        size_tolerance: float = 0.25,
        max_age_ns: int = 0,
        post_only: bool = True,
        first_seq: int = 1,
        reject_cooldown_ns: int = 1_000_000_000,
    ) -> None:
        if refresh_ticks < 0:
            raise ValueError("refresh_ticks must be >= 0")
        if not 0.0 <= size_tolerance < 1.0:
            raise ValueError("size_tolerance must be in [0, 1)")
        self.instrument = instrument
        self.id_prefix = id_prefix
        self.refresh_ticks = refresh_ticks
        self.size_tolerance = size_tolerance
        self.max_age_ns = max_age_ns
        self.tif = TimeInForce.GTX if post_only else TimeInForce.GTC
        self._seq = first_seq
        self.orders: dict[str, TrackedOrder] = {}
        self._slots: dict[tuple[Side, int], TrackedOrder] = {}
        self.stats = OrderManagerStats()
        self.reject_cooldown_ns = reject_cooldown_ns
        self._blocked_until: dict[Side, int] = {}
        """After a venue reject, a side places nothing new until then (no retry storms on
        e.g. an insufficient balance); cancels are never blocked."""
        self.version = 0
        """Incremented whenever an order is added, changes state or goes: cheap change detection."""

    # ---- decisions -------------------------------------------------------------------

    def reconcile(self, desired: DesiredQuotes, now: int) -> list[OrderCommand]:
        """Commands that move our resting orders toward ``desired``."""
        commands: list[OrderCommand] = []
        self._reconcile_side(Side.BUY, dict(enumerate(desired.bids)), now, commands)
        self._reconcile_side(Side.SELL, dict(enumerate(desired.asks)), now, commands)
        return commands

    def reconcile_slots(
        self, bids: Mapping[int, Quote], asks: Mapping[int, Quote], now: int
    ) -> list[OrderCommand]:
        """Like :meth:`reconcile` with the slots named by the caller: ``{slot: quote}`` per
        side, any slot numbers; a slot missing from the mapping is emptied. Lets a caller
        keep an order on its slot while other slots come and go (the obligation lane)."""
        commands: list[OrderCommand] = []
        self._reconcile_side(Side.BUY, bids, now, commands)
        self._reconcile_side(Side.SELL, asks, now, commands)
        return commands

    def cancel_all(self, now: int) -> list[OrderCommand]:
        """Cancel every order that is live or in flight (pending news are cancelled too:
        the cancel reaches the venue after the order)."""
        commands: list[OrderCommand] = []
        for order in self.orders.values():
            if order.state is not SlotState.PENDING_CANCEL:
                commands.append(self._cancel(order, now))
        return commands

    def _reconcile_side(
        self, side: Side, wanted: Mapping[int, Quote], now: int, out: list[OrderCommand]
    ) -> None:
        slots = self._slots
        blocked = now < self._blocked_until.get(side, 0)
        for level, quote in wanted.items():
            order = slots.get((side, level))
            if order is None:
                if not blocked:
                    out.append(self._new(side, level, quote, now))
            elif order.state is SlotState.LIVE and (order.doomed or not self._keeps(order, quote, now)):
                out.append(self._cancel(order, now))
            # PENDING_NEW / PENDING_CANCEL: wait for the venue's answer
        for (slot_side, level), order in list(slots.items()):
            if slot_side is side and order.state is SlotState.LIVE and (level not in wanted or order.doomed):
                out.append(self._cancel(order, now))

    def _keeps(self, order: TrackedOrder, quote: Quote, now: int) -> bool:
        if abs(order.price - quote.price) > self.refresh_ticks:
            return False
        if self.max_age_ns and now - order.created_ts >= self.max_age_ns:
            return False
        tolerance = self.size_tolerance * quote.size
        return abs(order.remaining - quote.size) <= tolerance

    def blocked(self, now: int) -> bool:
        """Whether a side places nothing new now (after a reject)."""
        return any(now < until for until in self._blocked_until.values())

    def _new(self, side: Side, level: int, quote: Quote, now: int) -> NewOrder:
        self.version += 1
        client_id = f"{self.id_prefix}{self._seq}"
        self._seq += 1
        order = TrackedOrder(client_id, side, level, quote.price, quote.size, now)
        self.orders[client_id] = order
        self._slots[(side, level)] = order
        self.stats.new_orders += 1
        return NewOrder(
            client_id=client_id,
            instrument=self.instrument,
            side=side,
            size=quote.size,
            price=quote.price,
            tif=self.tif,
            ts=now,
        )

    def _cancel(self, order: TrackedOrder, now: int) -> CancelOrder:
        self.version += 1
        order.state = SlotState.PENDING_CANCEL
        self.stats.cancels += 1
        return CancelOrder(client_id=order.client_id, instrument=self.instrument, ts=now)

    # ---- venue answers ---------------------------------------------------------------

    def on_report(self, report: OrderReport) -> None:
        order = self.orders.get(getattr(report, "client_id", ""))
        if order is None:
            if isinstance(report, CancelRejected) and report.client_id.startswith(self.id_prefix):
                self.stats.cancel_rejects += 1  # e.g. the cancel lost the race with a fill
            return
        self.version += 1
        if isinstance(report, OrderAccepted):
            order.acked = True
            if order.state is SlotState.PENDING_NEW:
                order.state = SlotState.LIVE
        elif isinstance(report, OrderFilled):
            self.stats.fills += 1
            order.remaining = report.remaining
            if report.remaining == 0:
                self._forget(order)
        elif isinstance(report, OrderCancelled):
            self._forget(order)
        elif isinstance(report, OrderRejected):
            self.stats.rejects += 1
            self._forget(order)
            if self.reject_cooldown_ns:
                self._blocked_until[order.side] = report.ts + self.reject_cooldown_ns
        elif isinstance(report, CancelRejected):
            self.stats.cancel_rejects += 1
            if report.reason is CancelRejectReason.UNKNOWN_ORDER and not order.acked:
                # the cancel overtook the order: it may still go live; cancel it then
                order.state = SlotState.PENDING_NEW
                order.doomed = True
            else:  # filled or closed at the venue: it will not rest any more
                self._forget(order)

    def _forget(self, order: TrackedOrder) -> None:
        self.orders.pop(order.client_id, None)
        slot = (order.side, order.level)
        if self._slots.get(slot) is order:
            del self._slots[slot]

    # ---- state -----------------------------------------------------------------------

    def adopt(
        self,
        client_id: str,
        side: Side,
        price: int,
        remaining: int,
        created_ts: int,
        *,
        first_slot: int = 0,
    ) -> None:
        """Track an order restored from the journal (recovery) in the first free slot from
        ``first_slot`` on."""
        self.version += 1
        level = first_slot
        while (side, level) in self._slots:
            level += 1
        order = TrackedOrder(client_id, side, level, price, remaining, created_ts)
        order.state = SlotState.LIVE
        order.acked = True
        self.orders[client_id] = order
        self._slots[(side, level)] = order

    @property
    def next_seq(self) -> int:
        return self._seq

    def open_orders(self) -> list[dict[str, object]]:
        return [order.as_dict() for order in sorted(self.orders.values(), key=lambda o: (o.side, o.level))]
