"""The deal statement: the deal's PnL by channel, exact, and the check that it adds up.

Owns the layout of the statement and its arithmetic (``Decimal``, any rounding raises).
Every channel is booked where its money moves -- each paper account's ledger attribution
(per fill, per revaluation, per funding payment), the deal's program fills, the pool's
swaps and marks, the options' marks, the loan's marks -- and the statement lists them:

========================  ==============================================================
``cex_spread``            quoting accounts: what quotes bought below / sold above mid
``cex_rebates``           quoting accounts: maker rebates received
``cex_fees``              quoting accounts: fees paid
``cex_inventory``         quoting accounts: price moves on their inventory
``sale`` ...              each deal program (sale, exercise, buyback, unwind): its fills'
                          prices against mid, and their fees -- the execution cost
``deal_inventory``        deal accounts: price moves on the tokens they hold
``lp_fees``               the pool position's share of the 0.17 % LP fee
``impermanent_loss``      what swaps at the pool's price gave traders against the mark
``lp_delta``              price moves on the pool position's tokens
``lp_entry_exit``         minting/burning: MINIMUM_LIQUIDITY, rounding, venue marks
``hedge``                 the perpetual: price against mid, fees, price moves
``funding``               the perpetual's funding
``options``               the calls' value change (Black-Scholes mark, to 1e-8)
``exercise``              what exercise delivered (tokens at the venues' marks - strikes)
                          against the calls' last mark
``loan``                  the loan's liability marked to market (loan_delta = tokens)
``loan_settlement``       what was returned against the liability's mark
``other``                 deal-account fills no program claims (should be 0)
========================  ==============================================================

:meth:`DealStatement.total` is their sum; ``ledger_pnl`` is the same PnL computed from
*state* -- every account's equity minus its start, the pool position's value minus its
basis, the calls' mark plus what exercise settled minus their value at the start, the
loan's value at the start minus its mark and what was returned. They agree exactly when
every change of value was booked once: :meth:`check`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from typing import Any

from bot.dex.position import EXACT

CHANNELS: tuple[tuple[str, str], ...] = (
    ("cex_spread", "CEX spread capture (quotes vs mid)"),
    ("cex_rebates", "CEX maker rebates"),
    ("cex_fees", "CEX fees paid"),
    ("cex_inventory", "CEX inventory (price moves)"),
    ("sale", "initial sale: execution vs mid, fees"),
    ("exercise_sale", "exercised tokens' sale: execution vs mid, fees"),
    ("buyback", "buy-back of tokens owed: execution vs mid, fees"),
    ("unwind", "unwind: execution vs mid, fees"),
    ("deal_inventory", "deal accounts' tokens (price moves)"),
    ("lp_fees", "LP fees (share of the 0.17 %)"),
    ("impermanent_loss", "impermanent loss (swaps at pool prices vs mark)"),
    ("lp_delta", "LP tokens (price moves)"),
    ("lp_entry_exit", "LP mint/burn (MINIMUM_LIQUIDITY, rounding, marks)"),
    ("hedge", "perp hedge: execution, fees, price moves"),
    ("funding", "perp funding"),
    ("options", "calls: value change (Black-Scholes)"),
    ("exercise", "exercise: tokens received - strikes vs the calls' mark"),
    ("loan", "loan liability (price moves)"),
    ("loan_settlement", "loan returned vs the liability's mark"),
    ("other", "deal-account fills outside any program"),
)
NAMES = tuple(name for name, _ in CHANNELS)
LABELS = dict(CHANNELS)
PROGRAM_CHANNELS = {"sale": "sale", "exercise": "exercise_sale", "buyback": "buyback", "unwind": "unwind"}


@dataclass
class DealStatement:
    channels: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(NAMES, Decimal(0)))
    ledger_pnl: Decimal = Decimal(0)
    quote: str = "USDT"
    info: dict[str, Any] = field(default_factory=dict)
    """Model figures that are not channels (gamma scalping vs theta, classic IL, ...)."""

    def add(self, name: str, amount: Decimal) -> None:
        if name not in self.channels:
            raise KeyError(f"unknown statement channel {name!r}")
        with localcontext(EXACT):
            self.channels[name] += amount

    def total(self) -> Decimal:
        with localcontext(EXACT):
            return sum(self.channels.values(), Decimal(0))

    def difference(self) -> Decimal:
        """Channels minus the state's PnL: exactly 0 when the books are complete."""
        with localcontext(EXACT):
            return self.total() - self.ledger_pnl

    def check(self) -> bool:
        return self.difference() == 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "quote": self.quote,
            "channels": {name: str(value) for name, value in self.channels.items()},
            "total": str(self.total()),
            "ledger_pnl": str(self.ledger_pnl),
            "difference": str(self.difference()),
            "info": self.info,
        }


def format_statement(data: dict[str, Any]) -> list[str]:
    """Text lines of a statement's ``as_dict`` (the report and ``mmbot deal statement``)."""
    quote = data.get("quote", "")
    lines = [f"  {'channel':<52}{quote:>18}"]
    for name, label in CHANNELS:
        value = Decimal(data["channels"].get(name, "0"))
        if value == 0 and name in ("other", "buyback", "exercise_sale", "unwind", "loan_settlement"):
            continue
        lines.append(f"  {label:<52}{value:>18,.2f}")
    lines.append(f"  {'total (sum of channels)':<52}{Decimal(data['total']):>18,.2f}")
    lines.append(
        f"  {'ledger PnL (equity, pool, calls, loan from state)':<52}{Decimal(data['ledger_pnl']):>18,.2f}"
    )
    difference = Decimal(data["difference"])
    lines.append(f"  {'difference':<52}{difference:>18}" + ("  (exact)" if difference == 0 else "  (!)"))
    return lines
