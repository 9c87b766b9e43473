"""What the paper exchange journals, and the sink interface the journal implements.

The exchange writes two things (see :class:`RecordSink`):

- **records** (:data:`JournalRecord`), each tagged with the input position (index of
  the input event being handled) and the venue time: commands as sent, every report,
  fills with the book mid and valuation mark the ledger needs, funding payments and
  equity-curve mark samples. Folding the records in order rebuilds the ledger exactly.
- **transfers** (:class:`TransferRecord`): deposits into and withdrawals from the account
  (not trades: they move ``equity_start`` with the balance, so PnL is unchanged), and
  **notes** (:class:`NoteRecord`): typed records of a component that must be committed
  in the same transaction as the exchange's unit (the deal desk's decisions, its pool);
- a **state** (:class:`ExchangeState`) written in the same transaction as the records
  of a unit of work: everything else that decides future behaviour -- resting orders
  with their queue positions, commands in flight, per-instrument mark/funding state,
  counters and the input position. Together with the input stream replayed up to
  ``position`` it reproduces the exchange exactly.

This module is sans-IO; :mod:`bot.store.journal` is the SQLite implementation.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Protocol, TypeAlias

import msgspec

from bot.core.orders import (
    CancelOrder,
    CancelRejected,
    FundingPayment,
    NewOrder,
    OrderAccepted,
    OrderCancelled,
    OrderFilled,
    OrderRejected,
)
from bot.paper.ledger import MarkSample

STATE_VERSION = 1


class FillRecord(msgspec.Struct, frozen=True, kw_only=True, tag="fill"):
    """A fill as the ledger books it: the report plus the public mid and the valuation
    mark (quote per base unit) at that moment."""

    fill: OrderFilled
    mid: Decimal
    mark: Decimal


class TransferRecord(msgspec.Struct, frozen=True, kw_only=True, tag="transfer"):
    """A deposit (``amount`` > 0) or withdrawal (< 0) of ``asset``, valued at ``mark`` (quote
    per unit of the asset; 1 for the quote asset). ``ref`` names it uniquely within the
    account, so a step that may be retried after a crash is applied once."""

    ts: int
    asset: str
    amount: Decimal
    mark: Decimal
    ref: str
    reason: str = ""


class NoteRecord(msgspec.Struct, frozen=True, kw_only=True, tag="note"):
    """A component's typed record, committed with the exchange's unit of work (the ledger
    ignores it)."""

    ts: int
    kind: str
    payload: dict[str, Any]


JournalRecord: TypeAlias = (
    NewOrder
    | CancelOrder
    | OrderAccepted
    | OrderRejected
    | FillRecord
    | OrderCancelled
    | CancelRejected
    | FundingPayment
    | MarkSample
    | TransferRecord
    | NoteRecord
)


class OrderState(msgspec.Struct, frozen=True, kw_only=True):
    order: NewOrder
    remaining: int
    accepted_ts: int
    ahead: int
    armed: bool
    mark: int = 0
    """Its level's pending-decrease counter when it joined (:mod:`bot.paper.level`)."""


class PendingState(msgspec.Struct, frozen=True, kw_only=True):
    arrival: int
    seq: int
    command: NewOrder | CancelOrder


class LevelState(msgspec.Struct, frozen=True, kw_only=True):
    instrument: str
    side: int
    price: int
    displayed: int
    pending: list[tuple[int, int, int, bool]] = []
    """Displayed decreases awaiting (or counted without) a trade: (ts, lots, mark, applied)."""
    next_mark: int = 0
    front: int = 0
    """Spared lots counted in the first order's ``ahead`` (:attr:`bot.paper.level.Level.front`)."""


class MarketState(msgspec.Struct, frozen=True, kw_only=True):
    instrument: str
    mark_price: int | None
    funding_rate: Decimal
    funding_ts: int
    taken_bids: list[tuple[int, int]] = []
    """Lots we took per bid price that the recorded book still shows (:mod:`bot.paper.through`)."""
    taken_asks: list[tuple[int, int]] = []
    spared_bids: list[tuple[int, int]] = []
    """Bid lots per price the recording traded but our orders spared (:mod:`bot.paper.through`)."""
    spared_asks: list[tuple[int, int]] = []


class ExchangeState(msgspec.Struct, frozen=True, kw_only=True):
    """The paper exchange between two input events (after ``position`` was handled)."""

    version: int = STATE_VERSION
    position: int
    now: int
    commands: int
    fill_seq: int
    next_sample_ts: int
    orders: list[OrderState]
    pending: list[PendingState]
    levels: list[LevelState]
    markets: list[MarketState]


class RecordSink(Protocol):
    """Where the exchange writes. Implementations must make ``commit`` atomic."""

    fault: str | None
    """Why the sink cannot write now (None: it can)."""

    def append(self, position: int, ts: int, record: JournalRecord) -> None:
        """Add a record to the open unit of work (not yet durable)."""
        ...

    @property
    def retry_due(self) -> bool:
        """False while a fault's backoff says a commit would not be tried."""
        ...

    def commit(self, state: ExchangeState, *, force: bool = False) -> bool:
        """Durably write the buffered records and ``state`` in one transaction.

        True when written. False when the write failed (nothing of it is written, the
        records stay buffered, :attr:`fault` says why) or was not tried because a fault's
        backoff says not yet (``force=True`` tries anyway); a later commit writes them."""
        ...

    def committed(self) -> tuple[Sequence[JournalRecord], ExchangeState | None]:
        """All committed records in order and the last committed state."""
        ...
