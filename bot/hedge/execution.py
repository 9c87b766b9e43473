"""Working one hedge order: taker at once, or passive with a timeout, then taker. No I/O.

Owns the small state machine between a :class:`~bot.hedge.hedger.HedgeDecision` and
the orders that carry it out. It never sends anything: every method returns a list of
actions (:class:`PlacePassive`, :class:`PlaceTaker`, :class:`CancelOrder`,
:class:`HedgeDone`) for the driver to turn into paper-exchange commands, and it learns
what happened through :meth:`HedgeExecutor.on_order_update`. Time is the ``now_ns``
the caller passes (event ``local_ts`` / ``Timer``).

States::

    IDLE --start(taker)--> TAKER --filled/cancelled/rejected--> IDLE (HedgeDone)
    IDLE --start(passive)--> PASSIVE --filled--> IDLE (HedgeDone)
    PASSIVE --timeout--> CANCELLING --cancelled--> TAKER (remaining lots) | IDLE if none left
    PASSIVE --rejected (post-only would cross) / cancelled by venue--> TAKER (remaining lots)
    CANCELLING --filled (fill raced the cancel)--> IDLE (HedgeDone)

A cancel that is not acknowledged within another timeout is sent again. Updates for
client ids the executor does not know (stale orders) are ignored. Client ids are
``{id_prefix}-{p|t}{seq}`` with ``seq`` counting up from ``first_seq`` (a driver
restarting on a journal passes a number past every id it used before). ``filled_lots`` in an
update is the order's cumulative fill, as venues report it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TypeAlias

import msgspec

from bot.core.events import NS_PER_S, Side
from bot.core.instrument import InstrumentSpec
from bot.hedge.hedger import HedgeDecision, HedgerSettings


class ExecState(StrEnum):
    IDLE = "idle"
    PASSIVE = "passive"
    CANCELLING = "cancelling"
    TAKER = "taker"


class OrderStatus(StrEnum):
    """What the driver reports about one of our orders (mapped from the venue's report)."""

    ACCEPTED = "accepted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"


class PlacePassive(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """Post-only limit order at ``price`` (ticks) for ``lots``."""

    client_id: str
    side: Side
    lots: int
    price: int


class PlaceTaker(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """Marketable order (market / IOC) for ``lots``."""

    client_id: str
    side: Side
    lots: int


class CancelOrder(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    client_id: str


class HedgeDone(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """The hedge finished: ``filled_lots`` of ``requested_lots`` were traded."""

    side: Side
    requested_lots: int
    filled_lots: int
    passive_lots: int
    """Of the filled lots, how many filled passively (maker)."""
    reason: str


HedgeAction: TypeAlias = PlacePassive | PlaceTaker | CancelOrder | HedgeDone


class HedgeExecutor:
    """Carries out one hedge decision at a time."""

    def __init__(self, settings: HedgerSettings, id_prefix: str = "hedge", *, first_seq: int = 1) -> None:
        self._mode = settings.mode
        self._timeout_ns = int(settings.passive_timeout_s * NS_PER_S)
        self._offset = settings.passive_offset_ticks
        self._prefix = id_prefix
        self._seq = first_seq - 1
        self.state = ExecState.IDLE
        self._side = Side.BUY
        self._requested = 0
        self._passive_id: str | None = None
        self._passive_filled = 0
        self._taker_id: str | None = None
        self._taker_filled = 0
        self._deadline = 0

    # -- queries ---------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self.state is not ExecState.IDLE

    @property
    def filled_lots(self) -> int:
        return self._passive_filled + self._taker_filled

    @property
    def remaining_lots(self) -> int:
        return self._requested - self.filled_lots if self.busy else 0

    @property
    def pending_lots(self) -> int:
        """Signed lots still to trade (BUY > 0): add to the net delta before deciding again."""
        return int(self._side) * self.remaining_lots

    def pending_delta(self, spec: InstrumentSpec) -> float:
        """Delta the unfilled rest of the working order will add (base-asset units)."""
        return float(spec.size(self.pending_lots) * spec.contract_size)

    @property
    def deadline_ns(self) -> int:
        """When the current passive order (or pending cancel) times out; 0 when not waiting."""
        return self._deadline if self.state in (ExecState.PASSIVE, ExecState.CANCELLING) else 0

    # -- inputs ----------------------------------------------------------------
    def start(self, now_ns: int, decision: HedgeDecision, best_bid: int, best_ask: int) -> list[HedgeAction]:
        """Begin working ``decision``; ``best_bid``/``best_ask`` in ticks of the perp."""
        if self.busy:
            raise RuntimeError(f"hedge executor busy ({self.state}); wait for HedgeDone")
        if decision.lots <= 0:
            raise ValueError("hedge decision without quantity")
        self._side = decision.side
        self._requested = decision.lots
        self._passive_id = self._taker_id = None
        self._passive_filled = self._taker_filled = 0
        if self._mode == "taker":
            return self._go_taker(decision.lots)
        price = best_bid - self._offset if self._side is Side.BUY else best_ask + self._offset
        if price <= 0:
            return self._go_taker(decision.lots)
        self._passive_id = self._next_id("p")
        self.state = ExecState.PASSIVE
        self._deadline = now_ns + self._timeout_ns
        return [PlacePassive(client_id=self._passive_id, side=self._side, lots=decision.lots, price=price)]

    def on_timer(self, now_ns: int) -> list[HedgeAction]:
        """Call on every clock tick; cancels a passive order that has rested too long."""
        if self.state is ExecState.PASSIVE and now_ns >= self._deadline:
            assert self._passive_id is not None
            self.state = ExecState.CANCELLING
            self._deadline = now_ns + self._timeout_ns
            return [CancelOrder(client_id=self._passive_id)]
        if self.state is ExecState.CANCELLING and now_ns >= self._deadline:
            assert self._passive_id is not None
            self._deadline = now_ns + self._timeout_ns
            return [CancelOrder(client_id=self._passive_id)]
        return []

    def on_order_update(
        self, now_ns: int, client_id: str, status: OrderStatus, filled_lots: int
    ) -> list[HedgeAction]:
        """An order report: ``filled_lots`` is that order's cumulative filled quantity."""
        if client_id == self._passive_id and self.state in (ExecState.PASSIVE, ExecState.CANCELLING):
            self._passive_filled = max(self._passive_filled, filled_lots)
            return self._passive_update(status)
        if client_id == self._taker_id and self.state is ExecState.TAKER:
            self._taker_filled = max(self._taker_filled, filled_lots)
            if status in (OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED):
                return self._finish(f"taker {status.value}")
            return []
        return []

    # -- internals -------------------------------------------------------------
    def _passive_update(self, status: OrderStatus) -> list[HedgeAction]:
        if status is OrderStatus.FILLED or self.remaining_lots <= 0:
            return self._finish("passive filled")
        if status in (OrderStatus.CANCELED, OrderStatus.REJECTED):
            return self._go_taker(self.remaining_lots)
        return []

    def _go_taker(self, lots: int) -> list[HedgeAction]:
        self._taker_id = self._next_id("t")
        self.state = ExecState.TAKER
        self._deadline = 0
        return [PlaceTaker(client_id=self._taker_id, side=self._side, lots=lots)]

    def _finish(self, reason: str) -> list[HedgeAction]:
        done = HedgeDone(
            side=self._side,
            requested_lots=self._requested,
            filled_lots=self.filled_lots,
            passive_lots=self._passive_filled,
            reason=reason,
        )
        self.state = ExecState.IDLE
        self._deadline = 0
        return [done]

    def _next_id(self, kind: str) -> str:
        self._seq += 1
        return f"{self._prefix}-{kind}{self._seq}"
