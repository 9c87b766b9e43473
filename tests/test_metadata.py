"""Market metadata: shipped cache, ccxt fetch (internet mocked), cache fallback, errors, fees.

Only the internet is replaced: either ccxt's HTTP call (``Exchange.fetch``) returns the
hand-written, schema-faithful exchangeInfo bodies in tests/data (see SOURCES.md), or a
real aiohttp server on 127.0.0.1 serves them, so ccxt's own request building and
market parsing always run.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import socket
from collections.abc import MutableMapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt.async_support as ccxt_async
import pytest
from aiohttp import web
from structlog.testing import capture_logs

from bot.core.instrument import InstrumentKind, InstrumentSpec
from bot.errors import InputError, MmbotError
from bot.venues.binance_markets import exact_decimal, make_exchange, spec_from_market
from bot.venues.metadata import (
    load_instruments,
    load_instruments_async,
    parse_key,
    resolve_instruments,
)
from bot.venues.metadata_cache import SHIPPED_CACHE, CacheError, spec_to_entry, write_cache_atomic

DATA = Path(__file__).parent / "data"
ALL_KEYS = ["binance_spot:BTCUSDT", "binance_spot:ETHUSDT", "binance_usdm:BTCUSDT", "binance_usdm:ETHUSDT"]
SPOT_URL = "https://api.binance.com/api/v3/exchangeInfo"
USDM_URL = "https://fapi.binance.com/fapi/v1/exchangeInfo"


def exchange_info(name: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((DATA / f"{name}_exchangeinfo.json").read_text())
    return result


class FakeInternet:
    """Stands in for Binance behind ccxt's HTTP call; records every request."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []
        self.bodies = {
            "/api/v3/exchangeInfo": exchange_info("binance_spot"),
            "/fapi/v1/exchangeInfo": exchange_info("binance_usdm"),
        }
        self.failure: BaseException | None = None
        self.hang = False

    async def fetch(
        self, exchange: Any, url: str, method: str = "GET", headers: Any = None, body: Any = None
    ) -> Any:
        self.calls.append((exchange.id, method, url))
        if self.hang:
            await asyncio.sleep(3600)
        if self.failure is not None:
            raise self.failure
        for path, payload in self.bodies.items():
            if url.split("?")[0].endswith(path):
                return json.loads(json.dumps(payload))
        raise AssertionError(f"unexpected request {method} {url}")


