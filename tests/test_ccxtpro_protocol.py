"""The ccxt.pro adapter against the loopback emulator (real websockets and REST on 127.0.0.1).

ccxt's own ``binance`` / ``binanceusdm`` classes are pointed at the emulator by
overriding single ``exchange.urls`` entries (:mod:`bot.venues.ccxtpro.loopback`); the
emulator replays the real Binance recordings. The native Binance adapter runs beside
it on the same emulator, and the emulator's own exchange book is a third,
independent reference. Faults (gap, malformed frame, stall, dropped connection) are
injected by the emulator. Every test also checks that the event loop's exception
handler stayed silent: no crashed ccxt callback, no unclosed aiohttp session, no
destroyed pending task.
"""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path
from typing import Any

from aiohttp import WSMessage, WSMsgType

from bot.config import load_settings
from bot.core.events import BookDelta, BookSnapshot, FeedStatus, MarkPrice, Trade
from bot.core.instrument import InstrumentSpec
from bot.emulator.book import ExchangeBook
from bot.emulator.faults import Fault
from bot.emulator.replay import ReplaySource
from bot.emulator.server import EmulatorServer
from bot.engine.loop import Engine
from bot.market.book import OrderBook
from bot.ops.ccxt_venues import ccxt_adapters, ccxt_specs, offline_settings
from bot.ops.live import LiveRunner
from bot.venues.ccxtpro.loopback import emulator_venue_settings
from tests.ccxt_harness import TOP, CcxtHarness, LoopProblems, ccxt_spec
from tests.market_harness import (
    BUNDLED,
    SPOT_BTC,
    TEST_DATA,
    USDM_BTC,
    Harness,
    settings_for,
    spot_source_30s,
    wait_until,
)

FAST_RETRY: dict[str, Any] = {"reconnect_min_s": 0.05, "reconnect_max_s": 0.3}


@functools.cache
def spot_source_15s() -> ReplaySource:
    return spot_source_30s().truncated(15.0)


@functools.cache
def spot_source_full() -> ReplaySource:
    """The whole bundled spot BTCUSDT recording (2024-08-08 23:54 -> 08-09 00:05, 650 s)."""
    files = [BUNDLED / "binance_spot_btcusdt_20240808.gz", BUNDLED / "binance_spot_btcusdt_20240809.gz"]
    return ReplaySource.from_files(files)


def exchange_levels(book: ExchangeBook, spec: InstrumentSpec) -> tuple[dict[int, int], dict[int, int]]:
    """The emulator's book (exchange decimal strings) in ticks/lots."""
    bids = {spec.prices.to_int(p): spec.sizes.to_int(q) for p, q in book.bids.values()}
    asks = {spec.prices.to_int(p): spec.sizes.to_int(q) for p, q in book.asks.values()}
    return bids, asks


def top_of(levels: dict[int, int], n: int, *, bids: bool) -> list[tuple[int, int]]:
    return sorted(levels.items(), reverse=bids)[:n]


def assert_top_matches_exchange(
    book: OrderBook, exchange: ExchangeBook, spec: InstrumentSpec, n: int
) -> None:
    bids, asks = exchange_levels(exchange, spec)
    ours_bids, ours_asks = book.top(n)
    assert ours_bids == top_of(bids, n, bids=True)
    assert ours_asks == top_of(asks, n, bids=False)


