"""Objectives: the number that ranks a sweep's points, computed from one trial's row.

A row (:func:`bot.sweep.measure.measure_run`) holds the run's ``summary.json`` (under
``summary``) and the report's numbers computed from its journal. Each objective says
which fields it reads (``needs``), so it is clear what a run must record for it:

================================  =========  ==================================================
name                              direction  value (and what it reads)
================================  =========  ==================================================
``pnl``                           maximize   total PnL, quote (summary.json ``pnl.total``)
``pnl_per_inventory_risk``        maximize   total PnL / inventory risk (PnL x risk for a loss,
                                             see :func:`pnl_per_risk`), where inventory risk is
                                             the RMS of the sampled inventory marked at mid,
                                             quote (summary.json + journal samples)
``markout_pnl_1s|10s|60s``        maximize   fills marked at the mid h seconds later, plus fees
                                             and rebates, quote (journal fills + samples)
``sharpe``                        maximize   the report's annualised Sharpe of 1-min PnL changes
``max_drawdown``                  minimize   the report's max drawdown of total PnL, quote
``quote_uptime``                  maximize   share of 1 s samples with both our bid and ask live
``field:<dotted path>``           maximize   any number in the row, e.g. ``field:summary.fills``
                                             or a field a later version adds to summary.json
================================  =========  ==================================================

A value of ``None`` means "not defined for this run" (e.g. no inventory was ever held):
such points rank last. New objectives: :func:`register`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from bot.errors import InputError

FIELD_PREFIX = "field:"
Row = Mapping[str, Any]


@dataclass(frozen=True)
class Objective:
    name: str
    direction: Literal["maximize", "minimize"]
    needs: str
    description: str
    compute: Callable[[Row], float | None]

    def __call__(self, row: Row) -> float | None:
        value = self.compute(row)
        if value is None:
            return None
        value = float(value)
        return value if math.isfinite(value) else None


OBJECTIVES: dict[str, Objective] = {}


def register(objective: Objective) -> Objective:
    """Add an objective (a later registration of the same name replaces the earlier)."""
    OBJECTIVES[objective.name] = objective
    return objective


def lookup(row: Row, path: str) -> Any:
    """The value at a dotted path of a row (None if any part is missing)."""
    node: Any = row
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _field(path: str) -> Callable[[Row], float | None]:
    return lambda row: _number(lookup(row, path))


def pnl_per_risk(pnl: float, risk: float) -> float | None:
    """PnL / risk for a gain, PnL x risk for a loss (Israelsen 2005, "A refinement to the
    Sharpe ratio and information ratio", J. Asset Management 5(6)): a plain ratio would rank
    a loss taken with more risk above the same loss with less. With the refinement a point
    that another beats on both PnL and risk never ranks above it."""
    if risk <= 0:
        return None
    return pnl / risk if pnl >= 0 else pnl * risk


def _pnl_per_risk(row: Row) -> float | None:
    pnl, risk = _number(lookup(row, "pnl_total")), _number(lookup(row, "inventory_risk"))
    if pnl is None or risk is None:
        return None
    return pnl_per_risk(pnl, risk)


def get_objective(name: str) -> Objective:
    if name.startswith(FIELD_PREFIX):
        path = name[len(FIELD_PREFIX) :]
        if not path or any(not part for part in path.split(".")):
            raise InputError(f"{name!r}: give the dotted path of a number, e.g. 'field:summary.fills'")
        return Objective(name, "maximize", path, f"the row's {path}", _field(path))
    objective = OBJECTIVES.get(name)
    if objective is None:
        raise InputError(
            f"unknown objective {name!r}; known: {', '.join(sorted(OBJECTIVES))}, or field:<dotted path>"
        )
    return objective


register(Objective("pnl", "maximize", "summary.json pnl.total", "total PnL (quote)", _field("pnl_total")))
register(
    Objective(
        "pnl_per_inventory_risk",
        "maximize",
        "summary.json pnl.total; journal samples (inventory, mid)",
        "total PnL / RMS of the inventory marked at mid (x instead of / for a loss)",
        _pnl_per_risk,
    )
)
for _h in (1, 10, 60):
    register(
        Objective(
            f"markout_pnl_{_h}s",
            "maximize",
            "journal fills and samples; summary.json pnl.fees, pnl.rebates",
            f"fills marked at the mid {_h} s later, plus fees and rebates (quote)",
            _field(f"markout_pnl.{_h}s"),
        )
    )
register(
    Objective("sharpe", "maximize", "journal samples", "annualised Sharpe of 1-min PnL", _field("sharpe"))
)
register(
    Objective(
        "max_drawdown",
        "minimize",
        "journal samples",
        "largest fall of total PnL (quote)",
        _field("max_drawdown"),
    )
)
register(
    Objective(
        "quote_uptime",
        "maximize",
        "journal samples (bid_quote, ask_quote)",
        "share of 1 s samples with both our bid and our ask live",
        _field("quote_uptime"),
    )
)
