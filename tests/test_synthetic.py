"""Synthetic market generator: determinism, book consistency, regime statistics, the crash.

Every statistic is measured on the data the generator emits, replayed through the real
:class:`bot.market.book.OrderBook` (and, for the event stream, the real Binance sync in
the engine) -- never on the generator's internal state.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from decimal import Decimal

import msgspec
import numpy as np
import pytest

from bot.core.events import BookDelta, BookSnapshot, MarkPrice, Side, Trade
from bot.core.instrument import InstrumentKind, InstrumentSpec
from bot.emulator.scenarios import Phase, scale_durations, with_durations
from bot.emulator.synthetic import (
    FUNDING_INTERVAL_NS,
    SCENARIOS,
    SyntheticMarket,
    SyntheticStep,
    scenario_names,
    synthetic_events,
)
from bot.engine.loop import Engine
from bot.market.book import OrderBook

SPOT = InstrumentSpec(
    venue="binance_spot",
    symbol="BTCUSDT",
    kind=InstrumentKind.SPOT,
    base="BTC",
    quote="USDT",
    tick_size=Decimal("0.01"),
    lot_size=Decimal("0.00000001"),
    qty_step=Decimal("0.00001"),
    min_notional=Decimal("5"),
)
PERP = InstrumentSpec(
    venue="binance_usdm",
    symbol="BTCUSDT",
    kind=InstrumentKind.PERP,
    base="BTC",
    quote="USDT",
    tick_size=Decimal("0.1"),
    lot_size=Decimal("0.001"),
    qty_step=Decimal("0.001"),
)
STEPS_PER_S = 10


# ---- helpers -------------------------------------------------------------------------


class Replay:
    """Replays steps through an OrderBook, checking every step's consistency."""

    def __init__(self, market: SyntheticMarket) -> None:
        self.book = OrderBook(market.spec.key)
        bids, asks = market.initial_book()
        self.book.load(bids, asks, 0)
        self.step_lots = market.spec.step_lots

    def apply(self, step: SyntheticStep) -> None:
        book = self.book
        before_bids, before_asks = dict(book.bids), dict(book.asks)
        traded: dict[tuple[int, int], int] = defaultdict(int)
        deepest = {1: -1, -1: 1 << 62}
        for price, lots, side in step.trades:
            assert isinstance(price, int) and isinstance(lots, int) and lots > 0
            assert side in (1, -1)
            # a buy lifts an ask, a sell hits a bid -- a level that existed when the step began
            resting = before_asks if side > 0 else before_bids
            assert price in resting, f"trade {price} side {side} not at a resting level"
            traded[(side, price)] += lots
            deepest[side] = max(deepest[side], price) if side > 0 else min(deepest[side], price)
        for levels, before in ((step.bids, before_bids), (step.asks, before_asks)):
            prices = [p for p, _ in levels]
            assert len(set(prices)) == len(prices), "a price twice in one diff"
            for price, lots in levels:
                assert isinstance(price, int) and isinstance(lots, int) and price > 0 and lots >= 0
                assert lots % self.step_lots == 0
                assert lots != before.get(price, 0), "diff entry that changes nothing"
        book.apply(step.bids, step.asks)
        assert not book.is_crossed, f"crossed at {step.ts_ns}: {book.best_bid} >= {book.best_ask}"
        assert book.has_both_sides
        for (side, price), lots in traded.items():
            before = (before_asks if side > 0 else before_bids)[price]
            after = book.size_at(-side, price)
            assert lots <= before, "traded more than the level held"
            assert after in (0, before - lots), "traded level not reduced by the traded size"
        # a sweep walks the book best-first: levels better than the deepest trade are gone
        if deepest[1] > 0:
            assert all(book.asks.get(p, 0) == 0 for p in before_asks if p < deepest[1])
        if deepest[-1] < 1 << 62:
            assert all(book.bids.get(p, 0) == 0 for p in before_bids if p > deepest[-1])


def depth_pct(book: OrderBook, fraction: float) -> float:
    bids, asks = book.depth_within(fraction)
    return float(bids + asks)