async def test_same_book_as_the_native_adapter_on_the_bundled_spot_recording() -> None:
    """The Must-show: whole recording at max speed; ccxt keeps 5000 levels per side, as
    many as the native REST snapshot (limit 5000), so the books must be equal level by
    level everywhere -- at the end in full, during the run over the top levels at every
    update id both books reached (ccxt coalesces updates, so it reaches a subset)."""
    problems = LoopProblems().install()
    spec = ccxt_spec(SPOT_BTC)
    async with EmulatorServer(spot_source_full(), speed=0, loop=False, autostart=False) as emu:
        ccxt = CcxtHarness(
            emulator_venue_settings(emu.url, book_depth=5000, **FAST_RETRY), spec, record_top=TOP
        )
        native = Harness(
            "binance_spot", settings_for("binance_spot", emu.overrides("binance_spot"), snapshot_limit=5000)
        )
        native_images: dict[int, Any] = {}

        def record(event: object) -> None:
            if native.sync.valid and isinstance(event, BookDelta | BookSnapshot):
                native_images[native.book.update_id] = native.book.top(TOP)

        native.engine.add_handler(record)
        async with native, ccxt:
            # ccxt connects twice (book, trades), the native adapter once; ccxt's image is
            # valid before playback starts (its snapshot is the book)
            await wait_until(lambda: ccxt.sync.valid and len(emu.hub.clients) >= 3, 15, "all subscribed")
            await wait_until(lambda: emu.rest_requests >= 3, 5, "both depth snapshots")  # + exchangeInfo
            emu.play()
            await emu.wait_finished()
            final = emu.books[("binance_spot", "BTCUSDT")]
            await wait_until(
                lambda: native.book.update_id == final.last_id and ccxt.book.update_id == final.last_id,
                30,
                "both books at the last update",
            )
            assert ccxt.sync.valid and native.sync.valid
            # the whole book, every level: ccxt == native == the exchange's own book
            assert ccxt.book.bids == native.book.bids
            assert ccxt.book.asks == native.book.asks
            assert (ccxt.book.bids, ccxt.book.asks) == exchange_levels(final, spec)
        stats = ccxt.adapter.stats
        assert stats.snapshots == 1 and stats.deltas >= 100
        assert stats.checksum_errors == stats.off_tick == stats.invalid == stats.malformed == 0
        assert ccxt.sync.counters.gaps == 0 and native.sync.counters.gaps == 0
        assert ccxt.transitions[0] == (True, "")
        assert all(valid for valid, reason in ccxt.transitions[:-1])  # only the final close invalidates
        common = sorted(set(native_images) & set(ccxt.images))
        assert len(common) >= 100, f"only {len(common)} update ids in common"  # ~1000 on an idle machine
        mismatched = [uid for uid in common if native_images[uid] != ccxt.images[uid]]
        assert mismatched == []
        # the same public trades, in the same order
        ours = [(t.price, t.size, t.side, t.trade_id) for t in ccxt.of_type(Trade)]
        theirs = [(t.price, t.size, t.side, t.trade_id) for t in native.of_type(Trade)]
        assert len(ours) > 10_000 and ours == theirs
    assert await problems.settle() == []


async def test_usdm_swap_book_marks_and_liquidations_match_the_native_adapter() -> None:
    """binanceusdm: linear URLs rewritten to /public/ws and /market/ws by ccxt; the 2023
    recording crosses a funding time and holds an INSURANCE_FUND liquidation print."""
    problems = LoopProblems().install()
    files = [
        TEST_DATA / "binance_usdm_btcusdt_20230404.dat.gz",
        TEST_DATA / "binance_usdm_btcusdt_20230405.dat.gz",
    ]
    spec = ccxt_spec(USDM_BTC, "ccxt_binanceusdm")
    async with EmulatorServer(ReplaySource.from_files(files), speed=0, loop=False, autostart=False) as emu:
        ccxt = CcxtHarness(emulator_venue_settings(emu.url, "swap", **FAST_RETRY), spec)
        native = Harness("binance_usdm", settings_for("binance_usdm", emu.overrides("binance_usdm")))
        async with native, ccxt:
            # ccxt: book, trades, mark price; native: /public and /market
            await wait_until(lambda: ccxt.sync.valid and len(emu.hub.clients) >= 5, 15, "all subscribed")
            emu.play()
            await emu.wait_finished()
            final = emu.books[("binance_usdm", "BTCUSDT")]
            await wait_until(
                lambda: native.book.update_id == final.last_id and ccxt.book.update_id == final.last_id,
                30,
                "both books at the last update",
            )
            # ccxt keeps 1000 levels per side by default: compare the top 100
            assert ccxt.book.top(TOP) == native.book.top(TOP)
            assert_top_matches_exchange(ccxt.book, final, spec, TOP)
            assert len(ccxt.book.bids) <= 1000 < len(native.book.bids)
        assert ccxt.adapter.stats.checksum_errors == 0
        ours = [(t.price, t.size, t.side, t.trade_id, t.liquidation) for t in ccxt.of_type(Trade)]
        theirs = [(t.price, t.size, t.side, t.trade_id, t.liquidation) for t in native.of_type(Trade)]
        assert ours == theirs and sum(t[-1] for t in ours) == 1
        # ccxt hands over the latest mark only: ours are an ordered subset of the native marks
        marks = [
            (m.exch_ts, m.mark_price, m.index_price, m.funding_rate, m.next_funding_ts)
            for m in ccxt.of_type(MarkPrice)
        ]
        native_marks = [
            (m.exch_ts, m.mark_price, m.index_price, m.funding_rate, m.next_funding_ts)
            for m in native.of_type(MarkPrice)
        ]
        assert len(marks) > 100 and len(native_marks) > 500
        position = {mark: i for i, mark in enumerate(native_marks)}
        assert all(mark in position for mark in marks)
        assert [position[m] for m in marks] == sorted(position[m] for m in marks)
        assert len({m[4] for m in marks}) == 2  # the funding time passed: next funding moved on
    assert await problems.settle() == []


