"""The text of the ``mmbot run`` summary printed at the end of a run.

Reads the summary dict of :func:`bot.commands.run.run_bot` (the same dict ``--json``
prints): per instrument the book's state, per quoting engine the orders by side, the
rejects with their reasons, the time from start to the first quote, the position,
balances (and the starting ones) and the PnL split -- all already in human units
(:mod:`bot.engine.views`) -- journal write faults if there were any, per venue the adapter
counters, and the failure that ended the run (``FAILED: ...``, exit 1) if one did.
"""

from __future__ import annotations

import json
from typing import Any


def _signed(text: str) -> str:
    return text if text.startswith("-") else "+" + text


def _balances(balances: dict[str, str]) -> str:
    return ", ".join(f"{asset} {amount}" for asset, amount in balances.items()) or "-"


def _engine_lines(row: dict[str, Any]) -> list[str]:
    orders, pnl = row["orders"], row["pnl"]
    quote = row.get("quote", "")
    lines = [f"  {row['engine']}: strategy {row['strategy']}, regime {row['regime']}"]
    lines.append(
        f"    orders {orders['new_orders']} new ({orders.get('buy_sent', 0)} buy / "
        f"{orders.get('sell_sent', 0)} sell), {orders['cancels']} cancels, {row['fills']} fills, "
        f"open orders {row['open_orders']}"
    )
    first = row.get("time_to_first_quote_s")
    if first is not None:
        lines.append(f"    first quote {first:.1f} s after start")
    else:
        left = row.get("warmup_left_s")
        lines.append(
            "    no quote sent"
            + (f" (volatility warm-up: {left:.0f} s of data left)" if left is not None else "")
        )
    rejects = row.get("rejects") or {}
    if rejects:
        detail = ", ".join(f"{reason} {count}" for reason, count in rejects.items())
        lines.append(f"    rejects {sum(rejects.values())}: {detail}")
    else:
        lines.append("    rejects 0")
    lines.append(
        f"    position {_signed(row['position'])} {row.get('base', '')}; balances {_balances(row['balances'])}"
        f" (start {_balances(row['starting_balances'])})"
    )
    lines.append(
        f"    PnL {_signed(pnl['total'])} {quote}: spread capture {_signed(pnl['spread_capture'])}, "
        f"rebates {_signed(pnl['rebates'])}, fees {_signed(pnl['fees'])}, "
        f"inventory {_signed(pnl['inventory'])}, funding {_signed(pnl['funding'])}"
    )
    return lines


def _obligation_line(engine: str, obligation: dict[str, Any]) -> str:
    """Uptime of a depth obligation over the deal and today, breaches and alerts."""
    day, deal = obligation["uptime_day"], obligation["uptime_deal"]
    return (
        f"  {engine} obligation on {obligation['venue']}: uptime "
        f"{'-' if deal is None else f'{deal:.1%}'} over the deal "
        f"({'-' if day is None else f'{day:.1%}'} today; minimum {obligation['min_uptime']:.0%}), "
        f"breaches {obligation['breaches']}"
        + ("; " + "; ".join(obligation["alerts"]) if obligation["alerts"] else "")
    )


def _hedge_line(engine: str, hedge: dict[str, Any]) -> str:
    """The hedger's end state in one line (the full block is in ``--json``)."""
    delta = hedge.get("delta") or {}
    pnl = hedge.get("pnl") or {}
    asset = hedge.get("asset", "")
    try:
        return (
            f"  {engine} hedge on {hedge['instrument']} ({hedge['mode']}, band {hedge['band']} {asset}): "
            f"net delta {delta.get('net', hedge.get('net_delta'))} {asset} (spot {delta.get('spot')}, "
            f"perp {delta.get('perp')}), {hedge['hedges']} hedges, {hedge['failed']} traded nothing, "
            f"hedge PnL {pnl.get('hedge_pnl')} (fees {pnl.get('hedge_fees')}), funding {pnl.get('funding')}"
        )
    except KeyError:  # a hedger status of another shape: show it as it is
        return f"  {engine} hedge: " + json.dumps(hedge, default=str)[:400]


def _journal_line(engine: str, journal: dict[str, Any]) -> str:
    """Write faults of the journal during the run (only when there were any)."""
    return (
        f"  {engine} journal: {journal['faults']} write fault(s), "
        f"{journal['write_failures']} failed write(s), {journal['lost']} record(s) lost"
        + (f"; still failing: {journal['fault']}" if journal["fault"] else "; recovered")
    )


def format_summary(summary: dict[str, Any]) -> str:
    config = summary.get("config")
    head = "mmbot run summary"
    if isinstance(config, dict):
        head += f" (config {config['path']}, {config['origin']})"
    lines = [head]
    for row in summary["instruments"]:
        lines.append(
            f"  {row['engine']} {row['instrument']}: {'VALID' if row['valid'] else 'INVALID'}"
            f" bid {row['best_bid']} x {row['bid_size']} / ask {row['best_ask']} x {row['ask_size']}"
            f", {row['levels']} levels, diffs applied {row['applied']}, gaps {row['gaps']},"
            f" resyncs {row['resyncs']}, dropped {row['dropped']}"
            + (f" ({row['reason']})" if row["reason"] else "")
        )
    for row in summary.get("engines", []):
        if "strategy" in row:
            lines.extend(_engine_lines(row))
        obligation = row.get("obligation")
        if obligation:
            lines.append(_obligation_line(row["engine"], obligation))
        hedge = row.get("hedge")
        if hedge:
            lines.append(_hedge_line(row["engine"], hedge))
        journal = row.get("journal")
        if journal and (journal["faults"] or journal["lost"]):
            lines.append(_journal_line(row["engine"], journal))
    for deal in summary.get("deals", []):
        statement = deal["statement"]
        delta = deal.get("delta") or {}
        lines.append(
            f"  deal {deal['deal']}: phase {deal['phase']}, PnL {statement['total']} "
            f"(ledger {statement['ledger_pnl']}), net delta {delta.get('hedged_net', 0):,.0f} "
            f"(perp {delta.get('perp', 0):,.0f}), pool swaps {deal['pool']['swaps']}"
        )
    for venue, stats in summary["adapters"].items():
        lines.append(f"  {venue}: " + ", ".join(f"{k} {v}" for k, v in stats.items()))
    if summary.get("failure"):
        lines.append(f"  FAILED: {summary['failure']}")
    return "\n".join(lines)
