"""Estimators: volatility, trend, volume, depth, liquidation filter, O(1) state.

Closed forms used: for a Brownian mid with volatility sigma, E[dx^2] = sigma^2 dt for
any gap dt, so the time-weighted EWMA of squared increments recovers sigma whatever the
sampling pattern; with drift mu the EWMA drift z-score tends to mu*sqrt(2 tau)/sigma.
"""

from __future__ import annotations

import math
import random
import tracemalloc

import pytest

from bot.core.events import NS_PER_S, BookDelta, BookSnapshot, Side, Timer, Trade
from bot.engine.loop import Engine
from bot.market.book import OrderBook
from bot.market.estimators import EstimatorParams, Estimators, MarketState
from tests.quant_helpers import btcusdt_spec

INSTRUMENT = "test:BTCUSDT"


def make_book(bid: int, ask: int, bid_size: int = 5, ask_size: int = 5) -> OrderBook:
    book = OrderBook(INSTRUMENT)
    book.load([(bid, bid_size)], [(ask, ask_size)], 1)
    book.valid = True
    return book


def random_walk(
    est: Estimators,
    *,
    sigma: float,
    drift: float = 0.0,
    seconds: float,
    gap: random.Random,
    gaps: str,
    seed: int,
) -> None:
    """Feed a Brownian mid (ticks) sampled at irregular event times."""
    rng = random.Random(seed)
    book = make_book(1_000_000, 1_000_001)
    x = 1_000_000.0
    t = 0.0
    while t < seconds:
        # exponential: mean 0.1 s; bursty: lognormal with a wide spread, mean ~0.1 s
        dt = gap.expovariate(10.0) if gaps == "exponential" else 0.1 * gap.lognormvariate(-2.0, 2.0)
        dt = max(dt, 1e-6)
        t += dt
        x += drift * dt + rng.gauss(0.0, sigma * math.sqrt(dt))
        bid = math.floor(x)
        book.load([(bid, 5)], [(bid + 1, 5)], 1)
        est.on_book(book, int(t * NS_PER_S))


@pytest.mark.parametrize("gaps", ["exponential", "bursty"])
@pytest.mark.parametrize("sample_interval", [0.0, 1.0])
def test_ewma_vol_recovers_sigma_of_random_walk(gaps: str, sample_interval: float) -> None:
    sigma = 40.0  # ticks/sqrt(s); flooring to whole ticks adds < 0.5 % of variance here
    params = EstimatorParams(vol_horizons_s=(30.0, 600.0), vol_sample_interval_s=sample_interval)
    est = Estimators(INSTRUMENT, params)
    random_walk(est, sigma=sigma, seconds=3000.0, gap=random.Random(11), gaps=gaps, seed=5)
    state = est.snapshot()
    assert state.sigma_warm == (True, True)
    assert state.sigma_at(600.0) == pytest.approx(sigma, rel=0.05)
    if gaps == "exponential":
        # ~300 increments in a 30 s window: noisier. (With bursty gaps the 30 s window can
        # hold a handful of increments only -- honest variance, so only 600 s is checked.)
        assert state.sigma_at(30.0) == pytest.approx(sigma, rel=0.15)


