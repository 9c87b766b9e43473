"""Bybit and OKX instrument metadata: ccxt against a loopback HTTP server speaking the
venues' instrument-list answers (no mock of our code, no internet), the refusals, and the
shipped specs of the recorded instruments checked against every recorded price and size."""

from __future__ import annotations

import json
import zipfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.errors import InputError
from bot.venues.metadata import load_instruments, load_instruments_async, parse_key, resolve_instruments
from tests.venue_harness import BYBIT_FILE, DATA, OKX_FILE


class InstrumentServer:
    """Serves Bybit's ``/v5/market/instruments-info`` and OKX's ``/api/v5/public/instruments``."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> InstrumentServer:
        app = web.Application()
        app.router.add_get("/v5/market/instruments-info", self._bybit)
        app.router.add_get("/api/v5/public/instruments", self._okx)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    async def _bybit(self, request: web.Request) -> web.Response:
        self.requests.append(request.path_qs)
        category = request.query.get("category", "")
        body: dict[str, Any] = json.loads((DATA / f"bybit_instruments_{category}.json").read_text())
        if request.query.get("status") == "PreLaunch":
            body["result"]["list"] = []
        return web.json_response(body)

    async def _okx(self, request: web.Request) -> web.Response:
        self.requests.append(request.path_qs)
        kind = request.query.get("instType", "").lower()
        return web.json_response(json.loads((DATA / f"okx_instruments_{kind}.json").read_text()))


async def test_specs_come_from_the_venues_instrument_lists_through_ccxt(tmp_path: Path) -> None:
    keys = ["bybit_linear:XRPUSDT", "bybit_spot:BTCUSDT", "okx_spot:BTC-USDT", "okx_swap:BTC-USDT-SWAP"]
    async with InstrumentServer() as server:
        urls = {venue: server.url for venue in ("bybit_linear", "bybit_spot", "okx_spot", "okx_swap")}
        resolved = await resolve_instruments(keys, cache_dir=tmp_path, offline=False, rest_urls=urls)
    assert {item.origin for item in resolved.values()} == {"exchange"}
    xrp = resolved["bybit_linear:XRPUSDT"].spec
    assert (xrp.tick_size, xrp.lot_size, xrp.qty_step, xrp.min_qty, xrp.min_notional) == (
        Decimal("0.0001"),
        Decimal("1"),
        Decimal("1"),
        Decimal("1"),
        Decimal("5"),
    )
    assert xrp.kind == "perp" and xrp.contract_size == 1
    spot = resolved["bybit_spot:BTCUSDT"].spec
    assert (spot.tick_size, spot.lot_size, spot.min_qty, spot.min_notional) == (
        Decimal("0.1"),
        Decimal("0.000001"),
        Decimal("0.000011"),
        Decimal("5"),
    )
    okx = resolved["okx_spot:BTC-USDT"].spec
    assert (okx.tick_size, okx.lot_size, okx.min_qty, okx.kind) == (
        Decimal("0.1"),
        Decimal("0.00000001"),
        Decimal("0.00001"),
        "spot",
    )
    swap = resolved["okx_swap:BTC-USDT-SWAP"].spec
    assert (swap.tick_size, swap.lot_size, swap.contract_size, swap.base, swap.quote) == (
        Decimal("0.1"),
        Decimal("0.1"),
        Decimal("0.01"),
        "BTC",
        "USDT",
    )
    # a 0.1-contract lot of a 0.01 BTC contract at 60000 is worth 60 USDT
    assert swap.notional(600000, 1) == Decimal("60.000")
    # the same specs as the shipped ones for the recorded instruments, and the cache was written
    shipped = await load_instruments_async(
        ["bybit_linear:XRPUSDT", "okx_spot:BTC-USDT"], cache_dir=None, offline=True
    )
    assert shipped["bybit_linear:XRPUSDT"] == xrp and shipped["okx_spot:BTC-USDT"] == okx
    cached = await load_instruments_async(keys, cache_dir=tmp_path, offline=True)
    assert cached == {key: item.spec for key, item in resolved.items()}
    assert any("category=linear" in r for r in server.requests)
    assert any("instType=SWAP" in r for r in server.requests)


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("bybit_linear:BTCUSDT-27JUN25", "LinearFutures contract, not a linear perpetual"),
        ("okx_swap:BTC-USD-SWAP", "inverse (coin-margined) contract"),
        ("okx_spot:ETH-USDT", "ETH-USDT is not listed on okx_spot"),
    ],
)
async def test_instruments_mmbot_cannot_use_are_refused(tmp_path: Path, key: str, problem: str) -> None:
    venue = key.partition(":")[0]
    async with InstrumentServer() as server:
        with pytest.raises(InputError, match=problem.replace("(", r"\(").replace(")", r"\)")):
            await load_instruments_async(
                [key], cache_dir=tmp_path, offline=False, rest_urls={venue: server.url}
            )


def test_instrument_keys_of_the_new_venues() -> None:
    assert parse_key("okx_swap:BTC-USDT-SWAP") == ("okx_swap", "BTC-USDT-SWAP")
    assert parse_key("bybit_linear:XRPUSDT") == ("bybit_linear", "XRPUSDT")
    with pytest.raises(InputError, match="upper-case"):
        parse_key("okx_spot:btc-usdt")


def test_shipped_specs_convert_every_recorded_price_and_size_exactly() -> None:
    specs = load_instruments(
        ["bybit_linear:XRPUSDT", "okx_spot:BTC-USDT", "okx_swap:UNI-USD-SWAP", "okx_futures:BTC-USD-220527"],
        cache_dir=None,
        offline=True,
    )
    with zipfile.ZipFile(BYBIT_FILE) as archive:
        (name,) = archive.namelist()
        lines = [json.loads(line) for line in archive.read(name).splitlines()]
    xrp = specs["bybit_linear:XRPUSDT"]
    values = [lv for m in lines for side in ("b", "a") for lv in m["data"][side]]
    assert len(values) > 1000
    for price, size in values:
        assert xrp.prices.to_decimal(xrp.prices.to_int(price)) == Decimal(price)
        assert xrp.sizes.to_decimal(xrp.sizes.to_int(size)) == Decimal(size)
    by_inst = {s.symbol: s for s in specs.values() if s.venue.startswith("okx")}
    checked = 0
    for line in OKX_FILE.read_text().splitlines():
        if " <- " in line or " <-> " in line:
            continue
        message = json.loads(line.partition(": ")[2])
        channel, inst = message.get("arg", {}).get("channel"), message.get("arg", {}).get("instId")
        if "data" not in message or inst not in by_inst:
            continue
        spec = by_inst[inst]
        for data in message["data"]:
            if channel == "books":
                pairs = [(lv[0], lv[1]) for side in ("bids", "asks") for lv in data[side]]
            elif channel == "trades":
                pairs = [(data["px"], data["sz"])]
            else:
                continue
            for price, size in pairs:
                spec.prices.to_int(price)  # raises if off the tick
                spec.sizes.to_int(size)
                checked += 1
    assert checked > 8000
