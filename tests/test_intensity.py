"""Order-arrival intensity lambda(delta) = A exp(-k delta) (Avellaneda & Stoikov 2008, s. 2.4).

Synthetic Poisson arrivals: on each side, market orders arrive at rate A per second
and reach a depth delta ~ Exponential(k) ticks beyond the mid, so the rate of orders
reaching at least x is A exp(-k x) -- the quantity the estimator fits. Parameters are
the GLFT fixture of issue 4 (A = 2.98616 /s, k = 0.0423574 /tick).
"""

from __future__ import annotations

import math
import random

import pytest

from bot.core.events import NS_PER_S, Side, Trade
from bot.market.book import OrderBook
from bot.market.estimators import EstimatorParams, Estimators, IntensityEstimator, fit_exponential

INSTRUMENT = "test:ETHUSDT"
A_TRUE = 2.98616
K_TRUE = 0.0423574


def test_fit_exponential_is_exact_on_noiseless_data() -> None:
    depths = [0.0, 1.0, 2.5, 7.0, 20.0]
    rates = [3.0 * math.exp(-0.25 * x) for x in depths]
    fit = fit_exponential(depths, rates, [1.0, 2.0, 1.0, 5.0, 1.0])
    assert fit is not None
    a, k = fit
    assert a == pytest.approx(3.0, rel=1e-12)
    assert k == pytest.approx(0.25, rel=1e-12)
    assert fit_exponential([1.0, 1.0], [2.0, 3.0], [1.0, 1.0]) is None  # one distinct depth


def simulate_trades(seconds: float, seed: int) -> tuple[Estimators, int]:
    params = EstimatorParams(
        intensity_window_s=600.0,
        intensity_bin_ticks=2.0,
        intensity_bins=40,  # 0..80 ticks; deeper arrivals count in the last bin
        intensity_refit_interval_s=0.0,
    )
    est = Estimators(INSTRUMENT, params)
    book = OrderBook(INSTRUMENT)
    bid = 200_000
    book.load([(bid, 10)], [(bid + 1, 10)], 1)
    book.valid = True
    est.on_book(book, 0)
    mid = bid + 0.5
    rng = random.Random(seed)
    t = 0.0
    trades = 0
    while True:
        t += rng.expovariate(2 * A_TRUE)  # both sides together
        if t > seconds:
            break
        side = Side.BUY if rng.random() < 0.5 else Side.SELL
        depth = rng.expovariate(K_TRUE)
        # the deepest whole-tick price the order reaches; it trades only if that is the touch or beyond
        if side is Side.BUY:
            price = math.floor(mid + depth)
            if price < bid + 1:
                continue
        else:
            price = math.ceil(mid - depth)
            if price > bid:
                continue
        ts = int(t * NS_PER_S)
        est.on_trade(Trade(instrument=INSTRUMENT, local_ts=ts, exch_ts=ts, price=price, size=1, side=side))
        trades += 1
    return est, trades


def test_intensity_fit_recovers_a_and_k_within_10_percent() -> None:
    est, trades = simulate_trades(3000.0, seed=21)
    state = est.snapshot()
    assert trades > 15_000
    assert state.intensity_ready
    assert state.intensity_k == pytest.approx(K_TRUE, rel=0.10)
    # Whole-tick prices: an order reaching depth d trades at the tick at or inside d, so the
    # tail at bin edge x holds depths >= x + 0.5 -- a known factor exp(-0.5 k) = 0.979 on A.
    assert state.intensity_a == pytest.approx(A_TRUE, rel=0.10)
    # decayed arrivals ~ 2 A * window once the window is full
    assert state.intensity_arrivals == pytest.approx(2 * A_TRUE * 600.0 * math.exp(-0.5 * K_TRUE), rel=0.1)


def test_intensity_is_not_ready_without_data_and_decays_after_silence() -> None:
    est, _ = simulate_trades(2000.0, seed=3)
    a_before = est.snapshot().intensity_a
    assert not Estimators(INSTRUMENT).snapshot().intensity_ready
    # 600 s of silence: the window empties by e^-1, the rate estimate follows
    est.ts_ns += 600 * NS_PER_S
    after = est.snapshot()
    assert after.intensity_a == pytest.approx(a_before * math.exp(-1.0), rel=0.05)
    assert after.intensity_k == pytest.approx(est.snapshot().intensity_k)


def test_sweep_prints_count_as_one_arrival_at_the_deepest_price() -> None:
    estimator = IntensityEstimator(
        window_s=100.0, bin_ticks=1.0, bins=10, min_count=0.5, min_points=2, refit_interval_s=0.0
    )
    # one buy order walking three levels (same exchange time, same side) ...
    for depth in (0.5, 1.5, 3.5):
        estimator.add(1_000, depth, 1, exch_ts=777)
    # ... and one separate sell at depth 0.5
    estimator.add(2_000, 0.5, -1, exch_ts=778)
    assert estimator.arrivals_total == 2
    counts = estimator._counts
    assert counts[3] == pytest.approx(1.0, rel=1e-6)
    assert counts[0] == pytest.approx(1.0, rel=1e-6)
    assert sum(counts) == pytest.approx(2.0, rel=1e-6)


def test_long_silence_does_not_overflow() -> None:
    estimator = IntensityEstimator(
        window_s=1.0, bin_ticks=1.0, bins=5, min_count=0.5, min_points=2, refit_interval_s=0.0
    )
    estimator.add(0, 1.0, 1, exch_ts=1)
    estimator.add(10_000 * NS_PER_S, 2.0, 1, exch_ts=2)  # 10,000 time constants later
    assert estimator.arrivals(10_000 * NS_PER_S) == pytest.approx(1.0)
    a, k, ready = estimator.estimate(10_000 * NS_PER_S)
    assert not ready  # one bin: no slope
    assert math.isnan(a) and math.isnan(k)
