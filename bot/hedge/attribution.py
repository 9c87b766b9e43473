"""Path-wise PnL of the model positions (options, LP) and of the unhedged delta. Pure, floats.

Owns the gamma-scalping attribution of the hedger. At every evaluation ``i`` the hedger
passes its :class:`~bot.hedge.delta.DeltaBreakdown` (price ``S_i``, deltas, option
value and theta, LP value) and the valuation time ``t_i``. Between two evaluations the
tracker books, with ``dS = S_i - S_{i-1}`` and ``dt = t_i - t_{i-1}`` (years):

- ``options_hedge_pnl`` += ``-options_delta_{i-1} * dS``: what a perp short of exactly the
  options' delta made (the hedge's share that belongs to the options);
- ``theta`` += ``options_theta_{i-1} * dt``: the time decay the options paid (< 0 long);
- ``lp_hedge_pnl`` += ``-lp_delta_{i-1} * dS`` (the LP's share of the hedge);
- ``residual_delta_pnl`` += ``net_delta_{i-1} * dS``: PnL of the delta left unhedged
  (inside the band, in flight, or while the hedger cannot trade).

and reports the options' and the LP's value change since the first evaluation. Then

    gamma_scalping = options_value_change + options_hedge_pnl

is "the option's value change plus its hedges' PnL": for a delta-hedged long option it
is ~ ``sum(0.5 * gamma * dS^2) + theta``, positive when the realized variance beats the
implied one; ``gamma_pnl = gamma_scalping - theta`` is the part earned from moves.
Likewise ``lp_hedged = lp_value_change + lp_hedge_pnl`` is the hedged LP's loss (it is
short gamma: impermanent loss net of the hedge).

``off_ledger_pnl`` (options + LP value change) is what the paper ledger cannot see: the
risk manager adds it to the ledger's PnL. A restarted process restores the start values
(:meth:`ModelPnl.restore_start`) so the value changes stay measured from the same
origin; the path-wise sums restart from zero.

These are model numbers (Black–Scholes, constant product) on the evaluation grid; the
exact money is in the ledger. No clock: times are arguments.
"""

from __future__ import annotations

from typing import Any

from bot.hedge.black_scholes import NS_PER_YEAR
from bot.hedge.delta import DeltaBreakdown


class ModelPnl:
    """Accumulates the path-wise attribution of one asset's model positions."""

    __slots__ = (
        "_has_start",
        "_last",
        "_last_ns",
        "evaluations",
        "lp_hedge_pnl",
        "lp_value_start",
        "options_hedge_pnl",
        "options_value_start",
        "price_start",
        "residual_delta_pnl",
        "start_ns",
        "theta",
    )

    def __init__(self) -> None:
        self._last: DeltaBreakdown | None = None
        self._has_start = False
        self._last_ns = 0
        self.evaluations = 0
        self.start_ns = 0
        self.price_start = 0.0
        self.options_value_start = 0.0
        self.lp_value_start = 0.0
        self.options_hedge_pnl = 0.0
        self.lp_hedge_pnl = 0.0
        self.theta = 0.0
        self.residual_delta_pnl = 0.0

    @property
    def last(self) -> DeltaBreakdown | None:
        return self._last

    @property
    def has_start(self) -> bool:
        return self._has_start

    def restore_start(self, start_ns: int, price: float, options_value: float, lp_value: float) -> None:
        """Measure value changes from an earlier run's first evaluation."""
        self._has_start = True
        self.start_ns = start_ns
        self.price_start = price
        self.options_value_start = options_value
        self.lp_value_start = lp_value

    def start_payload(self) -> dict[str, float | int]:
        return {
            "start_ns": self.start_ns,
            "price": self.price_start,
            "options_value": self.options_value_start,
            "lp_value": self.lp_value_start,
        }

    def update(self, valuation_ns: int, breakdown: DeltaBreakdown) -> None:
        """Book the move since the previous evaluation, then remember this one."""
        last = self._last
        if not self._has_start:
            self.restore_start(valuation_ns, breakdown.price, breakdown.options_value, breakdown.lp_value)
        if last is not None:
            d_price = breakdown.price - last.price
            dt = max(valuation_ns - self._last_ns, 0) / NS_PER_YEAR
            self.options_hedge_pnl -= last.options * d_price
            self.lp_hedge_pnl -= last.lp * d_price
            self.theta += last.options_theta * dt
            self.residual_delta_pnl += last.net * d_price
        self._last = breakdown
        self._last_ns = valuation_ns
        self.evaluations += 1

    @property
    def options_value_change(self) -> float:
        return 0.0 if self._last is None else self._last.options_value - self.options_value_start

    @property
    def lp_value_change(self) -> float:
        return 0.0 if self._last is None else self._last.lp_value - self.lp_value_start

    @property
    def gamma_scalping(self) -> float:
        """Options' value change plus their hedge's PnL (compare with :attr:`theta`)."""
        return self.options_value_change + self.options_hedge_pnl

    @property
    def gamma_pnl(self) -> float:
        """What the moves earned the hedged options, before time decay."""
        return self.gamma_scalping - self.theta

    @property
    def lp_hedged(self) -> float:
        return self.lp_value_change + self.lp_hedge_pnl

    @property
    def off_ledger_pnl(self) -> float:
        """Value change of the positions the paper ledger does not hold (options + LP)."""
        return self.options_value_change + self.lp_value_change

    def as_dict(self) -> dict[str, Any]:
        last = self._last
        return {
            "since_ns": self.start_ns,
            "evaluations": self.evaluations,
            "options": {
                "value": 0.0 if last is None else last.options_value,
                "value_change": self.options_value_change,
                "hedge_pnl": self.options_hedge_pnl,
                "gamma_scalping": self.gamma_scalping,
                "theta": self.theta,
                "gamma_pnl": self.gamma_pnl,
            },
            "lp": {
                "value": 0.0 if last is None else last.lp_value,
                "value_change": self.lp_value_change,
                "hedge_pnl": self.lp_hedge_pnl,
                "hedged": self.lp_hedged,
            },
            "residual_delta_pnl": self.residual_delta_pnl,
            "off_ledger_pnl": self.off_ledger_pnl,
        }
