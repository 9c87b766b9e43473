"""Helpers for the risk manager tests: scenario runs and hand-made market states."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from bot.core.instrument import InstrumentKind, InstrumentSpec
from bot.emulator.synthetic import SyntheticMarket, synthetic_events
from bot.engine.loop import Engine
from bot.market.estimators import EstimatorParams, Estimators
from bot.market.estimators.state import MarketState
from bot.risk import RegimeTransition, RiskManager, RiskRecord, RiskSettings
from bot.risk.settings import RegimeSettings
from tests.specs import SPOT_BTC

NS = 1_000_000_000
SPOT_ETH = InstrumentSpec(
    venue="binance_spot",
    symbol="ETHUSDT",
    kind=InstrumentKind.SPOT,
    base="ETH",
    quote="USDT",
    tick_size=Decimal("0.01"),
    lot_size=Decimal("0.0001"),
    qty_step=Decimal("0.0001"),
)
"""An ETHUSDT-like spot spec (run at a 3000 USDT price: same thresholds, other scale)."""
HORIZONS = (10.0, 300.0, 3600.0)

ABSOLUTE_THRESHOLDS = {
    "baseline_vol_bps": 1.0,
    "baseline_prior_s": 3e8,  # ~10 years of data (the most a duration may be): the baseline stays put
    "crisis_enter_short": 3.0,
    "crisis_enter_medium": 2.2,
    "crisis_exit_short": 2.0,
    "crisis_exit_medium": 1.6,
    "ranging_enter_long": 2.0,
    "ranging_exit_long": 1.4,
    "trend_enter_z": 7.0,
    "trend_enter_flow": 0.4,
    "trend_exit_z": 4.0,
    "trend_exit_flow": 0.25,
}
ABSOLUTE = RiskSettings(regimes=RegimeSettings(**ABSOLUTE_THRESHOLDS))
"""Regime thresholds that read as absolute bps/sqrt(s): a baseline fixed at 1 bps/sqrt(s)
(its prior outweighs any history), so a ratio threshold of 3.0 is a vol of 3.0 bps/sqrt(s).
The state-machine tests below feed hand-made vols in bps and test the machine's mechanics
(priorities, hysteresis, dwell, records) with these; the calibrated defaults are tested on
real recordings (tests/test_regimes_real.py) and on the synthetic scenarios."""


@dataclass
class ScenarioRun:
    """One scenario streamed through engine -> estimators -> risk manager."""

    spans: list[tuple[str, int, int]]
    records: list[RiskRecord]
    ts: list[int] = field(default_factory=list)
    mid: list[float] = field(default_factory=list)
    regime: list[str] = field(default_factory=list)
    phase: list[str] = field(default_factory=list)

    @property
    def transitions(self) -> list[RegimeTransition]:
        return [r for r in self.records if isinstance(r, RegimeTransition)]

    def phase_indices(self, name: str, occurrence: int = 0) -> range:
        """Event indices of the ``occurrence``-th phase called ``name``."""
        start, end = [(a, b) for p, a, b in self.spans if p == name][occurrence]
        first = next(i for i, t in enumerate(self.ts) if t >= start)
        last = max(i for i, t in enumerate(self.ts) if t <= end)
        return range(first, last + 1)

    def share(self, indices: range, regimes: set[str]) -> float:
        """Fraction of the phase's time spent in ``regimes``."""
        inside = total = 0
        for i in indices:
            if i + 1 >= len(self.ts):
                break
            dt = self.ts[i + 1] - self.ts[i]
            total += dt
            if self.regime[i] in regimes:
                inside += dt
        return inside / total if total else 0.0

    def first(self, indices: range, regime: str) -> int | None:
        """First event index within ``indices`` at which the machine is in ``regime``."""
        return next((i for i in indices if self.regime[i] == regime), None)