def test_vol_is_in_ticks_per_sqrt_second() -> None:
    """A deterministic +/-2 tick zig-zag every 0.25 s: sigma^2 = 4 / 0.25 = 16, sigma = 4."""
    est = Estimators(INSTRUMENT, EstimatorParams(vol_horizons_s=(5.0,), vol_sample_interval_s=0.0))
    for i in range(400):
        bid = 1000 + (2 if i % 2 else 0)
        est.on_book(make_book(bid, bid + 2), i * NS_PER_S // 4)
    assert est.snapshot().sigma[0] == pytest.approx(4.0, rel=1e-9)


def test_trend_z_score_tracks_drift_and_is_quiet_without_it() -> None:
    sigma, tau = 20.0, 300.0
    params = EstimatorParams(vol_horizons_s=(tau,), vol_sample_interval_s=0.0)
    flat = Estimators(INSTRUMENT, params)
    random_walk(flat, sigma=sigma, seconds=2000.0, gap=random.Random(2), gaps="exponential", seed=3)
    assert abs(flat.snapshot().trend_at(tau)) < 3.0

    mu = 2.0  # ticks/s: expected z = mu * sqrt(2 tau) / sigma = 2.449...
    up = Estimators(INSTRUMENT, params)
    random_walk(up, sigma=sigma, drift=mu, seconds=2000.0, gap=random.Random(2), gaps="exponential", seed=3)
    down = Estimators(INSTRUMENT, params)
    random_walk(
        down, sigma=sigma, drift=-mu, seconds=2000.0, gap=random.Random(2), gaps="exponential", seed=3
    )
    expected = mu * math.sqrt(2 * tau) / sigma
    z_up = up.snapshot().trend_at(tau)
    z_down = down.snapshot().trend_at(tau)
    # the same noise with opposite drift: the difference isolates the drift term
    assert (z_up - z_down) / 2 == pytest.approx(expected, rel=0.05)
    assert z_up > 1.0 > -1.0 > z_down


def test_volume_rate_in_lots_per_second() -> None:
    est = Estimators(INSTRUMENT, EstimatorParams(volume_window_s=60.0))
    est.on_book(make_book(1000, 1001), 0)
    rng = random.Random(4)
    t = 0.0
    while t < 600.0:
        t += rng.expovariate(5.0)  # 5 trades/s
        side = Side.BUY if rng.random() < 0.75 else Side.SELL
        est.on_trade(Trade(instrument=INSTRUMENT, local_ts=int(t * NS_PER_S), price=1001, size=4, side=side))
    state = est.snapshot()
    assert state.volume_rate == pytest.approx(20.0, rel=0.1)
    assert state.buy_rate == pytest.approx(15.0, rel=0.12)
    assert state.sell_rate == pytest.approx(5.0, rel=0.2)
    assert state.volume_rate == pytest.approx(state.buy_rate + state.sell_rate)


def deep_book(mid: int, levels: int, size: int) -> OrderBook:
    book = OrderBook(INSTRUMENT)
    book.load(
        [(mid - i, size) for i in range(1, levels + 1)], [(mid + i, size) for i in range(1, levels + 1)], 1
    )
    book.valid = True
    return book


def test_depth_ratio_reacts_to_depth_collapse() -> None:
    params = EstimatorParams(depth_band=0.00105, depth_baseline_s=300.0)
    est = Estimators(INSTRUMENT, params)
    mid = 100_000  # band = +/- 105 ticks: 105 levels of each side inside
    for second in range(900):
        est.on_book(deep_book(mid, 500, 10), second * NS_PER_S)
    steady = est.snapshot()
    assert steady.depth_bid == steady.depth_ask == 105 * 10
    assert steady.depth_ratio_bid == pytest.approx(1.0)
    # liquidity withdrawal: 90 % of the displayed size disappears
    est.on_book(deep_book(mid, 500, 1), 900 * NS_PER_S)
    collapsed = est.snapshot()
    assert collapsed.depth_bid == 105
    assert collapsed.depth_ratio_bid < 0.15
    assert collapsed.depth_ratio_ask < 0.15
    # one side only: bids thin out to 1 lot per level, the top and the asks unchanged
    book = deep_book(mid, 500, 10)
    book.apply([(mid - i, 1) for i in range(2, 500)], [])
    est2 = Estimators(INSTRUMENT, params)
    for second in range(900):
        est2.on_book(deep_book(mid, 500, 10), second * NS_PER_S)
    est2.on_book(book, 900 * NS_PER_S)
    one_sided = est2.snapshot()
    assert one_sided.mid == mid
    assert one_sided.depth_ratio_bid == pytest.approx((10 + 104) / 1050)
    assert one_sided.depth_ratio_ask == pytest.approx(1.0)


def test_incremental_depth_matches_a_recount_through_the_engine() -> None:
    """Diffs through the real Engine/Binance sync -- including duplicates the sync drops and a
    gap that forces a new snapshot -- keep the incremental depth equal to a full recount."""
    spec = btcusdt_spec()
    key = spec.key
    engine = Engine("t", [spec])
    book = engine.book(key)
    # band +/- 300 ticks, re-anchored after 60 ticks of drift
    est = Estimators(key, EstimatorParams(depth_band=0.00005, depth_recenter=0.2))
    engine.add_handler(lambda event: est.on_event(event, book))
    rng = random.Random(8)
    mid = 6_000_000
    levels = 400

    def snapshot(update_id: int, ts: int) -> BookSnapshot:
        return BookSnapshot(
            instrument=key,
            local_ts=ts,
            update_id=update_id,
            bids=[(mid - 1 - 5 * i, rng.randint(1, 10**6)) for i in range(levels)],
            asks=[(mid + 5 * i, rng.randint(1, 10**6)) for i in range(levels)],
        )

    def recount() -> tuple[int, int]:
        tracker = est._depth
        low, high = tracker.low, tracker.high
        return (
            sum(s for p, s in book.bids.items() if low <= p <= high),
            sum(s for p, s in book.asks.items() if low <= p <= high),
        )

    engine.on_event(snapshot(100, 1))
    last = 100
    sent: list[BookDelta] = []
    for i in range(3000):
        ts = (i + 2) * 100_000_000
        best_bid, best_ask = book.best_bid, book.best_ask
        assert best_bid is not None and best_ask is not None
        bids = [(best_bid - 5 * rng.randint(0, 60), rng.choice([0, rng.randint(1, 10**6)])) for _ in range(4)]
        asks = [(best_ask + 5 * rng.randint(0, 60), rng.choice([0, rng.randint(1, 10**6)])) for _ in range(4)]
        move = rng.random()
        if i % 10 == 0:  # an up-trend: the best ask is taken out and a bid steps up behind it
            asks.append((best_ask, 0))
            bids.append((best_ask - 1, rng.randint(1, 1000)))
        elif move < 0.1:  # the touch moves: a level inside the spread, or the best level goes
            bids.append((best_bid + 1, rng.randint(1, 1000)) if best_ask - best_bid > 1 else (best_bid, 0))
        elif move < 0.2:
            asks.append((best_ask - 1, rng.randint(1, 1000)) if best_ask - best_bid > 1 else (best_ask, 0))
        elif move < 0.25:
            bids.append((best_bid, 0))
        elif move < 0.3:
            asks.append((best_ask, 0))
        if rng.random() < 0.02 and sent:  # a late duplicate the sync drops: sizes must come from the book
            engine.on_event(rng.choice(sent[-50:]))
        delta = BookDelta(
            instrument=key, local_ts=ts, first_id=last + 1, last_id=last + 3, bids=bids, asks=asks
        )
        if i == 1500:  # a gap: the book goes invalid until a new snapshot arrives
            delta = BookDelta(
                instrument=key, local_ts=ts, first_id=last + 9, last_id=last + 10, bids=bids, asks=[]
            )
            engine.on_event(delta)
            assert not est.snapshot().book_ok
            last += 50
            engine.on_event(snapshot(last, ts + 1))
            delta = BookDelta(
                instrument=key, local_ts=ts + 2, first_id=last + 1, last_id=last + 2, bids=[], asks=[]
            )
        engine.on_event(delta)
        last = delta.last_id
        sent.append(delta)
        state = est.snapshot()
        assert state.book_ok
        assert (state.depth_bid, state.depth_ask) == recount(), i
    assert 5 < est._depth.rebuilds < 300  # re-anchored now and then, incremental otherwise


def test_liquidation_prints_are_excluded() -> None:
    def feed(with_liquidations: bool) -> MarketState:
        est = Estimators(INSTRUMENT, EstimatorParams(intensity_refit_interval_s=0.0))
        rng = random.Random(9)
        book = make_book(1000, 1001)
        t = 0
        for i in range(3000):
            t += int(rng.expovariate(10.0) * NS_PER_S)
            bid = 1000 + rng.randint(-3, 3)
            book.load([(bid, 5)], [(bid + 1, 5)], i)
            est.on_book(book, t)
            side = Side.BUY if rng.random() < 0.5 else Side.SELL
            depth = int(rng.expovariate(0.3))
            price = bid + 1 + depth if side is Side.BUY else bid - depth
            est.on_trade(Trade(instrument=INSTRUMENT, local_ts=t, exch_ts=t, price=price, size=2, side=side))
            if with_liquidations and i % 50 == 0:
                est.on_trade(
                    Trade(
                        instrument=INSTRUMENT,
                        local_ts=t,
                        exch_ts=t + 1,
                        price=bid - 400,
                        size=10_000,
                        side=Side.SELL,
                        liquidation=True,
                    )
                )
        return est.snapshot()

    clean = feed(False)
    dirty = feed(True)
    assert dirty.liquidations == 60 and clean.liquidations == 0
    assert dirty.trades == clean.trades == 3000
    for field in ("mid", "micro", "sigma", "volume_rate", "sell_rate", "intensity_a", "intensity_k"):
        assert getattr(dirty, field) == getattr(clean, field), field
    assert dirty.intensity_arrivals == clean.intensity_arrivals


def test_state_does_not_grow_with_events() -> None:
    est = Estimators(INSTRUMENT)
    rng = random.Random(1)
    book = deep_book(100_000, 50, 3)

    def run(n: int, start: int) -> None:
        for i in range(start, start + n):
            t = i * 50_000_000
            book.apply([(100_000 - rng.randint(1, 50), rng.randint(0, 9))], [])
            est.on_event(
                BookDelta(instrument=INSTRUMENT, local_ts=t, first_id=i, last_id=i, bids=[], asks=[]), book
            )
            side = Side.BUY if i % 2 else Side.SELL
            price = 100_001 + rng.randint(0, 40) if side is Side.BUY else 99_999 - rng.randint(0, 40)
            est.on_event(
                Trade(instrument=INSTRUMENT, local_ts=t, exch_ts=t, price=price, size=1, side=side), book
            )
        est.snapshot()

    def sizes() -> list[int]:
        out = []
        for obj in (est, est._intensity):
            # a compiled (mypyc) class lists its attributes in __mypyc_attrs__, not __slots__
            cls = type(obj)
            for name in getattr(cls, "__slots__", None) or cls.__mypyc_attrs__:
                value = getattr(obj, name)
                if isinstance(value, list | tuple | dict):
                    out.append(len(value))
        return out

    run(2000, 0)
    before = sizes()
    tracemalloc.start()
    first, _ = tracemalloc.get_traced_memory()
    run(20000, 2000)
    second, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert sizes() == before
    assert second - first < 20_000  # bytes: no per-event retention (20k events fed)


def test_invalid_or_crossed_book_is_not_sampled() -> None:
    est = Estimators(INSTRUMENT, EstimatorParams(vol_horizons_s=(10.0,), vol_sample_interval_s=0.0))
    est.on_book(make_book(1000, 1001), 0)
    est.on_book(make_book(1000, 1001), NS_PER_S)
    bad = make_book(1100, 1101)
    bad.valid = False
    est.on_book(bad, 2 * NS_PER_S)
    assert not est.snapshot().book_ok
    assert est.snapshot().mid == 1000.5  # last good value kept, not the invalid one
    crossed = make_book(1000, 1001)
    crossed.apply([(1002, 1)], [])
    crossed.valid = True
    est.on_book(crossed, 3 * NS_PER_S)
    assert not est.snapshot().book_ok
    est.on_book(make_book(1000, 1001), 4 * NS_PER_S)
    state = est.snapshot()
    assert state.book_ok
    assert state.sigma[0] == 0.0  # the invalid prints never became increments


def test_micro_price_and_event_routing() -> None:
    est = Estimators(INSTRUMENT)
    book = make_book(1000, 1002, bid_size=3, ask_size=1)
    est.on_event(BookSnapshot(instrument=INSTRUMENT, local_ts=5, update_id=1, bids=[], asks=[]), book)
    state = est.snapshot()
    assert state.mid == 1001.0
    # (1000 * 1 + 1002 * 3) / 4: more bid size pulls the micro-price toward the ask
    assert state.micro == pytest.approx(1001.5)
    assert state.spread == 2 and state.ts_ns == 5
    est.on_event(Timer(local_ts=99), book)
    assert est.snapshot().ts_ns == 99
    other = Trade(instrument="other:X", local_ts=100, price=1, size=1, side=Side.BUY)
    est.on_event(other, book)
    assert est.snapshot().trades == 0
    with pytest.raises(KeyError, match="no estimator horizon"):
        state.sigma_at(7.0)


def test_params_validation() -> None:
    with pytest.raises(ValueError, match="increasing"):
        EstimatorParams(vol_horizons_s=(60.0, 10.0))
    with pytest.raises(ValueError, match="extra"):
        EstimatorParams(vol_horizon=(1.0,))  # type: ignore[call-arg]
