"""``mmbot report RUN_DIR [RUN_DIR ...] [--out FILE.html]``: plots and summary of runs.

Reads each run directory (``mmbot replay --out`` or an ``mmbot run`` data dir)
read-only and writes one self-contained HTML file plus its PNG figures next to it.
Several run directories are compared side by side (one table column per run and
overlaid PnL).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    report = subparsers.add_parser(
        "report",
        help="Write an HTML report (plots + summary) of one or more run directories.",
        description="Read the journal of each RUN_DIR (written by 'mmbot replay --out' or an 'mmbot run' "
        "data dir) and write one self-contained HTML file with embedded plots -- mid price with our "
        "quotes and fills, regimes, inventory (and net delta when hedged), PnL split, spread vs volatility "
        "-- and a summary table (PnL and final state from the ledger, as `mmbot ledger show`; Sharpe for "
        "runs of a day or more; drawdown, fills, fill rate, inventory, regimes, markouts). A run with a "
        "deal desk ([deal]) adds the deal: inventory per venue, the net delta's components, the deal "
        "statement (PnL by channel, checked against the ledgers) and its lifecycle; the inventory per "
        "venue, the net delta's components and the statement are also printed. The PNGs are written "
        "next to the HTML. Several RUN_DIRs are compared side by side.",
    )
    report.add_argument(
        "run_dirs", nargs="+", type=Path, metavar="RUN_DIR", help="Run directory (one or more)."
    )
    report.add_argument(
        "--out",
        type=Path,
        metavar="FILE.html",
        help="Output HTML file (default: RUN_DIR/report.html for one run, ./report.html for several).",
    )
    report.add_argument("--json", action="store_true", help="Print the summary numbers as JSON.")
    report.add_argument(
        "--table",
        action="store_true",
        help="Also print the runs side by side as a Markdown table (fills, spread capture, rebates, fees, "
        "inventory PnL, markouts, time quoted two-sided, max inventory, regimes).",
    )
    report.set_defaults(func=start_report)


def start_report(args: argparse.Namespace) -> int:
    from bot.report import deal as deal_report
    from bot.report.html import build_report

    deals: list[deal_report.DealHistory] = []
    out, pngs, summaries = build_report(list(args.run_dirs), args.out, deals=deals)
    if args.json:
        print(
            json.dumps(
                {
                    "html": str(out),
                    "png": [str(p) for p in pngs],
                    "runs": summaries,
                    "deals": [deal_report.summary(history) for history in deals],
                },
                indent=2,
                default=str,
            )
        )
        return 0
    if args.table:
        from bot.report.table import markdown_table

        print(markdown_table(summaries))
        return 0
    print(f"wrote {out} ({len(pngs)} figures next to it)")
    for summary in summaries:
        pnl = summary["pnl"]["total"]
        sharpe = summary["sharpe_note"] or (
            f"{summary['sharpe']:.2f}" if summary["sharpe"] is not None else "n/a (no variation)"
        )
        print(
            f"  {summary['label']}: {summary['instrument']} PnL {pnl:+,.4f} {summary['quote']}, "
            f"{summary['fills']} fills / {summary['orders']} orders, "
            f"max drawdown {summary['max_drawdown']:,.4f}, Sharpe {sharpe}"
        )
    for history in deals:
        print(deal_report.text(history))
    return 0
