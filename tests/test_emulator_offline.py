"""The in-process offline set-up (what ``mmbot run --offline`` uses): one emulator on one
port serving both bundled recordings, a spot and a USD-M adapter configured from
``config`` + the emulator's overrides, both books valid and right."""

from __future__ import annotations

from bot.config import OfflineSettings, load_settings
from bot.emulator.offline import offline_emulator
from tests.market_harness import Harness, wait_until


async def test_offline_emulator_serves_spot_and_usdm_on_one_port() -> None:
    settings = load_settings()
    emulator = offline_emulator(OfflineSettings(speed=20.0, loop=False))
    async with emulator:
        spot = settings.venues.binance_spot.model_copy(update=emulator.overrides("binance_spot"))
        usdm = settings.venues.binance_usdm.model_copy(update=emulator.overrides("binance_usdm"))
        assert usdm.ws_url is not None and usdm.ws_url.endswith("/public")
        assert usdm.ws_market_url is not None and usdm.ws_market_url.endswith("/market")
        spot_feed, usdm_feed = Harness("binance_spot", spot), Harness("binance_usdm", usdm)
        async with spot_feed, usdm_feed:
            await wait_until(
                lambda: (
                    spot_feed.sync.valid
                    and usdm_feed.sync.valid
                    and spot_feed.checks >= 3
                    and usdm_feed.checks >= 3
                ),
                timeout=20,
                what="both books valid and checked against bookTickers",
            )
        status = emulator.status()
    assert status["connections_total"] == 3  # spot, USD-M /public, USD-M /market
    assert spot_feed.mismatches == [] and usdm_feed.mismatches == []
    assert spot_feed.adapter.stats.decode_errors == usdm_feed.adapter.stats.decode_errors == 0