def run_scenario(
    scenario: Any,
    seed: int,
    settings: RiskSettings | None = None,
    spec: InstrumentSpec = SPOT_BTC,
    **market_options: Any,
) -> ScenarioRun:
    market = SyntheticMarket(scenario, seed=seed, spec=spec, **market_options)
    engine = Engine("risk-test", [spec])
    estimators = Estimators(spec.key, EstimatorParams(vol_horizons_s=HORIZONS))
    book = engine.book(spec.key)
    sync = engine.instruments[spec.key].sync
    records: list[RiskRecord] = []
    risk = RiskManager(settings or RiskSettings(), spec, sink=records.append)
    run = ScenarioRun(spans=market.phase_spans(), records=records)
    spans = run.spans
    span_index = 0
    for event in synthetic_events(scenario, seed=seed, spec=spec, **market_options):
        engine.on_event(event)
        estimators.on_event(event, book)
        state = estimators.snapshot()
        decision = risk.on_market(state, book_valid=sync.valid)
        exch_ts = getattr(event, "exch_ts", event.local_ts)
        while span_index + 1 < len(spans) and exch_ts > spans[span_index][2]:
            span_index += 1
        run.ts.append(event.local_ts)
        run.mid.append(state.mid)
        run.regime.append(decision.regime.value)
        run.phase.append(spans[span_index][0])
    return run


class StateFeed:
    """Hand-made :class:`MarketState` s at a steady clock (default 100 ms per event).

    Volatilities are given in bps/sqrt(s) and turned into ticks/sqrt(s) at ``mid``;
    ``None`` = not warm. Depth in lots per side."""

    def __init__(
        self, mid_ticks: int = 6_000_000, start_ns: int = 1_700_000_000 * NS, step_ms: float = 100.0
    ):
        self.mid = float(mid_ticks)
        self.ts = start_ns
        self.step_ns = int(step_ms * 1_000_000)
        self.short: float | None = 0.8
        self.medium: float | None = 0.8
        self.long: float | None = None
        self.trend = 0.0
        self.buy_rate = 1.0
        self.sell_rate = 1.0
        self.depth_bid = 1_000_000
        self.depth_ask = 1_000_000
        self.book_ok = True

    def state(self) -> MarketState:
        values = (self.short, self.medium, self.long)
        mid = self.mid
        return MarketState(
            instrument=SPOT_BTC.key,
            ts_ns=self.ts,
            book_ok=self.book_ok,
            best_bid=math.floor(mid) - 1,
            best_ask=math.floor(mid) + 1,
            bid_size=10,
            ask_size=10,
            mid=float(math.floor(mid)),
            micro=float(math.floor(mid)),
            horizons_s=HORIZONS,
            sigma=tuple((v if v is not None else 0.0) * mid / 1e4 for v in values),
            sigma_warm=tuple(v is not None for v in values),
            trend=(0.0, self.trend, 0.0),
            volume_rate=self.buy_rate + self.sell_rate,
            buy_rate=self.buy_rate,
            sell_rate=self.sell_rate,
            depth_bid=self.depth_bid,
            depth_ask=self.depth_ask,
        )

    def step(self, seconds: float | None = None) -> MarketState:
        self.ts += self.step_ns if seconds is None else int(seconds * NS)
        return self.state()


def feed_for(risk: RiskManager, feed: StateFeed, seconds: float, **kwargs: Any) -> list[str]:
    """Feed ``seconds`` of steady states; returns the regime after each event."""
    regimes = []
    for _ in range(round(seconds * NS / feed.step_ns)):
        regimes.append(risk.on_market(feed.step(), **kwargs).regime.value)
    return regimes


def calm_manager(
    settings: RiskSettings | None = None, **kwargs: Any
) -> tuple[RiskManager, StateFeed, list[RiskRecord]]:
    """A manager past warm-up and the startup CRISIS dwell, in CALM."""
    records: list[RiskRecord] = []
    risk = RiskManager(settings or ABSOLUTE, SPOT_BTC, sink=records.append, **kwargs)
    feed = StateFeed()
    feed_for(risk, feed, 25.0)
    assert risk.regime.value == "calm", risk.status()
    return risk, feed, records
