"""The run comparison as a Markdown table (``mmbot report --table``): the numbers a reader
needs to judge a market maker on one page -- fills, where the PnL came from (spread capture,
rebates, fees, inventory), markouts, time quoted on both sides and the largest inventory."""

from __future__ import annotations

from typing import Any


def _num(value: Any, places: int = 2) -> str:
    return "-" if value is None else f"{value:,.{places}f}"


def _pct(value: Any) -> str:
    return "-" if value is None else f"{value * 100:.1f} %"


def _markout(stats: dict[str, Any]) -> str:
    return f"{_num(stats.get('mean_bps'), 2)} ({stats.get('n', 0)})"


def markdown_table(summaries: list[dict[str, Any]]) -> str:
    """One column per run (its label), one row per metric."""
    if not summaries:
        return ""
    quote = summaries[0].get("quote") or "quote"
    rows: list[tuple[str, list[str]]] = [
        ("fills (maker)", [f"{s['fills']} ({s['maker_fills']})" for s in summaries]),
        ("traded notional", [_num(s["notional"], 0) for s in summaries]),
        (f"spread capture, {quote}", [_num(s["pnl"]["spread_capture"]) for s in summaries]),
        (f"rebates, {quote}", [_num(s["pnl"]["rebates"]) for s in summaries]),
        (f"fees, {quote}", [_num(s["pnl"]["fees"]) for s in summaries]),
        (
            f"spread capture + rebates + fees, {quote}",
            [_num(s["pnl"]["spread_capture"] + s["pnl"]["rebates"] + s["pnl"]["fees"]) for s in summaries],
        ),
        (f"inventory PnL, {quote}", [_num(s["pnl"]["inventory"]) for s in summaries]),
        (f"total PnL, {quote}", [_num(s["pnl"]["total"]) for s in summaries]),
    ]
    for horizon in ("1s", "10s", "60s"):
        rows.append((f"markout {horizon}, bps (n)", [_markout(s["markouts"][horizon]) for s in summaries]))
    rows.append(
        (
            "markout 10s buys / sells, bps",
            [
                f"{_num(s['markouts']['10s']['buy']['mean_bps'])} / {_num(s['markouts']['10s']['sell']['mean_bps'])}"
                for s in summaries
            ],
        )
    )
    rows += [
        ("time quoted two-sided", [_pct(s["two_sided_share"]) for s in summaries]),
        ("max abs inventory (base)", [_num(s["max_inventory"], 5) for s in summaries]),
    ]
    regimes = list(dict.fromkeys(r for s in summaries for r in s["time_in_regime_s"]))
    rows.append(
        (
            "time in regime",
            [
                ", ".join(
                    f"{r} {s['time_in_regime_s'].get(r, 0.0) / s['duration_s'] * 100:.0f} %"
                    for r in regimes
                    if s["duration_s"] and s["time_in_regime_s"].get(r)
                )
                for s in summaries
            ],
        )
    )
    header = "| | " + " | ".join(s["label"] for s in summaries) + " |"
    rule = "|---|" + "---:|" * len(summaries)
    body = ["| " + name + " | " + " | ".join(cells) + " |" for name, cells in rows]
    return "\n".join([header, rule, *body])