def phase_stats(market: SyntheticMarket, skip_s: float = 60.0) -> dict[str, dict[str, float]]:
    """Per phase: short (1 s) and long (60 s) realized vol of the mid in bps, trend
    strength (mean / std of 60 s returns), depth within 1 % per side, mean spread."""
    replay = Replay(market)
    rows: dict[str, list[tuple[float, float, float, float]]] = defaultdict(list)
    for index, step in enumerate(market):
        replay.apply(step)
        if index % STEPS_PER_S == 0:
            book = replay.book
            bid, ask = book.depth_within(0.01)
            mid = book.mid()
            assert mid is not None and book.best_ask is not None and book.best_bid is not None
            rows[step.phase].append((math.log(mid), bid, ask, book.best_ask - book.best_bid))
    stats = {}
    for name, samples in rows.items():
        data = np.array(samples[int(skip_s) :])
        logmid = data[:, 0] * 1e4
        r1 = np.diff(logmid)
        r60 = logmid[60:] - logmid[:-60]
        stats[name] = {
            "short_vol": float(r1.std()),
            "long_vol": float(r60.std()),
            "trend": float(r60.mean() / r60.std()),
            "bid_depth": float(data[:, 1].mean()),
            "ask_depth": float(data[:, 2].mean()),
            "depth": float((data[:, 1] + data[:, 2]).mean()),
            "spread": float(data[:, 3].mean()),
        }
    return stats


# ---- scenarios and interface -----------------------------------------------------------


def test_required_scenarios_exist() -> None:
    assert {"calm", "ranging", "trend", "crash", "regimes"} <= set(scenario_names())
    assert [p.name for p in SCENARIOS["regimes"]] == ["calm", "ranging", "trend", "crisis"]
    names = [p.name for p in SCENARIOS["crash"]]
    assert names.index("withdrawal") < names.index("crash") < names.index("recovery")


def test_unknown_scenario_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"unknown scenario 'flash'.*calm.*crash.*regimes"):
        SyntheticMarket("flash", seed=1, spec=SPOT)
    with pytest.raises(ValueError, match="unknown scenario 'nope'"):
        next(synthetic_events("nope", seed=1, spec=SPOT))


def test_bad_phases_and_options_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="duration_s must be > 0"):
        Phase(name="x", duration_s=0)
    with pytest.raises(ValueError, match="buy_frac"):
        Phase(name="x", duration_s=1, buy_frac=1.5)
    with pytest.raises(ValueError, match="at least one phase"):
        SyntheticMarket([], seed=1, spec=SPOT)
    with pytest.raises(ValueError, match="seed"):
        SyntheticMarket("calm", seed=-1, spec=SPOT)
    with pytest.raises(ValueError, match="no phase named 'sideways'"):
        with_durations("regimes", sideways=10)
    # phases decoded from a config file are validated the same way, unknown keys included
    assert msgspec.convert([{"name": "q", "duration_s": 5}], list[Phase])[0].duration_s == 5.0
    with pytest.raises(msgspec.ValidationError, match="duration_s must be > 0"):
        msgspec.convert({"name": "q", "duration_s": -5}, Phase)
    with pytest.raises(msgspec.ValidationError, match="unknown field `sigma`"):
        msgspec.convert({"name": "q", "duration_s": 5, "sigma": 2}, Phase)


def test_phase_lengths_are_configurable() -> None:
    phases = with_durations("regimes", calm=30, ranging=20, trend=10, crisis=5)
    market = SyntheticMarket(phases, seed=3, spec=SPOT)
    assert market.n_steps == 650
    steps = list(market)
    assert len(steps) == 650
    counts: dict[str, int] = defaultdict(int)
    for step in steps:
        counts[step.phase] += 1
    assert counts == {"calm": 300, "ranging": 200, "trend": 100, "crisis": 50}
    spans = market.phase_spans()
    assert [s[0] for s in spans] == ["calm", "ranging", "trend", "crisis"]
    assert spans[0][1] == steps[0].ts_ns and spans[-1][2] == steps[-1].ts_ns
    assert len(list(SyntheticMarket(scale_durations(phases, 0.5), seed=3, spec=SPOT))) == 325
    custom = [Phase(name="quiet", duration_s=2.0, sigma_bps=0.1)]
    assert {s.phase for s in SyntheticMarket(custom, seed=3, spec=SPOT, step_ms=50)} == {"quiet"}
    assert SyntheticMarket(custom, seed=3, spec=SPOT, step_ms=50).n_steps == 40


