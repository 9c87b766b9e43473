"""The default regime thresholds on real markets (issue 16): relative to the instrument's own
baseline volatility and calibrated on the bundled real Binance BTCUSDT recordings.

- the quiet recording (USD-M 2023-04-04/05: 0.38 bps/sqrt(s), an 8 bps range over 8 minutes)
  is CALM nearly all the time;
- every regime is reached through its own entry rule on real data: RANGING and TRENDING on
  the spot recording of 2024-08-08/09 (1.19 bps/sqrt(s), a 49 bps range, the week after the
  2024-08-05 crash), CRISIS on the USD-M recording of the same night (1.27 bps/sqrt(s));
- the defaults are what ``mmbot regimes calibrate`` gives on those recordings (a real
  ``mmbot`` process), so the calibration is reproducible.

(The recording the issue suggests as the volatile day, USD-M 2023-04-04/05, turned out to be
the quietest we have; no public recording with a large move is available offline.)
The machine runs here exactly as in the bot: engine book sync, estimators, the risk manager
with its pull triggers.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import load_settings
from bot.engine.loop import Engine
from bot.market.estimators import Estimators
from bot.replay import open_replay
from bot.risk import RegimeTransition, RiskManager, RiskRecord, RiskSettings
from bot.risk.calibrate import THRESHOLDS

REPO = Path(__file__).resolve().parents[1]
BUNDLED = REPO / "bot" / "emulator" / "data"
SPOT_2024 = [BUNDLED / "binance_spot_btcusdt_20240808.gz", BUNDLED / "binance_spot_btcusdt_20240809.gz"]
USDM_2024 = [BUNDLED / "binance_usdm_btcusdt_20240808.gz"]
USDM_2023 = [
    REPO / "tests" / "data" / "binance_usdm_btcusdt_20230404.dat.gz",
    REPO / "tests" / "data" / "binance_usdm_btcusdt_20230405.dat.gz",
]
NS = 1_000_000_000


def run_risk(
    files: list[Path], settings: RiskSettings | None = None
) -> tuple[list[tuple[int, str]], list[RiskRecord]]:
    """(event time, regime) after every event, and the risk records, over a real recording."""
    config = load_settings(REPO / "config" / "default.toml")
    replay = open_replay(files)
    [key] = replay.instruments
    spec = replay.specs[key]
    engine = Engine("real", [spec])
    estimators = Estimators(key, config.estimators)
    records: list[RiskRecord] = []
    risk = RiskManager(settings or config.risk, spec, sink=records.append)
    timeline: list[tuple[int, str]] = []
    sync = engine.instruments[key].sync
    with replay:
        for event in replay:
            engine.on_event(event)
            estimators.on_event(event, engine.book(key))
            decision = risk.on_market(estimators.snapshot(), book_valid=sync.valid, now=event.local_ts)
            timeline.append((event.local_ts, decision.regime.value))
    return timeline, records


def time_shares(timeline: list[tuple[int, str]], start_ns: int) -> dict[str, float]:
    spent: dict[str, int] = {}
    for (ts, regime), (next_ts, _) in itertools.pairwise(timeline):
        if ts >= start_ns:
            spent[regime] = spent.get(regime, 0) + next_ts - ts
    total = sum(spent.values())
    return {regime: value / total for regime, value in spent.items()}


def entered(records: list[RiskRecord]) -> set[str]:
    return {r.rule for r in records if isinstance(r, RegimeTransition) and r.rule.endswith(".enter")}


def test_quiet_real_market_is_calm() -> None:
    timeline, records = run_risk(USDM_2023)
    first_calm = next(ts for ts, regime in timeline if regime == "calm")  # after warm-up and its dwell
    shares = time_shares(timeline, first_calm)
    assert shares.get("calm", 0.0) >= 0.95, shares
    assert not entered(records), entered(records)


def test_every_regime_is_reached_on_real_data() -> None:
    spot, spot_records = run_risk(SPOT_2024)
    _usdm, usdm_records = run_risk(USDM_2024)
    rules = entered(spot_records) | entered(usdm_records)
    assert {"ranging.enter", "trending.enter", "crisis.enter"} <= rules, rules
    assert "ranging.enter" in entered(spot_records) and "trending.enter" in entered(spot_records)
    assert "crisis.enter" in entered(usdm_records)
    # ... and none of them takes over: the active night is still mostly CALM or RANGING
    shares = time_shares(spot, next(ts for ts, regime in spot if regime == "calm"))
    assert shares.get("calm", 0) + shares.get("ranging", 0) >= 0.6, shares
    assert shares.get("crisis", 0) <= 0.1, shares


def test_the_old_absolute_thresholds_never_left_calm_on_the_same_data() -> None:
    """The reason for the change: RANGING at 2.0 bps/sqrt(s) of lagged-return vol (~112 %
    a year) and TRENDING at z >= 7 are out of reach on real BTC."""
    from tests.risk_helpers import ABSOLUTE

    _, records = run_risk(SPOT_2024, ABSOLUTE)
    assert not entered(records) & {"ranging.enter", "trending.enter"}


@pytest.mark.parametrize("args", [["--crisis", "0.6", "--ranging", "0.5"], ["--crisis", "-0.1"]])
def test_calibrate_rejects_impossible_shares(args: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot", "regimes", "calibrate", str(USDM_2024[0]), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "--" in done.stderr.splitlines()[-1]


def test_the_defaults_are_the_calibration_of_the_bundled_recordings() -> None:
    """`mmbot regimes calibrate` (default shares 2 / 5 / 10 %) on the three bundled BTCUSDT
    recordings reproduces the shipped thresholds, and the prior is their realized 1 s vol."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "regimes",
            "calibrate",
            *map(str, SPOT_2024 + USDM_2024 + USDM_2023),
            "--json",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    defaults = RiskSettings().regimes
    assert report["thresholds"] == {name: getattr(defaults, name) for name in THRESHOLDS}
    assert round(report["realized_vol_bps"], 2) == defaults.baseline_vol_bps
    assert [round(r["realized_vol_bps"], 2) for r in report["recordings"]] == [1.19, 0.38, 1.27]
    assert set(report["distributions"]) >= {"short_ratio", "medium_ratio", "long_ratio", "trend_z", "flow"}
    for name, target in report["targets"].items():
        assert abs(report["shares"][name] - target) < 0.02, (name, report["shares"])
