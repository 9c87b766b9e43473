"""The order mirror: the paper exchange stays the venue, every command is also queued for a testnet.

:class:`MirrorVenue` sits where the pipeline expects its venue. ``submit(command)``
hands the command to the paper exchange first (the paper ledger is the book of record)
and then appends it to :attr:`MirrorVenue.outbox`, which an async executor at the edge
(``bot/ops/testnet.py``) drains at its own pace: the core never waits for the network.

It also follows each mirrored order's *paper* life from the venue's reports
(:meth:`on_report`): accepted, filled lots, closed, rejected. The executor compares that
with what the testnet says (:mod:`bot.engine.reconcile`).

If the executor falls behind by more than ``max_queue`` commands the backlog is
dropped and :attr:`overflowed` is set: the executor must then cancel every testnet
order of the instrument (it can no longer follow the paper book command by command).
Closed orders the executor has not reconciled yet (it may be down for a while) are kept
up to ``4 * max_queue`` orders; beyond that the oldest closed ones are forgotten
(counted in :attr:`forgotten`), so memory stays bounded.

Sans-IO: no sockets, no clock; times are the commands' and reports' event times.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Protocol

from bot.core.events import Side
from bot.core.orders import (
    CancelRejected,
    NewOrder,
    OrderAccepted,
    OrderCancelled,
    OrderCommand,
    OrderFilled,
    OrderRejected,
    OrderReport,
)


class PaperVenue(Protocol):
    """What the mirror wraps (the paper exchange)."""

    def submit(self, command: OrderCommand) -> None: ...

    @property
    def catching_up(self) -> bool: ...


class PaperState:
    """The life of an order at the paper exchange (string constants)."""

    PENDING = "pending"  # sent, not yet accepted or rejected
    OPEN = "open"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    FINAL = frozenset({"filled", "cancelled", "rejected"})


@dataclass(slots=True)
class PaperOrder:
    """One mirrored order as the paper exchange has it."""

    client_id: str
    instrument: str
    side: Side
    size: int
    price: int | None
    created_ts: int
    state: str = PaperState.PENDING
    filled: int = 0
    closed_ts: int | None = None
    reason: str = ""

    @property
    def final(self) -> bool:
        return self.state in PaperState.FINAL


class MirrorVenue:
    """Forwards to the paper exchange and queues every command for the testnet executor."""

    def __init__(self, paper: PaperVenue, *, max_queue: int = 10_000) -> None:
        self.paper = paper
        self.max_queue = max_queue
        self.outbox: deque[OrderCommand] = deque()
        self.orders: dict[str, PaperOrder] = {}
        """Mirrored orders by client id (the executor prunes settled ones)."""
        self.commands = 0
        self.dropped = 0
        self.forgotten = 0
        self.overflowed = False

    @property
    def catching_up(self) -> bool:
        return self.paper.catching_up

    def submit(self, command: OrderCommand) -> None:
        self.paper.submit(command)  # raises (and mirrors nothing) if the paper venue refuses
        self.commands += 1
        if type(command) is NewOrder:
            self.orders[command.client_id] = PaperOrder(
                command.client_id,
                command.instrument,
                command.side,
                command.size,
                command.price,
                command.ts,
            )
            if len(self.orders) > 4 * self.max_queue:
                self._forget_closed(2 * self.max_queue)
        if len(self.outbox) >= self.max_queue:
            self.dropped += len(self.outbox) + 1
            self.outbox.clear()
            self.overflowed = True
            return
        self.outbox.append(command)

    def _forget_closed(self, keep: int) -> None:
        for client_id in [c for c, o in self.orders.items() if o.final]:
            if len(self.orders) <= keep:
                break
            del self.orders[client_id]
            self.forgotten += 1

    def drain(self) -> list[OrderCommand]:
        """Every queued command, oldest first (the executor's side)."""
        commands = list(self.outbox)
        self.outbox.clear()
        return commands

    def on_report(self, report: OrderReport) -> None:
        """A paper venue report (the pipeline forwards each one)."""
        order = self.orders.get(getattr(report, "client_id", ""))
        if order is None:
            return
        kind = type(report)
        if kind is OrderAccepted:
            if order.state == PaperState.PENDING:
                order.state = PaperState.OPEN
        elif kind is OrderFilled:
            assert isinstance(report, OrderFilled)
            order.filled += report.size
            if report.remaining == 0:
                order.state = PaperState.FILLED
                order.closed_ts = report.ts
            elif not order.final:
                order.state = PaperState.OPEN
        elif kind is OrderCancelled:
            assert isinstance(report, OrderCancelled)
            order.state = PaperState.CANCELLED
            order.closed_ts = report.ts
            order.reason = report.reason.value
        elif kind is OrderRejected:
            assert isinstance(report, OrderRejected)
            order.state = PaperState.REJECTED
            order.closed_ts = report.ts
            order.reason = report.reason.value
        elif kind is CancelRejected:
            pass  # the order's own reports say how it ended
