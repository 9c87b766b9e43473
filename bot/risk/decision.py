"""What the risk manager lets the quoter do now (:class:`RiskDecision`), a frozen msgspec struct.

Kept apart from :mod:`bot.risk.manager` so that module (run on every market event) can be
compiled with mypyc, which would drop the struct's class keywords. Re-exported by
:mod:`bot.risk.manager` and :mod:`bot.risk`.
"""

from __future__ import annotations

import msgspec

from bot.risk.explain import Regime
from bot.strategy.types import QuoteAdjustments


class RiskDecision(msgspec.Struct, frozen=True, kw_only=True):
    """What the quoter may do now."""

    regime: Regime
    adjustments: QuoteAdjustments
    pull_all: bool
    """True: cancel every quote and place none (HALTED)."""
    reasons: tuple[str, ...] = ()
    """Why: the regime's reasons and the notes behind the adjustments."""
    ts: int = 0
