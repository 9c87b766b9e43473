"""Binance endpoint resolution, stream planning and the message decoder (pure, no sockets)."""

from __future__ import annotations

import gzip
import json
from decimal import Decimal

import pytest

from bot.config import BinanceSpotSettings, BinanceUsdmSettings
from bot.core.events import BookDelta, BookSnapshot, MarkPrice, Side, TopOfBook, Trade
from bot.venues.binance.adapter import BinanceMarketData
from bot.venues.binance.endpoints import (
    combined_stream_url,
    depth_stream_suffix,
    depth_weight,
    resolve_endpoints,
    stream_name,
    stream_route,
)
from bot.venues.binance.messages import BinanceDecoder, DecodeError
from tests.market_harness import BUNDLED, SPOT_BTC, TEST_DATA, USDM_BTC

# ---- endpoints ------------------------------------------------------------------------------


def test_default_endpoints_per_network() -> None:
    spot = resolve_endpoints("binance_spot", BinanceSpotSettings())
    assert (spot.ws_public, spot.ws_market, spot.rest) == (
        "wss://stream.binance.com:9443",
        "wss://stream.binance.com:9443",
        "https://api.binance.com",
    )
    assert spot.depth_url() == "https://api.binance.com/api/v3/depth"
    spot_test = resolve_endpoints("binance_spot", BinanceSpotSettings(network="testnet"))
    assert spot_test.ws_public == "wss://stream.testnet.binance.vision"
    assert spot_test.rest == "https://testnet.binance.vision"
    usdm = resolve_endpoints("binance_usdm", BinanceUsdmSettings())
    assert usdm.ws_public == "wss://fstream.binance.com/public"
    assert usdm.ws_market == "wss://fstream.binance.com/market"
    assert usdm.split_routes
    assert usdm.depth_url() == "https://fapi.binance.com/fapi/v1/depth"
    usdm_test = resolve_endpoints("binance_usdm", BinanceUsdmSettings(network="testnet"))
    assert usdm_test.ws_public == usdm_test.ws_market == "wss://fstream.binancefuture.com"
    assert not usdm_test.split_routes
    assert usdm_test.rest == "https://testnet.binancefuture.com"


def test_endpoint_overrides() -> None:
    both = resolve_endpoints(
        "binance_usdm",
        BinanceUsdmSettings(
            ws_url="ws://127.0.0.1:9/public/", ws_market_url="ws://127.0.0.1:9/market", rest_url="http://h:1/"
        ),
    )
    assert (both.ws_public, both.ws_market, both.rest) == (
        "ws://127.0.0.1:9/public",
        "ws://127.0.0.1:9/market",
        "http://h:1",
    )
    # only ws_url: an unsplit server serves every stream on that base
    single = resolve_endpoints("binance_usdm", BinanceUsdmSettings(ws_url="ws://127.0.0.1:9"))
    assert single.ws_public == single.ws_market == "ws://127.0.0.1:9"
    assert single.rest == "https://fapi.binance.com"


def test_stream_names_routes_and_weights() -> None:
    assert stream_name("binance_spot", "BTCUSDT", "depth", depth_speed_ms=100) == "btcusdt@depth@100ms"
    assert stream_name("binance_spot", "BTCUSDT", "depth", depth_speed_ms=1000) == "btcusdt@depth"
    assert depth_stream_suffix("binance_usdm", 250) == "@depth"
    assert depth_stream_suffix("binance_usdm", 500) == "@depth@500ms"
    with pytest.raises(ValueError):
        depth_stream_suffix("binance_spot", 250)
    assert stream_name("binance_usdm", "ETHUSDT", "markPrice") == "ethusdt@markPrice@1s"
    with pytest.raises(ValueError):
        stream_name("binance_spot", "BTCUSDT", "markPrice")
    assert [stream_route("binance_usdm", k) for k in ("depth", "bookTicker", "trade")] == ["public"] * 3
    assert [stream_route("binance_usdm", k) for k in ("aggTrade", "markPrice")] == ["market"] * 2
    assert stream_route("binance_spot", "aggTrade") == "public"
    assert combined_stream_url("ws://x/", ["a@trade", "b@trade"]) == "ws://x/stream?streams=a@trade/b@trade"
    assert [depth_weight("binance_spot", n) for n in (100, 500, 1000, 5000)] == [5, 25, 50, 250]
    assert [depth_weight("binance_usdm", n) for n in (50, 100, 500, 1000)] == [2, 5, 10, 20]


