"""An LP position's exact accounting: what its value change is made of.

Owns the decomposition of one holder's LP value in a :class:`~bot.dex.pair.PancakePair`
into channels that sum exactly (``Decimal``, any rounding raises):

    value - basis = fees + impermanent_loss + delta_pnl + entry_exit

with ``value`` = the holder's claim (what burning everything now pays, ``_mintFee``
included) at the mark ``P`` (quote per token), and ``basis`` = value deposited minus value
withdrawn, each at its mark. Every change of the value is booked where it happens:

- a new mark: ``delta_pnl += x * (P_new - P_old)`` (the claim's tokens ``x`` times the
  move: the LP's delta, which the hedge offsets);
- a swap: the claim moves from ``(x, y)`` to ``(x', y')``; its value change at the mark,
  ``(x'-x)*P + (y'-y)``, is split into ``fees`` -- the holder's share of the LPs' 17/25 of
  the 0.25 % fee on the input, ``in * 17 * L // (10000 * T)`` units of the input token,
  valued at the mark -- and ``impermanent_loss``, the rest: what the swap at the pool's
  price gave the trader against the mark (arbitrage takes it, noise flow pays it back),
  including the drift of the protocol's pending ``_mintFee`` share;
- a mint or burn of the holder: ``entry_exit`` = value change minus the value moved
  (the 1000 units of ``MINIMUM_LIQUIDITY`` locked at the pool's creation, integer
  rounding).

For reference, :func:`hold_il` is the classic impermanent loss of the position against
holding its deposit, ``2 sqrt(rho) / (1 + rho) - 1`` at ``rho = P / P0`` (fees excluded).
"""

from __future__ import annotations

import math
from decimal import Context, Decimal, Inexact, InvalidOperation, Rounded, localcontext
from typing import Any

from bot.dex.pair import UNIT, PancakePair

EXACT = Context(prec=90, traps=[InvalidOperation, Inexact, Rounded])
_ZERO = Decimal(0)


def units(amount: int) -> Decimal:
    """Whole tokens of ``amount`` smallest units (exact)."""
    return Decimal(amount).scaleb(-18)


def to_units(amount: Decimal) -> int:
    """Smallest units of ``amount`` whole tokens (must be exact to 18 decimals)."""
    scaled = amount.scaleb(18)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} has more than 18 decimals")
    return int(scaled)


def hold_il(price: float, price0: float) -> float:
    """Classic impermanent loss against holding the deposit: ``2 sqrt(rho) / (1 + rho) - 1``."""
    rho = price / price0
    return 2.0 * math.sqrt(rho) / (1.0 + rho) - 1.0


class LpPosition:
    """The accounting of ``holder``'s liquidity in ``pair`` (see the module doc)."""

    __slots__ = (
        "basis",
        "delta_pnl",
        "entry_exit",
        "fees",
        "holder",
        "impermanent_loss",
        "mark",
        "pair",
        "price0",
        "x",
        "y",
    )

    def __init__(self, pair: PancakePair, holder: str) -> None:
        self.pair = pair
        self.holder = holder
        self.x, self.y = pair.claim(holder)
        self.mark: Decimal | None = None
        self.price0: Decimal | None = None
        """Mark at the first deposit (the hold comparison's start)."""
        self.basis = _ZERO
        self.fees = _ZERO
        self.impermanent_loss = _ZERO
        self.delta_pnl = _ZERO
        self.entry_exit = _ZERO

    # ---- views -----------------------------------------------------------------------

    def value(self, mark: Decimal | None = None) -> Decimal:
        price = self.mark if mark is None else mark
        if price is None:
            return _ZERO
        with localcontext(EXACT):
            return units(self.x) * price + units(self.y)

    @property
    def tokens(self) -> Decimal:
        """The claim's tokens: the LP's delta."""
        return units(self.x)

    @property
    def quote(self) -> Decimal:
        return units(self.y)

    def pnl(self) -> Decimal:
        with localcontext(EXACT):
            return self.value() - self.basis

    def channels_sum(self) -> Decimal:
        with localcontext(EXACT):
            return self.fees + self.impermanent_loss + self.delta_pnl + self.entry_exit

    # ---- events ----------------------------------------------------------------------

    def on_mark(self, mark: Decimal) -> None:
        """Revalue the claim at a new mark."""
        old = self.mark
        self.mark = mark
        if old is None or mark == old:
            return
        with localcontext(EXACT):
            self.delta_pnl += units(self.x) * (mark - old)

    def on_swap(self, zero_for_one: bool, amount_in: int, liquidity_before: int, supply_before: int) -> None:
        """Book a swap that just changed ``pair`` (claim re-read). ``liquidity_before`` and
        ``supply_before`` (total supply + pending protocol liquidity) are from before it."""
        mark = self.mark
        x, y = self.pair.claim(self.holder)
        if mark is None:
            self.x, self.y = x, y
            return
        share = amount_in * (self.pair.fee_bps * self.pair.protocol_den) * liquidity_before
        fee_units = share // (10000 * (self.pair.protocol_den + self.pair.protocol_num) * supply_before)
        with localcontext(EXACT):
            change = units(x - self.x) * mark + units(y - self.y)
            fee = units(fee_units) * (mark if zero_for_one else 1)
            self.fees += fee
            self.impermanent_loss += change - fee
        self.x, self.y = x, y

    def on_liquidity(self, deposited: Decimal) -> None:
        """Book a mint (``deposited`` > 0, value moved in at the mark) or a burn (< 0, the
        value paid out) of the holder, after ``pair`` changed."""
        mark = self.mark
        if mark is None:
            raise ValueError("an LP position needs a mark before liquidity moves")
        if self.price0 is None and deposited > 0:
            self.price0 = mark
        x, y = self.pair.claim(self.holder)
        with localcontext(EXACT):
            before = units(self.x) * mark + units(self.y)
            after = units(x) * mark + units(y)
            self.basis += deposited
            self.entry_exit += after - before - deposited
        self.x, self.y = x, y

    def on_other(self) -> None:
        """The pair changed for another reason (another holder's mint/burn): re-read the claim,
        booking the value change as impermanent loss (rounding of the other's liquidity)."""
        x, y = self.pair.claim(self.holder)
        if self.mark is not None:
            with localcontext(EXACT):
                self.impermanent_loss += units(x - self.x) * self.mark + units(y - self.y)
        self.x, self.y = x, y

    # ---- state -----------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {
            "mark": None if self.mark is None else str(self.mark),
            "price0": None if self.price0 is None else str(self.price0),
            "basis": str(self.basis),
            "fees": str(self.fees),
            "impermanent_loss": str(self.impermanent_loss),
            "delta_pnl": str(self.delta_pnl),
            "entry_exit": str(self.entry_exit),
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Back to a journaled state (the pair restored first)."""
        self.x, self.y = self.pair.claim(self.holder)
        self.mark = None if state["mark"] is None else Decimal(state["mark"])
        self.price0 = None if state.get("price0") is None else Decimal(state["price0"])
        self.basis = Decimal(state["basis"])
        self.fees = Decimal(state["fees"])
        self.impermanent_loss = Decimal(state["impermanent_loss"])
        self.delta_pnl = Decimal(state["delta_pnl"])
        self.entry_exit = Decimal(state["entry_exit"])


__all__ = ["EXACT", "UNIT", "LpPosition", "hold_il", "to_units", "units"]
