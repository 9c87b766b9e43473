"""Injected faults against the real adapter + engine over real websockets.

For each fault kind: the emulator applies it (``faults_applied``), the client detects
it (the named counter moves), recovers by resync or reconnect, the book is invalid
exactly for the fault's duration (validity transitions recorded by an engine handler),
every recorded bookTicker checkpoint seen while valid still matches, and at the end
the book equals the exchange's (emulator's) book level by level.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from bot.emulator.faults import Fault, parse_fault_spec
from bot.emulator.server import EmulatorServer
from tests.market_harness import Harness, settings_for, spot_source_30s, wait_until

VENUE = "binance_spot"


def exchange_book(emu: EmulatorServer) -> tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]:
    book = emu.books[(VENUE, "BTCUSDT")]
    return (
        {price: Decimal(qty) for price, (_, qty) in book.bids.items()},
        {price: Decimal(qty) for price, (_, qty) in book.asks.items()},
    )


async def run_with_faults(
    faults: list[str] = (),  # type: ignore[assignment]
    *,
    speed: float = 0.0,
    inject: tuple[float, Fault] | None = None,
    engine_stale_s: float = 3600.0,
    timer_interval_s: float | None = None,
    **settings: Any,
) -> tuple[Harness, dict[str, Any], dict[str, int], float | None]:
    """Replay 30 s of spot BTCUSDT with faults; return the harness, the emulator status and
    the counters captured at the end (before the harness closes its connection)."""
    scheduled = [parse_fault_spec(spec) for spec in faults]
    source = spot_source_30s()
    async with EmulatorServer(source, speed=speed, loop=False, autostart=False, faults=scheduled) as emu:
        adapter_settings = settings_for(VENUE, emu.overrides(VENUE), snapshot_limit=5000, **settings)
        harness = Harness(
            VENUE, adapter_settings, engine_stale_s=engine_stale_s, timer_interval_s=timer_interval_s
        )
        injected_at = None
        async with harness:
            await wait_until(lambda: harness.sync.counters.snapshots == 1, what="first snapshot")
            emu.play()
            if inject is not None:
                delay, fault = inject
                await asyncio.sleep(delay)
                injected_at = asyncio.get_running_loop().time()
                emu.inject(fault)
            await emu.wait_finished()
            last_id = emu.books[(VENUE, "BTCUSDT")].last_id
            await wait_until(
                lambda: harness.sync.valid and harness.book.update_id == last_id,
                timeout=15,
                what="the book to catch up with the exchange",
            )
            assert harness.decimal_book() == exchange_book(emu)
            counters = harness.counters()
            status = emu.status()
        return harness, status, counters, injected_at


def before_close(harness: Harness) -> list[tuple[bool, str]]:
    """Transitions up to the end of the run (the harness closing adds a last one)."""
    return harness.transitions[:-1] if not harness.transitions[-1][0] else harness.transitions


def assert_checkpoints_hold(harness: Harness) -> None:
    assert harness.mismatches == []
    assert harness.checks > 20


async def test_no_fault_baseline() -> None:
    harness, status, counters, _ = await run_with_faults()
    assert status["faults_applied"] == {}
    assert before_close(harness) == [(True, "")]
    assert counters["gaps"] == counters["resyncs"] == 0
    assert counters["adapter.snapshot_fetches"] == 1
    assert_checkpoints_hold(harness)


async def test_gap_is_detected_and_resynced() -> None:
    harness, status, counters, _ = await run_with_faults(["gap@10"])
    assert status["faults_applied"] == {"gap": 1}
    transitions = before_close(harness)
    assert [valid for valid, _ in transitions] == [True, False, True]
    reason = transitions[1][1]
    assert reason.startswith("gap: expected continuation of ")
    # the chain broke exactly at the diff the emulator withheld
    withheld = status["fault_log"][0]["detail"]  # "diff U..u not sent"
    first_missing = int(withheld.split()[1].split("..")[0])
    expected_after = int(reason.split("continuation of ")[1].split()[0])
    assert f"(U == {first_missing}), got U=" in reason  # the rule that failed, with the numbers
    assert expected_after + 1 == first_missing
    assert counters["gaps"] == 1 and counters["resyncs"] == 1
    assert counters["adapter.snapshot_fetches"] == 2
    assert counters["adapter.connections_opened"] == 1
    assert_checkpoints_hold(harness)


async def test_out_of_order_diff_is_detected_and_resynced() -> None:
    harness, status, counters, _ = await run_with_faults(["out_of_order@10"])
    assert status["faults_applied"] == {"out_of_order": 1}
    transitions = before_close(harness)
    assert [valid for valid, _ in transitions] == [True, False, True]
    assert transitions[1][1].startswith("gap:")
    assert counters["gaps"] == 1 and counters["resyncs"] == 1
    # the late diff arrived after the early one and was discarded, never applied on top
    assert counters["skipped"] + counters["dropped"] >= 2
    assert counters["adapter.snapshot_fetches"] == 2
    assert_checkpoints_hold(harness)


async def test_malformed_frame_is_counted_and_skipped() -> None:
    harness, status, counters, _ = await run_with_faults(["malformed@5", "malformed@15"])
    assert status["faults_applied"] == {"malformed": 2}
    assert counters["adapter.malformed"] == counters["adapter.decode_errors"] == 2
    # nothing was lost, so the book never became invalid
    assert before_close(harness) == [(True, "")]
    assert counters["gaps"] == counters["resyncs"] == 0
    assert counters["adapter.connections_opened"] == 1
    assert_checkpoints_hold(harness)


async def test_drop_reconnects_through_backoff_and_resyncs() -> None:
    harness, status, counters, _ = await run_with_faults(["drop@8,duration=0.3"], speed=10.0)
    assert status["faults_applied"] == {"drop": 1}
    transitions = before_close(harness)
    assert [valid for valid, _ in transitions] == [True, False, True]
    assert transitions[1][1].startswith("disconnected: ")
    states = [state for state, _ in harness.feed_states()]
    assert states[:3] == ["connected", "disconnected", "connected"]
    assert counters["adapter.disconnects"] == 1
    assert counters["adapter.connections_opened"] == 2
    # new connections were refused (HTTP 503) for 0.3 s: at least one failed attempt
    assert counters["adapter.connect_failures"] >= 1
    assert counters["adapter.reconnects"] == counters["adapter.connect_failures"] + 1
    assert counters["resyncs"] == 1 and counters["snapshots"] == 2
    assert_checkpoints_hold(harness)


async def test_stall_makes_the_book_stale_then_recovers() -> None:
    stall_s = 1.2
    harness, status, counters, injected_at = await run_with_faults(
        speed=10.0,
        inject=(0.5, Fault("stall", duration_s=stall_s)),
        engine_stale_s=0.25,
        timer_interval_s=0.02,
        stale_after_s=0.5,
    )
    assert status["faults_applied"] == {"stall": 1}
    transitions = before_close(harness)
    assert [valid for valid, _ in transitions] == [True, False, True]
    assert transitions[1][1].startswith("stale: no data for ")
    assert counters["stale"] == 1
    assert counters["adapter.stale_reconnects"] >= 1
    # invalid only once the feed had been silent for the engine's limit (measured from the
    # last event that arrived, which may precede the injection: messages already in flight),
    # valid again only after the stall ended
    assert injected_at is not None
    went_invalid, back_valid = harness.transition_times[1], harness.transition_times[2]
    last_event = max(t for t in harness.event_times if t < went_invalid)
    # receipt stamps precede the sink by a little; a 20 ms timer tick is the resolution
    assert went_invalid - last_event >= 0.25 - 0.02
    assert went_invalid - injected_at < 0.25 + 1.0
    assert back_valid - injected_at >= stall_s
    assert_checkpoints_hold(harness)


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("gap", "missing '@SECONDS'"),
        ("hiccup@3", "unknown fault kind 'hiccup'"),
        ("gap@soon", "SECONDS must be a number"),
        ("gap@-1", "must be a finite number >= 0"),
        ("drop@1,every=0", "every must be > 0"),
        ("stall@1,length=3", "unknown option 'length'"),
        ("stall@1,duration", "is not KEY=VALUE"),
        ("gap@1,venue=kraken", "unknown venue 'kraken'"),
        ("gap@1,symbol=BTC/USDT", "bad symbol"),
        ("gap@1,every=2,every=3", "given twice"),
    ],
)
def test_fault_spec_errors_name_the_spec(spec: str, problem: str) -> None:
    from bot.errors import InputError

    with pytest.raises(InputError) as info:
        parse_fault_spec(spec)
    message = str(info.value)
    assert f"--fault {spec!r}" in message
    assert problem in message


def test_fault_spec_grammar() -> None:
    scheduled = parse_fault_spec("Stall@12.5,every=60,duration=3,symbol=btcusdt,venue=binance_usdm")
    assert scheduled.at_s == 12.5 and scheduled.every_s == 60
    assert scheduled.fault == Fault("stall", venue="binance_usdm", symbol="BTCUSDT", duration_s=3.0)
    assert parse_fault_spec("out-of-order@0").fault.kind == "out_of_order"
    assert Fault("stall").effective_duration_s == 5.0
    assert Fault("gap", symbol="ETHUSDT").matches("binance_spot", "ETHUSDT")
    assert not Fault("gap", symbol="ETHUSDT").matches("binance_spot", "BTCUSDT")
    assert not Fault("drop", venue="binance_usdm").matches("binance_spot")
