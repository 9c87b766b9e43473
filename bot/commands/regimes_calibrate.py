"""``mmbot regimes calibrate FILE...``: the regime signals' distributions on recordings and
the thresholds that put chosen shares of the time in each regime.

Runs the bot's own estimators and signal tracker over the recordings
(:mod:`bot.replay.calibrate`), then the regime machine over the sampled signals with
candidate thresholds (:mod:`bot.risk.calibrate`). Prints the distributions, the
recordings' realized 1-second volatility (the ``baseline_vol_bps`` they suggest), the
shares of time per regime with the calibrated and with the configured thresholds, and a
``[risk.regimes]`` block to paste into the config.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from bot.config import load_settings
from bot.errors import InputError
from bot.inputmodel import MAX_SECONDS
from bot.risk.calibrate import DEFAULT_SHARES, calibrate, distributions, shares, thresholds, typical_vol

LABELS = {
    "short_ratio": "short vol / baseline",
    "medium_ratio": "medium vol / baseline",
    "long_ratio": "lagged-return vol / baseline",
    "trend_z": "trend z-score",
    "flow": "flow imbalance",
    "short_bps": "short vol, bps/sqrt(s)",
    "baseline_bps": "baseline, bps/sqrt(s)",
}


def add_parser(actions: Any) -> None:
    calibrate_parser = actions.add_parser(
        "calibrate",
        help="Signal distributions on recordings and the regime thresholds for chosen time shares.",
        description="Run the bot's estimators and regime signals over recorded market data, print "
        "each signal's distribution, and search the regime thresholds (CRISIS, TRENDING, RANGING, in "
        "that priority) that put the chosen share of the time in each when the real regime machine "
        "(hysteresis, dwell times) runs over the recordings. Day files of one Binance recording chain; "
        "a file with its own snapshot starts a new recording.",
    )
    calibrate_parser.add_argument("files", nargs="+", type=Path, help="Recordings (any replay format).")
    calibrate_parser.add_argument(
        "--config", type=Path, default=None, help="TOML config (estimator horizons, current thresholds)."
    )
    calibrate_parser.add_argument("--instrument", metavar="VENUE:SYMBOL", help="Only this instrument.")
    for regime in ("crisis", "trending", "ranging"):
        calibrate_parser.add_argument(
            f"--{regime}",
            type=float,
            default=DEFAULT_SHARES[regime],
            metavar="SHARE",
            help=f"Share of the time wanted in {regime.upper()} (default {DEFAULT_SHARES[regime]:g}).",
        )
    calibrate_parser.add_argument(
        "--baseline-vol",
        type=float,
        metavar="BPS",
        help="Baseline prior for the recordings' instrument(s), bps/sqrt(s) (default: the config's "
        "risk.regimes.baseline_vol_bps / baseline_vol_by_instrument).",
    )
    calibrate_parser.add_argument(
        "--warmup-s",
        type=float,
        default=60.0,
        help="Seconds of each recording left out (warm-up; default 60).",
    )
    calibrate_parser.add_argument("--json", action="store_true", help="Print JSON.")
    calibrate_parser.set_defaults(func=start_regimes_calibrate)


def _share(value: float, name: str) -> float:
    if not (math.isfinite(value) and 0 <= value < 1):
        raise InputError(f"--{name}: a share of time in [0, 1), got {value}")
    return value


def start_regimes_calibrate(args: argparse.Namespace) -> int:
    from bot.replay.calibrate import recordings, signal_series

    settings = load_settings(args.config)
    targets = {name: _share(getattr(args, name), name) for name in ("crisis", "trending", "ranging")}
    if sum(targets.values()) >= 1:
        raise InputError("--crisis + --trending + --ranging must leave time for CALM (sum < 1)")
    regimes = settings.risk.regimes
    if args.baseline_vol is not None:
        if not (math.isfinite(args.baseline_vol) and args.baseline_vol > 0):
            raise InputError(f"--baseline-vol: must be > 0 bps/sqrt(s), got {args.baseline_vol}")
        regimes = regimes.model_copy(
            update={"baseline_vol_bps": args.baseline_vol, "baseline_vol_by_instrument": {}}
        )
        settings = settings.model_copy(update={"risk": settings.risk.model_copy(update={"regimes": regimes})})
    if not (math.isfinite(args.warmup_s) and 0 <= args.warmup_s <= MAX_SECONDS):
        raise InputError(f"--warmup-s: must be a finite number of seconds >= 0, got {args.warmup_s}")
    groups = recordings(args.files)
    all_series = []
    for index, group in enumerate(groups, 1):
        if not args.json:
            print(
                f"reading recording {index}/{len(groups)}: {', '.join(p.name for p in group)}",
                file=sys.stderr,
            )
        all_series.extend(signal_series(group, settings, instrument=args.instrument))
    all_series = [s for s in all_series if len(s)]
    if not all_series:
        raise InputError("no warm signal samples in the input (recordings too short or books never valid)")
    result = calibrate(all_series, regimes, targets, warmup_s=args.warmup_s)
    report = {
        "recordings": [
            {
                "instrument": s.instrument,
                "files": s.source,
                "seconds": s.seconds,
                "realized_vol_bps": s.realized_vol_bps,
                "baseline_prior_bps": regimes.baseline_for(s.instrument),
                "shares_calibrated": shares([s], result.settings, args.warmup_s),
            }
            for s in all_series
        ],
        "distributions": distributions(all_series),
        "realized_vol_bps": typical_vol(all_series),
        "targets": result.targets,
        "shares": result.achieved,
        "shares_configured": result.before,
        "thresholds": thresholds(result.settings),
        "configured": thresholds(regimes),
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(format_report(report))
    return 0


def _f(value: Any, places: int = 3) -> str:
    return (
        "-"
        if value is None or (isinstance(value, float) and not math.isfinite(value))
        else f"{value:.{places}f}"
    )


def format_report(report: dict[str, Any]) -> str:
    lines = ["Recordings"]
    for rec in report["recordings"]:
        lines.append(
            f"  {rec['instrument']:<24} {rec['seconds']:>6.0f} s  realized 1 s vol {_f(rec['realized_vol_bps'])} "
            f"bps/sqrt(s)  (baseline prior {rec['baseline_prior_bps']:g})  {rec['files']}"
        )
    columns = ("p1", "p5", "p25", "p50", "p75", "p95", "p99", "mean")
    lines += ["", f"Signals (0.5 s samples)            {''.join(f'{c:>8}' for c in columns)}"]
    for name, row in report["distributions"].items():
        cells = "".join(f"{_f(row.get(c), 3):>8}" for c in columns)
        lines.append(f"  {LABELS.get(name, name):<32}{cells}")
    lines += [
        "",
        f"Realized 1 s vol of the recordings (time-weighted): {_f(report['realized_vol_bps'])} bps/sqrt(s)"
        " -- the baseline_vol_bps they suggest for this instrument",
        "",
        f"Share of time     {'target':>8}{'calibrated':>12}{'configured':>12}",
    ]
    for regime in ("calm", "ranging", "trending", "crisis"):
        target = report["targets"].get(regime)
        if regime == "calm":
            target = 1.0 - sum(report["targets"].values())
        lines.append(
            f"  {regime:<15}{target * 100:>7.1f}%{report['shares'][regime] * 100:>11.1f}%"
            f"{report['shares_configured'][regime] * 100:>11.1f}%"
        )
    lines += ["", "[risk.regimes]   # calibrated thresholds (configured value in the comment)"]
    priors = {rec["baseline_prior_bps"] for rec in report["recordings"]}
    if len(priors) == 1:
        lines.append(f"baseline_vol_bps = {priors.pop():g}      # the prior these thresholds are relative to")
    for name, value in report["thresholds"].items():
        lines.append(f"{name} = {value:g}{'':<6}# {report['configured'][name]:g}")
    return "\n".join(lines)