def test_same_seed_same_stream_different_seed_differs() -> None:
    phases = scale_durations("crash", 0.1)
    first = list(SyntheticMarket(phases, seed=11, spec=SPOT))
    again = list(SyntheticMarket(phases, seed=11, spec=SPOT))
    other = list(SyntheticMarket(phases, seed=12, spec=SPOT))
    assert msgspec.json.encode(first) == msgspec.json.encode(again)
    assert SyntheticMarket(phases, seed=11, spec=SPOT).initial_book() == (
        SyntheticMarket(phases, seed=11, spec=SPOT).initial_book()
    )
    assert msgspec.json.encode(first) != msgspec.json.encode(other)
    # a market is re-iterable: each pass starts from the seed
    market = SyntheticMarket(phases, seed=11, spec=SPOT)
    assert msgspec.json.encode(list(market)) == msgspec.json.encode(list(market))


def test_repeat_keeps_going_with_a_continuous_book() -> None:
    market = SyntheticMarket([Phase(name="calm", duration_s=5.0)], seed=2, spec=SPOT, repeat=True)
    replay = Replay(market)
    steps = []
    for step in market:
        replay.apply(step)
        steps.append(step)
        if len(steps) == 3 * market.n_steps:
            break
    assert [b.ts_ns - a.ts_ns for a, b in itertools.pairwise(steps)] == [market.step_ns] * (len(steps) - 1)


# ---- book shape and consistency ------------------------------------------------------


def test_initial_book_has_a_realistic_shape() -> None:
    market = SyntheticMarket("calm", seed=5, spec=SPOT)
    bids, asks = market.initial_book()
    assert len(bids) >= 200 and len(asks) >= 200
    assert bids[0][0] < asks[0][0]
    for levels, sign in ((bids, 1), (asks, -1)):
        prices = [p for p, _ in levels]
        assert all(sign * (a - b) > 0 for a, b in itertools.pairwise(prices)), "best-first"
        sizes = np.array([s for _, s in levels], dtype=float)
        assert (sizes > 0).all() and all(s % SPOT.step_lots == 0 for _, s in levels)
        # sizes grow away from the touch, and so do the gaps between levels
        assert np.median(sizes[150:200]) > 2.0 * np.median(sizes[:20])
        gaps = np.abs(np.diff(prices))
        assert np.median(gaps[150:200]) > 10.0 * np.median(gaps[:20])
        # the book reaches beyond 2 % of the price
        assert abs(prices[-1] - prices[0]) > 0.02 * prices[0]


@pytest.mark.parametrize("scenario", ["calm", "crash"])
def test_steps_are_consistent_with_the_book_and_trades(scenario: str) -> None:
    phases = scale_durations(scenario, 0.25 if scenario == "calm" else 1.0)
    market = SyntheticMarket(phases, seed=21, spec=SPOT)
    replay = Replay(market)
    churn = {"insert": 0, "update": 0, "delete": 0}
    trades = 0
    for step in market:
        book = replay.book
        top_bids, top_asks = book.top(11)
        deep_bid = top_bids[-1][0] if len(top_bids) == 11 else 0
        deep_ask = top_asks[-1][0] if len(top_asks) == 11 else 1 << 62
        for price, lots in step.bids:
            if price < deep_bid:
                old = book.bids.get(price, 0)
                churn["delete" if not lots else "insert" if not old else "update"] += 1
        for price, lots in step.asks:
            if price > deep_ask:
                old = book.asks.get(price, 0)
                churn["delete" if not lots else "insert" if not old else "update"] += 1
        replay.apply(step)
        trades += len(step.trades)
        if step.phase == "calm":
            assert len(book.bids) >= 50 and len(book.asks) >= 50
    # level churn away from the top: inserts, updates and deletes all happen
    assert min(churn.values()) > 100, churn
    assert trades > 1000


@pytest.mark.parametrize("name", scenario_names())
@pytest.mark.parametrize(
    ("price", "tick", "lot", "step"),
    [("60000", "0.01", "0.00000001", "0.00001"), ("0.5", "0.0001", "0.1", "1")],
)
def test_every_scenario_replays_consistently(name: str, price: str, tick: str, lot: str, step: str) -> None:
    spec = InstrumentSpec(
        venue="binance_spot",
        symbol="XUSDT",
        kind=InstrumentKind.SPOT,
        base="X",
        quote="USDT",
        tick_size=Decimal(tick),
        lot_size=Decimal(lot),
        qty_step=Decimal(step),
    )
    market = SyntheticMarket(scale_durations(name, 0.05), seed=13, spec=spec, start_price=Decimal(price))
    replay = Replay(market)
    phases = []
    for step_ in market:
        replay.apply(step_)
        if not phases or phases[-1] != step_.phase:
            phases.append(step_.phase)
    assert phases == [p.name for p in SCENARIOS[name]]


