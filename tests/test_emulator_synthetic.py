"""Synthetic markets through the emulator: update-id assignment, Binance rendering, and
the adapter + engine rebuilding the generator's book exactly.

``StandInMarket`` is a small deterministic market with the interface of
``bot.emulator.synthetic.SyntheticMarket`` (written in parallel by another helper);
the last test runs the real generator when it is present."""

from __future__ import annotations

import functools
import itertools
import json
import random
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, ClassVar

import msgspec
import pytest

from bot.core.events import MarkPrice, Trade
from bot.core.instrument import InstrumentSpec
from bot.emulator.server import EmulatorServer
from bot.emulator.synthetic_source import SyntheticSource
from tests.market_harness import SPEC, Harness, settings_for, wait_until

Level = tuple[int, int]


class Step(msgspec.Struct, frozen=True):
    ts_ns: int
    bids: list[Level]
    asks: list[Level]
    trades: list[tuple[int, int, int]]
    mark: tuple[int, Decimal, int] | None
    phase: str


class StandInMarket:
    """Deterministic toy market: sizes change, levels come and go behind the touch, the
    touch moves one tick at a time, a trade hits the best level now and then, and a
    mark arrives every 10 steps. It keeps its own book so tests can compare."""

    created: ClassVar[list[StandInMarket]] = []

    def __init__(
        self,
        scenario: str,
        *,
        seed: int,
        spec: InstrumentSpec,
        start_price: Decimal,
        start_ts_ns: int,
        steps: int = 200,
    ) -> None:
        self.spec = spec
        self.seed = seed
        self.steps = steps
        self.start_ts_ns = start_ts_ns
        self.mid = int(start_price / spec.tick_size)
        self.step_lots = spec.step_lots
        self.bids = {self.mid - 1 - i: (i + 1) * self.step_lots for i in range(10)}
        self.asks = {self.mid + 1 + i: (i + 2) * self.step_lots for i in range(10)}
        self.trades: list[tuple[int, int, int]] = []
        self.marks: list[tuple[int, Decimal, int]] = []
        self.tops: list[tuple[int, int, int, int]] = []
        StandInMarket.created.append(self)

    def initial_book(self) -> tuple[list[Level], list[Level]]:
        return sorted(self.bids.items(), reverse=True), sorted(self.asks.items())

    def __iter__(self) -> Iterator[Step]:
        rng = random.Random(self.seed)
        for n in range(1, self.steps + 1):
            bids: dict[int, int] = {}
            asks: dict[int, int] = {}
            trades: list[tuple[int, int, int]] = []
            best_bid, best_ask = max(self.bids), min(self.asks)
            if n % 3 == 0:  # a sell hits the best bid for part of it
                lots = max(1, self.bids[best_bid] // 2)
                trades.append((best_bid, lots, -1))
                bids[best_bid] = self.bids[best_bid] - lots
            if n % 7 == 0 and len(self.asks) > 3:  # the ask side lifts: touch moves up a tick
                trades.append((best_ask, self.asks[best_ask], 1))
                asks[best_ask] = 0
                asks[max(self.asks) + 1] = self.step_lots * rng.randint(1, 9)
            for _ in range(rng.randint(0, 4)):  # resizes and inserts behind the touch
                side, book, sign = (bids, self.bids, -1) if rng.random() < 0.5 else (asks, self.asks, 1)
                base = min(book) if sign < 0 else max(book)
                price = base + sign * rng.randint(-5, 3)
                touch = best_bid if sign < 0 else best_ask
                if (sign < 0 and price >= touch) or (sign > 0 and price <= touch):
                    continue
                side[price] = self.step_lots * rng.randint(0, 12)
            if n % 11 == 0 and len(self.bids) > 3:  # a level far away is cancelled
                bids[min(self.bids)] = 0
            for price, lots in bids.items():
                if lots:
                    self.bids[price] = lots
                else:
                    self.bids.pop(price, None)
            for price, lots in asks.items():
                if lots:
                    self.asks[price] = lots
                else:
                    self.asks.pop(price, None)
            assert max(self.bids) < min(self.asks)
            ts = self.start_ts_ns + n * 100_000_000
            mark = None
            if n % 10 == 0:
                mark = (
                    self.mid + n % 4,
                    Decimal("0.0001") * (n % 5 - 2),
                    self.start_ts_ns + 8 * 3600 * 10**9,
                )
                self.marks.append(mark)
            self.trades.extend(trades)
            top_bid, top_ask = max(self.bids), min(self.asks)
            self.tops.append((top_bid, self.bids[top_bid], top_ask, self.asks[top_ask]))
            yield Step(
                ts_ns=ts,
                bids=sorted(bids.items(), reverse=True),
                asks=sorted(asks.items()),
                trades=trades,
                mark=mark,
                phase="stand-in",
            )


def synthetic_source(
    factory: Any, venues: tuple[str, ...] = ("binance_spot", "binance_usdm"), steps: int = 200
) -> SyntheticSource:
    StandInMarket.created.clear()
    return SyntheticSource(
        "calm",
        seed=11,
        specs=[SPEC[venue] for venue in venues],
        start_price=Decimal("60000"),
        start_ts_ns=1_750_000_000_000_000_000,
        market_factory=functools.partial(factory, steps=steps),
    )


def test_rendered_messages_and_update_ids() -> None:
    source = synthetic_source(StandInMarket)
    current = source.open_pass()
    items = list(current.items)
    for venue in ("binance_spot", "binance_usdm"):
        book = current.books[(venue, "BTCUSDT")]
        diffs = [json.loads(i.data) for i in items if i.venue == venue and i.kind == "depth"]
        tickers = [json.loads(i.data) for i in items if i.venue == venue and i.kind == "bookTicker"]
        last = book.last_id
        for diff in diffs:
            if venue == "binance_spot":
                assert diff["U"] == last + 1 and "pu" not in diff
            else:
                assert diff["pu"] == last and diff["U"] > last + 1  # not contiguous on USD-M
            assert diff["u"] >= diff["U"]
            last = diff["u"]
        diff_ids = {d["u"] for d in diffs}
        assert tickers and all(t["u"] in diff_ids for t in tickers)
    marks = [json.loads(i.data) for i in items if i.kind == "markPrice"]
    assert marks and all(i.venue == "binance_usdm" for i in items if i.kind == "markPrice")
    spot_trade = next(json.loads(i.data) for i in items if i.kind == "trade" and i.venue == "binance_spot")
    assert spot_trade["m"] is True and spot_trade["p"] == "59999.99"  # a sell hit the best bid
    assert [i.ts_ns for i in items] == sorted(i.ts_ns for i in items)


async def run_venue(venue: str, source: SyntheticSource) -> tuple[Harness, Any]:
    async with EmulatorServer(source, speed=0, autostart=False, loop=False) as emu:
        harness = Harness(venue, settings_for(venue, emu.overrides(venue), stale_after_s=30))
        async with harness:
            await wait_until(lambda: harness.sync.counters.snapshots == 1, what="first snapshot")
            emu.play()
            await emu.wait_finished()
            last_id = emu.books[(venue, "BTCUSDT")].last_id
            await wait_until(lambda: harness.book.update_id == last_id, what="last diff")
            final = harness.decimal_book()
            transitions = list(harness.transitions)
            book = emu.books[(venue, "BTCUSDT")]
            exchange = (
                {price: Decimal(qty) for price, (_, qty) in book.bids.items()},
                {price: Decimal(qty) for price, (_, qty) in book.asks.items()},
            )
            assert final == exchange
        return harness, (final, transitions)


@pytest.mark.parametrize("venue", ["binance_spot", "binance_usdm"])
async def test_adapter_rebuilds_the_synthetic_book(venue: str) -> None:
    source = synthetic_source(StandInMarket, venues=(venue,))
    harness, (final, transitions) = await run_venue(venue, source)
    market = next(m for m in StandInMarket.created if m.spec.venue == venue and m.tops)
    spec = market.spec
    expected = (
        {spec.tick_size * p: spec.lot_size * q for p, q in market.bids.items()},
        {spec.tick_size * p: spec.lot_size * q for p, q in market.asks.items()},
    )
    assert final == expected
    assert transitions == [(True, "")]
    assert harness.adapter.stats.decode_errors == 0
    assert harness.mismatches == [] and harness.checks > 20
    trades = [(t.price, t.size, int(t.side)) for t in harness.of_type(Trade)]
    assert trades == market.trades
    marks = [(m.mark_price, m.funding_rate, m.next_funding_ts) for m in harness.of_type(MarkPrice)]
    assert marks == (market.marks if venue == "binance_usdm" else [])


async def test_real_generator_streams_through_the_adapter() -> None:
    synthetic = pytest.importorskip("bot.emulator.synthetic")

    def first_steps(*args: Any, steps: int, **kwargs: Any) -> Any:
        market = synthetic.SyntheticMarket(*args, **kwargs)

        class Head:
            def initial_book(self) -> Any:
                return market.initial_book()

            def __iter__(self) -> Any:
                return itertools.islice(iter(market), steps)

        return Head()

    for venue in ("binance_spot", "binance_usdm"):
        source = synthetic_source(first_steps, venues=(venue,), steps=600)
        harness, (_, transitions) = await run_venue(venue, source)
        assert transitions == [(True, "")]
        assert harness.adapter.stats.decode_errors == 0
        assert harness.mismatches == [] and harness.checks > 0
        assert harness.of_type(Trade)
