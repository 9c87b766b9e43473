"""The smallest valid order size at a price under an instrument's order rules (minimum quantity,
quantity step, minimum notional), in lots.

One function shared by :meth:`bot.strategy.ladder_spec.QuoteRules.min_size_at` and the ladder
(:mod:`bot.strategy.ladder`); compiled with mypyc. It reads the rules through
:class:`SizeRules`, so it imports neither of those modules.
"""

from __future__ import annotations

from typing import Protocol


class SizeRules(Protocol):
    """The order rules read here (:class:`~bot.strategy.ladder_spec.QuoteRules`)."""

    @property
    def step_lots(self) -> int: ...
    @property
    def min_lots(self) -> int: ...
    @property
    def min_notional(self) -> int: ...


def min_size_at(rules: SizeRules, price: int) -> int:
    """Smallest valid order size (lots) at ``price`` ticks under ``rules``."""
    need = rules.min_lots
    if rules.min_notional and price * need < rules.min_notional:
        need = -(-rules.min_notional // price)
        step = rules.step_lots
        need = -(-need // step) * step
    return need
