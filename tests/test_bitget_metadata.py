"""Bitget instrument metadata: the real ccxt client against a loopback HTTP server answering
Bitget's v2 instrument lists (tests/data/bitget_*.json: the venue's documented envelope
around instrument objects from ccxt's stored snapshot of real answers; see
tests/data/SOURCES.md), the refusals, and the shipped specs of the recorded instruments
checked against every recorded price and size."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.errors import InputError
from bot.venues.bitget.rest import spec_from_market
from bot.venues.metadata import load_instruments, load_instruments_async, parse_key, resolve_instruments
from tests.bitget_kit import DATA, recorded_messages

EMPTY = {"code": "00000", "msg": "success", "requestTime": 1695806875837, "data": []}


class BitgetRestServer:
    """``/api/v2/spot/public/symbols``, ``/api/v2/margin/currencies`` and
    ``/api/v2/mix/market/contracts?productType=..`` as Bitget answers them."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> BitgetRestServer:
        app = web.Application()
        app.router.add_get("/api/v2/spot/public/symbols", self._file("bitget_symbols_spot.json"))
        app.router.add_get("/api/v2/margin/currencies", self._empty)
        app.router.add_get("/api/v2/mix/market/contracts", self._contracts)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    def _file(self, name: str) -> Any:
        async def handler(request: web.Request) -> web.Response:
            self.requests.append(request.path_qs)
            return web.json_response(json.loads((DATA / name).read_text()))

        return handler

    async def _empty(self, request: web.Request) -> web.Response:
        self.requests.append(request.path_qs)
        return web.json_response(EMPTY)

    async def _contracts(self, request: web.Request) -> web.Response:
        self.requests.append(request.path_qs)
        product = request.query.get("productType", "")
        path = DATA / f"bitget_contracts_{product.lower().replace('-', '_')}.json"
        return web.json_response(json.loads(path.read_text()) if path.exists() else EMPTY)


async def test_specs_come_from_bitgets_instrument_lists_through_ccxt(tmp_path: Path) -> None:
    keys = ["bitget_spot:BTCUSDT", "bitget_spot:ETHUSDT", "bitget_usdtm:BTCUSDT", "bitget_usdtm:ADAUSDT"]
    async with BitgetRestServer() as server:
        urls = {"bitget_spot": server.url, "bitget_usdtm": server.url}
        resolved = await resolve_instruments(keys, cache_dir=tmp_path, offline=False, rest_urls=urls)
    assert {item.origin for item in resolved.values()} == {"exchange"}
    spot = resolved["bitget_spot:BTCUSDT"].spec
    assert (spot.tick_size, spot.lot_size, spot.qty_step, spot.min_qty, spot.min_notional) == (
        Decimal("0.01"),  # pricePrecision 2
        Decimal("0.000001"),  # quantityPrecision 6
        Decimal("0.000001"),
        Decimal("0"),
        Decimal("1"),  # minTradeUSDT
    )
    assert spot.kind == "spot" and (spot.base, spot.quote) == ("BTC", "USDT")
    assert (spot.maker_fee, spot.taker_fee) == (Decimal("0.002"), Decimal("0.002"))  # as the list says
    assert resolved["bitget_spot:ETHUSDT"].spec.lot_size == Decimal("0.0001")
    perp = resolved["bitget_usdtm:BTCUSDT"].spec
    assert (perp.tick_size, perp.lot_size, perp.qty_step, perp.min_qty, perp.min_notional) == (
        Decimal("0.1"),  # priceEndStep 1 at pricePlace 1
        Decimal("0.001"),  # volumePlace 3
        Decimal("0.001"),  # sizeMultiplier
        Decimal("0.001"),  # minTradeNum
        Decimal("5"),
    )
    assert perp.kind == "perp" and perp.contract_size == 1
    assert (perp.maker_fee, perp.taker_fee) == (Decimal("0.0002"), Decimal("0.0006"))
    ada = resolved["bitget_usdtm:ADAUSDT"].spec
    assert (ada.tick_size, ada.lot_size, ada.qty_step) == (Decimal("0.0001"), Decimal("1"), Decimal("1"))
    # the exchange's rules for BTCUSDT equal the shipped ones (fees aside: the shipped ones
    # are the fee page's regular rates), and the cache was written
    shipped = await load_instruments_async(
        ["bitget_spot:BTCUSDT", "bitget_usdtm:BTCUSDT"], cache_dir=None, offline=True
    )
    for key, spec in (("bitget_spot:BTCUSDT", spot), ("bitget_usdtm:BTCUSDT", perp)):
        ours = shipped[key]
        assert (ours.tick_size, ours.lot_size, ours.qty_step, ours.min_qty, ours.min_notional) == (
            spec.tick_size,
            spec.lot_size,
            spec.qty_step,
            spec.min_qty,
            spec.min_notional,
        )
    assert (shipped["bitget_spot:BTCUSDT"].maker_fee, shipped["bitget_spot:BTCUSDT"].taker_fee) == (
        Decimal("0.001"),
        Decimal("0.001"),
    )
    cached = await load_instruments_async(keys, cache_dir=tmp_path, offline=True)
    assert cached == {key: item.spec for key, item in resolved.items()}
    assert "/api/v2/spot/public/symbols" in server.requests
    assert "/api/v2/mix/market/contracts?productType=USDT-FUTURES" in server.requests
    assert not any("coins" in r for r in server.requests)  # fetchCurrencies is off


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("bitget_usdtm:BTCUSDT0926", "delivery contract, not a perpetual"),
        ("bitget_usdtm:BTCUSD", "not a USDT-margined linear contract"),
        ("bitget_spot:SOLUSDT", "SOLUSDT is not listed on bitget_spot"),
    ],
)
async def test_instruments_mmbot_cannot_use_are_refused(tmp_path: Path, key: str, problem: str) -> None:
    venue = key.partition(":")[0]
    async with BitgetRestServer() as server:
        with pytest.raises(InputError, match=problem):
            await load_instruments_async(
                [key], cache_dir=tmp_path, offline=False, rest_urls={venue: server.url}
            )


