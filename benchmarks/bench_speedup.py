#!/usr/bin/env python3
"""Replay speed of this checkout (compiled and pure) against a baseline checkout, same run.

    python benchmarks/bench_speedup.py --baseline ../issue-19-baseline [--size 1000000]
        [--runs 3] [--strategies minimal bench_as] [--rss-size 5000000]
        [--anchors pydict,hftbacktest,nautilus]

Each case is one ``python -m bot replay STREAM.npz --strategy S --out TMP --progress off`` process
(the minimal market maker without a journal, the full pipeline ``bench_as`` with its journal, as
``run_all.py`` runs them), started from the checkout it measures:

- ``baseline``: ``--baseline`` (a checkout of the code before the speed-up; pure Python);
- ``pure``: this checkout with ``MMBOT_PURE=1``;
- ``compiled``: this checkout as installed (``pip install .``; ``mmbot --version`` must say
  compiled, else the variant is reported as what it is).

Variants are interleaved run by run (the machine is shared: compare ratios of the same run). The
table gives medians of the replay loop's events/s (``summary.json``), of the whole process wall
time, the largest peak RSS (``/usr/bin/time -v``) and the ratio to the baseline's median. Every run's
summary (orders, fills, PnL, equity...; timings left out; numbers compared as decimals, fields the
baseline's summary does not have yet ignored) must equal the baseline's, else the script fails: a
faster replay that trades differently is not a speed-up. The baseline must therefore trade as this
checkout does: the issue-19 baseline is 65a750a with 5a0805d (capped through-fills) applied. ``--rss-size`` adds one compiled run of
the minimal replay on a larger stream for peak RSS. Anchors (same stream, same run):
``benchmarks/reference/baseline_pydict.py --bbo`` (every run) and, once each, hftbacktest
(``anchor_hftbacktest.py`` in ``benchmarks/.cache/venv_hbt``) and NautilusTrader
(``anchor_nautilus.py`` in ``benchmarks/.cache/venv_nt``; not in the default ``--anchors``: about
two minutes and a few GB of RSS per million events). ``run_all.py`` creates those virtualenvs; an
anchor whose virtualenv is missing is skipped, saying so.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.run_all import CACHE, reference_npz, shared_bench  # noqa: E402

TIME = Path("/usr/bin/time")
TIMINGS = ("loop_s", "events_per_s", "input")


@dataclass
class Run:
    rate: float
    wall_s: float
    rss_mb: float
    summary: dict[str, Any]


@dataclass
class Variant:
    name: str
    cwd: Path
    env: dict[str, str]
    describe: str = ""
    runs: dict[str, list[Run]] = field(default_factory=dict)


def _timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[str, float, float]:
    full = [str(TIME), "-v", *cmd] if TIME.exists() else cmd
    start = time.perf_counter()
    done = subprocess.run(full, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(cmd)}\n{done.stderr[-3000:]}")
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    return done.stdout, wall, int(rss.group(1)) / 1024 if rss else float("nan")


def replay(variant: Variant, npz: Path, strategy: str) -> Run:
    with tempfile.TemporaryDirectory(prefix="mmbot-speedup-") as tmp:
        out = Path(tmp) / "run"
        cmd = [sys.executable, "-m", "bot", "replay", str(npz), "--strategy", strategy]
        cmd += ["--out", str(out), "--progress", "off"]
        if strategy == "minimal":
            cmd.append("--no-journal")
        _, wall, rss = _timed(cmd, variant.cwd, variant.env)
        summary = json.loads((out / "summary.json").read_text())
    rate = float(summary["events_per_s"])
    for key in TIMINGS:
        summary.pop(key, None)
    return Run(rate, wall, rss, summary)


REQUIRED = ("orders", "fills", "pnl", "equity")
"""Summary fields every variant's summary must have and agree on."""


def same_trading(summary: dict[str, Any], reference: dict[str, Any]) -> bool:
    """The two runs traded the same: every field both summaries have is equal, numbers as
    decimals (a newer summary may write ``-5.83270`` for ``-5.8327``, or add fields such as
    ``balances`` that an older one does not have), and the trading fields are in both."""
    if any(key not in summary or key not in reference for key in REQUIRED):
        return False
    return all(_same(summary[key], reference[key]) for key in summary.keys() & reference.keys())


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, str) and isinstance(b, str):
        try:
            return Decimal(a) == Decimal(b)
        except InvalidOperation:
            return a == b
    return bool(a == b)


