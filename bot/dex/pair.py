"""The PancakeSwap v2 pair contract, exactly, in integer token units.

Owns the arithmetic of ``PancakePair.sol`` and the router's ``getAmountOut`` /
``getAmountIn`` (PancakeSwap v2 on BNB Chain):

- reserves ``reserve0`` (the token) and ``reserve1`` (the quote), integers in the
  tokens' smallest units (18 decimals: 1 token = 10**18 units);
- swap fee 0.25 % of the input: the router quotes
  ``amountOut = amountIn*9975*rOut // (rIn*10000 + amountIn*9975)`` and the pair checks
  ``(b0*10000 - in0*25) * (b1*10000 - in1*25) >= r0*r1*10000**2`` (``'Pancake: K'``);
- liquidity tokens: the first mint is ``isqrt(a0*a1) - MINIMUM_LIQUIDITY`` (1000 units
  locked forever at ``address(0)``), later ones ``min(a0*T // r0, a1*T // r1)``; a burn
  pays ``L*balance // T`` of each token;
- the protocol fee: with ``feeTo`` set, every mint and burn first runs ``_mintFee``,
  which mints ``T*(rootK - rootKLast)*8 // (rootK*17 + rootKLast*8)`` liquidity to
  ``feeTo`` -- 8/25 of the growth of sqrt(k) since the last liquidity event -- so an LP
  keeps 17/25 (0.17 % of the 0.25 %). ``Math.sqrt`` is the floor square root
  (:func:`math.isqrt`).

Nothing is rounded that the contract does not round; a swap the contract would revert
raises :class:`PairError` with the contract's message. ``fee_bps`` and
``protocol_share`` default to PancakeSwap v2's 25 and (8, 17); tests use a zero-fee
pair to check the constant-product closed forms alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

MINIMUM_LIQUIDITY = 1000
UNIT = 10**18
"""Smallest units per token (18 decimals, like BEP-20 USDT and most tokens)."""
BURN_ADDRESS = "address(0)"
PROTOCOL = "feeTo"


class PairError(ValueError):
    """What the contract would revert with."""


@dataclass(frozen=True, slots=True)
class SwapResult:
    """One executed swap: ``zero_for_one`` = token in, quote out."""

    zero_for_one: bool
    amount_in: int
    amount_out: int
    reserve0: int
    reserve1: int
    """Reserves after the swap."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "zero_for_one": self.zero_for_one,
            "amount_in": str(self.amount_in),
            "amount_out": str(self.amount_out),
            "reserve0": str(self.reserve0),
            "reserve1": str(self.reserve1),
        }


def get_amount_out(amount_in: int, reserve_in: int, reserve_out: int, fee_bps: int = 25) -> int:
    """``PancakeLibrary.getAmountOut``: what ``amount_in`` buys, fee taken from the input."""
    if amount_in <= 0:
        raise PairError("PancakeLibrary: INSUFFICIENT_INPUT_AMOUNT")
    if reserve_in <= 0 or reserve_out <= 0:
        raise PairError("PancakeLibrary: INSUFFICIENT_LIQUIDITY")
    with_fee = amount_in * (10000 - fee_bps)
    return with_fee * reserve_out // (reserve_in * 10000 + with_fee)


def get_amount_in(amount_out: int, reserve_in: int, reserve_out: int, fee_bps: int = 25) -> int:
    """``PancakeLibrary.getAmountIn``: the input that buys at least ``amount_out``."""
    if amount_out <= 0:
        raise PairError("PancakeLibrary: INSUFFICIENT_OUTPUT_AMOUNT")
    if reserve_in <= 0 or reserve_out <= amount_out:
        raise PairError("PancakeLibrary: INSUFFICIENT_LIQUIDITY")
    return reserve_in * amount_out * 10000 // ((reserve_out - amount_out) * (10000 - fee_bps)) + 1