def test_adapter_connection_plan() -> None:
    def urls(venue: str, settings: object) -> list[str]:
        spec = SPOT_BTC if venue == "binance_spot" else USDM_BTC
        return BinanceMarketData(venue, settings, [spec], lambda e: None).connection_urls  # type: ignore[arg-type]

    assert urls("binance_spot", BinanceSpotSettings(trade_stream="aggTrade", depth_speed_ms=1000)) == [
        "wss://stream.binance.com:9443/stream?streams=btcusdt@depth/btcusdt@aggTrade/btcusdt@bookTicker"
    ]
    assert urls("binance_usdm", BinanceUsdmSettings(book_ticker=False)) == [
        "wss://fstream.binance.com/public/stream?streams=btcusdt@depth@100ms/btcusdt@trade",
        "wss://fstream.binance.com/market/stream?streams=btcusdt@markPrice@1s",
    ]
    assert urls("binance_usdm", BinanceUsdmSettings(trade_stream="aggTrade", depth_speed_ms=250)) == [
        "wss://fstream.binance.com/public/stream?streams=btcusdt@depth/btcusdt@bookTicker",
        "wss://fstream.binance.com/market/stream?streams=btcusdt@aggTrade/btcusdt@markPrice@1s",
    ]
    assert urls("binance_usdm", BinanceUsdmSettings(network="testnet")) == [
        "wss://fstream.binancefuture.com/stream?streams="
        "btcusdt@depth@100ms/btcusdt@trade/btcusdt@bookTicker/btcusdt@markPrice@1s"
    ]


# ---- decoder ----------------------------------------------------------------------------------


def recorded(path: str, marker: str) -> tuple[int, str]:
    """The first recorded line containing ``marker``: (receive ts, json text)."""
    with gzip.open(path, "rt") as handle:
        for line in handle:
            if marker in line:
                stamp, _, payload = line.rstrip("\n").partition(" ")
                return int(stamp), payload
    raise AssertionError(marker)


SPOT_FILE = str(BUNDLED / "binance_spot_btcusdt_20240808.gz")
USDM_FILE = str(BUNDLED / "binance_usdm_btcusdt_20240808.gz")
USDM_2023 = str(TEST_DATA / "binance_usdm_btcusdt_20230405.dat.gz")
SPOT = BinanceDecoder("binance_spot", [SPOT_BTC])
USDM = BinanceDecoder("binance_usdm", [USDM_BTC])


def test_decode_spot_depth_update() -> None:
    ts, text = recorded(SPOT_FILE, "@depth@100ms")
    raw = json.loads(text)["data"]
    event = SPOT.decode(text.encode(), ts)
    assert isinstance(event, BookDelta)
    assert event.instrument == "binance_spot:BTCUSDT"
    assert (event.first_id, event.last_id, event.prev_id) == (raw["U"], raw["u"], -1)
    assert event.exch_ts == raw["E"] * 1_000_000 and event.local_ts == ts
    assert event.bids == [(int(Decimal(p) * 100), int(Decimal(q) * 10**8)) for p, q in raw["b"]]
    assert event.asks == [(int(Decimal(p) * 100), int(Decimal(q) * 10**8)) for p, q in raw["a"]]


def test_decode_usdm_depth_update_carries_pu() -> None:
    ts, text = recorded(USDM_FILE, "@depth@0ms")
    raw = json.loads(text)["data"]
    event = USDM.decode(text, ts)
    assert isinstance(event, BookDelta)
    assert event.prev_id == raw["pu"] and event.first_id == raw["U"] and event.last_id == raw["u"]
    assert event.bids[0] == (int(Decimal(raw["b"][0][0]) * 10), int(Decimal(raw["b"][0][1]) * 1000))


def test_decode_trades_side_and_liquidation() -> None:
    _, text = recorded(SPOT_FILE, '"m":true')
    event = SPOT.decode(text, 1)
    assert isinstance(event, Trade) and event.side is Side.SELL  # buyer was maker: seller aggressed
    _, text = recorded(SPOT_FILE, '"m":false')
    event = SPOT.decode(text, 1)
    assert isinstance(event, Trade) and event.side is Side.BUY and not event.liquidation
    _, text = recorded(USDM_2023, "INSURANCE_FUND")
    event = USDM.decode(text, 1)
    assert isinstance(event, Trade) and event.liquidation
    assert event.price == 287225 and event.trade_id == 3535191080
    agg = (
        '{"e":"aggTrade","E":5,"a":26129,"s":"BTCUSDT","p":"61800.10","q":"0.010",'
        '"f":100,"l":105,"T":4,"m":false}'
    )
    event = USDM.decode(agg, 1)
    assert (
        isinstance(event, Trade) and event.trade_id == 26129 and event.size == 10 and event.side is Side.BUY
    )


def test_decode_book_tickers() -> None:
    _, text = recorded(SPOT_FILE, "@bookTicker")
    raw = json.loads(text)["data"]
    event = SPOT.decode(text, 7)
    assert isinstance(event, TopOfBook)
    assert event.update_id == raw["u"] and event.exch_ts == 0  # spot bookTicker has no event time
    assert event.bid_price * Decimal("0.01") == Decimal(raw["b"])
    assert event.ask_size * Decimal("1e-8") == Decimal(raw["A"])
    _, text = recorded(USDM_FILE, "@bookTicker")
    event = USDM.decode(text, 7)
    assert isinstance(event, TopOfBook) and event.exch_ts == json.loads(text)["data"]["E"] * 1_000_000


