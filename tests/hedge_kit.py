"""Test kit for the hedger: a spot and a perp market on one price path, deal files, an
independent net-delta computation.

Same price path: the synthetic generator's random draws depend only on the seed, the
scenario and the spec's numeric grid (tick, lot, order step, contract size), so a spot
spec and a perp spec that share that grid get the *same* book stream from the same seed
(the perp's adds MarkPrice/funding events, which draw nothing). `SYNTH_PERP` therefore
keeps the spot grid but has perp rules (min qty 0.001 BTC, min notional 100 USDT,
maker/taker 2/5 bp, like Binance USD-M). `test_hedging_trend` checks the identity.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.core.events import Event, Timer
from bot.core.instrument import InstrumentKind, InstrumentSpec
from bot.emulator.scenarios import Phase
from bot.emulator.synthetic import synthetic_events
from bot.hedge.black_scholes import NS_PER_YEAR, call_greeks
from bot.paper.ledger import Ledger

SYNTH_SPOT = InstrumentSpec(
    venue="binance_spot",
    symbol="BTCUSDT",
    kind=InstrumentKind.SPOT,
    base="BTC",
    quote="USDT",
    tick_size=Decimal("0.01"),
    lot_size=Decimal("0.00000001"),
    qty_step=Decimal("0.00001"),
    min_qty=Decimal("0.00001"),
    min_notional=Decimal("5"),
)
SYNTH_PERP = InstrumentSpec(
    venue="binance_usdm",
    symbol="BTCUSDT",
    kind=InstrumentKind.PERP,
    base="BTC",
    quote="USDT",
    tick_size=Decimal("0.01"),
    lot_size=Decimal("0.00000001"),
    qty_step=Decimal("0.00001"),
    min_qty=Decimal("0.001"),
    min_notional=Decimal("100"),
    maker_fee=Decimal("0.0002"),
    taker_fee=Decimal("0.0005"),
)
FUNDING_NS = 1_700_006_400 * 10**9
"""2023-11-15 00:00:00 UTC, an 8-hour funding boundary."""
HEDGED_ENGINE = {
    "venue": "binance_spot",
    "symbol": "BTCUSDT",
    "hedge": {"venue": "binance_usdm", "symbol": "BTCUSDT"},
}


def with_timers(events: Iterable[Event], step_ms: int = 100) -> Iterator[Event]:
    """``events`` with a Timer every ``step_ms`` of event time, as the live driver sends."""
    step = step_ms * 1_000_000
    next_timer: int | None = None
    for event in events:
        if next_timer is None:
            next_timer = event.local_ts + step
        while event.local_ts >= next_timer:
            yield Timer(local_ts=next_timer)
            next_timer += step
        yield event


def paired_events(
    scenario: str | Sequence[Phase],
    *,
    seed: int,
    start_ts_ns: int,
    spot: InstrumentSpec = SYNTH_SPOT,
    perp: InstrumentSpec = SYNTH_PERP,
    **options: Any,
) -> Iterator[Event]:
    """The spot and perp streams of one synthetic market, merged by time, with timers."""
    streams = [
        synthetic_events(scenario, seed=seed, spec=spec, start_ts_ns=start_ts_ns, **options)
        for spec in (spot, perp)
    ]
    return with_timers(heapq.merge(*streams, key=lambda event: event.local_ts))


def deal_toml(
    *,
    loan_delta: str = "usd_debt",
    tokens: str = "0.5",
    reference_price: str = "60000",
    start: str = "2023-11-14",
    expiry: str = "2023-11-21",
    calls: Sequence[tuple[str, str]] = (("60000", "1"), ("61000", "1")),
    lp_size: str | None = None,
    volatility: float = 0.5,
) -> str:
    """A BTC deal file (the schema of config/deals/abc.toml)."""
    text = f"""name = "btc-test"
token = "BTC"
quote = "USDT"
loan_delta = "{loan_delta}"
[loan]
tokens = "{tokens}"
reference_price = "{reference_price}"
start = {start}
expiry = {expiry}
"""
    if lp_size is not None:
        text += f'[[lp]]\nvenue = "pancakeswap"\nsize = "{lp_size}"\n'
    for strike, quantity in calls:
        text += f'[[calls]]\nstrike = "{strike}"\nquantity = "{quantity}"\n'
    text += f"[valuation]\nvolatility = {volatility}\n"
    return text


def hedged_settings(data_dir: Path, hedge: dict[str, Any], **overrides: Any) -> Settings:
    """Fast-warming settings (tests/trading_kit) with a hedged engine and ``[hedge]``."""
    data: dict[str, Any] = {
        "data_dir": str(data_dir),
        "engines": {"btc": HEDGED_ENGINE},
        "estimators": {"vol_horizons_s": [2.0, 10.0, 60.0], "vol_warmup_fraction": 0.2},
        "risk": {"regimes": {"short_horizon_s": 2.0, "medium_horizon_s": 10.0}},
        "paper": {
            "starting_balances": {"USDT": "200000", "BTC": "0.5"},
            "latency": {"order_entry": {"ms": 20.0}, "cancel": {"ms": 20.0}},
        },
        "http": {"enabled": False},
        "hedge": hedge,
        # the Binance spot market-maker programme's maker 0 % (bot/venues/fee_tiers.py), as in
        # tests/trading_kit: these tests test hedging, not a fee tier
        "venues": {"binance_spot": {"fee_tier": "lp1"}},
    }
    data.update(overrides)
    return Settings(**data)


class IndependentDelta:
    """The net delta recomputed from first principles (not through bot.hedge.delta):
    ledger lots x lot size, Black–Scholes call deltas, LP tokens sqrt(K / P)."""

    def __init__(
        self,
        *,
        loan_owed: float,
        calls: Sequence[tuple[float, float]],
        volatility: float,
        start_ns: int,
        expiry_ns: int,
        lp_quote: float = 0.0,
        lp_price: float = 1.0,
    ) -> None:
        self.loan_owed = loan_owed
        self.calls = list(calls)
        self.volatility = volatility
        self.start_ns = start_ns
        self.expiry_ns = expiry_ns
        # x0 = size / 2 / p0 tokens, y0 = size / 2: K = x0 * y0
        self.k = (lp_quote / 2.0 / lp_price) * (lp_quote / 2.0) if lp_quote else 0.0

    def ex_perp(self, ledger: Ledger, spot: InstrumentSpec, price: float, now_ns: int) -> float:
        years = (self.expiry_ns - max(now_ns, self.start_ns)) / NS_PER_YEAR
        options = sum(q * call_greeks(price, k, years, self.volatility).delta for k, q in self.calls)
        lp = math.sqrt(self.k / price) if self.k else 0.0
        held = float(spot.lot_size) * ledger.position_qty(spot.key)
        return held - self.loan_owed + options + lp

    def perp(self, ledger: Ledger, perp: InstrumentSpec) -> float:
        return float(perp.lot_size * perp.contract_size) * ledger.position_qty(perp.key)
