"""Order validation against the instrument's trading rules and the paper account.

An invalid order is rejected with a :class:`~bot.core.orders.RejectReason` and a text
that names the rule and the numbers -- never rounded or resized into something valid.
Each check returns ``None`` when the order passes, else ``(reason, text)``.

Rules:
- fields: limit orders need a positive price, market orders none; market orders are
  IOC (post-only market orders are invalid); reduce-only exists on perpetuals only;
- size: positive, a multiple of the quantity step (``qty_step``), at least ``min_qty``;
- notional: ``price x size x contract size`` at least ``min_notional`` (market orders:
  at the price they would walk to);
- spot funds: a buy needs ``notional x (1 + worst fee rate)`` of free quote balance, a
  sell needs the base lots free (balances minus what resting orders reserve);
- perpetual margin: the worst-case exposure if every open order on one side filled,
  valued at the order / mark price, must stay within ``equity x leverage`` -- unless the
  order does not increase that exposure;
- reduce-only: the order must be on the side that reduces the position and not larger
  than it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final, TypeAlias

from bot.core.instrument import InstrumentKind, InstrumentSpec
from bot.core.orders import NewOrder, OrderType, RejectReason, TimeInForce

Rejection: TypeAlias = tuple[RejectReason, str]

# Final aliases of interpreted names used on every event or order: compiled code reads them
# from C statics instead of looking them up in the module dict.
_MARKET: Final = OrderType.MARKET
_IOC: Final = TimeInForce.IOC
_SPOT: Final = InstrumentKind.SPOT


def check_fields(
    order: NewOrder, spec: InstrumentSpec, step: int, min_lots: int, min_units: int
) -> Rejection | None:
    """Static rules: order fields, size step, minimum quantity, limit-price notional.

    ``step`` / ``min_lots``: quantity step and minimum quantity in lots; ``min_units``:
    the smallest ``price x size`` (ticks x lots) meeting the minimum notional."""
    if order.order_type is _MARKET:
        if order.price is not None:
            return RejectReason.INVALID_ORDER, "a market order must not carry a price"
        if order.tif is not _IOC:
            return RejectReason.INVALID_ORDER, f"a market order must be IOC, got {order.tif.value}"
    elif order.price is None:
        return RejectReason.INVALID_ORDER, "a limit order needs a price"
    elif order.price <= 0:
        return RejectReason.INVALID_PRICE, f"price must be positive, got {order.price} ticks"
    if order.reduce_only and spec.kind is _SPOT:
        return RejectReason.INVALID_ORDER, "reduce-only applies to perpetuals, not spot"
    size = order.size
    if size <= 0:
        return RejectReason.INVALID_SIZE, f"size must be positive, got {size} lots"
    if size % step:
        return (
            RejectReason.INVALID_SIZE,
            f"size {spec.sizes.to_str(size)} is not a multiple of the quantity step {spec.qty_step}",
        )
    if size < min_lots:
        return (
            RejectReason.BELOW_MIN_QTY,
            f"size {spec.sizes.to_str(size)} is below the minimum quantity {spec.min_qty}",
        )
    if order.price is not None and order.price * size < min_units:
        return check_notional(spec, order.price, size, min_units)
    return None


def min_notional_units(spec: InstrumentSpec) -> int:
    """Smallest ``price ticks x size lots`` whose notional reaches ``spec.min_notional``."""
    if not spec.min_notional:
        return 0
    unit = spec.tick_size * spec.lot_size * spec.contract_size
    whole, remainder = divmod(spec.min_notional, unit)
    return int(whole) + (1 if remainder else 0)


def check_notional(spec: InstrumentSpec, price: int, size: int, min_units: int) -> Rejection | None:
    if price * size < min_units:
        notional = spec.notional(price, size)
        return (
            RejectReason.BELOW_MIN_NOTIONAL,
            f"notional {notional} {spec.quote} is below the minimum {spec.min_notional}",
        )
    return None


def check_spot_buy(spec: InstrumentSpec, cost: Decimal, free_quote: Decimal) -> Rejection | None:
    """``cost`` = notional including the worst-case fee."""
    if cost > free_quote:
        return (
            RejectReason.INSUFFICIENT_BALANCE,
            f"buying needs {cost} {spec.quote} (with fees), free balance is {free_quote}",
        )
    return None


def check_spot_sell(spec: InstrumentSpec, size: int, free_lots: int) -> Rejection | None:
    if size > free_lots:
        return (
            RejectReason.INSUFFICIENT_BALANCE,
            f"selling {spec.sizes.to_str(size)} {spec.base} needs that much free, "
            f"free balance is {spec.sizes.to_str(max(free_lots, 0))}",
        )
    return None


def check_margin(
    spec: InstrumentSpec, required_before: Decimal, required_after: Decimal, equity: Decimal, leverage: int
) -> Rejection | None:
    """Exposures in quote units; the order passes if it fits or does not add exposure."""
    if required_after <= required_before or required_after <= equity * leverage:
        return None
    return (
        RejectReason.INSUFFICIENT_MARGIN,
        f"worst-case exposure would be {required_after} {spec.quote}, above equity {equity} x "
        f"leverage {leverage}",
    )


def check_reduce_only(spec: InstrumentSpec, side: int, size: int, position: int) -> Rejection | None:
    if position == 0 or (position > 0) == (side > 0):
        return (
            RejectReason.REDUCE_ONLY,
            f"reduce-only {'buy' if side > 0 else 'sell'} would not reduce the position "
            f"({spec.sizes.to_str(position)} {spec.base})",
        )
    if size > abs(position):
        return (
            RejectReason.REDUCE_ONLY,
            f"reduce-only size {spec.sizes.to_str(size)} exceeds the position "
            f"{spec.sizes.to_str(abs(position))}",
        )
    return None


def worst_exposure(position: int, open_buys: int, open_sells: int) -> int:
    """Largest absolute position (lots) reachable if all open orders on one side fill."""
    return max(abs(position + open_buys), abs(position - open_sells))
