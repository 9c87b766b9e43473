"""What the hedger reports: finished hedge orders and the exact hedge PnL components.

:class:`HedgeRecord` is one finished hedge order with the net delta when it was decided
and right after it finished (journaled as ``hedge_done``, kept in the hedger's history,
shown as ``last_hedge`` in ``/status``). :class:`HedgeAttribution` holds the hedge-related
PnL components the hedger reads from the paper ledger (exact ``Decimal``, quote currency):

- ``spread_capture``: the quoted market's fills against the mid (what the quotes earned);
- ``hedge_fees``: perp fees paid minus rebates; ``hedge_spread``: what the perp fills paid
  against the venue's mid at the fill; ``hedge_cost`` = the two together;
- ``hedge_pnl``: the perp's realized + unrealized PnL at the ledger's mark, net of fees,
  without funding; ``funding``: perp funding received (paid < 0).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any


@dataclass(frozen=True, slots=True)
class HedgeRecord:
    """One finished hedge order, with the book when it was decided and when it finished."""

    decided_ts: int
    done_ts: int
    side: int
    requested: Decimal
    """Base-asset units asked for (unsigned)."""
    filled: Decimal
    passive: Decimal
    """Of ``filled``, the part that filled as a resting (maker) order."""
    reason: str
    delta_before: float
    """Net delta the decision saw."""
    delta_expected: float
    """Net delta the decision expected once filled (inside the band unless capped by max_order)."""
    ex_perp_at_decision: float
    """Everything but the perp at the decision (spot - loan + options + LP)."""
    perp_after: float
    net_after: float
    """Net delta right after the order finished (before the next decision)."""
    price_at_decision: float
    price_after: float

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("requested", "filled", "passive"):
            out[key] = str(out[key])
        return out


@dataclass(frozen=True, slots=True)
class HedgeAttribution:
    """Exact hedge-related PnL components from the ledger (quote currency)."""

    spread_capture: Decimal
    hedge_fees: Decimal
    hedge_spread: Decimal
    hedge_pnl: Decimal
    funding: Decimal

    @property
    def hedge_cost(self) -> Decimal:
        return self.hedge_fees + self.hedge_spread

    def as_dict(self) -> dict[str, str]:
        return {
            "spread_capture": str(self.spread_capture),
            "hedge_cost": str(self.hedge_cost),
            "hedge_fees": str(self.hedge_fees),
            "hedge_spread": str(self.hedge_spread),
            "hedge_pnl": str(self.hedge_pnl),
            "funding": str(self.funding),
        }
