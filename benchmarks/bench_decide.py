#!/usr/bin/env python3
"""Decide every event vs decide on change (``[quoting] decide``): speed, PnL and markouts.

    python benchmarks/bench_decide.py [--runs 1] [--strategies as_default glft]
        [--case spot=FILE,FILE] [--case usdm=FILE,FILE]

Each case replays real recordings (default: the bundled Binance BTCUSDT spot days and the
USD-M test recordings) with ``python -m bot replay ... --decide MODE`` (journal on, the
replay defaults) and prints one markdown row per case, strategy and mode: events/s (median of
``--runs``), book changes not decided on, orders, fills, PnL total and the 1 s / 10 s markouts of
our fills (mean bps over all fills; positive = the fill was on the right side of the later mid).
The default of ``decide`` is chosen from these rows (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "bot" / "emulator" / "data"
CASES = {
    "spot 2024-08-08/09": [str(DATA / f"binance_spot_btcusdt_2024080{d}.gz") for d in (8, 9)],
    "usdm 2023-04-04/05": [
        str(REPO / "tests" / "data" / f"binance_usdm_btcusdt_2023040{d}.dat.gz") for d in (4, 5)
    ],
}
MODES = ("every-event", "on-change")


def replay(files: list[str], strategy: str, mode: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="mmbot-decide-") as tmp:
        out = Path(tmp) / "run"
        cmd = [sys.executable, "-m", "bot", "replay", *files, "--strategy", strategy]
        cmd += ["--decide", mode, "--out", str(out), "--progress", "off"]
        done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"failed: {' '.join(cmd)}\n{done.stderr[-2000:]}")
        summary: dict[str, Any] = json.loads((out / "summary.json").read_text())
    return summary


def markout(summary: dict[str, Any], horizon: str) -> str:
    value = summary.get("markouts", {}).get(horizon, {}).get("all", {}).get("mean_bps")
    return "-" if value is None else f"{value:+.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--strategies", nargs="+", default=["as_default", "glft"])
    parser.add_argument("--case", action="append", default=[], metavar="NAME=FILE,FILE")
    args = parser.parse_args(argv)
    cases = dict(CASES)
    if args.case:
        cases = {c.split("=", 1)[0]: c.split("=", 1)[1].split(",") for c in args.case}
    print(
        "| recording | strategy | decide | events/s | book changes skipped | orders | fills | PnL | markout 1 s bps | markout 10 s bps |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, files in cases.items():
        for strategy in args.strategies:
            for mode in MODES:
                runs = [replay(files, strategy, mode) for _ in range(args.runs)]
                s = runs[0]
                rate = statistics.median(r["events_per_s"] for r in runs)
                skipped = s.get("decide", {}).get("book_changes_skipped", 0)
                print(
                    f"| {name} | {strategy} | {mode} | {rate:,.0f} | {skipped:,} | {s['orders']:,} | "
                    f"{s['fills']:,} | {float(s['pnl']['total']):.4f} | {markout(s, '1s')} | {markout(s, '10s')} |",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
