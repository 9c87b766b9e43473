"""The real Bybit and OKX recordings replayed by the emulator over a real websocket on
127.0.0.1 into the real adapters and the engine's book sync.

Checked against independent reconstructions of the raw files (json + Decimal + zlib,
tests/venue_harness.py): every OKX checksum verifies in the core (290/290), the Bybit
``u`` chain holds (49 deltas), books never cross, the final books are equal, and an
injected break -- a ``u`` gap, a missing OKX update, a corrupted OKX checksum -- is
detected, counted and resynced by resubscribing, with the book invalid exactly from
the message that reveals the break until the fresh snapshot.
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.config import BybitLinearSettings, OkxVenueSettings
from bot.core.events import BookDelta, BookSnapshot, Trade
from bot.emulator.faults import Fault, ScheduledFault
from bot.emulator.server import EmulatorServer
from bot.emulator.sources import load_replay
from bot.venues.bybit.adapter import BybitMarketData
from bot.venues.okx.adapter import OkxMarketData
from tests.market_harness import wait_until
from tests.venue_harness import (
    BYBIT_FILE,
    OKX_FILE,
    OKX_SPECS,
    XRP_LINEAR,
    NaiveBybit,
    NaiveOkx,
    VenueHarness,
    exchange_book,
)

FAST = {"reconnect_min_s": 0.02, "reconnect_max_s": 0.2}


def bybit_settings(emu: EmulatorServer, **fields: Any) -> BybitLinearSettings:
    return BybitLinearSettings(depth=500, **emu.overrides("bybit_linear"), **FAST, **fields)


def okx_settings(emu: EmulatorServer, **fields: Any) -> OkxVenueSettings:
    return OkxVenueSettings(**emu.overrides("okx_spot"), **FAST, **fields)


async def subscribed(emu: EmulatorServer, count: int) -> None:
    await wait_until(
        lambda: (
            emu.status()["venues"]["bybit"]["subscriptions"] + emu.status()["venues"]["okx"]["subscriptions"]
            >= count
        ),
        what=f"{count} subscriptions",
    )


# ---- Bybit ------------------------------------------------------------------------------------


async def test_bybit_recording_rebuilds_the_book_with_an_unbroken_u_chain() -> None:
    naive = NaiveBybit()
    assert len(naive.deltas) == 49
    key = XRP_LINEAR.key
    async with EmulatorServer(load_replay([BYBIT_FILE]), speed=0, loop=False, autostart=False) as emu:
        harness = VenueHarness(BybitMarketData, "bybit_linear", bybit_settings(emu), [XRP_LINEAR])
        async with harness:
            await wait_until(lambda: harness.sync(key).counters.snapshots == 1, what="snapshot")
            emu.play()
            await emu.wait_finished()
            await wait_until(lambda: harness.engine.book(key).update_id == naive.last_u, what="last delta")
            counters = harness.sync(key).counters
            assert counters.applied == 49
            assert (counters.gaps, counters.crossed, counters.dropped, counters.resyncs) == (0, 0, 0, 0)
            deltas = harness.of_type(BookDelta, key)
            assert [d.last_id for d in deltas] == naive.deltas  # u = previous u + 1, as recorded
            assert harness.of_type(BookSnapshot, key)[0].update_id == naive.first_u
            assert harness.crossed_while_valid == []
            assert harness.decimal_book(key) == naive.book
            assert harness.decimal_book(key) == exchange_book(emu.books[("bybit_linear", "XRPUSDT")])
            assert [t[:2] for t in harness.transitions[key]] == [(True, "")]
            stats = harness.adapter.stats
            assert stats.decode_errors == 0 and stats.resubscribes == 0
            assert stats.snapshot_deduped == 1  # the engine's request on connect: snapshot already coming


async def test_bybit_u_gap_is_detected_counted_and_resubscribed() -> None:
    naive = NaiveBybit()
    key = XRP_LINEAR.key
    gap = ScheduledFault(Fault(kind="gap", venue="bybit_linear"), at_s=2.0)
    source = load_replay([BYBIT_FILE])
    async with EmulatorServer(source, speed=0, loop=False, autostart=False, faults=[gap]) as emu:
        harness = VenueHarness(BybitMarketData, "bybit_linear", bybit_settings(emu), [XRP_LINEAR])
        async with harness:
            await wait_until(lambda: harness.sync(key).counters.snapshots == 1, what="snapshot")
            emu.play()
            await emu.wait_finished()
            await wait_until(lambda: harness.sync(key).counters.snapshots == 2, what="resync snapshot")
            await wait_until(lambda: harness.engine.book(key).update_id == naive.last_u, what="last delta")
            assert emu.faults_applied == {"gap": 1}
            skipped = int(emu.fault_log[0]["detail"].split()[2])
            counters = harness.sync(key).counters
            assert (counters.gaps, counters.resyncs, counters.crossed) == (1, 1, 0)
            assert harness.adapter.stats.resubscribes == 1
            transitions = harness.transitions[key]
            assert [t[0] for t in transitions] == [True, False, True]
            _, reason, revealed = transitions[1]
            assert reason.startswith(f"gap: expected continuation of {skipped - 1}")
            assert isinstance(revealed, BookDelta) and revealed.last_id > skipped
            assert isinstance(transitions[2][2], BookSnapshot)  # valid again only with the fresh snapshot
            # nothing was applied while invalid: every applied delta continued the chain it was on
            applied = [e.last_id for e in harness.of_type(BookDelta, key)]
            assert skipped not in applied
            assert harness.crossed_while_valid == []
            assert harness.decimal_book(key) == naive.book


# ---- OKX --------------------------------------------------------------------------------------


def okx_harnesses(emu: EmulatorServer) -> list[VenueHarness]:
    return [
        VenueHarness(OkxMarketData, venue, okx_settings(emu), [spec]) for venue, spec in OKX_SPECS.items()
    ]


async def test_okx_recording_verifies_every_checksum_in_the_core() -> None:
    naive = NaiveOkx()
    assert naive.checksums_verified == 290
    async with EmulatorServer(load_replay([OKX_FILE]), speed=0, loop=False, autostart=False) as emu:
        harnesses = okx_harnesses(emu)
        for harness in harnesses:
            await harness.__aenter__()
        try:
            await subscribed(emu, 6)  # books + trades per instrument (the swap adds funding + mark)
            await wait_until(
                lambda: all(h.sync(k).counters.snapshots == 1 for h in harnesses for k in h.specs),
                what="three snapshots",
            )
            emu.play()
            await emu.wait_finished()
            await wait_until(
                lambda: sum(h.sync(k).counters.applied for h in harnesses for k in h.specs) == 287,
                what="all updates",
            )
            verified = failures = 0
            for harness in harnesses:
                (key,) = harness.specs
                counters = harness.sync(key).counters
                verified += counters.checksums
                failures += counters.checksum_failures
                symbol = key.partition(":")[2]
                assert counters.applied == naive.updates[symbol]
                assert (counters.gaps, counters.crossed, counters.resyncs) == (0, 0, 0)
                assert harness.crossed_while_valid == []
                assert harness.decimal_book(key) == naive.books[symbol]
                assert [t[:2] for t in harness.transitions[key]] == [(True, "")]
                assert len(harness.of_type(Trade, key)) == naive.trades[symbol]
                assert harness.adapter.stats.decode_errors == 0
            assert (verified, failures) == (290, 0)
        finally:
            for harness in harnesses:
                await harness.__aexit__(None, None, None)


@pytest.mark.parametrize(
    ("kind", "at_s", "reason"),
    [
        ("checksum", 3.0, "checksum mismatch"),
        # no seqId in the 2022 recording: a missing update shows as the next checksum
        ("gap", 3.0, "checksum mismatch"),
    ],
)
async def test_okx_break_is_detected_and_resubscribed(kind: str, at_s: float, reason: str) -> None:
    naive = NaiveOkx()
    spec = OKX_SPECS["okx_spot"]
    key = spec.key
    fault = ScheduledFault(Fault(kind=kind, venue="okx_spot"), at_s=at_s)  # type: ignore[arg-type]
    async with EmulatorServer(
        load_replay([OKX_FILE]), speed=0, loop=False, autostart=False, faults=[fault]
    ) as emu:
        harness = VenueHarness(OkxMarketData, "okx_spot", okx_settings(emu), [spec])
        async with harness:
            await wait_until(lambda: harness.sync(key).counters.snapshots == 1, what="snapshot")
            emu.play()
            await emu.wait_finished()
            await wait_until(lambda: harness.sync(key).counters.snapshots == 2, what="resync snapshot")
            final = exchange_book(emu.books[("okx_spot", "BTC-USDT")])
            await wait_until(lambda: harness.decimal_book(key) == final, what="final book")
            assert emu.faults_applied == {kind: 1}
            counters = harness.sync(key).counters
            assert counters.checksum_failures == 1 and counters.resyncs == 1 and counters.gaps == 0
            assert harness.adapter.stats.resubscribes == 1
            transitions = harness.transitions[key]
            assert [t[0] for t in transitions] == [True, False, True]
            assert transitions[1][1].startswith(reason)
            assert isinstance(transitions[1][2], BookDelta)
            assert isinstance(transitions[2][2], BookSnapshot)
            assert harness.crossed_while_valid == []
            assert harness.decimal_book(key) == naive.books["BTC-USDT"]
            # every other message verified: the fresh snapshot and all updates after it
            assert counters.checksums >= counters.applied - 1
