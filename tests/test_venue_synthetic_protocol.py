"""Synthetic markets served in Bybit's and OKX's protocols by the emulator, over a real
websocket into the real adapters: OKX ``seqId``/``prevSeqId`` chaining (which the 2022
recording lacks) and computed checksums, Bybit depth-limited streams derived from a
deeper book, trades, tickers deltas merged into MarkPrice, OKX funding-rate + mark-price,
and the same faults as on Binance (gap, out_of_order, malformed, drop) plus OKX's
corrupted checksum -- each detected, counted and resynced.

Playback runs at 10x the simulated pace (15-20 simulated seconds in 1.5-2 s), so that a
resubscription has completed before the next scheduled fault arrives."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from bot.config import BybitLinearSettings, OkxVenueSettings
from bot.core.events import MarkPrice, Trade
from bot.emulator.faults import Fault, ScheduledFault
from bot.emulator.scenarios import with_durations
from bot.emulator.server import EmulatorServer
from bot.emulator.synthetic_source import FALLBACK_SPECS, SyntheticSource
from bot.venues.bybit.adapter import BybitMarketData
from bot.venues.okx.adapter import OkxMarketData
from tests.market_harness import wait_until
from tests.venue_harness import VenueHarness

FAST = {"reconnect_min_s": 0.02, "reconnect_max_s": 0.2}
BYBIT_BTC = FALLBACK_SPECS[("bybit_linear", "BTCUSDT")]
OKX_SPOT = FALLBACK_SPECS[("okx_spot", "BTC-USDT")]
OKX_SWAP = FALLBACK_SPECS[("okx_swap", "BTC-USDT-SWAP")]


def source(*specs: Any, seconds: float = 15.0) -> SyntheticSource:
    return SyntheticSource(
        with_durations("calm", calm=seconds),  # type: ignore[arg-type]
        seed=5,
        specs=list(specs),
        start_price=Decimal("60000"),
        start_ts_ns=1_750_000_000_000_000_000,
    )


def top_book(book: Any, depth: int | None) -> tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]:
    bids, asks = book.top(depth)
    return {Decimal(p): Decimal(q) for p, q in bids}, {Decimal(p): Decimal(q) for p, q in asks}


def timeline(src: SyntheticSource, kind: str) -> list[Any]:
    return [item for item in src.open_pass().items if item.kind == kind]


async def test_bybit_linear_depth_view_trades_and_ticker_deltas() -> None:
    src = source(BYBIT_BTC)
    faults = [
        ScheduledFault(Fault(kind="gap", venue="bybit_linear"), at_s=4.0),
        ScheduledFault(Fault(kind="out_of_order", venue="bybit_linear"), at_s=9.0),
    ]
    key = BYBIT_BTC.key
    async with EmulatorServer(src, speed=10, loop=False, autostart=False, faults=faults) as emu:
        settings = BybitLinearSettings(depth=50, **emu.overrides("bybit_linear"), **FAST)
        harness = VenueHarness(BybitMarketData, "bybit_linear", settings, [BYBIT_BTC])
        async with harness:
            await wait_until(lambda: harness.sync(key).counters.snapshots == 1, what="snapshot")
            await wait_until(lambda: emu.status()["venues"]["bybit"]["subscriptions"] == 3, what="subscribed")
            emu.play()
            await emu.wait_finished()
            exchange = emu.books[("bybit_linear", "BTCUSDT")]
            await wait_until(lambda: harness.decimal_book(key) == top_book(exchange, 50), what="final top 50")
            counters = harness.sync(key).counters
            assert emu.faults_applied == {"gap": 1, "out_of_order": 1}
            assert (counters.gaps, counters.resyncs, counters.snapshots) == (2, 2, 3)
            assert harness.adapter.stats.resubscribes == 2
            assert [t[0] for t in harness.transitions[key]] == [True, False, True, False, True]
            assert harness.crossed_while_valid == [] and counters.crossed == 0
            assert len(harness.engine.book(key)) <= 100  # a depth-50 stream: 50 levels per side at most
            trades = harness.of_type(Trade, key)
            assert len(trades) == sum(len(json.loads(i.data)["data"]) for i in timeline(src, "publicTrade"))
            marks = harness.of_type(MarkPrice, key)
            tickers = [json.loads(i.data) for i in timeline(src, "tickers")]
            assert len(marks) == len(tickers) > 3
            last = tickers[-1]
            assert marks[-1].mark_price == BYBIT_BTC.prices.to_int(last["markPrice"])
            assert marks[-1].funding_rate == Decimal(last["fundingRate"])
            assert marks[-1].next_funding_ts == int(last["nextFundingTime"]) * 1_000_000
            assert harness.adapter.stats.decode_errors == 0


async def test_okx_seq_chain_checksum_and_funding_from_a_synthetic_market() -> None:
    src = source(OKX_SPOT, OKX_SWAP)
    faults = [
        ScheduledFault(Fault(kind="gap", venue="okx_spot"), at_s=3.0),
        ScheduledFault(Fault(kind="checksum", venue="okx_spot"), at_s=7.0),
        ScheduledFault(Fault(kind="out_of_order", venue="okx_swap"), at_s=5.0),
    ]
    async with EmulatorServer(src, speed=10, loop=False, autostart=False, faults=faults) as emu:
        spot = VenueHarness(
            OkxMarketData, "okx_spot", OkxVenueSettings(**emu.overrides("okx_spot"), **FAST), [OKX_SPOT]
        )
        swap = VenueHarness(
            OkxMarketData, "okx_swap", OkxVenueSettings(**emu.overrides("okx_swap"), **FAST), [OKX_SWAP]
        )
        async with spot, swap:
            await wait_until(lambda: emu.status()["venues"]["okx"]["subscriptions"] == 6, what="subscribed")
            await wait_until(
                lambda: (
                    spot.sync(OKX_SPOT.key).counters.snapshots == 1
                    and swap.sync(OKX_SWAP.key).counters.snapshots == 1
                ),
                what="snapshots",
            )
            emu.play()
            await emu.wait_finished()
            for harness, spec in ((spot, OKX_SPOT), (swap, OKX_SWAP)):
                exchange = emu.books[(spec.venue, spec.symbol)]
                await wait_until(
                    lambda h=harness, s=spec, x=exchange: h.decimal_book(s.key) == top_book(x, 400),
                    what=f"final {spec.key}",
                )
                assert harness.crossed_while_valid == []
                assert harness.adapter.stats.decode_errors == 0
            assert emu.faults_applied == {"gap": 1, "checksum": 1, "out_of_order": 1}
            spot_counters = spot.sync(OKX_SPOT.key).counters
            # the gap breaks the prevSeqId chain (detected before any checksum is computed)
            assert (spot_counters.gaps, spot_counters.checksum_failures, spot_counters.resyncs) == (1, 1, 2)
            assert spot_counters.checksums > spot_counters.applied  # snapshots + every update verified
            reasons = [t[1] for t in spot.transitions[OKX_SPOT.key] if not t[0]]
            assert reasons[0].startswith("gap: expected continuation of") and reasons[1].startswith(
                "checksum mismatch"
            )
            swap_counters = swap.sync(OKX_SWAP.key).counters
            assert (swap_counters.gaps, swap_counters.checksum_failures, swap_counters.resyncs) == (1, 0, 1)
            assert spot.adapter.stats.resubscribes == 2 and swap.adapter.stats.resubscribes == 1
            marks = swap.of_type(MarkPrice, OKX_SWAP.key)
            fundings = [json.loads(i.data)["data"][0] for i in timeline(src, "funding-rate")]
            assert len(marks) >= 2 * len(fundings) - 1 > 3  # one per funding-rate and per mark-price push
            assert marks[-1].funding_rate == Decimal(fundings[-1]["fundingRate"])
            assert marks[-1].next_funding_ts == int(fundings[-1]["fundingTime"]) * 1_000_000
            assert spot.of_type(MarkPrice) == []  # spot has no funding channels
            assert len(spot.of_type(Trade)) == sum(
                1 for i in timeline(src, "trades") if i.venue == "okx_spot"
            )


async def test_malformed_frames_and_dropped_connections_on_both_venues() -> None:
    src = source(BYBIT_BTC, OKX_SPOT, seconds=20.0)
    faults = [
        ScheduledFault(Fault(kind="malformed"), at_s=2.0),
        ScheduledFault(Fault(kind="drop", venue="okx_spot"), at_s=6.0),
        ScheduledFault(Fault(kind="drop", venue="bybit_linear"), at_s=10.0),
        ScheduledFault(Fault(kind="malformed", venue="okx_spot"), at_s=14.0),
    ]
    async with EmulatorServer(src, speed=10, loop=False, autostart=False, faults=faults) as emu:
        bybit = VenueHarness(
            BybitMarketData,
            "bybit_linear",
            BybitLinearSettings(depth=200, **emu.overrides("bybit_linear"), **FAST),
            [BYBIT_BTC],
        )
        okx = VenueHarness(
            OkxMarketData, "okx_spot", OkxVenueSettings(**emu.overrides("okx_spot"), **FAST), [OKX_SPOT]
        )
        async with bybit, okx:
            await wait_until(
                lambda: emu.status()["venues"]["okx"]["subscriptions"] == 2, what="okx subscribed"
            )
            await wait_until(
                lambda: emu.status()["venues"]["bybit"]["subscriptions"] == 3, what="bybit subscribed"
            )
            emu.play()
            await emu.wait_finished()
            for harness, spec, depth in ((bybit, BYBIT_BTC, 200), (okx, OKX_SPOT, 400)):
                exchange = emu.books[(spec.venue, spec.symbol)]
                await wait_until(
                    lambda h=harness, s=spec, x=exchange, d=depth: h.decimal_book(s.key) == top_book(x, d),
                    what=f"final {spec.key}",
                )
                stats = harness.adapter.stats
                assert stats.malformed == (1 if harness is bybit else 2)
                assert stats.connections_opened == 2 and stats.disconnects == 1
                assert harness.sync(spec.key).counters.snapshots == 2  # the reconnect subscribes afresh
                assert harness.crossed_while_valid == []
            assert emu.faults_applied == {"malformed": 2, "drop": 2}
