"""Order commands and execution reports: the contract between order senders and venues.

The order manager sends :data:`OrderCommand` values (:class:`NewOrder`,
:class:`CancelOrder`) to a venue (the paper exchange, later a testnet adapter); the
venue answers with :data:`OrderReport` values that strategy, risk and hedger consume.
All are frozen msgspec structs tagged for JSON (the journal stores them as they are).

Units follow :mod:`bot.core.events`: prices in integer ticks, sizes in integer lots of
the order's instrument, timestamps in integer nanoseconds. Fees are exact ``Decimal``
amounts of the instrument's quote asset; a negative fee is a rebate paid to us.

Lifecycle of one order (``client_id`` is chosen by the sender and must be unique among
its open and in-flight orders):

- ``NewOrder`` -> ``OrderRejected`` (never live), or
- ``NewOrder`` -> ``OrderAccepted`` (live at the venue at ``ts``) -> zero or more
  ``OrderFilled`` -> done when a fill reports ``remaining == 0`` or an
  ``OrderCancelled`` arrives (cancel command, IOC/market remainder expiring,
  reduce-only conflict, recovery).
- ``CancelOrder`` -> ``OrderCancelled`` or ``CancelRejected`` (unknown order, or it
  was already filled/closed when the cancel reached the venue: the fill stands).
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import TypeAlias

import msgspec

from bot.core.events import Side


class OrderType(StrEnum):
    LIMIT = "limit"
    MARKET = "market"


class TimeInForce(StrEnum):
    GTC = "gtc"
    """Good till cancelled: the part that does not fill on arrival rests in the book."""
    GTX = "gtx"
    """Post-only (Binance "GTX"): rejected if any part would trade on arrival."""
    IOC = "ioc"
    """Immediate or cancel: what does not fill on arrival is cancelled."""


class Liquidity(StrEnum):
    MAKER = "maker"
    TAKER = "taker"


class RejectReason(StrEnum):
    UNKNOWN_INSTRUMENT = "unknown_instrument"
    DUPLICATE_CLIENT_ID = "duplicate_client_id"
    INVALID_ORDER = "invalid_order"
    """Inconsistent fields: market order with a price, limit without one, post-only
    market order, reduce-only on spot, ..."""
    INVALID_PRICE = "invalid_price"
    INVALID_SIZE = "invalid_size"
    """Size not positive or not a multiple of the instrument's quantity step."""
    BELOW_MIN_QTY = "below_min_qty"
    BELOW_MIN_NOTIONAL = "below_min_notional"
    INSUFFICIENT_BALANCE = "insufficient_balance"
    INSUFFICIENT_MARGIN = "insufficient_margin"
    REDUCE_ONLY = "reduce_only"
    """A reduce-only order that would not reduce the position."""
    POST_ONLY_WOULD_CROSS = "post_only_would_cross"
    MARKET_UNAVAILABLE = "market_unavailable"
    """The venue's book is not usable (not synced yet, resyncing, empty side)."""


class CancelReason(StrEnum):
    REQUESTED = "requested"
    """A ``CancelOrder`` from us."""
    EXPIRED = "expired"
    """The unfilled rest of an IOC or market order."""
    REDUCE_ONLY = "reduce_only"
    """A reduce-only order whose rest would now increase the position."""
    RECOVERY = "recovery"
    """Cancelled on restart (recovery mode ``cancel``)."""


class CancelRejectReason(StrEnum):
    UNKNOWN_ORDER = "unknown_order"
    ALREADY_FILLED = "already_filled"
    ALREADY_CLOSED = "already_closed"
    """Cancelled, expired or rejected before the cancel arrived."""


# ---- commands ------------------------------------------------------------------------


class NewOrder(msgspec.Struct, frozen=True, kw_only=True, tag="new"):
    """Place an order. ``price`` is in ticks (``None`` for market orders), ``size`` in
    lots. ``ts`` is the sender's event time when the order was created: the venue's
    latency model starts from it."""

    client_id: str
    instrument: str
    side: Side
    size: int
    price: int | None = None
    order_type: OrderType = OrderType.LIMIT
    tif: TimeInForce = TimeInForce.GTC
    reduce_only: bool = False
    ts: int


class CancelOrder(msgspec.Struct, frozen=True, kw_only=True, tag="cancel"):
    """Cancel the open order ``client_id``; ``ts`` as in :class:`NewOrder`."""

    client_id: str
    instrument: str
    ts: int


OrderCommand: TypeAlias = NewOrder | CancelOrder


# ---- reports -------------------------------------------------------------------------


class OrderAccepted(msgspec.Struct, frozen=True, kw_only=True, tag="accepted"):
    """The order is live at the venue from ``ts`` (venue time).

    ``queue_ahead`` is the displayed size (lots) ahead of us at our price when we
    joined (0 for an order that trades on arrival or improves the best price)."""

    client_id: str
    instrument: str
    ts: int
    side: Side
    price: int | None
    size: int
    queue_ahead: int = 0


class OrderRejected(msgspec.Struct, frozen=True, kw_only=True, tag="rejected"):
    client_id: str
    instrument: str
    ts: int
    reason: RejectReason
    text: str


class OrderFilled(msgspec.Struct, frozen=True, kw_only=True, tag="filled"):
    """One execution. ``fee`` is in ``fee_asset`` (the quote asset); negative = rebate.
    ``remaining`` is the order's unfilled size after this fill (0 = done).
    ``fill_id`` is unique and increasing per venue account."""

    client_id: str
    instrument: str
    ts: int
    fill_id: int
    side: Side
    price: int
    size: int
    liquidity: Liquidity
    fee: Decimal
    fee_asset: str
    remaining: int


class OrderCancelled(msgspec.Struct, frozen=True, kw_only=True, tag="cancelled"):
    """The order is closed with ``remaining`` lots unfilled."""

    client_id: str
    instrument: str
    ts: int
    reason: CancelReason
    remaining: int


class CancelRejected(msgspec.Struct, frozen=True, kw_only=True, tag="cancel_rejected"):
    client_id: str
    instrument: str
    ts: int
    reason: CancelRejectReason
    text: str


class FundingPayment(msgspec.Struct, frozen=True, kw_only=True, tag="funding"):
    """A perpetual funding settlement. ``amount`` is what we received (negative = paid),
    in ``asset``: ``-position * contract value * mark * rate`` -- with a positive rate
    longs pay shorts. ``position`` in lots (signed), ``mark_price`` in ticks, ``ts`` is
    the funding time."""

    instrument: str
    ts: int
    rate: Decimal
    mark_price: int
    position: int
    amount: Decimal
    asset: str


OrderReport: TypeAlias = (
    OrderAccepted | OrderRejected | OrderFilled | OrderCancelled | CancelRejected | FundingPayment
)
