"""Instrument specs for ccxt venues: built by ccxt's own market parsing from exchangeInfo
served on 127.0.0.1, exact decimals, cached, and the cache fallbacks."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest
from aiohttp import web

from bot.emulator.server import EmulatorServer
from bot.errors import InputError, MmbotError
from bot.venues.ccxtpro.loopback import emulator_venue_settings
from bot.venues.ccxtpro.markets import resolve_ccxt_instruments
from bot.venues.metadata_cache import SHIPPED_CACHE, CacheFile
from tests.market_harness import spot_source_30s

DATA = Path(__file__).parent / "data"


def shipped(key: str, venue: str) -> object:
    cache = CacheFile.read(SHIPPED_CACHE)
    assert cache is not None
    entry = cache.get(key)
    assert entry is not None
    return msgspec.structs.replace(entry.spec, venue=venue)


@pytest.fixture
async def exchange_info_server() -> AsyncIterator[str]:
    """Binance's exchangeInfo bodies (hand-written fixtures, see tests/data/SOURCES.md)."""

    def serve(name: str) -> Any:
        body = json.loads((DATA / f"binance_{name}_exchangeinfo.json").read_text())

        async def handler(request: web.Request) -> web.Response:
            return web.json_response(body)

        return handler

    app = web.Application()
    app.router.add_get("/api/v3/exchangeInfo", serve("spot"))
    app.router.add_get("/fapi/v1/exchangeInfo", serve("usdm"))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def test_specs_through_ccxt_equal_the_binance_filters(
    exchange_info_server: str, tmp_path: Path
) -> None:
    """ccxt parses Binance's filters into floats; the specs come out exactly as the native
    metadata path builds them from the raw strings (including the spot lot of 1e-8 from
    baseAssetPrecision, finer than the 1e-5 order step)."""
    spot = await resolve_ccxt_instruments(
        "ccxt_binance",
        emulator_venue_settings(exchange_info_server),
        ["BTCUSDT", "ETHUSDT"],
        cache_dir=tmp_path,
        offline=False,
    )
    assert spot["ccxt_binance:BTCUSDT"] == shipped("binance_spot:BTCUSDT", "ccxt_binance")
    assert spot["ccxt_binance:ETHUSDT"] == shipped("binance_spot:ETHUSDT", "ccxt_binance")
    swap = await resolve_ccxt_instruments(
        "ccxt_binanceusdm",
        emulator_venue_settings(exchange_info_server, "swap"),
        ["BTCUSDT"],
        cache_dir=tmp_path,
        offline=False,
    )
    expected = shipped("binance_usdm:BTCUSDT", "ccxt_binanceusdm")
    assert swap["ccxt_binanceusdm:BTCUSDT"] == expected
    # both fetches merged into one cache file; offline runs read it back
    cache = CacheFile.read(tmp_path / "markets.json")
    assert cache is not None and sorted(cache.keys()) == [
        "ccxt_binance:BTCUSDT",
        "ccxt_binance:ETHUSDT",
        "ccxt_binanceusdm:BTCUSDT",
    ]
    offline = await resolve_ccxt_instruments(
        "ccxt_binance",
        emulator_venue_settings(exchange_info_server),
        ["BTCUSDT"],
        cache_dir=tmp_path,
        offline=True,
    )
    assert offline == {"ccxt_binance:BTCUSDT": spot["ccxt_binance:BTCUSDT"]}
    # a dated future is not a swap: not matched for market_type = "swap"
    with pytest.raises(InputError, match="no swap market BTCUSDT240927"):
        await resolve_ccxt_instruments(
            "ccxt_binanceusdm",
            emulator_venue_settings(exchange_info_server, "swap"),
            ["BTCUSDT240927"],
            cache_dir=None,
            offline=False,
        )


async def test_fee_overrides_and_the_emulators_own_exchange_info(tmp_path: Path) -> None:
    async with EmulatorServer(spot_source_30s(), speed=1.0, loop=False, autostart=False) as emu:
        settings = emulator_venue_settings(emu.url, maker_fee="-0.0001", taker_fee="0.0004")
        specs = await resolve_ccxt_instruments(
            "ccxt_binance", settings, ["BTCUSDT"], cache_dir=None, offline=False
        )
    spec = specs["ccxt_binance:BTCUSDT"]
    base = shipped("binance_spot:BTCUSDT", "ccxt_binance")
    assert spec == msgspec.structs.replace(base, maker_fee=settings.maker_fee, taker_fee=settings.taker_fee)


async def test_unreachable_exchange_falls_back_to_the_cache_or_fails_clearly(
    exchange_info_server: str, tmp_path: Path
) -> None:
    good = emulator_venue_settings(exchange_info_server)
    fetched = await resolve_ccxt_instruments(
        "ccxt_binance", good, ["BTCUSDT"], cache_dir=tmp_path, offline=False
    )
    dead = emulator_venue_settings("http://127.0.0.1:9", timeout_s=2.0)
    again = await resolve_ccxt_instruments(
        "ccxt_binance", dead, ["BTCUSDT"], cache_dir=tmp_path, offline=False
    )
    assert again == fetched
    with pytest.raises(MmbotError, match="could not load ccxt_binance markets: load_markets failed"):
        await resolve_ccxt_instruments(
            "ccxt_binance", dead, ["BTCUSDT"], cache_dir=tmp_path, offline=False, fallback=False
        )
    with pytest.raises(
        InputError,
        match=r"no market metadata for ETHUSDT on ccxt_binance; looked in: exchange: load_markets failed",
    ):
        await resolve_ccxt_instruments("ccxt_binance", dead, ["ETHUSDT"], cache_dir=tmp_path, offline=False)
    with pytest.raises(InputError, match=r"exchange not asked \(offline\); no cache directory"):
        await resolve_ccxt_instruments("ccxt_binance", good, ["BTCUSDT"], cache_dir=None, offline=True)


async def test_emulator_exchange_info_lists_the_served_markets() -> None:
    emulator = EmulatorServer(spot_source_30s(), speed=1.0, loop=False, autostart=False)
    async with emulator as emu, aiohttp.ClientSession() as session:
        async with session.get(emu.url + "/api/v3/exchangeInfo") as response:
            spot = await response.json()
        async with session.get(emu.url + "/fapi/v1/exchangeInfo") as response:
            usdm = await response.json()
        async with session.get(emu.url + "/api/v3/exchangeInfo", params={"symbol": "ETHUSDT"}) as response:
            assert response.status == 400
            assert await response.json() == {"code": -1121, "msg": "Invalid symbol."}
    [btc] = spot["symbols"]
    filters = {f["filterType"]: f for f in btc["filters"]}
    assert (btc["symbol"], btc["baseAssetPrecision"]) == ("BTCUSDT", 8)
    assert filters["PRICE_FILTER"]["tickSize"] == "0.01" and filters["LOT_SIZE"]["stepSize"] == "0.00001"
    assert filters["NOTIONAL"]["minNotional"] == "5"
    assert usdm["symbols"] == []  # the replay serves no USD-M market
