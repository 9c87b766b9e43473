"""Market data you can trust, at the edges (in-process, real adapters over a real websocket on
127.0.0.1 against the emulator replaying the real recordings):

- the REST weight budget: read from exchangeInfo ``rateLimits`` (the documented limit when that
  fails), the venue's ``X-MBX-USED-WEIGHT-1M`` folded in, a wait for weight logged, counted and
  described (``snapshot_wait``), snapshot retries backing off by attempt;
- USD-M ``depth@0ms`` accepted (the real recordings are ``depth@0ms``);
- a frozen depth stream on OKX (trades go on) caught by the depth-silence rule;
- receipt stamps taken when the message is queued, before decoding.
"""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import pytest
import structlog

from bot.config import OkxVenueSettings
from bot.core.events import BookDelta, MarketEvent
from bot.emulator.faults import Fault, ScheduledFault
from bot.emulator.server import EmulatorServer
from bot.emulator.sources import load_replay
from bot.venues.binance.adapter import BinanceMarketData
from bot.venues.binance.endpoints import stream_name
from bot.venues.binance.rest import WeightLimit, parse_weight_limit
from bot.venues.okx.adapter import OkxMarketData
from bot.venues.throttle import WeightedThrottler
from tests.market_harness import SPOT_BTC, Harness, settings_for, spot_source_30s, wait_until
from tests.venue_harness import OKX_FILE, OKX_SPECS, VenueHarness

DATA = Path(__file__).resolve().parent / "data"
USDM_2023 = DATA / "binance_usdm_btcusdt_20230404.dat.gz"


# ---- the throttle --------------------------------------------------------------------------------


async def test_throttle_reports_its_waits() -> None:
    seen: list[tuple[int, float, int, int]] = []
    throttle = WeightedThrottler(limit=10, period_s=0.5, on_wait=lambda *a: seen.append(a))
    await throttle.acquire(6)
    await throttle.acquire(4)
    assert throttle.waits == 0 and throttle.wait_remaining() == 0.0
    waiter = asyncio.create_task(throttle.acquire(5))
    await asyncio.sleep(0.05)
    (weight, wait, used, limit), *_ = seen
    assert (weight, used, limit) == (5, 10, 10) and 0.4 < wait <= 0.51
    assert 0.3 < throttle.wait_remaining() <= wait  # /status reads this while it waits
    await waiter
    assert throttle.waits == 1 and throttle.wait_remaining() == 0.0 and throttle.waited_s >= 0.4


async def test_throttle_folds_in_the_venues_count_and_adopts_a_new_limit() -> None:
    throttle = WeightedThrottler(limit=100, period_s=60)
    await throttle.acquire(20)
    throttle.note_used(90)  # other clients on the same IP spent 70
    assert throttle.in_window() == 90
    throttle.note_used(50)  # lower than ours: nothing to add
    assert throttle.in_window() == 90
    with pytest.raises(ValueError, match="never fit"):
        await throttle.acquire(101)
    throttle.set_limit(2400, 60.0)
    assert (throttle.limit, throttle.period_s) == (2400, 60.0)


def test_weight_limit_read_from_exchange_info() -> None:
    spot = json.loads((DATA / "binance_spot_exchangeinfo.json").read_text())
    usdm = json.loads((DATA / "binance_usdm_exchangeinfo.json").read_text())
    assert parse_weight_limit(spot) == WeightLimit(6000, 60.0)
    assert parse_weight_limit(usdm) == WeightLimit(2400, 60.0)
    assert parse_weight_limit({"rateLimits": [{"rateLimitType": "ORDERS"}]}) is None
    tight = {
        "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "SECOND", "intervalNum": 10, "limit": 500},
        ]
    }
    assert parse_weight_limit(tight) == WeightLimit(500, 10.0)


# ---- the Binance adapter's REST budget -----------------------------------------------------------