def test_decode_mark_price_rounds_to_tick_and_keeps_exact_funding() -> None:
    _, text = recorded(USDM_2023, "@markPrice@1s")
    raw = json.loads(text)["data"]
    event = USDM.decode(text, 1)
    assert isinstance(event, MarkPrice)
    assert event.funding_rate == Decimal(raw["r"])
    assert event.next_funding_ts == raw["T"] * 1_000_000
    assert event.mark_price == round(Decimal(raw["p"]) * 10)
    mark = '{"e":"markPriceUpdate","E":1,"s":"BTCUSDT","p":"100.05","i":"100.15","r":"-0.0001","T":2}'
    event = USDM.decode(mark, 1)
    assert isinstance(event, MarkPrice)
    assert (event.mark_price, event.index_price) == (1000, 1002)  # half-even
    assert event.funding_rate == Decimal("-0.0001")


def test_decode_bare_payloads_and_acks() -> None:
    _, text = recorded(SPOT_FILE, "@trade")
    bare = json.dumps(json.loads(text)["data"])
    assert isinstance(SPOT.decode(bare, 1), Trade)
    _, text = recorded(SPOT_FILE, "@bookTicker")
    assert isinstance(SPOT.decode(json.dumps(json.loads(text)["data"]), 1), TopOfBook)
    assert SPOT.decode('{"result":null,"id":1}', 1) is None
    with pytest.raises(DecodeError) as info:
        SPOT.decode('{"error":{"code":2,"msg":"Invalid request"},"id":3}', 1)
    assert info.value.kind == "invalid"


def test_decode_snapshots() -> None:
    ts, text = recorded(SPOT_FILE, "lastUpdateId")
    raw = json.loads(text)
    snap = SPOT.decode_snapshot(text, "binance_spot:BTCUSDT", ts)
    assert isinstance(snap, BookSnapshot)
    assert snap.update_id == raw["lastUpdateId"] and snap.exch_ts == 0
    assert len(snap.bids) == len(raw["bids"]) and len(snap.asks) == len(raw["asks"])
    _, text = recorded(USDM_FILE, "lastUpdateId")
    snap = USDM.decode_snapshot(text.encode(), "binance_usdm:BTCUSDT", 1)
    assert snap.exch_ts == json.loads(text)["E"] * 1_000_000


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("{not json", "malformed"),
        (b"\xff\xfe", "malformed"),
        ('{"stream":"btcusdt@trade"}', "malformed"),
        ("[1, 2]", "malformed"),
        ('{"hello":"world"}', "malformed"),
        ('{"stream":"btcusdt@kline_1m","data":{}}', "unknown_stream"),
        ('{"stream":"btcusdt@depth20@100ms","data":{}}', "unknown_stream"),
        ('{"e":"24hrTicker","s":"BTCUSDT"}', "unknown_stream"),
        (
            '{"stream":"ethusdt@trade","data":{"e":"trade","E":1,"s":"ETHUSDT","t":1,"p":"1","q":"1","m":true}}',
            "unknown_symbol",
        ),
        (
            '{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":"1.001","q":"1","m":true}}',
            "off_tick",
        ),
        (
            '{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":"1.00","q":"1e-9","m":true}}',
            "invalid",
        ),
        (
            '{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","p":"1","q":"1","m":true}}',
            "invalid",
        ),
        (
            '{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":9,"u":8,"b":[],"a":[]}}',
            "invalid",
        ),
        (
            '{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"ETHUSDT","t":1,"p":"1","q":"1","m":true}}',
            "invalid",
        ),
        ('{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,', "malformed"),
    ],
)
def test_decode_errors_are_typed(message: str | bytes, kind: str) -> None:
    with pytest.raises(DecodeError) as info:
        SPOT.decode(message, 1)
    assert info.value.kind == kind


def test_snapshot_decode_errors() -> None:
    with pytest.raises(DecodeError) as info:
        SPOT.decode_snapshot("{", "binance_spot:BTCUSDT", 1)
    assert info.value.kind == "malformed"
    with pytest.raises(DecodeError) as info:
        SPOT.decode_snapshot('{"code":-1121,"msg":"Invalid symbol."}', "binance_spot:BTCUSDT", 1)
    assert info.value.kind == "invalid"
    with pytest.raises(DecodeError) as info:
        SPOT.decode_snapshot('{"lastUpdateId":1,"bids":[["1.001","1"]],"asks":[]}', "binance_spot:BTCUSDT", 1)
    assert info.value.kind == "off_tick"
    with pytest.raises(DecodeError) as info:
        SPOT.decode_snapshot('{"lastUpdateId":1,"bids":[],"asks":[]}', "binance_usdm:BTCUSDT", 1)
    assert info.value.kind == "unknown_symbol"