@pytest.fixture
def internet(monkeypatch: pytest.MonkeyPatch) -> FakeInternet:
    fake = FakeInternet()

    async def fetch(self: Any, url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        return await fake.fetch(self, url, method, headers, body)

    monkeypatch.setattr(ccxt_async.Exchange, "fetch", fetch)
    return fake


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Any attempt to reach the network (through ccxt or a raw socket) is recorded and fails."""
    attempts: list[str] = []

    async def fetch(self: Any, url: str, *args: Any, **kwargs: Any) -> Any:
        attempts.append(url)
        raise AssertionError(f"network used while offline: {url}")

    def connect(self: socket.socket, address: Any) -> None:
        attempts.append(repr(address))
        raise AssertionError(f"socket connect while offline: {address}")

    monkeypatch.setattr(ccxt_async.Exchange, "fetch", fetch)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect)
    return attempts


def closed_port_url() -> str:
    """A loopback URL nobody listens on: a real 'connection refused', no mock involved."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def shipped_entries() -> dict[str, Any]:
    entries: dict[str, Any] = json.loads(SHIPPED_CACHE.read_text())["instruments"]
    return entries


def events(logs: Sequence[MutableMapping[str, Any]], name: str) -> list[MutableMapping[str, Any]]:
    return [entry for entry in logs if entry["event"] == name]


# ----------------------------------------------------------------------------- shipped cache


def test_shipped_cache_gives_the_documented_specs_offline(tmp_path: Path, no_network: list[str]) -> None:
    specs = load_instruments(ALL_KEYS, cache_dir=tmp_path, offline=True)
    assert list(specs) == ALL_KEYS
    expected = {
        # key: tick, lot, qty_step, min_qty, min_notional, maker, taker, kind
        "binance_spot:BTCUSDT": ("0.01", "0.00000001", "0.00001", "0.00001", "5", "0.001", "0.001", "spot"),
        "binance_spot:ETHUSDT": ("0.01", "0.00000001", "0.0001", "0.0001", "5", "0.001", "0.001", "spot"),
        "binance_usdm:BTCUSDT": ("0.1", "0.001", "0.001", "0.001", "100", "0.0002", "0.0005", "perp"),
        "binance_usdm:ETHUSDT": ("0.01", "0.001", "0.001", "0.001", "20", "0.0002", "0.0005", "perp"),
    }
    for key, (tick, lot, step, min_qty, notional, maker, taker, kind) in expected.items():
        spec = specs[key]
        assert spec.key == key
        assert spec.kind is InstrumentKind(kind)
        assert (spec.tick_size, spec.lot_size, spec.qty_step) == (Decimal(tick), Decimal(lot), Decimal(step))
        assert (spec.min_qty, spec.min_notional) == (Decimal(min_qty), Decimal(notional))
        assert (spec.maker_fee, spec.taker_fee) == (Decimal(maker), Decimal(taker))
        assert spec.contract_size == 1
        for value in (spec.tick_size, spec.lot_size, spec.maker_fee):
            assert isinstance(value, Decimal)
    assert specs["binance_spot:BTCUSDT"].step_lots == 1000  # 0.00001 / 0.00000001
    assert specs["binance_usdm:BTCUSDT"].prices.to_int("61800.30") == 618003
    assert no_network == []


@pytest.mark.parametrize(
    ("filename", "key"),
    [
        ("binance_spot_btcusdt_20240808_head120.gz", "binance_spot:BTCUSDT"),
        ("binance_spot_ethusdt_20240808_head120.gz", "binance_spot:ETHUSDT"),
        ("binance_usdm_btcusdt_20240808_head120.gz", "binance_usdm:BTCUSDT"),
    ],
)
def test_shipped_specs_convert_every_recorded_price_and_size_exactly(filename: str, key: str) -> None:
    spec = load_instruments([key], cache_dir=None, offline=True)[key]
    checked = 0
    finest_price_digit_used = False
    with gzip.open(DATA / filename, "rt") as handle:
        for line in handle:
            message = json.loads(line.split(" ", 1)[1])
            data = message.get("data", message)
            pairs: list[tuple[str, str]] = []
            for side in ("bids", "asks", "b", "a"):
                if isinstance(data.get(side), list):
                    pairs += [(price, size) for price, size in data[side]]
            if "B" in data and isinstance(data.get("b"), str):  # bookTicker
                pairs += [(data["b"], data["B"]), (data["a"], data["A"])]
            if data.get("e") == "trade":
                pairs.append((data["p"], data["q"]))
            for price, size in pairs:
                ticks = spec.prices.to_int(price)  # raises ConversionError if off the tick
                lots = spec.sizes.to_int(size)  # raises ConversionError if finer than the lot
                assert spec.prices.to_decimal(ticks) == Decimal(price)
                assert spec.sizes.to_decimal(lots) == Decimal(size)
                finest_price_digit_used |= ticks % 10 != 0
                checked += 1
    assert checked > 2000  # the snapshot alone has 1000 levels per side
    assert finest_price_digit_used, "tick looks too fine: the last digit is never used"


# ----------------------------------------------------------------------------- online (mocked internet)


async def test_online_fetch_builds_the_shipped_specs_and_writes_the_cache(
    tmp_path: Path, internet: FakeInternet
) -> None:
    resolved = await resolve_instruments(ALL_KEYS, cache_dir=tmp_path, offline=False)
    shipped = await load_instruments_async(ALL_KEYS, cache_dir=None, offline=True)
    for key in ALL_KEYS:
        assert resolved[key].origin == "exchange"
        assert resolved[key].spec == shipped[key]
    assert resolved["binance_spot:BTCUSDT"].location == SPOT_URL
    # exactly one request per venue, to the real mainnet endpoints by default
    assert sorted(internet.calls) == [("binance", "GET", SPOT_URL), ("binanceusdm", "GET", USDM_URL)]

    document = json.loads((tmp_path / "markets.json").read_text())
    assert document["format"] == 1 and document["written_at"]
    assert sorted(document["instruments"]) == sorted(ALL_KEYS)
    entry = document["instruments"]["binance_usdm:BTCUSDT"]
    assert entry["tick_size"] == "0.1" and entry["min_notional"] == "100" and entry["lot_size"] == "0.001"
    assert entry["source"] == USDM_URL and entry["fetched_at"] == resolved["binance_usdm:BTCUSDT"].fetched_at
    assert [p.name for p in tmp_path.iterdir()] == ["markets.json"]  # no temp file left behind


async def test_cache_write_merges_and_is_atomic(
    tmp_path: Path, internet: FakeInternet, monkeypatch: pytest.MonkeyPatch
) -> None:
    await resolve_instruments(["binance_usdm:ETHUSDT"], cache_dir=tmp_path, offline=False)
    await resolve_instruments(["binance_spot:BTCUSDT"], cache_dir=tmp_path, offline=False)
    path = tmp_path / "markets.json"
    before = path.read_bytes()
    assert sorted(json.loads(before)["instruments"]) == ["binance_spot:BTCUSDT", "binance_usdm:ETHUSDT"]

    def crash(src: Any, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with capture_logs() as logs:
        resolved = await resolve_instruments(["binance_spot:ETHUSDT"], cache_dir=tmp_path, offline=False)
    assert resolved["binance_spot:ETHUSDT"].origin == "exchange"  # the fetch still counts
    assert path.read_bytes() == before  # old cache intact
    assert [p.name for p in tmp_path.iterdir()] == ["markets.json"]  # temp file removed
    assert events(logs, "market_cache_write_failed")[0]["path"] == str(path)


async def test_loopback_http_server_through_real_ccxt_stack(tmp_path: Path) -> None:
    """No mock at all: ccxt talks HTTP to a local server configured via rest_urls."""
    seen: list[str] = []

    async def spot(request: web.Request) -> web.Response:
        seen.append(request.path)
        return web.json_response(exchange_info("binance_spot"))

    async def usdm(request: web.Request) -> web.Response:
        seen.append(request.path)
        return web.json_response(exchange_info("binance_usdm"))

    app = web.Application()
    app.router.add_get("/api/v3/exchangeInfo", spot)
    app.router.add_get("/fapi/v1/exchangeInfo", usdm)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        base = f"http://127.0.0.1:{port}"
        specs = await load_instruments_async(
            ALL_KEYS,
            cache_dir=tmp_path,
            offline=False,
            rest_urls={"binance_spot": base, "binance_usdm": base + "/"},
        )
    finally:
        await runner.cleanup()
    assert sorted(seen) == ["/api/v3/exchangeInfo", "/fapi/v1/exchangeInfo"]
    assert specs == await load_instruments_async(ALL_KEYS, cache_dir=None, offline=True)


# ----------------------------------------------------------------------------- failures and fallbacks


async def test_network_failure_falls_back_to_the_user_cache_with_a_warning(tmp_path: Path) -> None:
    # A user cache from an earlier fetch, different from the shipped cache.
    entry = shipped_entries()["binance_spot:BTCUSDT"] | {
        "min_notional": "7",
        "fetched_at": "2025-03-01T12:00:00Z",
        "source": SPOT_URL,
    }
    write_cache_atomic(tmp_path / "markets.json", {"binance_spot:BTCUSDT": entry}, written_at="x")

    refused = closed_port_url()  # real connection refused through ccxt + aiohttp
    with capture_logs() as logs:
        resolved = await resolve_instruments(
            ["binance_spot:BTCUSDT"],
            cache_dir=tmp_path,
            offline=False,
            rest_urls={"binance_spot": refused},
            timeout_s=5,
        )
    item = resolved["binance_spot:BTCUSDT"]
    assert item.origin == "cache" and item.location == str(tmp_path / "markets.json")
    assert item.spec.min_notional == Decimal(7)
    assert item.fetched_at == "2025-03-01T12:00:00Z"
    failure = events(logs, "market_metadata_fetch_failed")
    assert len(failure) == 1 and failure[0]["log_level"] == "warning"
    assert failure[0]["url"] == refused + "/api/v3/exchangeInfo"
    assert failure[0]["venue"] == "binance_spot" and failure[0]["fallback"] == "cache"


async def test_timeout_falls_back_to_the_shipped_cache(tmp_path: Path, internet: FakeInternet) -> None:
    internet.hang = True
    loop = asyncio.get_running_loop()
    started = loop.time()
    with capture_logs() as logs:
        resolved = await resolve_instruments(
            ["binance_usdm:BTCUSDT"], cache_dir=tmp_path, offline=False, timeout_s=0.2
        )
    assert loop.time() - started < 5
    assert resolved["binance_usdm:BTCUSDT"].origin == "shipped"
    assert "no answer within 0.2 s" in events(logs, "market_metadata_fetch_failed")[0]["error"]
    assert not (tmp_path / "markets.json").exists()


async def test_an_empty_market_list_is_a_failure_not_proof_the_symbol_is_unknown(
    tmp_path: Path, internet: FakeInternet
) -> None:
    internet.bodies["/api/v3/exchangeInfo"]["symbols"] = []
    with capture_logs() as logs:
        resolved = await resolve_instruments(["binance_spot:BTCUSDT"], cache_dir=tmp_path, offline=False)
    assert resolved["binance_spot:BTCUSDT"].origin == "shipped"
    assert events(logs, "market_metadata_fetch_failed")[0]["error"] == "the exchange answered with no markets"


async def test_refresh_without_fallback_is_a_runtime_error(tmp_path: Path, internet: FakeInternet) -> None:
    internet.failure = ccxt_async.ExchangeNotAvailable(
        "binance GET https://api.binance.com/api/v3/exchangeInfo"
    )
    with pytest.raises(MmbotError) as caught:
        await resolve_instruments(["binance_spot:BTCUSDT"], cache_dir=tmp_path, offline=False, fallback=False)
    assert not isinstance(caught.value, InputError) and caught.value.exit_code == 1
    assert "binance_spot:BTCUSDT" in str(caught.value) and "ExchangeNotAvailable" in str(caught.value)


def test_offline_never_touches_the_network(tmp_path: Path, no_network: list[str]) -> None:
    write_cache_atomic(
        tmp_path / "markets.json",
        {"binance_spot:BTCUSDT": shipped_entries()["binance_spot:BTCUSDT"] | {"min_notional": "9"}},
        written_at="2025-01-01T00:00:00Z",
    )
    with capture_logs() as logs:
        specs = load_instruments(
            ["binance_spot:BTCUSDT", "binance_usdm:BTCUSDT"], cache_dir=tmp_path, offline=True
        )
    assert specs["binance_spot:BTCUSDT"].min_notional == Decimal(9)  # user cache beats shipped
    assert specs["binance_usdm:BTCUSDT"].min_notional == Decimal(100)  # shipped
    assert no_network == []
    assert [entry for entry in logs if entry["log_level"] == "warning"] == []


# ----------------------------------------------------------------------------- bad input


def test_unknown_symbol_names_venue_symbol_and_every_place_looked(
    tmp_path: Path, no_network: list[str]
) -> None:
    write_cache_atomic(tmp_path / "markets.json", {}, written_at="2025-01-01T00:00:00Z")
    with pytest.raises(InputError) as caught:
        load_instruments(["binance_spot:BTCUSDT", "binance_spot:DOGEUSDT"], cache_dir=tmp_path, offline=True)
    message = str(caught.value)
    assert "DOGEUSDT" in message and "binance_spot" in message
    assert str(tmp_path / "markets.json") in message and str(SHIPPED_CACHE) in message
    assert "offline" in message
    assert caught.value.exit_code == 2


async def test_symbol_the_exchange_does_not_list_is_an_input_error(
    tmp_path: Path, internet: FakeInternet
) -> None:
    with pytest.raises(InputError) as caught:
        await resolve_instruments(["binance_usdm:SOLUSDT"], cache_dir=tmp_path, offline=False)
    assert (
        "SOLUSDT" in str(caught.value)
        and "binance_usdm" in str(caught.value)
        and USDM_URL in str(caught.value)
    )


async def test_dated_future_is_refused(tmp_path: Path, internet: FakeInternet) -> None:
    with pytest.raises(InputError, match="BTCUSDT_240927 is a dated delivery future"):
        await resolve_instruments(["binance_usdm:BTCUSDT_240927"], cache_dir=tmp_path, offline=False)


@pytest.mark.parametrize("key", ["BTCUSDT", "binance:BTCUSDT", "binance_spot:", "binance_spot:btcusdt"])
def test_malformed_instrument_keys(key: str) -> None:
    with pytest.raises(InputError, match="instrument"):
        parse_key(key)


def test_corrupt_cache_falls_back_to_shipped_with_a_warning(tmp_path: Path, no_network: list[str]) -> None:
    path = tmp_path / "markets.json"
    path.write_text('{"format": 1, "instruments": {"binance_spot:BTCUSDT": {"venue": "binance_sp')
    with capture_logs() as logs:
        specs = load_instruments(["binance_spot:BTCUSDT"], cache_dir=tmp_path, offline=True)
    assert specs["binance_spot:BTCUSDT"].tick_size == Decimal("0.01")
    warning = events(logs, "market_cache_corrupt")
    assert len(warning) == 1 and warning[0]["path"] == str(path) and "not valid JSON" in warning[0]["error"]


def test_corrupt_cache_without_a_shipped_spec_is_an_error_naming_the_file(
    tmp_path: Path, no_network: list[str]
) -> None:
    path = tmp_path / "markets.json"
    path.write_bytes(b"\x00\x01 not json")
    with pytest.raises(CacheError) as caught:
        load_instruments(["binance_spot:SOLUSDT"], cache_dir=tmp_path, offline=True)
    assert str(path) in str(caught.value) and "SOLUSDT" in str(caught.value)
    assert isinstance(caught.value, InputError)


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("tick_size", "abc", "not a decimal number"),
        ("tick_size", True, "expected a decimal string"),
        ("min_notional", None, "expected a decimal string"),
        ("lot_size", "0.001", "qty_step must be a multiple of lot_size"),
        ("kind", "option", "not one of"),
    ],
)
def test_bad_cache_entry_names_file_entry_and_field(
    tmp_path: Path, no_network: list[str], field: str, value: Any, problem: str
) -> None:
    entry = shipped_entries()["binance_spot:BTCUSDT"] | {"symbol": "SOLUSDT", field: value}
    path = tmp_path / "markets.json"
    path.write_text(json.dumps({"format": 1, "instruments": {"binance_spot:SOLUSDT": entry}}))
    with pytest.raises(CacheError) as caught:
        load_instruments(["binance_spot:SOLUSDT"], cache_dir=tmp_path, offline=True)
    message = str(caught.value)
    assert str(path) in message and "binance_spot:SOLUSDT" in message and problem in message


