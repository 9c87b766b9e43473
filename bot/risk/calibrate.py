"""Calibrating the regime thresholds on recorded markets (``mmbot regimes calibrate``).

Input: the regime signals sampled on a fixed grid of event time over one or more
recordings (:class:`SignalSeries`, built by :mod:`bot.replay.calibrate` with the same
estimators and :class:`~bot.risk.signals.SignalTracker` the bot runs). Output: their
distributions, and regime thresholds that put chosen shares of the time in CRISIS,
TRENDING and RANGING when the *real* state machine (:class:`~bot.risk.regimes.RegimeMachine`:
priorities, hysteresis, dwell times) runs over those samples.

The search has one free number per regime; the others follow fixed, documented rules:

- CRISIS: ``crisis_enter_short = c``, ``crisis_enter_medium = 1 + MEDIUM_COUPLING (c - 1)``
  (the medium vol moves slower and less than the short one); exits at ``EXIT_RATIO`` x enter;
- TRENDING: ``trend_enter_z = z`` with ``trend_enter_flow`` kept as configured; exit
  ``trend_exit_z = TREND_EXIT_RATIO x z``, ``trend_exit_flow`` as configured;
- RANGING: ``ranging_enter_long = r``; exit ``EXIT_RATIO x r``.

Each free number is found by bisection (the share of a regime falls as its threshold
rises) in priority order -- CRISIS, then TRENDING with CRISIS fixed, then RANGING --
so each later search sees the states the earlier ones take. Pull triggers (jumps, depth
collapses, stale feeds) are not part of the classification: the shares are of the
regime machine alone. Time is weighted by the sampling grid; the first
``warmup_s`` of each series (signals warming up) is left out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bot.risk.explain import Regime
from bot.risk.regimes import RegimeMachine
from bot.risk.settings import RegimeSettings, TriggerSettings
from bot.risk.triggers import TriggerBoard

MEDIUM_COUPLING = 0.4
EXIT_RATIO = 0.75
TREND_EXIT_RATIO = 0.6
PERCENTILES = (1, 5, 25, 50, 75, 95, 99)
SIGNALS = ("short_ratio", "medium_ratio", "long_ratio", "trend_z", "flow", "short_bps", "baseline_bps")
"""The sampled signals: vol ratios to the baseline, trend z-score, flow imbalance, the short
vol and the baseline themselves (bps/sqrt(s))."""

DEFAULT_SHARES = {"crisis": 0.02, "trending": 0.05, "ranging": 0.10}
"""The shares the shipped defaults are calibrated to (CALM gets the remaining 83 %)."""


@dataclass
class SignalSeries:
    """One instrument's regime signals on a fixed time grid (NaN = not warm yet)."""

    instrument: str
    source: str
    step_ns: int
    ts: np.ndarray
    values: dict[str, np.ndarray] = field(default_factory=dict)
    realized_vol_bps: float = math.nan
    """Realized volatility of the mid's 1-second log returns over the whole recording, bps/sqrt(s)."""
    seconds: float = 0.0

    def __len__(self) -> int:
        return int(self.ts.size)


class _Point:
    """The attributes of :class:`~bot.risk.signals.SignalTracker` the regime machine reads."""

    __slots__ = ("flow", "known", "long_ratio", "medium_ratio", "short_ratio", "trend_z")

    def __init__(self) -> None:
        self.known = True
        self.short_ratio = self.medium_ratio = self.long_ratio = self.trend_z = math.nan
        self.flow = 0.0

    def values(self) -> dict[str, float | None]:
        return {}


def classify(series: SignalSeries, settings: RegimeSettings) -> list[Regime]:
    """The regime at every sample when the machine (no triggers) runs over ``series``;
    it starts CALM at the first sample."""
    machine = RegimeMachine(settings, series.instrument)
    machine.state = Regime.CALM
    board = TriggerBoard(TriggerSettings())
    point = _Point()
    values = series.values
    short, medium, long_ = values["short_ratio"], values["medium_ratio"], values["long_ratio"]
    trend, flow = values["trend_z"], values["flow"]
    states: list[Regime] = []
    for i, ts in enumerate(series.ts.tolist()):
        point.short_ratio = float(short[i])
        point.medium_ratio = float(medium[i])
        point.long_ratio = float(long_[i])
        point.trend_z = float(trend[i])
        point.flow = float(flow[i])
        machine.step(point, board, ts)  # type: ignore[arg-type]
        states.append(machine.state)
    return states


def shares(
    all_series: Sequence[SignalSeries], settings: RegimeSettings, warmup_s: float = 0.0
) -> dict[str, float]:
    """Share of the (post warm-up) sampled time in each regime, pooled over the series."""
    counts = {regime.value: 0 for regime in Regime if regime is not Regime.HALTED}
    total = 0
    for series in all_series:
        if not len(series):
            continue
        start = int(series.ts[0]) + int(warmup_s * 1e9)
        for ts, state in zip(series.ts.tolist(), classify(series, settings), strict=True):
            if ts >= start:
                counts[state.value] = counts.get(state.value, 0) + 1
                total += 1
    return {name: (count / total if total else 0.0) for name, count in counts.items()}


