"""The regime signals of recorded markets, for ``mmbot regimes calibrate``.

Reads recordings with the replay readers, keeps each instrument's book with the engine's
own sync rules, and runs the same :class:`~bot.market.estimators.Estimators` and
:class:`~bot.risk.signals.SignalTracker` as the bot (the configured estimator horizons,
regime settings and baseline prior), sampling the regime signals every ``step_s`` of
event time into :class:`~bot.risk.calibrate.SignalSeries`. No paper exchange, no quoting.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bot.config import Settings
from bot.core.events import BookDelta, BookSnapshot
from bot.engine.loop import Engine
from bot.errors import InputError
from bot.market.estimators import Estimators
from bot.replay import open_replay
from bot.replay.binance_raw import group_files
from bot.replay.files import detect_format
from bot.risk.calibrate import SignalSeries
from bot.risk.signals import SignalTracker

NS = 1_000_000_000


def recordings(paths: Sequence[Path]) -> list[list[Path]]:
    """Split input files into recordings: raw Binance day files chain into one recording
    per market until a file brings its own REST snapshot (a new session); any other input
    is one recording."""
    if not paths:
        raise InputError("no input files given")
    kinds = {detect_format(path) for path in paths}
    if kinds != {"binance"}:
        return [list(paths)]
    out: list[list[Path]] = []
    for market in group_files(paths):
        current: list[Path] = []
        for scan in market.files:
            if scan.snapshots and current:
                out.append(current)
                current = []
            current.append(scan.path)
        if current:
            out.append(current)
    return out


def signal_series(
    paths: Sequence[Path], settings: Settings, *, instrument: str | None = None, step_s: float = 0.5
) -> list[SignalSeries]:
    """One series per instrument in ``paths`` (or only ``instrument``)."""
    replay = open_replay(list(paths))
    keys = replay.instruments
    if instrument is not None:
        if instrument not in keys:
            raise InputError(f"--instrument {instrument}: not in the input (it holds {', '.join(keys)})")
        keys = [instrument]
    step_ns = int(step_s * NS)
    engine = Engine("calibrate", list(replay.specs.values()), stale_after_s=settings.market.stale_after_s)
    regimes, triggers = settings.risk.regimes, settings.risk.triggers
    horizons = settings.estimators.vol_horizons_s
    for name in ("short_horizon_s", "medium_horizon_s"):
        if getattr(regimes, name) not in horizons:
            raise InputError(f"risk.regimes.{name} is not one of estimators.vol_horizons_s {list(horizons)}")
    estimators = {key: Estimators(key, settings.estimators) for key in keys}
    trackers = {key: SignalTracker(regimes, triggers, key) for key in keys}
    rows: dict[str, list[tuple[float, ...]]] = {key: [] for key in keys}
    stamps: dict[str, list[int]] = {key: [] for key in keys}
    next_sample = dict.fromkeys(keys, 0)
    # realized 1 s vol: the mid at whole seconds of the sampling grid
    last_second: dict[str, int] = dict.fromkeys(keys, -1)
    last_log: dict[str, float] = dict.fromkeys(keys, math.nan)
    squares = dict.fromkeys(keys, 0.0)
    seconds = dict.fromkeys(keys, 0.0)
    with replay:
        for event in replay:
            engine.on_event(event)
            key = getattr(event, "instrument", None)
            if key not in estimators:
                continue
            now = event.local_ts
            book = engine.book(key)
            estimators[key].on_event(event, book)
            sample = now >= next_sample[key]
            if not sample and not isinstance(event, BookDelta | BookSnapshot):
                continue
            # the tracker sees every book change (its whole-second samples read the prevailing
            # mid, as in the bot) and the sampling grid
            tracker = trackers[key]
            tracker.update(estimators[key].snapshot(), now)
            if not sample:
                continue
            next_sample[key] = (now // step_ns + 1) * step_ns
            if not tracker.known:
                continue
            second = now // NS
            if second != last_second[key]:
                log_mid = math.log(tracker.mid)
                if last_second[key] >= 0:
                    step = (log_mid - last_log[key]) * 1e4
                    squares[key] += step * step
                    seconds[key] += second - last_second[key]
                last_second[key], last_log[key] = second, log_mid
            stamps[key].append(now)
            rows[key].append(
                (
                    tracker.short_ratio,
                    tracker.medium_ratio,
                    tracker.long_ratio,
                    tracker.trend_z,
                    tracker.flow,
                    tracker.sigma_short,
                    tracker.baseline,
                )
            )
    out = []
    names = ("short_ratio", "medium_ratio", "long_ratio", "trend_z", "flow", "short_bps", "baseline_bps")
    for key in keys:
        data = np.array(rows[key], dtype=float).reshape(-1, len(names))
        out.append(
            SignalSeries(
                instrument=key,
                source=", ".join(p.name for p in replay.paths),
                step_ns=step_ns,
                ts=np.array(stamps[key], dtype=np.int64),
                values={name: data[:, i] for i, name in enumerate(names)},
                realized_vol_bps=math.sqrt(squares[key] / seconds[key]) if seconds[key] else math.nan,
                seconds=seconds[key],
            )
        )
    return out
