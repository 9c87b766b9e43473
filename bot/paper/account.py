"""Account checks on order arrival: spot funds, perpetual margin, reduce-only.

Spot funds are what the ledger holds minus what resting orders reserve: a resting buy
reserves ``remaining x price x unit x (1 + worst fee rate)`` of the quote asset, a
resting sell its remaining base lots. Perpetual margin compares the worst-case exposure
of all perpetuals (every open order on one side filled, valued at the valuation mark;
the new order at its own limit price) with ``equity x leverage``; equity is taken at the
venue's current marks. See :mod:`bot.paper.validation` for the rules' wording.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, localcontext
from typing import Protocol

from bot.core.orders import NewOrder
from bot.paper.ledger import EXACT, Ledger
from bot.paper.matching import Market
from bot.paper.validation import (
    Rejection,
    check_margin,
    check_reduce_only,
    check_spot_buy,
    check_spot_sell,
    worst_exposure,
)

_ZERO = Decimal(0)


class Account(Protocol):
    """What the funds checks read of the executing exchange
    (:class:`~bot.paper.execution.Execution`, which imports this module)."""

    @property
    def ledger(self) -> Ledger: ...

    @property
    def markets(self) -> Mapping[str, Market]: ...


def _only_buyer(exchange: Account, market: Market) -> bool:
    """No other spot market of the account reserves quote for resting buys."""
    for other in exchange.markets.values():
        if other.open_buy_units and other is not market and other.is_spot:
            return False
    return True


def check_account(
    exchange: Account, market: Market, order: NewOrder, taken: list[tuple[int, int]]
) -> Rejection | None:
    side = int(order.side)
    ledger = exchange.ledger
    if market.is_spot:
        if side < 0:
            free = ledger.position_qty(market.key) - market.open_sell_lots
            return check_spot_sell(market.spec, order.size, free)
        if order.price is not None:
            units = order.price * order.size
        else:
            units = sum(price * lots for price, lots in taken)
        balance = ledger.balances.get(market.spec.quote, _ZERO)
        if market.buy_cap_for is not balance:
            # floor(balance / buy_factor): the units of resting buys this balance pays for
            with localcontext(EXACT):
                market.buy_cap = int(balance // market.buy_factor) if balance > 0 else -1
            market.buy_cap_for = balance
        if units + market.open_buy_units <= market.buy_cap and _only_buyer(exchange, market):
            # the common case, in integers: cost + reserved <= balance with both in
            # buy_factor x units of this market alone is units <= floor(balance / buy_factor)
            return None
        cost = market.buy_factor * units  # comparisons only: nothing here is stored
        reserved = Decimal(0)
        for other in exchange.markets.values():
            if other.open_buy_units and other.is_spot:
                reserved += other.buy_factor * other.open_buy_units
        if cost + reserved <= balance:
            return None
        return check_spot_buy(market.spec, cost, balance - reserved)
    position = ledger.position_qty(market.key)
    if order.reduce_only:
        return check_reduce_only(market.spec, side, order.size, position)
    with localcontext(EXACT):
        before = Decimal(0)
        after = Decimal(0)
        marks: dict[str, Decimal] = {}
        for other in exchange.markets.values():
            if other.is_spot:
                continue
            mark = other.valuation()
            qty = ledger.position_qty(other.key)
            exposure = worst_exposure(qty, other.open_buy_lots, other.open_sell_lots)
            if mark is None:
                if exposure:
                    mark = other.tick * (order.price or 0) if other is market else Decimal(0)
                else:
                    mark = Decimal(0)
            else:
                marks[other.key] = mark
            value = exposure * other.unit * mark
            before += value
            if other is market:
                buys = other.open_buy_lots + (order.size if side > 0 else 0)
                sells = other.open_sell_lots + (order.size if side < 0 else 0)
                price = other.tick * order.price if order.price is not None else mark
                worst = worst_exposure(qty, buys, sells)
                value = worst * other.unit * max(price, mark)
            after += value
        equity = ledger.equity(marks)
    return check_margin(market.spec, before, after, equity, ledger.leverage)