class PancakePair:
    """One pair: reserves, liquidity-token balances, ``kLast`` and the protocol fee switch."""

    __slots__ = (
        "balances",
        "fee_bps",
        "fee_on",
        "k_last",
        "protocol_den",
        "protocol_num",
        "reserve0",
        "reserve1",
        "total_supply",
    )

    def __init__(self, *, fee_bps: int = 25, protocol_share: tuple[int, int] | None = (8, 17)) -> None:
        if not 0 <= fee_bps < 10000:
            raise ValueError(f"fee_bps must be in [0, 10000), got {fee_bps}")
        self.fee_bps = fee_bps
        self.fee_on = protocol_share is not None
        self.protocol_num, self.protocol_den = protocol_share if protocol_share is not None else (0, 1)
        self.reserve0 = 0
        self.reserve1 = 0
        self.total_supply = 0
        self.k_last = 0
        self.balances: dict[str, int] = {}

    # ---- views -----------------------------------------------------------------------

    @property
    def k(self) -> int:
        return self.reserve0 * self.reserve1

    def price(self) -> float:
        """Pool price, quote per token (reserve1 / reserve0), for display and models."""
        return self.reserve1 / self.reserve0 if self.reserve0 else math.nan

    def pending_protocol_liquidity(self) -> int:
        """Liquidity ``_mintFee`` would mint to ``feeTo`` at the next mint or burn."""
        if not self.fee_on or self.k_last == 0:
            return 0
        root_k = math.isqrt(self.reserve0 * self.reserve1)
        root_k_last = math.isqrt(self.k_last)
        if root_k <= root_k_last:
            return 0
        numerator = self.total_supply * (root_k - root_k_last) * self.protocol_num
        denominator = root_k * self.protocol_den + root_k_last * self.protocol_num
        return numerator // denominator

    def claim(self, holder: str) -> tuple[int, int]:
        """What ``holder`` would receive burning all its liquidity now (``_mintFee`` included)."""
        liquidity = self.balances.get(holder, 0)
        if liquidity == 0:
            return 0, 0
        supply = self.total_supply + self.pending_protocol_liquidity()
        return liquidity * self.reserve0 // supply, liquidity * self.reserve1 // supply

    # ---- the contract ----------------------------------------------------------------

    def _mint_fee(self) -> None:
        pending = self.pending_protocol_liquidity()
        if pending > 0:
            self._mint(PROTOCOL, pending)
        if not self.fee_on:
            self.k_last = 0

    def _mint(self, to: str, liquidity: int) -> None:
        self.total_supply += liquidity
        self.balances[to] = self.balances.get(to, 0) + liquidity

    def mint(self, to: str, amount0: int, amount1: int) -> int:
        """Deposit ``amount0`` tokens and ``amount1`` quote; returns the liquidity minted to ``to``."""
        if amount0 < 0 or amount1 < 0:
            raise PairError("Pancake: negative amounts")
        self._mint_fee()
        supply = self.total_supply
        if supply == 0:
            root = math.isqrt(amount0 * amount1)
            if root <= MINIMUM_LIQUIDITY:
                raise PairError("Pancake: INSUFFICIENT_LIQUIDITY_MINTED")
            liquidity = root - MINIMUM_LIQUIDITY
            self._mint(BURN_ADDRESS, MINIMUM_LIQUIDITY)
        else:
            liquidity = min(amount0 * supply // self.reserve0, amount1 * supply // self.reserve1)
        if liquidity <= 0:
            raise PairError("Pancake: INSUFFICIENT_LIQUIDITY_MINTED")
        self._mint(to, liquidity)
        self.reserve0 += amount0
        self.reserve1 += amount1
        if self.fee_on:
            self.k_last = self.reserve0 * self.reserve1
        return liquidity

    def burn(self, holder: str, liquidity: int) -> tuple[int, int]:
        """Burn ``liquidity`` of ``holder``; returns the (token, quote) amounts paid out."""
        if not 0 < liquidity <= self.balances.get(holder, 0):
            raise PairError("Pancake: INSUFFICIENT_LIQUIDITY_BURNED")
        self._mint_fee()
        supply = self.total_supply
        amount0 = liquidity * self.reserve0 // supply
        amount1 = liquidity * self.reserve1 // supply
        if amount0 <= 0 or amount1 <= 0:
            raise PairError("Pancake: INSUFFICIENT_LIQUIDITY_BURNED")
        self.balances[holder] -= liquidity
        self.total_supply -= liquidity
        self.reserve0 -= amount0
        self.reserve1 -= amount1
        if self.fee_on:
            self.k_last = self.reserve0 * self.reserve1
        return amount0, amount1

    def swap(self, amount0_out: int, amount1_out: int, amount0_in: int, amount1_in: int) -> None:
        """``PancakePair.swap`` after the caller transferred ``amount*_in`` to the pair."""
        if amount0_out < 0 or amount1_out < 0 or amount0_in < 0 or amount1_in < 0:
            raise PairError("Pancake: negative amounts")
        if amount0_out == 0 and amount1_out == 0:
            raise PairError("Pancake: INSUFFICIENT_OUTPUT_AMOUNT")
        r0, r1 = self.reserve0, self.reserve1
        if not (amount0_out < r0 and amount1_out < r1):
            raise PairError("Pancake: INSUFFICIENT_LIQUIDITY")
        balance0 = r0 + amount0_in - amount0_out
        balance1 = r1 + amount1_in - amount1_out
        in0 = balance0 - (r0 - amount0_out) if balance0 > r0 - amount0_out else 0
        in1 = balance1 - (r1 - amount1_out) if balance1 > r1 - amount1_out else 0
        if in0 == 0 and in1 == 0:
            raise PairError("Pancake: INSUFFICIENT_INPUT_AMOUNT")
        adjusted0 = balance0 * 10000 - in0 * self.fee_bps
        adjusted1 = balance1 * 10000 - in1 * self.fee_bps
        if adjusted0 * adjusted1 < r0 * r1 * 10000**2:
            raise PairError("Pancake: K")
        self.reserve0 = balance0
        self.reserve1 = balance1

    def swap_exact_in(self, zero_for_one: bool, amount_in: int) -> SwapResult:
        """The router's ``swapExactTokensForTokens`` on this pair (token in if ``zero_for_one``)."""
        r_in, r_out = (self.reserve0, self.reserve1) if zero_for_one else (self.reserve1, self.reserve0)
        out = get_amount_out(amount_in, r_in, r_out, self.fee_bps)
        if out <= 0:
            raise PairError("PancakeRouter: INSUFFICIENT_OUTPUT_AMOUNT")
        if zero_for_one:
            self.swap(0, out, amount_in, 0)
        else:
            self.swap(out, 0, 0, amount_in)
        return SwapResult(zero_for_one, amount_in, out, self.reserve0, self.reserve1)

    # ---- state -----------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Everything that decides future behaviour (journaled; integers as strings)."""
        return {
            "reserve0": str(self.reserve0),
            "reserve1": str(self.reserve1),
            "total_supply": str(self.total_supply),
            "k_last": str(self.k_last),
            "balances": {holder: str(amount) for holder, amount in sorted(self.balances.items())},
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.reserve0 = int(state["reserve0"])
        self.reserve1 = int(state["reserve1"])
        self.total_supply = int(state["total_supply"])
        self.k_last = int(state["k_last"])
        self.balances = {holder: int(amount) for holder, amount in state["balances"].items()}