async def test_budget_comes_from_exchange_info_and_the_used_weight_header() -> None:
    async with EmulatorServer(load_replay([USDM_2023]), speed=1.0) as emu:
        harness = Harness("binance_usdm", settings_for("binance_usdm", emu.overrides("binance_usdm")))
        async with harness:
            await wait_until(lambda: harness.sync.valid, timeout=15, what="valid book")
            budget = harness.adapter.rest_budget()
            # the emulator publishes Binance's USD-M limit; the snapshot (limit 1000: weight 20) and
            # the exchangeInfo read (weight 1) are in the window, as the venue's header also says
            assert budget["source"] == "exchangeInfo" and budget["limit"] == 2400
            assert budget["window_s"] == 60.0 and budget["used"] >= 21
            assert harness.adapter.stats.weight_waits == 0


async def test_documented_limit_when_exchange_info_cannot_be_read(unused_tcp_port: int) -> None:
    async with EmulatorServer(load_replay([USDM_2023]), speed=1.0) as emu:
        overrides = emu.overrides("binance_usdm")
        harness = Harness("binance_usdm", settings_for("binance_usdm", overrides))
        # exchangeInfo unreachable: the depth path is kept, the REST base points at a closed port
        harness.adapter.endpoints = type(harness.adapter.endpoints)(
            venue="binance_usdm",
            ws_public=harness.adapter.endpoints.ws_public,
            ws_market=harness.adapter.endpoints.ws_market,
            rest=f"http://127.0.0.1:{unused_tcp_port}",
        )
        with structlog.testing.capture_logs() as logs:
            await harness.adapter._read_weight_limit()
        assert harness.adapter.rest_budget()["limit"] == 2400
        assert harness.adapter.weight_limit_source == "documented"
        assert any("documented" in entry["event"] for entry in logs)


async def test_snapshot_waiting_for_weight_is_logged_counted_and_described() -> None:
    settings = settings_for(
        "binance_spot",
        {},
        snapshot_limit=100,  # weight 5
        rest_weight_per_minute=10,
        rest_weight_window_s=1.5,
    )
    async with EmulatorServer(spot_source_30s(), speed=1.0) as emu:
        settings = settings.model_copy(update=emu.overrides("binance_spot"))
        harness = Harness("binance_spot", settings)
        with structlog.testing.capture_logs() as logs:
            async with harness:
                await wait_until(lambda: harness.sync.valid, timeout=15, what="valid book")
                adapter = harness.adapter
                assert adapter.rest_budget()["source"] == "config"
                fetches = adapter.stats.snapshot_fetches
                adapter.request_snapshot(SPOT_BTC.key, "test 1")
                await wait_until(lambda: adapter.stats.snapshot_fetches == fetches + 1, what="2nd fetch")
                adapter.request_snapshot(SPOT_BTC.key, "test 2")  # the window is full: waits
                await wait_until(lambda: adapter.snapshot_wait(SPOT_BTC.key) is not None, what="a wait")
                text = adapter.snapshot_wait(SPOT_BTC.key)
                assert text is not None and text.startswith("waiting for REST weight, ")
                assert text.endswith(" s") and 0 <= int(text.split(", ")[1][:-2]) <= 2
                assert adapter.rest_budget()["waiting_s"] > 0
                await wait_until(lambda: adapter.stats.snapshot_fetches == fetches + 2, timeout=5, what="3rd")
                assert adapter.snapshot_wait(SPOT_BTC.key) is None
                assert adapter.stats.weight_waits == 1 and adapter.stats.weight_wait_s > 0.3
        waits = [e for e in logs if e["event"] == "waiting for REST weight"]
        assert len(waits) == 1 and waits[0]["limit"] == 10 and waits[0]["weight"] == 5
        assert any(e["event"] == "REST weight available" for e in logs)