# ---- regime statistics ---------------------------------------------------------------


@pytest.fixture(scope="module")
def regime_stats() -> dict[str, dict[str, float]]:
    return phase_stats(SyntheticMarket("regimes", seed=7, spec=SPOT))


def test_regimes_have_the_volatility_signatures_they_claim(regime_stats: dict[str, dict[str, float]]) -> None:
    calm, ranging, trend, crisis = (regime_stats[n] for n in ("calm", "ranging", "trend", "crisis"))
    # calm: low at both horizons (0.8 bp/sqrt(s) random walk)
    assert calm["short_vol"] < 1.2 and calm["long_vol"] < 12.0
    # ranging: large swings over minutes, quiet second to second
    assert ranging["long_vol"] > 3.0 * calm["long_vol"]
    assert ranging["short_vol"] < 1.6 * calm["short_vol"]
    # crisis: high at both horizons
    assert crisis["short_vol"] > 3.0 * max(calm["short_vol"], ranging["short_vol"])
    assert crisis["long_vol"] > 3.0 * calm["long_vol"]
    # trend: one-sided drift well above its noise, moderate short vol
    assert trend["trend"] < -2.5
    assert abs(trend["trend"]) > 2.0 * max(abs(s["trend"]) for s in (calm, ranging, crisis))
    assert calm["short_vol"] < trend["short_vol"] < crisis["short_vol"]


def test_regimes_have_the_book_they_claim(regime_stats: dict[str, dict[str, float]]) -> None:
    calm, ranging, trend, crisis = (regime_stats[n] for n in ("calm", "ranging", "trend", "crisis"))
    assert ranging["depth"] > 0.7 * calm["depth"]
    assert trend["depth"] < 0.9 * calm["depth"]
    # down-trend: the bid side (run over) is the thinner one
    assert trend["bid_depth"] < 0.9 * trend["ask_depth"]
    assert crisis["depth"] < 0.4 * calm["depth"]
    assert crisis["spread"] > 20.0 * calm["spread"]
    assert calm["spread"] < 5.0


# ---- the crash -----------------------------------------------------------------------


def test_crash_depth_vanishes_before_the_price_drops() -> None:
    market = SyntheticMarket("crash", seed=31, spec=SPOT)
    replay = Replay(market)
    rows = []  # (phase, mid, depth within 1 % bid, ask, buy lots, sell lots)
    for step in market:
        replay.apply(step)
        book = replay.book
        bid, ask = book.depth_within(0.01)
        buys = sum(q for _, q, s in step.trades if s > 0)
        sells = sum(q for _, q, s in step.trades if s < 0)
        rows.append((step.phase, book.mid(), bid, ask, buys, sells))
    phases = [r[0] for r in rows]
    w0 = phases.index("withdrawal")
    c0 = phases.index("crash")
    r0 = phases.index("recovery")
    r1 = len(phases) - 1 - phases[::-1].index("recovery")
    base_bid = np.mean([r[2] for r in rows[w0 - 300 : w0]])
    base_ask = np.mean([r[3] for r in rows[w0 - 300 : w0]])
    mid0 = np.mean([r[1] for r in rows[w0 - 50 : w0]])

    def thin(i: int, fraction: float) -> bool:
        return rows[i][2] < fraction * base_bid and rows[i][3] < fraction * base_ask

    # depth on BOTH sides collapses by >= 80 % within 2 s, while the mid stays flat
    collapsed = next(i for i in range(w0, len(rows)) if thin(i, 0.2))
    assert collapsed - w0 <= 2 * STEPS_PER_S
    assert all(abs(rows[i][1] / mid0 - 1.0) < 0.003 for i in range(w0, collapsed + 1))
    # ... and the price drop comes clearly later
    dropped = next(i for i in range(w0, len(rows)) if rows[i][1] < mid0 * 0.99)
    assert dropped - collapsed >= 15, (collapsed, dropped)
    half_gone = next(i for i in range(w0, len(rows)) if thin(i, 0.5))
    assert dropped - half_gone >= 20
    # the drop: >= 5 % within the crash phase's few seconds, with heavy selling
    low = min(r[1] for r in rows[c0:r0])
    assert low < mid0 * 0.95
    assert (r0 - c0) <= 6 * STEPS_PER_S
    crash_buys = sum(r[4] for r in rows[c0:r0])
    crash_sells = sum(r[5] for r in rows[c0:r0])
    calm_sells_per_step = np.mean([r[5] for r in rows[:w0]])
    assert crash_sells > 3 * crash_buys
    assert crash_sells / (r0 - c0) > 5 * calm_sells_per_step
    # partial recovery with depth refilling over a minute or two
    end_mid = rows[r1][1]
    assert mid0 * 0.99 > end_mid > low + 0.25 * (mid0 - low)
    assert thin(r0 + 10 * STEPS_PER_S, 0.5)  # still thin 10 s after the crash
    refilled = next(
        i for i in range(r0, len(rows)) if rows[i][2] > 0.7 * base_bid and rows[i][3] > 0.7 * base_ask
    )
    assert 30 * STEPS_PER_S <= refilled - r0 <= 150 * STEPS_PER_S