def test_blocking_form_refuses_to_run_inside_an_event_loop(tmp_path: Path) -> None:
    async def inside() -> None:
        load_instruments(["binance_spot:BTCUSDT"], cache_dir=tmp_path, offline=True)

    with pytest.raises(RuntimeError, match="load_instruments_async"):
        asyncio.run(inside())


# ----------------------------------------------------------------------------- exactness and fees


async def _parsed_market(venue: str, symbol: str, internet: FakeInternet) -> dict[str, Any]:
    """The market dict ccxt itself builds from the fixture (``internet`` must be active)."""
    assert internet.bodies
    exchange = make_exchange(venue, timeout_s=5)
    try:
        await exchange.load_markets()
        market: dict[str, Any] = exchange.markets_by_id[symbol][0]
        return market
    finally:
        await exchange.close()


async def test_negative_maker_fee_stays_negative_and_exact(tmp_path: Path, internet: FakeInternet) -> None:
    market = await _parsed_market("binance_usdm", "BTCUSDT", internet)  # ccxt's real parse
    assert isinstance(market["maker"], float)  # ccxt keeps fees as floats
    rebate = dict(market, maker=-0.0001)
    spec = spec_from_market("binance_usdm", rebate)
    assert spec.maker_fee == Decimal("-0.0001")  # not Decimal(-0.0001) = -0.000100000000000000004...
    assert str(spec.maker_fee) == "-0.0001"
    assert spec.notional(618003, 2000) * spec.maker_fee == Decimal("-12.36006")  # 2 BTC at 61800.3

    # through the cache file and back
    write_cache_atomic(
        tmp_path / "markets.json",
        {spec.key: spec_to_entry(spec, fetched_at=None, source="test")},
        written_at="2025-01-01T00:00:00Z",
    )
    assert (
        json.loads((tmp_path / "markets.json").read_text())["instruments"][spec.key]["maker_fee"] == "-0.0001"
    )
    cached = load_instruments_async([spec.key], cache_dir=tmp_path, offline=True)
    assert (await cached)[spec.key].maker_fee == Decimal("-0.0001")

    # a configured rebate overrides the exchange's VIP 0 fee, exactly
    overrides = {"binance_usdm": (Decimal("-0.00005"), Decimal("0.00045"))}
    specs = await load_instruments_async(ALL_KEYS, cache_dir=None, offline=True, fee_overrides=overrides)
    assert specs["binance_usdm:ETHUSDT"].maker_fee == Decimal("-0.00005")
    assert specs["binance_usdm:ETHUSDT"].taker_fee == Decimal("0.00045")
    assert specs["binance_spot:BTCUSDT"].maker_fee == Decimal("0.001")  # other venue untouched