async def test_gap_raises_checksum_error_and_ccxt_resyncs() -> None:
    problems = LoopProblems().install()
    spec = ccxt_spec(SPOT_BTC)
    async with EmulatorServer(spot_source_15s(), speed=5.0, loop=False, autostart=False) as emu:
        ccxt = CcxtHarness(emulator_venue_settings(emu.url, **FAST_RETRY), spec)
        async with ccxt:
            stats = ccxt.adapter.stats
            await wait_until(lambda: ccxt.sync.valid, 15, "subscribed")
            emu.play()
            await wait_until(lambda: stats.deltas >= 5, 15, "live book")
            depth_requests = emu.rest_requests
            emu.inject(Fault("gap"))
            await wait_until(lambda: stats.checksum_errors == 1, 10, "ChecksumError")
            await wait_until(lambda: ccxt.sync.valid, 10, "valid again")
            await wait_until(lambda: stats.deltas >= 5 + 5 and emu.finished, 20, "replay end")
            final = emu.books[("binance_spot", "BTCUSDT")]
            await wait_until(lambda: ccxt.book.update_id == final.last_id, 10, "last update")
            assert_top_matches_exchange(ccxt.book, final, spec, TOP)
        assert emu.faults_applied == {"gap": 1}
        assert emu.rest_requests > depth_requests  # ccxt fetched a new REST snapshot
        assert stats.ccxt_resyncs == 1 and stats.snapshots == 2 and stats.network_errors == 0
        valid, reason = ccxt.transitions[1]
        assert not valid and reason.startswith("disconnected: resync: ChecksumError")
        assert ccxt.transitions[:3] == [(True, ""), (False, reason), (True, "")]
        # after the invalidation: CONNECTED, then a fresh full image, before any diff
        states = [e for e in ccxt.events if isinstance(e, FeedStatus | BookSnapshot | BookDelta)]
        cut = next(i for i, e in enumerate(states) if isinstance(e, FeedStatus) and e.state == "disconnected")
        assert isinstance(states[cut + 1], FeedStatus) and states[cut + 1].state == "connected"
        assert isinstance(states[cut + 2], BookSnapshot)
        assert ccxt.sync.counters.gaps == 0  # the core never saw a broken chain: ccxt caught it
    assert await problems.settle() == []


async def test_malformed_frames_are_counted_and_skipped() -> None:
    problems = LoopProblems().install()
    spec = ccxt_spec(SPOT_BTC)
    async with EmulatorServer(spot_source_15s(), speed=5.0, loop=False, autostart=False) as emu:
        ccxt = CcxtHarness(emulator_venue_settings(emu.url, **FAST_RETRY), spec)
        async with ccxt:
            stats = ccxt.adapter.stats
            await wait_until(lambda: ccxt.sync.valid and len(emu.hub.clients) == 2, 15, "subscribed")
            emu.play()
            await wait_until(lambda: stats.deltas >= 3 and stats.trades >= 3, 15, "live")
            emu.inject(Fault("malformed"))
            emu.inject(Fault("malformed"))
            await wait_until(lambda: stats.malformed == 4, 5, "4 broken frames (2 faults x 2 connections)")
            # a well-formed frame that makes ccxt's own handler raise (a depth update
            # without a symbol), as if it had arrived on the live book connection
            client = next(iter(ccxt.adapter.exchange.clients.values()))
            client.handle_message(WSMessage(WSMsgType.TEXT, '{"e":"depthUpdate"}', None))
            assert stats.message_errors == 1
            deltas, trades = stats.deltas, stats.trades
            await wait_until(
                lambda: stats.deltas > deltas + 5 and stats.trades > trades + 5, 10, "still streaming"
            )
            await emu.wait_finished()
            final = emu.books[("binance_spot", "BTCUSDT")]
            await wait_until(lambda: ccxt.book.update_id == final.last_id, 10, "last update")
            assert_top_matches_exchange(ccxt.book, final, spec, TOP)
        assert stats.checksum_errors == stats.network_errors == stats.stale_reconnects == 0
        assert ccxt.transitions[:1] == [(True, "")] and len(ccxt.transitions) == 2  # valid until closed
    # ccxt's receive loop would have died in a callback: the loop's handler would say so
    assert await problems.settle() == []