# ---- core events through the real sync -------------------------------------------------


def test_events_sync_binance_spot_without_gaps() -> None:
    phases = scale_durations("crash", 0.5)
    engine = Engine("synthetic", [SPOT])
    key = SPOT.key
    reference = SyntheticMarket(phases, seed=4, spec=SPOT)
    replay = Replay(reference)
    steps = iter(reference)
    counts: dict[type, int] = defaultdict(int)
    last_id = None
    latency = 7_000_000
    for event in synthetic_events(phases, seed=4, spec=SPOT, latency_ms=7.0):
        counts[type(event)] += 1
        engine.on_event(event)
        assert engine.drain_actions() == []
        assert event.local_ts - event.exch_ts == latency
        book = engine.book(key)
        if isinstance(event, BookSnapshot):
            assert last_id is None
            last_id = event.update_id - 1  # the first diff straddles the snapshot id
        elif isinstance(event, BookDelta):
            assert event.first_id == last_id + 1 and event.last_id >= event.first_id
            assert event.prev_id == last_id
            last_id = event.last_id
            assert book.valid and not book.is_crossed
            step = next(steps)
            while not (step.bids or step.asks):
                step = next(steps)
            replay.apply(step)
            assert (event.bids, event.asks, event.exch_ts) == (step.bids, step.asks, step.ts_ns)
        elif isinstance(event, Trade):
            assert event.side in (Side.BUY, Side.SELL)
    sync = engine.instruments[key].sync
    assert sync.valid and sync.counters.gaps == 0 and sync.counters.resyncs == 0
    assert sync.counters.applied == counts[BookDelta] > 0
    assert counts[Trade] > 100 and counts[MarkPrice] == 0  # spot: no mark price
    # the engine's book equals an independent replay of the steps
    assert engine.book(key).bids == replay.book.bids and engine.book(key).asks == replay.book.asks


def test_events_for_a_perp_carry_mark_and_funding_and_chain_by_pu() -> None:
    phases = with_durations("regimes", calm=20, ranging=5, trend=5, crisis=5)
    engine = Engine("synthetic-perp", [PERP])
    marks = []
    last_mid = None
    for event in synthetic_events(phases, seed=9, spec=PERP):
        engine.on_event(event)
        if isinstance(event, BookDelta):
            assert engine.book(PERP.key).valid
            last_mid = engine.book(PERP.key).mid()
        if isinstance(event, MarkPrice):
            marks.append(event)
            assert last_mid is not None and abs(event.mark_price / last_mid - 1.0) < 0.002
            assert isinstance(event.funding_rate, Decimal) and abs(event.funding_rate) < Decimal("0.0075")
            assert event.funding_rate == event.funding_rate.quantize(Decimal("0.00000001"))
            assert event.next_funding_ts % FUNDING_INTERVAL_NS == 0
            assert 0 < event.next_funding_ts - event.exch_ts <= FUNDING_INTERVAL_NS
    assert engine.instruments[PERP.key].sync.counters.gaps == 0
    assert 34 <= len(marks) <= 35  # about once per simulated second
    gaps = {b.exch_ts - a.exch_ts for a, b in itertools.pairwise(marks)}
    assert gaps == {1_000_000_000}
    assert all(m.funding_rate for m in marks)