async def test_snapshot_retries_back_off_by_attempt() -> None:
    settings = settings_for("binance_spot", {}, snapshot_retry_min_s=0.2, snapshot_retry_max_s=0.8)
    async with EmulatorServer(spot_source_30s(), speed=1.0) as emu:
        harness = Harness("binance_spot", settings.model_copy(update=emu.overrides("binance_spot")))
        adapter = harness.adapter
        assert [adapter.retry_delay(n) for n in (1, 2, 3, 4, 5, 9)] == [0.0, 0.2, 0.4, 0.8, 0.8, 0.8]
        async with harness:
            await wait_until(lambda: harness.sync.valid, timeout=15, what="valid book")
            requests = emu.rest_requests
            loop = asyncio.get_running_loop()
            start = loop.time()
            adapter.request_snapshot(SPOT_BTC.key, "retry", attempt=4)
            await wait_until(lambda: adapter.snapshot_wait(SPOT_BTC.key) is not None, what="back-off")
            assert (adapter.snapshot_wait(SPOT_BTC.key) or "").startswith("snapshot retry 4 backing off, 0.")
            await wait_until(lambda: emu.rest_requests > requests, what="the retry's fetch")
            assert loop.time() - start >= 0.8
            assert adapter.stats.snapshot_backoffs == 1


# ---- USD-M depth@0ms -----------------------------------------------------------------------------


async def test_usdm_depth_0ms_stream_is_accepted_and_syncs() -> None:
    assert stream_name("binance_usdm", "BTCUSDT", "depth", depth_speed_ms=0) == "btcusdt@depth@0ms"
    async with EmulatorServer(load_replay([USDM_2023]), speed=2.0) as emu:
        settings = settings_for("binance_usdm", emu.overrides("binance_usdm"), depth_speed_ms=0)
        harness = Harness("binance_usdm", settings)
        async with harness:
            await wait_until(lambda: len(harness.of_type(BookDelta)) > 50, timeout=15, what="diffs")
            await wait_until(lambda: harness.sync.valid, what="valid")
            assert any("@depth@0ms" in url for url in harness.adapter.connection_urls)
            assert harness.sync.counters.snapshot_retries == 0 and harness.sync.counters.gaps == 0


# ---- receipt stamps ------------------------------------------------------------------------------


async def test_events_are_stamped_at_receipt_before_decoding() -> None:
    """The adapter's clock is read when the websocket protocol queues the message; a decoder that
    takes time does not move the stamp."""
    ticks = iter(range(1_000_000_000, 10**19, 1_000_000))
    stamps: list[int] = []

    def clock() -> int:
        value = next(ticks)
        stamps.append(value)
        return value

    async with EmulatorServer(spot_source_30s(), speed=4.0) as emu:
        settings = settings_for("binance_spot", emu.overrides("binance_spot"))
        events: list[MarketEvent] = []
        adapter = BinanceMarketData(
            "binance_spot", settings, [SPOT_BTC], events.append, rng=random.Random(1), clock=clock
        )
        original = adapter.decoder.decode_frame
        decode_clock: list[int] = []

        def slow_decode(raw: Any, local_ts: int) -> list[MarketEvent]:
            decode_clock.append(local_ts)
            return original(raw, local_ts)

        adapter.decoder.decode_frame = slow_decode  # type: ignore[method-assign]
        task = asyncio.create_task(adapter.run())
        await wait_until(lambda: len(decode_clock) > 20, what="frames")
        await adapter.close()
        await asyncio.gather(task, return_exceptions=True)
        # every stamp handed to the decoder was taken by the connection's receipt hook, in order
        assert decode_clock == sorted(decode_clock)
        assert set(decode_clock) <= set(stamps)
        frames = [e for e in events if e.__class__.__name__ != "FeedStatus"]
        assert frames and all(e.local_ts in stamps for e in frames)


# ---- Bybit / OKX: the per-stream checks apply -----------------------------------------------------