def distributions(all_series: Sequence[SignalSeries]) -> dict[str, dict[str, Any]]:
    """Pooled percentiles, mean and count of every signal (NaN samples left out)."""
    out: dict[str, dict[str, Any]] = {}
    for name in SIGNALS:
        parts = [s.values[name] for s in all_series if name in s.values]
        if not parts:
            continue
        data = np.concatenate(parts)
        data = data[np.isfinite(data)]
        row: dict[str, Any] = {"n": int(data.size)}
        if data.size:
            row["mean"] = float(np.mean(data))
            row.update(
                {
                    f"p{p}": float(v)
                    for p, v in zip(PERCENTILES, np.percentile(data, PERCENTILES), strict=True)
                }
            )
        out[name] = row
    return out


def typical_vol(all_series: Sequence[SignalSeries]) -> float:
    """The recordings' realized 1-second vol, time-weighted: the ``baseline_vol_bps`` they suggest."""
    weights = [
        (s.seconds, s.realized_vol_bps)
        for s in all_series
        if s.seconds > 0 and math.isfinite(s.realized_vol_bps)
    ]
    total = sum(w for w, _ in weights)
    if not total:
        return math.nan
    return math.sqrt(sum(w * v * v for w, v in weights) / total)


def _crisis(settings: RegimeSettings, c: float) -> RegimeSettings:
    medium = _sig3(1.0 + MEDIUM_COUPLING * (c - 1.0))
    return settings.model_copy(
        update={
            "crisis_enter_short": c,
            "crisis_enter_medium": medium,
            "crisis_exit_short": _sig3(EXIT_RATIO * c),
            "crisis_exit_medium": _sig3(EXIT_RATIO * medium),
        }
    )


def _trend(settings: RegimeSettings, z: float) -> RegimeSettings:
    return settings.model_copy(update={"trend_enter_z": z, "trend_exit_z": _sig3(TREND_EXIT_RATIO * z)})


def _ranging(settings: RegimeSettings, r: float) -> RegimeSettings:
    return settings.model_copy(update={"ranging_enter_long": r, "ranging_exit_long": _sig3(EXIT_RATIO * r)})


def _bisect(
    all_series: Sequence[SignalSeries],
    settings: RegimeSettings,
    apply: Any,
    regime: str,
    target: float,
    low: float,
    high: float,
    warmup_s: float,
    iterations: int,
) -> tuple[RegimeSettings, float]:
    """The threshold in [low, high] whose share of ``regime`` is closest to ``target``."""
    best = (math.inf, apply(settings, _sig3(high)), 0.0)
    for _ in range(iterations):
        mid = 0.5 * (low + high)
        candidate = apply(settings, _sig3(mid))  # evaluate exactly what a config file will state
        share = shares(all_series, candidate, warmup_s)[regime]
        if abs(share - target) < best[0]:
            best = (abs(share - target), candidate, share)
        if share > target:
            low = mid
        else:
            high = mid
    return best[1], best[2]


@dataclass
class Calibration:
    settings: RegimeSettings
    targets: dict[str, float]
    achieved: dict[str, float]
    before: dict[str, float]
    """Shares with the thresholds the calibration started from."""


def calibrate(
    all_series: Sequence[SignalSeries],
    base: RegimeSettings,
    targets: dict[str, float] | None = None,
    *,
    warmup_s: float = 0.0,
    iterations: int = 24,
) -> Calibration:
    """Thresholds putting ``targets`` shares (crisis / trending / ranging) of the time in
    those regimes on ``all_series`` (see the module doc for the search)."""
    wanted = {**DEFAULT_SHARES, **(targets or {})}
    unknown = set(wanted) - set(DEFAULT_SHARES)
    if unknown:
        raise ValueError(f"shares for unknown regimes {sorted(unknown)}; use crisis, trending, ranging")
    if sum(wanted.values()) >= 1.0 or any(v < 0 for v in wanted.values()):
        raise ValueError("the shares must be >= 0 and leave time for CALM (sum < 1)")
    before = shares(all_series, base, warmup_s)
    settings = base
    settings, _ = _bisect(
        all_series, settings, _crisis, "crisis", wanted["crisis"], 1.0, 20.0, warmup_s, iterations
    )
    settings, _ = _bisect(
        all_series, settings, _trend, "trending", wanted["trending"], 0.05, 20.0, warmup_s, iterations
    )
    settings, _ = _bisect(
        all_series, settings, _ranging, "ranging", wanted["ranging"], 0.05, 20.0, warmup_s, iterations
    )
    return Calibration(
        settings=_rounded(settings),
        targets=wanted,
        achieved=shares(all_series, _rounded(settings), warmup_s),
        before=before,
    )


THRESHOLDS = (
    "crisis_enter_short",
    "crisis_enter_medium",
    "crisis_exit_short",
    "crisis_exit_medium",
    "trend_enter_z",
    "trend_enter_flow",
    "trend_exit_z",
    "trend_exit_flow",
    "ranging_enter_long",
    "ranging_exit_long",
)


def _sig3(value: float) -> float:
    return float(f"{value:.3g}")


def _rounded(settings: RegimeSettings) -> RegimeSettings:
    """Thresholds rounded to 3 significant digits (what a config file states)."""
    update = {name: _sig3(getattr(settings, name)) for name in THRESHOLDS}
    return settings.model_copy(update=update)


def thresholds(settings: RegimeSettings) -> dict[str, float]:
    return {name: getattr(settings, name) for name in THRESHOLDS}