async def test_an_unreachable_venue_falls_back_to_the_shipped_cache(tmp_path: Path) -> None:
    resolved = await resolve_instruments(
        ["bitget_usdtm:BTCUSDT"],
        cache_dir=tmp_path,
        offline=False,
        timeout_s=2,
        rest_urls={"bitget_usdtm": "http://127.0.0.1:9"},
    )
    item = resolved["bitget_usdtm:BTCUSDT"]
    assert item.origin == "shipped" and item.spec.tick_size == Decimal("0.1")


def test_spec_builder_reads_price_steps_and_refuses_a_step_finer_than_the_book() -> None:
    info = json.loads((DATA / "bitget_contracts_usdt_futures.json").read_text())["data"][0]
    market = {"info": {**info, "priceEndStep": "5", "pricePlace": "2"}, "maker": 0.0002, "taker": 0.0006}
    assert spec_from_market("bitget_usdtm", market).tick_size == Decimal("0.05")
    finer = {"info": {**info, "sizeMultiplier": "0.0001"}, "maker": 0.0002, "taker": 0.0006}
    with pytest.raises(ValueError, match="finer than volumePlace"):
        spec_from_market("bitget_usdtm", finer)


def test_instrument_keys() -> None:
    assert parse_key("bitget_usdtm:BTCUSDT") == ("bitget_usdtm", "BTCUSDT")
    with pytest.raises(InputError, match="upper-case"):
        parse_key("bitget_spot:btcusdt")


def test_shipped_specs_convert_every_recorded_price_and_size_exactly() -> None:
    specs = load_instruments(["bitget_usdtm:DASHUSDT", "bitget_usdtm:UNIUSDT"], cache_dir=None, offline=True)
    by_symbol = {spec.symbol: spec for spec in specs.values()}
    checked = 0
    for _, message in recorded_messages():
        arg = message["arg"]
        spec = by_symbol[arg["instId"]]
        if arg["channel"] == "books":
            pairs = [(p, q) for data in message["data"] for p, q in data["bids"] + data["asks"]]
        elif arg["channel"] == "trade":
            pairs = [(fill[1], fill[2]) for fill in message["data"]]
        else:
            continue
        for price, size in pairs:
            assert spec.prices.to_decimal(spec.prices.to_int(price)) == Decimal(price)
            assert spec.sizes.to_decimal(spec.sizes.to_int(size)) == Decimal(size)
            checked += 1
    assert checked > 10_000