async def test_stalled_feed_goes_stale_reconnects_and_recovers() -> None:
    problems = LoopProblems().install()
    spec = ccxt_spec(SPOT_BTC)
    async with EmulatorServer(spot_source_30s(), speed=3.0, loop=False) as emu:
        ccxt = CcxtHarness(emulator_venue_settings(emu.url, stale_after_s=0.4, **FAST_RETRY), spec)
        async with ccxt:
            stats = ccxt.adapter.stats
            await wait_until(lambda: ccxt.sync.valid and stats.deltas >= 3, 15, "live")
            emu.inject(Fault("stall", duration_s=1.5))
            await wait_until(lambda: stats.stale_reconnects >= 1 and not ccxt.sync.valid, 5, "stale")
            await wait_until(lambda: ccxt.sync.valid, 10, "recovered")
            deltas = stats.deltas
            await wait_until(lambda: stats.deltas > deltas + 3, 10, "streaming again")
        assert stats.snapshots >= 2
        reason = ccxt.transitions[1][1]
        assert reason.startswith("disconnected: stale: no book update for 0.")
        assert emu.hub.connections_total > 2  # ccxt opened new connections
    assert await problems.settle() == []


async def test_dropped_connections_back_off_and_resync() -> None:
    problems = LoopProblems().install()
    spec = ccxt_spec(SPOT_BTC)
    async with EmulatorServer(spot_source_30s(), speed=3.0, loop=False) as emu:
        ccxt = CcxtHarness(emulator_venue_settings(emu.url, **FAST_RETRY), spec)
        async with ccxt:
            stats = ccxt.adapter.stats
            await wait_until(lambda: ccxt.sync.valid and stats.deltas >= 3, 15, "live")
            emu.inject(Fault("drop", duration_s=0.5))  # abort + refuse new connections for 0.5 s
            await wait_until(lambda: stats.network_errors >= 1, 5, "network error")
            await wait_until(lambda: ccxt.sync.valid, 10, "valid again")
            deltas = stats.deltas
            await wait_until(lambda: stats.deltas > deltas + 3, 10, "streaming again")
        assert not ccxt.transitions[1][0] and ccxt.transitions[1][1].startswith("disconnected: network:")
        assert stats.snapshots >= 2 and stats.checksum_errors == 0
    assert await problems.settle() == []


async def test_close_while_the_exchange_is_unreachable_is_clean() -> None:
    """Closing during load_markets retries against a dead port leaves nothing behind."""
    problems = LoopProblems().install()
    settings = emulator_venue_settings("http://127.0.0.1:9", timeout_s=1.0, **FAST_RETRY)
    ccxt = CcxtHarness(settings, ccxt_spec(SPOT_BTC))
    async with ccxt:
        await wait_until(lambda: ccxt.adapter.stats.market_load_errors >= 2, 10, "retried load_markets")
    assert ccxt.events == []  # never connected: no feed status, no book
    assert await problems.settle() == []


async def test_runs_under_the_live_runner_from_a_config_file(tmp_path: Path) -> None:
    """The production path: a [venues.ccxt.*] config redirected offline to the emulator,
    specs from the emulator's exchangeInfo through ccxt, the engine with the image sync
    rule, the runner routing events to it and snapshot requests back to the adapter."""
    problems = LoopProblems().install()
    config = tmp_path / "bot.toml"
    config.write_text(
        '[venues.ccxt.bin]\nexchange = "binance"\nreconnect_min_s = 0.05\nreconnect_max_s = 0.3\n\n'
        '[engines.btc]\nvenue = "ccxt_bin"\nsymbol = "BTCUSDT"\n'
    )
    async with EmulatorServer(spot_source_15s(), speed=3.0, loop=False) as emu:
        settings = offline_settings(load_settings(config), emu.url)
        keys = settings.instruments()
        specs = await ccxt_specs(settings, keys, offline=True)
        spec = specs["ccxt_bin:BTCUSDT"]
        assert (spec.tick_size, spec.lot_size, spec.qty_step) == (
            SPOT_BTC.tick_size,
            SPOT_BTC.lot_size,
            SPOT_BTC.qty_step,
        )
        engine = Engine("btc", [spec], stale_after_s=5.0)
        runner = LiveRunner([engine], timer_interval_s=0.05)
        [(adapter, venue_keys)] = ccxt_adapters(settings, specs, keys, runner.sink)
        runner.add_adapter(adapter, venue_keys)
        run = asyncio.create_task(runner.run())
        try:
            await wait_until(lambda: adapter.stats.deltas >= 5, 15, "streaming under the runner")
            [line] = runner.status_lines()
            assert line["valid"] and line["instrument"] == "ccxt_bin:BTCUSDT" and line["applied"] >= 5
            assert line["update_id"] == engine.book("ccxt_bin:BTCUSDT").update_id > 0
        finally:
            runner.stop()
            await run
        assert adapter.exchange is None  # closed by the runner's shutdown
        assert runner.task_restarts == {}
    assert await problems.settle() == []
