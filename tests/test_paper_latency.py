"""Latency model: distributions, clipping, counter-keyed determinism."""

from __future__ import annotations

import statistics

import pytest
from pydantic import ValidationError

from bot.paper.latency import DistributionKind, LatencyDistribution, LatencyModel, uniform01
from bot.paper.settings import LatencySettings


def test_uniform01_is_keyed_by_seed_stream_and_index() -> None:
    draws = [uniform01(7, 1, i) for i in range(20_000)]
    assert all(0.0 < u < 1.0 for u in draws)
    assert abs(statistics.fmean(draws) - 0.5) < 0.01
    assert draws[123] == uniform01(7, 1, 123)  # no hidden state
    assert uniform01(8, 1, 123) != draws[123] and uniform01(7, 2, 123) != draws[123]


def test_lognormal_median_and_clipping() -> None:
    dist = LatencyDistribution(kind=DistributionKind.LOGNORMAL, ms=2.0, sigma=0.5, low_ms=0.5, high_ms=6.0)
    samples = [dist.sample_ns(uniform01(1, 1, i)) / 1e6 for i in range(20_000)]
    assert abs(statistics.median(samples) - 2.0) < 0.05
    assert min(samples) >= 0.5 and max(samples) <= 6.0
    assert max(samples) == 6.0  # the tail is clipped, not dropped


def test_constant_uniform_normal() -> None:
    assert LatencyDistribution(ms=1.5).sample_ns(0.9) == 1_500_000
    uniform = LatencyDistribution(kind=DistributionKind.UNIFORM, low_ms=1.0, high_ms=3.0)
    assert uniform.sample_ns(0.25) == 1_500_000
    normal = LatencyDistribution(kind=DistributionKind.NORMAL, ms=1.0, stdev_ms=5.0)
    assert normal.sample_ns(0.001) == 0  # never negative


def test_model_draws_per_command_and_per_event() -> None:
    model = LatencyModel(
        entry=LatencyDistribution(kind=DistributionKind.UNIFORM, low_ms=1, high_ms=9),
        market_data=LatencyDistribution(kind=DistributionKind.UNIFORM, low_ms=0, high_ms=1),
        seed=3,
    )
    first = [model.entry_ns(i) for i in range(50)]
    assert len(set(first)) > 40 and all(1_000_000 <= v <= 9_000_000 for v in first)
    again = LatencyModel(entry=model.entry, market_data=model.market_data, seed=3)
    assert [again.entry_ns(i) for i in reversed(range(50))] == first[::-1]  # order of calls is irrelevant
    assert model.market_data_constant_ns is None and model.cancel_ns(5) == 0


def test_settings_reject_inconsistent_bounds() -> None:
    with pytest.raises(ValidationError, match="high_ms"):
        LatencySettings(kind="uniform", low_ms=3, high_ms=1)
    assert (
        LatencySettings(kind="lognormal", ms=2, sigma=0.3).distribution().kind is DistributionKind.LOGNORMAL
    )
