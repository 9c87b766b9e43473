"""The numbers of one trial: its ``summary.json`` plus the report's metrics of its journal.

A row is what objectives (:mod:`bot.sweep.objectives`) read and what the results table
shows. Everything in it is a deterministic function of the run (the replay's timing,
``loop_s`` and ``events_per_s``, is kept apart under ``timing``), so the same trial gives
the same row on any machine.

- ``pnl_total`` and ``pnl.*``: summary.json (exact decimals, as floats here).
- ``inventory_risk``: root mean square of the sampled inventory marked at mid (quote),
  ``sqrt(mean((q_i * mid_i)^2))`` over the 1 s samples: the typical exposure, counting
  a position held still as much as one that swings.
- ``sharpe``, ``max_drawdown``, ``inventory_std``, ``fill_rate``, ``markouts``:
  :func:`bot.report.metrics.summarize` (definitions there).
- ``markout_pnl.<h>s``: the markout total at h (fills valued at the mid h later, quote)
  plus the fees and rebates of the run: what the fills earned net of costs, without the
  noise of holding inventory longer than h. None when fills exist but none is h before
  the end.
- ``quote_uptime``: share of samples in which both our bid and our ask were live.
- ``time_in_regime``: share of the sampled span per regime.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from bot.errors import InputError
from bot.replay.run import SUMMARY
from bot.report import metrics
from bot.report.load import find_journals, load_engine
from bot.store.journal import SUFFIX

TIMING_KEYS = ("loop_s", "events_per_s")


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def measure_run(run_dir: Path) -> dict[str, Any]:
    summary: dict[str, Any] = json.loads((run_dir / SUMMARY).read_text())
    timing = {key: summary.pop(key, None) for key in TIMING_KEYS}
    pnl = {key: _float(value) for key, value in (summary.get("pnl") or {}).items()}
    row: dict[str, Any] = {
        "status": summary.get("status"),
        "events": summary.get("events"),
        "orders": summary.get("orders"),
        "fills": summary.get("fills"),
        "pnl_total": pnl.get("total"),
        "pnl": pnl,
        "equity": _float(summary.get("equity")),
        "duration_s": None,
        "inventory_risk": None,
        "inventory_std": None,
        "final_inventory": None,
        "sharpe": None,
        "max_drawdown": None,
        "fill_rate": None,
        "notional": None,
        "quote_uptime": None,
        "markouts": None,
        "markout_pnl": None,
        "time_in_regime": None,
        "regime_transitions": None,
        "metrics_error": None,
        "summary": summary,
        "timing": timing,
    }
    try:
        journals, config, _summary = find_journals(run_dir)
        wanted = f"{summary.get('engine')}{SUFFIX}"
        path = next((p for p in journals if p.name == wanted), journals[0])
        run = load_engine(run_dir, path, run_dir.name, config, summary)
    except InputError as exc:
        row["metrics_error"] = str(exc)
        return row
    stats = metrics.summarize(run)
    samples = run.samples
    notional = samples.inventory * samples.mid
    notional = notional[np.isfinite(notional)]
    duration = float(stats["duration_s"])
    costs = (pnl.get("fees") or 0.0) + (pnl.get("rebates") or 0.0)
    markout_pnl: dict[str, float | None] = {}
    for key, markout in stats["markouts"].items():
        if markout["n"]:
            markout_pnl[key] = float(markout["total"]) + costs
        else:
            markout_pnl[key] = costs if not stats["fills"] else None
    live = np.isfinite(samples.bid_quote) & np.isfinite(samples.ask_quote)
    row.update(
        duration_s=duration,
        inventory_risk=float(np.sqrt(np.mean(notional**2))) if notional.size else None,
        inventory_std=stats["inventory_std"],
        final_inventory=stats["final_inventory"],
        sharpe=stats["sharpe"],
        max_drawdown=stats["max_drawdown"],
        fill_rate=stats["fill_rate"],
        notional=stats["notional"],
        quote_uptime=float(np.mean(live)) if live.size else None,
        markouts=stats["markouts"],
        markout_pnl=markout_pnl,
        time_in_regime={
            k: (v / duration if duration > 0 else None) for k, v in stats["time_in_regime_s"].items()
        },
        regime_transitions=stats["regime_transitions"],
    )
    return row
