"""The numbers of a run report, computed from a loaded :class:`~bot.report.load.EngineRun`.

Definitions (also printed in the report, so a reader knows what each number means):

- **PnL**: the ledger rebuilt from the journal at the end of the run (cumulative since
  the start, quote currency; the same numbers as ``mmbot ledger show``), split into
  spread capture / rebates / fees / inventory / funding; ``hedge`` (the perp hedge's
  PnL net of fees, part of inventory and fees) is the last sample's. Final equity and
  final inventory are the ledger's too.
- **PnL per hour**: total PnL / (end - first sample time); the end is the later of the
  last sample and the last journaled input.
- **Sharpe**: mean / standard deviation (ddof 1) of the PnL changes over consecutive
  1-minute intervals (the total PnL as of each minute from the first sample),
  annualised by sqrt(525,600 minutes per year) -- crypto trades around the clock.
  Only for runs of at least one day (1,440 one-minute intervals); shorter runs show
  "n/a (run too short)": an annualised ratio from minutes of data means nothing.
  ``None`` also with no variation.
- **Max drawdown**: the largest fall of total PnL from its running peak (quote), and
  as a percentage of the equity at that peak (the samples, then the final ledger total).
- **Fills**, **fill rate** = fills / new orders sent (one order can fill several
  times), maker share, traded notional.
- **Inventory std**: population standard deviation of the sampled inventory (base).
- **Time in regime**: the regime timeline is the first sample's regime, then each
  ``regime_transition`` at its time, clipped to the sampled span.
- **Markouts** at h = 1 s, 10 s, 60 s: for each fill of the sampled instrument,
  ``side * (mid(t + h) - price)``. They are the engine's own, journaled live as each
  horizon completed (``markout`` events, :mod:`bot.strategy.markouts`: ``mid(t + h)``
  is the book mid prevailing at t + h), so the report, ``/status`` and the replay
  summary show the same numbers; journals written before markouts were journaled fall
  back to the first 1-second sample at or after t + h. Positive = the market moved our
  way after we traded (good for us); negative = adverse selection. Given as the mean in
  basis points of the fill price (equal weight per fill), per side and together, and as
  the total in quote currency (size-weighted). Fills too close to the end for the
  horizon are left out (``n``).
- **Two-sided share**: the share of samples (one per second) with both a bid and an
  ask quote; **max inventory**: the largest absolute sampled inventory (base).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from bot.report.load import PNL_COMPONENTS, EngineRun

NS = 1_000_000_000
MARKOUT_HORIZONS_S = (1, 10, 60)
SHARPE_INTERVAL_S = 60
MINUTES_PER_YEAR = 525_600
SHARPE_MIN_SPAN_S = 86_400
"""Sharpe is shown only for runs at least this long (1 day of 1-minute PnL changes)."""
SHARPE_TOO_SHORT = "n/a (run too short)"


def _none(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def pnl_at_intervals(ts: np.ndarray, total: np.ndarray, interval_s: int) -> np.ndarray:
    """Total PnL as of ``t0 + k * interval`` for every whole interval in the span."""
    steps = int((ts[-1] - ts[0]) // (interval_s * NS))
    grid = ts[0] + np.arange(steps + 1, dtype=np.int64) * interval_s * NS
    index = np.searchsorted(ts, grid, side="right") - 1
    picked: np.ndarray = total[index]
    return picked


def sharpe(ts: np.ndarray, total: np.ndarray) -> float | None:
    if ts.size < 2:
        return None
    changes = np.diff(pnl_at_intervals(ts, total, SHARPE_INTERVAL_S))
    if changes.size < 2:
        return None
    std = float(np.std(changes, ddof=1))
    if std == 0.0:
        return None
    return float(np.mean(changes)) / std * math.sqrt(MINUTES_PER_YEAR * 60 / SHARPE_INTERVAL_S)


def max_drawdown(total: np.ndarray, equity: np.ndarray) -> tuple[float, float | None]:
    peak = np.maximum.accumulate(total)
    drops = peak - total
    worst = int(np.argmax(drops))
    amount = float(drops[worst])
    if amount <= 0:
        return 0.0, 0.0
    peak_at = int(np.argmax(total[: worst + 1]))
    peak_equity = float(equity[peak_at])
    return amount, (amount / peak_equity * 100 if peak_equity > 0 else None)


def regime_spans(run: EngineRun) -> list[tuple[int, int, str]]:
    """(start ns, end ns, regime) over the sampled span (see module doc)."""
    samples = run.samples
    start, end = int(samples.ts[0]), int(samples.ts[-1])
    changes = sorted(
        (int(t["ts"]), str(t.get("to_state", ""))) for t in run.transitions if isinstance(t.get("ts"), int)
    )
    current = samples.regime[0]
    spans: list[tuple[int, int, str]] = []
    cursor = start
    for ts, regime in changes:
        if ts <= start:
            current = regime
            continue
        if ts >= end:
            break
        spans.append((cursor, ts, current))
        cursor, current = ts, regime
    spans.append((cursor, end, current))
    return [span for span in spans if span[1] > span[0]] or [(start, end, current)]


def time_in_regime(run: EngineRun) -> dict[str, float]:
    """Seconds per regime over the sampled span."""
    out: dict[str, float] = {}
    for start, end, regime in regime_spans(run):
        out[regime] = out.get(regime, 0.0) + (end - start) / NS
    return out


def markouts(run: EngineRun) -> dict[str, dict[str, Any]]:
    """Per horizon: n, mean bps and total (quote), for all fills and per side (buy/sell)."""
    if run.markouts or not run.fills:
        return _journaled_markouts(run)
    return _sampled_markouts(run)


def _horizon_row(items: list[tuple[int, float, float]]) -> dict[str, Any]:
    """(side, bps, quote total) triples -> the row of one horizon."""

    def stats(rows: list[tuple[int, float, float]]) -> dict[str, Any]:
        return {
            "n": len(rows),
            "mean_bps": float(np.mean([bps for _, bps, _ in rows])) if rows else None,
            "total": float(sum(total for _, _, total in rows)) if rows else None,
        }

    out = stats(items)
    out["buy"] = stats([row for row in items if row[0] > 0])
    out["sell"] = stats([row for row in items if row[0] < 0])
    return out


def _journaled_markouts(run: EngineRun) -> dict[str, dict[str, Any]]:
    spec = run.specs.get(run.samples.instrument)
    unit = float(spec.tick_size * spec.lot_size * spec.contract_size) if spec is not None else 0.0
    out: dict[str, dict[str, Any]] = {}
    for horizon in MARKOUT_HORIZONS_S:
        items = [
            (
                int(m["side"]),
                float(m["bps"]),
                int(m["side"]) * (float(m["mid"]) - int(m["price"])) * int(m["size"]) * unit,
            )
            for m in run.markouts
            if int(m["horizon_s"]) == horizon
        ]
        out[f"{horizon}s"] = {**_horizon_row(items), "source": "journal"}
    return out


def _sampled_markouts(run: EngineRun) -> dict[str, dict[str, Any]]:
    samples = run.samples
    ts, mid = samples.ts, samples.mid
    fills = [f for f in run.fills if f.instrument == samples.instrument]
    out: dict[str, dict[str, Any]] = {}
    for horizon in MARKOUT_HORIZONS_S:
        items: list[tuple[int, float, float]] = []
        for fill in fills:
            target = fill.ts + horizon * NS
            index = int(np.searchsorted(ts, target, side="left"))
            if index >= ts.size or not math.isfinite(mid[index]):
                continue
            move = fill.side * (float(mid[index]) - fill.price)
            items.append((fill.side, move / fill.price * 1e4, move * fill.size))
        out[f"{horizon}s"] = {**_horizon_row(items), "source": "samples"}
    return out


def two_sided_share(run: EngineRun) -> float | None:
    """Share of samples quoting both a bid and an ask."""
    samples = run.samples
    if not len(samples):
        return None
    both = np.isfinite(samples.bid_quote) & np.isfinite(samples.ask_quote)
    return float(np.mean(both))


def summarize(run: EngineRun) -> dict[str, Any]:
    """Every summary number of one engine run (JSON-able; None = not defined)."""
    samples = run.samples
    ts = samples.ts
    total = samples.pnl["total"]
    equity = samples.equity
    pnl = {name: float(samples.pnl[name][-1]) for name in (*PNL_COMPONENTS, "total")}
    final = run.final
    end_ts = int(ts[-1])
    pnl_exact = None
    final_equity = float(samples.equity[-1])
    final_inventory = float(samples.inventory[-1])
    if final is not None:
        pnl.update(final.pnl)
        pnl_exact = final.pnl_exact
        final_equity, final_inventory = final.equity, final.inventory
        end_ts = max(end_ts, final.ts)
        total = np.append(total, final.pnl["total"])
        equity = np.append(equity, final.equity)
    duration_s = float(end_ts - ts[0]) / NS if ts.size else 0.0
    drawdown, drawdown_pct = max_drawdown(total, equity)
    long_enough = duration_s >= SHARPE_MIN_SPAN_S
    fills = run.fills
    notional = sum(f.price * f.size for f in fills)
    inventory = samples.inventory[np.isfinite(samples.inventory)]
    return {
        "label": run.label,
        "instrument": samples.instrument,
        "quote": run.quote,
        "start_ts": int(ts[0]),
        "end_ts": end_ts,
        "duration_s": duration_s,
        "samples": len(samples),
        "pnl": pnl,
        "pnl_exact": pnl_exact,
        "pnl_per_hour": pnl["total"] / (duration_s / 3600) if duration_s > 0 else None,
        "sharpe": _none(sharpe(ts, samples.pnl["total"])) if ts.size and long_enough else None,
        "sharpe_note": None if long_enough else SHARPE_TOO_SHORT,
        "sharpe_sampling": f"{SHARPE_INTERVAL_S} s PnL changes, annualised x sqrt({MINUTES_PER_YEAR:,} min/yr), "
        f"runs of at least {SHARPE_MIN_SPAN_S // 3600} h",
        "max_drawdown": drawdown,
        "max_drawdown_pct": _none(drawdown_pct) if drawdown_pct is not None else None,
        "final_equity": final_equity,
        "orders": run.orders,
        "cancels": run.cancels,
        "rejects": run.rejects,
        "fills": len(fills),
        "maker_fills": sum(1 for f in fills if f.maker),
        "fill_rate": len(fills) / run.orders if run.orders else None,
        "notional": notional,
        "inventory_std": float(np.std(inventory)) if inventory.size else None,
        "max_inventory": float(np.max(np.abs(inventory))) if inventory.size else None,
        "two_sided_share": two_sided_share(run),
        "final_inventory": final_inventory,
        "time_in_regime_s": time_in_regime(run),
        "regime_transitions": len(run.transitions),
        "strategy_switches": len(run.switches),
        "markouts": markouts(run),
    }