def test_exact_decimal_never_goes_through_binary_floats() -> None:
    assert exact_decimal("0.01000000", "x") == Decimal("0.01")
    assert str(exact_decimal("100", "x")) == "100"  # no 1E+2
    assert str(exact_decimal(0.1, "x")) == "0.1"
    assert exact_decimal(-0.0002, "x") == Decimal("-0.0002")
    with pytest.raises(ValueError):
        exact_decimal("1e", "x")
    with pytest.raises(ValueError):
        exact_decimal(float("nan"), "x")


async def test_lot_is_the_finest_published_size_not_the_order_step(internet: FakeInternet) -> None:
    market = await _parsed_market("binance_spot", "ETHUSDT", internet)
    spec = spec_from_market("binance_spot", market)
    assert (spec.lot_size, spec.qty_step) == (Decimal("0.00000001"), Decimal("0.0001"))
    coarse = json.loads(json.dumps(market))
    coarse["info"]["baseAssetPrecision"] = 2  # precision coarser than the step: the step wins
    assert spec_from_market("binance_spot", coarse).lot_size == Decimal("0.0001")


async def test_disagreement_between_ccxt_and_raw_filters_is_logged(internet: FakeInternet) -> None:
    market = await _parsed_market("binance_spot", "BTCUSDT", internet)
    doctored = json.loads(json.dumps(market))
    doctored["precision"]["price"] = 0.1
    with capture_logs() as logs:
        spec = spec_from_market("binance_spot", doctored)
    assert spec.tick_size == Decimal("0.01")  # raw PRICE_FILTER wins
    mismatch = events(logs, "market_metadata_mismatch")
    assert [entry["field"] for entry in mismatch] == ["tick_size"]


def test_spec_round_trips_through_the_cache_format(tmp_path: Path) -> None:
    spec = InstrumentSpec(
        venue="binance_spot",
        symbol="PEPEUSDT",
        kind=InstrumentKind.SPOT,
        base="PEPE",
        quote="USDT",
        tick_size=Decimal("0.00000001"),
        lot_size=Decimal("1"),
        qty_step=Decimal("1"),
        min_qty=Decimal("1"),
        min_notional=Decimal("1E+1"),
        maker_fee=Decimal("0.00075"),
        taker_fee=Decimal("0.00075"),
    )
    path = tmp_path / "markets.json"
    write_cache_atomic(path, {spec.key: spec_to_entry(spec, fetched_at=None, source=None)}, written_at="x")
    entry = json.loads(path.read_text())["instruments"][spec.key]
    assert entry["min_notional"] == "10" and entry["tick_size"] == "0.00000001"
    assert load_instruments([spec.key], cache_dir=tmp_path, offline=True)[spec.key] == spec
    assert os.listdir(tmp_path) == ["markets.json"]
