"""The real Bitget adapter over a real websocket on 127.0.0.1 against the emulator speaking
Bitget's v2 protocol: synthetic markets (``seq`` / ``pseq`` chaining, computed checksums,
fixed-decimal book text, trades, USDT-M tickers) and the real 2022 recording (every
recorded checksum verified in the core); the faults -- gap, out_of_order, checksum,
malformed, drop -- each detected, counted, resynced by resubscription and recovered; the
heartbeat and the control messages.

Synthetic playback runs at 10x the simulated pace, so that a resubscription has completed
before the next scheduled fault arrives."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import aiohttp

from bot.config import BitgetVenueSettings
from bot.core.events import MarkPrice, Trade
from bot.emulator.faults import Fault, ScheduledFault
from bot.emulator.scenarios import with_durations
from bot.emulator.server import EmulatorServer
from bot.emulator.sources import load_replay
from bot.emulator.synthetic_source import FALLBACK_SPECS, SyntheticSource
from bot.venues.bitget.adapter import BitgetMarketData
from tests.bitget_kit import BITGET_FILE, DASH, UNI, NaiveBitget
from tests.market_harness import wait_until
from tests.venue_harness import VenueHarness, exchange_book

FAST = {"reconnect_min_s": 0.02, "reconnect_max_s": 0.2}
SPOT = FALLBACK_SPECS[("bitget_spot", "BTCUSDT")]
PERP = FALLBACK_SPECS[("bitget_usdtm", "BTCUSDT")]


def source(*specs: Any, seconds: float = 15.0) -> SyntheticSource:
    return SyntheticSource(
        with_durations("calm", calm=seconds),  # type: ignore[arg-type]
        seed=5,
        specs=list(specs),
        start_price=Decimal("60000"),
        start_ts_ns=1_750_000_000_000_000_000,
    )


def settings(emu: EmulatorServer, venue: str, **fields: Any) -> BitgetVenueSettings:
    return BitgetVenueSettings(**emu.overrides(venue), **FAST, **fields)


def timeline(src: Any, kind: str, venue: str) -> list[Any]:
    return [item for item in src.open_pass().items if item.kind == kind and item.venue == venue]


async def subscribed(emu: EmulatorServer, count: int) -> None:
    await wait_until(lambda: emu.status()["venues"]["bitget"]["subscriptions"] == count, what="subscribed")


async def test_synthetic_markets_seq_chain_checksums_faults_trades_and_ticker() -> None:
    src = source(SPOT, PERP)
    faults = [
        ScheduledFault(Fault(kind="gap", venue="bitget_spot"), at_s=3.0),
        ScheduledFault(Fault(kind="out_of_order", venue="bitget_usdtm"), at_s=5.0),
        ScheduledFault(Fault(kind="checksum", venue="bitget_spot"), at_s=7.0),
        ScheduledFault(Fault(kind="checksum", venue="bitget_usdtm"), at_s=10.0),
    ]
    async with EmulatorServer(src, speed=10, loop=False, autostart=False, faults=faults) as emu:
        spot = VenueHarness(BitgetMarketData, "bitget_spot", settings(emu, "bitget_spot"), [SPOT])
        perp = VenueHarness(BitgetMarketData, "bitget_usdtm", settings(emu, "bitget_usdtm"), [PERP])
        async with spot, perp:
            await subscribed(emu, 5)  # spot books + trade; perp books + trade + ticker
            await wait_until(
                lambda: (
                    spot.sync(SPOT.key).counters.snapshots == 1
                    and perp.sync(PERP.key).counters.snapshots == 1
                ),
                what="snapshots",
            )
            emu.play()
            await emu.wait_finished()
            for harness, spec in ((spot, SPOT), (perp, PERP)):
                exchange = emu.books[(spec.venue, spec.symbol)]
                await wait_until(
                    lambda h=harness, s=spec, x=exchange: (
                        h.sync(s.key).valid and h.decimal_book(s.key) == exchange_book(x)
                    ),
                    what=f"final {spec.key}",
                )
                assert harness.crossed_while_valid == []
                assert harness.adapter.stats.decode_errors == 0
            assert emu.faults_applied == {"gap": 1, "out_of_order": 1, "checksum": 2}
            spot_counters = spot.sync(SPOT.key).counters
            # the gap breaks the pseq chain (before any checksum is computed); the corrupted
            # checksum is a checksum failure
            assert (spot_counters.gaps, spot_counters.checksum_failures, spot_counters.resyncs) == (1, 1, 2)
            assert spot_counters.checksums > spot_counters.applied > 50  # snapshots + every update verified
            reasons = [t[1] for t in spot.transitions[SPOT.key] if not t[0]]
            assert reasons[0].startswith("gap: expected continuation of")
            assert reasons[1].startswith("checksum mismatch after seq")
            perp_counters = perp.sync(PERP.key).counters
            assert (perp_counters.gaps, perp_counters.checksum_failures, perp_counters.resyncs) == (1, 1, 2)
            assert spot.adapter.stats.resubscribes == 2 and perp.adapter.stats.resubscribes == 2
            assert [t[0] for t in spot.transitions[SPOT.key]] == [True, False, True, False, True]
            # every fill of the timeline once (the subscribe-time history snapshot is not replayed)
            trades = spot.of_type(Trade, SPOT.key)
            fills = [f for i in timeline(src, "trade", "bitget_spot") for f in json.loads(i.data)["data"]]
            assert len(trades) == len(fills) > 5
            assert [t.trade_id for t in trades] == [int(f["tradeId"]) for f in fills]
            marks = perp.of_type(MarkPrice, PERP.key)
            tickers = [json.loads(i.data)["data"][0] for i in timeline(src, "ticker", "bitget_usdtm")]
            assert len(marks) == len(tickers) > 3
            assert marks[-1].mark_price == PERP.prices.to_int(tickers[-1]["markPrice"])
            assert marks[-1].funding_rate == Decimal(tickers[-1]["fundingRate"])
            assert marks[-1].next_funding_ts == int(tickers[-1]["nextFundingTime"]) * 1_000_000
            assert spot.of_type(MarkPrice) == []


async def test_malformed_frames_and_dropped_connections() -> None:
    src = source(SPOT, seconds=20.0)
    faults = [
        ScheduledFault(Fault(kind="malformed", venue="bitget_spot"), at_s=2.0),
        ScheduledFault(Fault(kind="drop", venue="bitget_spot"), at_s=8.0),
        ScheduledFault(Fault(kind="malformed"), at_s=14.0),
    ]
    async with EmulatorServer(src, speed=10, loop=False, autostart=False, faults=faults) as emu:
        harness = VenueHarness(BitgetMarketData, "bitget_spot", settings(emu, "bitget_spot"), [SPOT])
        async with harness:
            await subscribed(emu, 2)
            emu.play()
            await emu.wait_finished()
            exchange = emu.books[("bitget_spot", "BTCUSDT")]
            await wait_until(
                lambda: harness.decimal_book(SPOT.key) == exchange_book(exchange), what="final book"
            )
            stats = harness.adapter.stats
            assert stats.malformed == 2 and stats.decode_errors == 2
            assert stats.connections_opened == 2 and stats.disconnects == 1
            counters = harness.sync(SPOT.key).counters
            assert counters.snapshots == 2 and counters.gaps == 0  # the reconnect subscribes afresh
            assert harness.crossed_while_valid == [] and harness.sync(SPOT.key).valid
            assert emu.faults_applied == {"malformed": 2, "drop": 1}


async def test_the_recording_verifies_every_checksum_in_the_core() -> None:
    naive = NaiveBitget()
    async with EmulatorServer(load_replay([BITGET_FILE]), speed=0, loop=False, autostart=False) as emu:
        harness = VenueHarness(BitgetMarketData, "bitget_usdtm", settings(emu, "bitget_usdtm"), [DASH, UNI])
        async with harness:
            await subscribed(emu, 6)
            await wait_until(
                lambda: all(harness.sync(s.key).counters.snapshots == 1 for s in (DASH, UNI)),
                what="snapshots",
            )
            emu.play()
            await emu.wait_finished()
            for spec in (DASH, UNI):
                await wait_until(
                    lambda s=spec: harness.sync(s.key).counters.applied == naive.updates[s.symbol],
                    what=f"{spec.key} updates",
                )
                counters = harness.sync(spec.key).counters
                assert counters.checksums == naive.updates[spec.symbol] + 1  # the snapshot too
                assert (counters.checksum_failures, counters.gaps, counters.resyncs) == (0, 0, 0)
                assert harness.decimal_book(spec.key) == naive.books[spec.symbol]
                assert len(harness.of_type(Trade, spec.key)) == naive.trades[spec.symbol]
                marks = harness.of_type(MarkPrice, spec.key)
                assert len(marks) > 50
            last = harness.of_type(MarkPrice, DASH.key)[-1]
            assert (
                last.funding_rate == Decimal("-0.000100")
                and last.next_funding_ts == 1649314800000 * 1_000_000
            )
            assert harness.adapter.stats.decode_errors == 0 and harness.crossed_while_valid == []
            assert naive.checksums_verified == 194


async def test_a_gap_in_the_recording_is_caught_by_the_checksum_and_resynced() -> None:
    """The 2022 stream has no seq: a lost update can only be seen in the next checksum."""
    faults = [ScheduledFault(Fault(kind="gap", symbol="DASHUSDT"), at_s=5.0)]
    replay = load_replay([BITGET_FILE])
    async with EmulatorServer(replay, speed=4, loop=False, autostart=False, faults=faults) as emu:
        harness = VenueHarness(BitgetMarketData, "bitget_usdtm", settings(emu, "bitget_usdtm"), [DASH])
        async with harness:
            await subscribed(emu, 3)
            emu.play()
            await emu.wait_finished()
            exchange = emu.books[("bitget_usdtm", "DASHUSDT")]
            await wait_until(
                lambda: (
                    harness.sync(DASH.key).valid and harness.decimal_book(DASH.key) == exchange_book(exchange)
                ),
                what="recovered book",
            )
            counters = harness.sync(DASH.key).counters
            assert emu.faults_applied == {"gap": 1}
            assert (counters.checksum_failures, counters.gaps, counters.resyncs, counters.snapshots) == (
                1,
                0,
                1,
                2,
            )
            assert harness.adapter.stats.resubscribes == 1
            reasons = [t[1] for t in harness.transitions[DASH.key] if not t[0]]
            assert len(reasons) == 1 and reasons[0].startswith("checksum mismatch after update")


async def test_pings_go_out_on_a_timer_even_while_data_flows() -> None:
    """Bitget drops a connection that sent no ``ping`` for 2 minutes, whatever it receives."""
    src = source(SPOT, seconds=30.0)
    async with EmulatorServer(src, speed=5, loop=False) as emu:
        fast = settings(emu, "bitget_spot", ping_interval_s=0.2, ping_timeout_s=2.0, stale_after_s=5.0)
        harness = VenueHarness(BitgetMarketData, "bitget_spot", fast, [SPOT])
        async with harness:
            await subscribed(emu, 2)
            start = harness.adapter.stats.messages
            await asyncio.sleep(1.5)
            stats = harness.adapter.stats
            assert stats.messages - start > 20  # a busy connection ...
            assert stats.pings_sent >= 4  # ... still pings
            assert stats.pong_timeouts == 0 and stats.disconnects == 0


async def test_control_messages_as_the_venue_answers_them() -> None:
    async with EmulatorServer(source(SPOT, PERP), speed=20, loop=False) as emu:
        url = emu.overrides("bitget_spot")["ws_url"]
        async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
            await ws.send_str("ping")
            assert (await ws.receive(timeout=2)).data == "pong"
            await ws.send_str('{"op":"dance"}')
            assert json.loads((await ws.receive(timeout=2)).data)["code"] == 30003
            bad = {"instType": "SPOT", "channel": "books", "instId": "NOPEUSDT"}
            await ws.send_str(json.dumps({"op": "subscribe", "args": [bad]}))
            error = json.loads((await ws.receive(timeout=2)).data)
            assert (error["event"], error["code"]) == ("error", 30001) and "NOPEUSDT" in error["msg"]
            await asyncio.sleep(0.5)  # let some trades play
            arg = {"instType": "USDT-FUTURES", "channel": "trade", "instId": "BTCUSDT"}
            await ws.send_str(json.dumps({"op": "subscribe", "args": [arg]}))
            assert json.loads((await ws.receive(timeout=2)).data) == {"event": "subscribe", "arg": arg}
            history = json.loads((await ws.receive(timeout=2)).data)
            assert (
                history["action"] == "snapshot" and history["arg"] == arg and 0 < len(history["data"]) <= 50
            )
            ids = [int(fill["tradeId"]) for fill in history["data"]]
            assert ids == sorted(ids, reverse=True)  # newest first
            book_arg = {"instType": "SPOT", "channel": "books5", "instId": "BTCUSDT"}
            await ws.send_str(json.dumps({"op": "subscribe", "args": [book_arg]}))
            frames = [json.loads((await ws.receive(timeout=2)).data) for _ in range(3)]
            books = [f for f in frames if f.get("arg") == book_arg and "action" in f]
            assert books and all(f["action"] == "snapshot" and len(f["data"][0]["bids"]) <= 5 for f in books)
            assert all(f["data"][0]["checksum"] == 0 for f in books)