async def test_okx_frozen_book_channel_with_trades_flowing_is_caught() -> None:
    """OKX has no top-of-book stream subscribed: the trade and depth-silence rules watch it."""
    spec = OKX_SPECS["okx_spot"]
    key = spec.key
    fault = ScheduledFault(Fault(kind="stall_depth", venue="okx_spot", duration_s=3.0), at_s=2.0)
    async with EmulatorServer(load_replay([OKX_FILE]), speed=1.0, loop=False, faults=[fault]) as emu:
        settings = OkxVenueSettings(**emu.overrides("okx_spot"), reconnect_min_s=0.02, reconnect_max_s=0.2)
        harness = VenueHarness(OkxMarketData, "okx_spot", settings, [spec], timer_interval_s=0.05)
        async with harness:
            await wait_until(lambda: emu.faults_applied.get("stall_depth") == 1, timeout=10, what="fault")
            await wait_until(
                lambda: any(not valid for valid, _, _ in harness.transitions[key]), timeout=5, what="invalid"
            )
            _, reason, _ = next(t for t in harness.transitions[key] if not t[0])
            assert reason.startswith(("depth stream silent for 2.", "trade contradicts the book"))
            health = harness.engine.instruments[key].health
            assert health.counters.depth_silences + health.counters.trade_mismatches >= 1
            assert harness.adapter.stats.resubscribes >= 1  # the resync: a fresh snapshot
            await emu.wait_finished()
            assert harness.transitions[key][-1][0]  # valid again once the stream came back
            assert harness.crossed_while_valid == []


# ---- settings ------------------------------------------------------------------------------------


def test_offline_replay_slower_than_real_time_widens_the_clock_drift_allowance() -> None:
    from bot.market.feed_settings import FeedCheckSettings
    from bot.ops.feeds import for_replay_speed

    market = FeedCheckSettings()
    assert for_replay_speed(market, 1.0) == {} and for_replay_speed(market, 50.0) == {}
    assert for_replay_speed(market, 0.5) == {"exchange_clock_drift": 0.51}
    assert for_replay_speed(FeedCheckSettings(exchange_clock_drift=0.9), 0.5) == {}


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        ("rest_weight_per_minute = 20", "below the weight of one depth snapshot (50 at snapshot_limit 1000)"),
        (
            "snapshot_retry_min_s = 5\nsnapshot_retry_max_s = 1",
            "snapshot_retry_max_s must be >= snapshot_retry_min_s",
        ),
    ],
)
def test_binance_budget_settings_are_validated(tmp_path: Path, section: str, problem: str) -> None:
    from bot.config import load_settings
    from bot.errors import ConfigError

    path = tmp_path / "c.toml"
    path.write_text(f"[venues.binance_spot]\n{section}\n")
    with pytest.raises(ConfigError, match=r"venues\.binance_spot") as caught:
        load_settings(path)
    assert problem in str(caught.value)


async def test_bitget_frozen_book_channel_with_trades_flowing_is_caught() -> None:
    """Bitget (books + trade channels): the same per-stream rules apply, on a synthetic market."""
    from bot.config import BitgetVenueSettings
    from bot.venues.bitget.adapter import BitgetMarketData
    from tests.test_bitget_protocol import SPOT as BITGET_SPOT
    from tests.test_bitget_protocol import source as bitget_source

    key = BITGET_SPOT.key
    fault = ScheduledFault(Fault(kind="stall_depth", venue="bitget_spot", duration_s=4.0), at_s=3.0)
    async with EmulatorServer(
        bitget_source(BITGET_SPOT, seconds=12.0), speed=1.0, loop=False, faults=[fault]
    ) as emu:
        settings = BitgetVenueSettings(
            **emu.overrides("bitget_spot"), reconnect_min_s=0.02, reconnect_max_s=0.2
        )
        harness = VenueHarness(
            BitgetMarketData, "bitget_spot", settings, [BITGET_SPOT], timer_interval_s=0.05
        )
        async with harness:
            await wait_until(lambda: emu.faults_applied.get("stall_depth") == 1, timeout=10, what="fault")
            await wait_until(
                lambda: any(not valid for valid, _, _ in harness.transitions[key]), timeout=5, what="invalid"
            )
            _, reason, _ = next(t for t in harness.transitions[key] if not t[0])
            assert reason.startswith(("depth stream silent for 2.", "trade contradicts the book")), reason
            await emu.wait_finished()
            await wait_until(lambda: harness.sync(key).valid, timeout=5, what="valid again")
            assert harness.crossed_while_valid == []
