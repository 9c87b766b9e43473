"""Reconnect backoff (pure generator) and the weighted REST throttle."""

from __future__ import annotations

import asyncio
import itertools
import random

import pytest

from bot.venues.backoff import backoff_delays
from bot.venues.throttle import WeightedThrottler


def take(n: int, iterator: object) -> list[float]:
    return list(itertools.islice(iterator, n))  # type: ignore[call-overload]


def test_no_jitter_doubles_up_to_the_cap() -> None:
    assert take(7, backoff_delays(0.5, 5.0, jitter="none")) == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    assert take(4, backoff_delays(1.0, 100.0, jitter="none", factor=3.0)) == [1.0, 3.0, 9.0, 27.0]


def test_full_jitter_stays_under_the_growing_ceiling() -> None:
    delays = take(2000, backoff_delays(0.1, 3.0, jitter="full", rng=random.Random(1)))
    ceilings = [min(3.0, 0.1 * 2 ** min(n, 10)) for n in range(2000)]
    assert all(0.0 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    # uniform over the window: late delays average about half the cap
    late = delays[100:]
    assert 1.35 < sum(late) / len(late) < 1.65


def test_decorrelated_jitter_bounds_and_growth() -> None:
    delays = take(5000, backoff_delays(0.2, 10.0, rng=random.Random(2)))
    assert all(0.2 <= d <= 10.0 for d in delays)
    # each delay is drawn from [min, 3 * previous]
    previous = 0.2
    for delay in delays:
        assert delay <= min(10.0, 3 * previous) + 1e-12
        previous = delay
    # it grows away from the minimum and reaches the cap
    assert max(delays) == 10.0
    assert sum(delays[1000:]) / 4000 > 4.0


def test_seeded_generators_repeat_and_differ_by_seed() -> None:
    assert take(20, backoff_delays(0.1, 5, rng=random.Random(9))) == take(
        20, backoff_delays(0.1, 5, rng=random.Random(9))
    )
    assert take(20, backoff_delays(0.1, 5, rng=random.Random(9))) != take(
        20, backoff_delays(0.1, 5, rng=random.Random(10))
    )


def test_shrunk_delays_for_tests() -> None:
    assert max(take(100, backoff_delays(0.001, 0.005, rng=random.Random(0)))) <= 0.005


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((0, 1), {}, "min_s must be positive"),
        ((2, 1), {}, "must be >= min_s"),
        ((1, 2), {"factor": 0.5}, "factor must be >= 1"),
        ((1, 2), {"jitter": "wild"}, "unknown jitter"),
    ],
)
def test_backoff_rejects_bad_parameters(args: tuple[float, float], kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        backoff_delays(*args, **kwargs)


async def test_throttle_enforces_the_weight_budget() -> None:
    throttler = WeightedThrottler(limit=10, period_s=0.4)
    loop = asyncio.get_running_loop()
    start = loop.time()
    await throttler.acquire(6)
    await throttler.acquire(4)
    assert loop.time() - start < 0.1  # 10 units fit into the window at once
    assert throttler.in_window() == 10
    await throttler.acquire(5)  # must wait for the first units to leave the window
    waited = loop.time() - start
    assert 0.4 <= waited < 1.5
    assert throttler.acquired == 15


async def test_throttle_serves_heavy_requests_in_order() -> None:
    throttler = WeightedThrottler(limit=8, period_s=0.3)
    order: list[str] = []

    async def request(name: str, weight: int) -> None:
        await throttler.acquire(weight)
        order.append(name)

    async with asyncio.TaskGroup() as group:
        group.create_task(request("heavy", 8))
        group.create_task(request("light-1", 1))
        group.create_task(request("light-2", 1))
    assert order == ["heavy", "light-1", "light-2"]


async def test_throttle_slot_and_validation() -> None:
    throttler = WeightedThrottler(limit=3, period_s=60)
    async with throttler.slot(3):
        assert throttler.in_window() == 3
    with pytest.raises(ValueError):
        await throttler.acquire(0)
    with pytest.raises(ValueError):
        WeightedThrottler(limit=0)
    with pytest.raises(ValueError):
        WeightedThrottler(limit=1, period_s=0)