def version(variant: Variant) -> str:
    cmd = [sys.executable, "-m", "bot", "--version"]
    done = subprocess.run(cmd, cwd=variant.cwd, env=variant.env, capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else "no --version (code before issue 19)"


def anchor_pydict(npz: Path, shared: Path) -> tuple[float, float, float]:
    stdout, wall, rss = _timed(
        [sys.executable, str(shared / "baseline_pydict.py"), "--data", str(npz), "--bbo"],
        REPO,
        dict(os.environ),
    )
    result = json.loads([line for line in stdout.splitlines() if line.startswith("{")][-1])
    return float(result["events_per_s"]), wall, rss


def _anchor_in_venv(venv: str, script: str, npz: Path, shared: Path) -> tuple[float, float, float] | None:
    """(events/s of the anchor's own loop, process wall s, peak RSS MB); None without its venv."""
    python = CACHE / venv / "bin" / "python"
    if not python.exists():
        print(f"anchor {script} skipped: {python} missing (run_all.py creates it)", file=sys.stderr)
        return None
    stdout, wall, rss = _timed(
        [str(python), str(shared / script), "--data", str(npz)], REPO, dict(os.environ)
    )
    result = json.loads([line for line in stdout.splitlines() if line.startswith("{")][-1])
    return float(result["events_per_s"]), wall, rss


def anchor_hftbacktest(npz: Path, shared: Path) -> tuple[float, float, float] | None:
    return _anchor_in_venv("venv_hbt", "anchor_hftbacktest.py", npz, shared)


def anchor_nautilus(npz: Path, shared: Path) -> tuple[float, float, float] | None:
    return _anchor_in_venv("venv_nt", "anchor_nautilus.py", npz, shared)


ANCHORS = ("pydict", "hftbacktest", "nautilus")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--baseline", type=Path, required=True, help="checkout of the code before the speed-up"
    )
    parser.add_argument("--size", type=int, default=1_000_000, help="reference stream events")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--strategies", nargs="+", default=["minimal", "bench_as"])
    parser.add_argument(
        "--rss-size", type=int, default=0, help="one compiled minimal run on this stream size"
    )
    parser.add_argument(
        "--anchors",
        default="pydict,hftbacktest",
        help=f"comma-separated, from {','.join(ANCHORS)}; empty for none (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    chosen = {name for name in args.anchors.split(",") if name}
    if unknown := sorted(chosen - set(ANCHORS)):
        parser.error(f"--anchors: unknown {','.join(unknown)} (choose from {','.join(ANCHORS)})")
    shared = shared_bench()
    if shared is None:
        raise SystemExit("benchmarks/reference/gen_l2.py is needed for the reference stream")
    npz, _ = reference_npz(args.size, shared)
    base_env = {k: v for k, v in os.environ.items() if k not in ("MMBOT_PURE", "PYTHONPATH")}
    variants = [
        Variant("baseline", args.baseline.resolve(), dict(base_env)),
        Variant("pure", REPO, {**base_env, "MMBOT_PURE": "1"}),
        Variant("compiled", REPO, dict(base_env)),
    ]
    for variant in variants:
        variant.describe = version(variant)
        print(f"{variant.name}: {variant.describe}", file=sys.stderr)
    load_start = os.getloadavg()
    anchors: dict[str, list[tuple[float, float, float]]] = {}
    for run in range(args.runs):
        for strategy in args.strategies:
            for variant in variants:
                result = replay(variant, npz, strategy)
                variant.runs.setdefault(strategy, []).append(result)
                print(
                    f"run {run + 1} {strategy} {variant.name}: {result.rate:,.0f} ev/s, {result.wall_s:.1f} s",
                    file=sys.stderr,
                )
                reference = variants[0].runs[strategy][0].summary
                if not same_trading(result.summary, reference):
                    raise SystemExit(
                        f"{variant.name} {strategy}: summary differs from the baseline's\n{result.summary}\n{reference}"
                    )
        if "pydict" in chosen:
            anchors.setdefault("plain Python dict book + BBO", []).append(anchor_pydict(npz, shared))
        if "hftbacktest" in chosen and run == 0:  # numba JIT makes each run ~30 s: once
            hbt = anchor_hftbacktest(npz, shared)
            if hbt is not None:
                anchors.setdefault("hftbacktest (1 run)", []).append(hbt)
        if "nautilus" in chosen and run == 0:  # ~10k events/s: once
            nt = anchor_nautilus(npz, shared)
            if nt is not None:
                anchors.setdefault("nautilus_trader (1 run)", []).append(nt)
    load_end = os.getloadavg()
    lines = [
        f"- Stream: `benchmarks/reference/gen_l2.py --n {args.size} --seed 42` ({npz.name}); "
        f"load average at start {load_start[0]:.2f}, at end {load_end[0]:.2f}.",
        f"- Command: `python benchmarks/bench_speedup.py --baseline {args.baseline} --size {args.size} "
        f"--runs {args.runs} --strategies {' '.join(args.strategies)}"
        + (f" --rss-size {args.rss_size}" if args.rss_size else "")
        + f" --anchors {shlex.quote(args.anchors)}`",
    ]
    lines += [f"- `{v.name}`: {v.describe}" for v in variants]
    lines += [
        "",
        "| strategy | variant | events/s (median) | vs baseline | process wall s (median) | vs baseline | peak RSS MB | orders | fills |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for strategy in args.strategies:
        base = variants[0].runs[strategy]
        base_rate = statistics.median(r.rate for r in base)
        base_wall = statistics.median(r.wall_s for r in base)
        for variant in variants:
            runs = variant.runs[strategy]
            rate = statistics.median(r.rate for r in runs)
            wall = statistics.median(r.wall_s for r in runs)
            summary = runs[0].summary
            lines.append(
                f"| {strategy} | {variant.name} | {rate:,.0f} | {rate / base_rate:.2f}x | {wall:.1f} | "
                f"{base_wall / wall:.2f}x | {max(r.rss_mb for r in runs):,.0f} | "
                f"{summary.get('orders', '-'):,} | {summary.get('fills', '-'):,} |"
            )
    for name, values in anchors.items():
        lines.append(
            f"| anchor | {name} | {statistics.median(v[0] for v in values):,.0f} | | "
            f"{statistics.median(v[1] for v in values):.1f} | | {max(v[2] for v in values):,.0f} | | |"
        )
    if args.rss_size:
        big, _ = reference_npz(args.rss_size, shared)
        result = replay(variants[2], big, "minimal")
        lines.append(
            f"| minimal, {args.rss_size:,} events | compiled (1 run) | {result.rate:,.0f} | | {result.wall_s:.1f} | | "
            f"{result.rss_mb:,.0f} | {result.summary.get('orders', 0):,} | {result.summary.get('fills', 0):,} |"
        )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
