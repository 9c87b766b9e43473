"""Bybit and OKX endpoints, config sections and the pure decoders (no sockets).

Message shapes follow Bybit's v5 and OKX's v5 public websocket documentation; the book
messages are real ones from the recordings in tests/data."""

from __future__ import annotations

import json
import zipfile
from decimal import Decimal

import pytest

from bot.config import (
    BybitLinearSettings,
    BybitSpotSettings,
    ConfigError,
    OkxVenueSettings,
    Settings,
    load_settings,
)
from bot.core.events import BookDelta, BookSnapshot, MarkPrice, Side, Trade
from bot.core.instrument import InstrumentKind, InstrumentSpec
from bot.venues.bybit.adapter import BybitMarketData
from bot.venues.bybit.endpoints import book_topic
from bot.venues.bybit.endpoints import resolve_endpoints as bybit_endpoints
from bot.venues.bybit.messages import BybitDecoder
from bot.venues.decoding import DecodeError
from bot.venues.okx.adapter import OkxMarketData
from bot.venues.okx.endpoints import resolve_endpoints as okx_endpoints
from bot.venues.okx.messages import OkxDecoder, is_canonical
from bot.venues.registry import ADAPTERS, create_adapter
from tests.venue_harness import BYBIT_FILE, OKX_BTC_USDT, OKX_FILE, XRP_LINEAR

BYBIT = BybitDecoder("bybit_linear", [XRP_LINEAR])
OKX_SWAP = InstrumentSpec(
    venue="okx_swap",
    symbol="BTC-USDT-SWAP",
    kind=InstrumentKind.PERP,
    base="BTC",
    quote="USDT",
    tick_size=Decimal("0.1"),
    lot_size=Decimal("0.01"),
    qty_step=Decimal("0.01"),
    contract_size=Decimal("0.01"),
)


# ---- endpoints and config ---------------------------------------------------------------------


def test_bybit_endpoints_per_network_and_overrides() -> None:
    spot = bybit_endpoints("bybit_spot", BybitSpotSettings())
    assert (spot.ws, spot.rest) == ("wss://stream.bybit.com/v5/public/spot", "https://api.bybit.com")
    linear = bybit_endpoints("bybit_linear", BybitLinearSettings(network="testnet"))
    assert linear.ws == "wss://stream-testnet.bybit.com/v5/public/linear"
    assert linear.rest == "https://api-testnet.bybit.com"
    custom = bybit_endpoints(
        "bybit_linear", BybitLinearSettings(ws_url="ws://127.0.0.1:9/x/", rest_url="http://h/")
    )
    assert (custom.ws, custom.rest) == ("ws://127.0.0.1:9/x", "http://h")
    assert book_topic(500, "XRPUSDT") == "orderbook.500.XRPUSDT"
    with pytest.raises(ValueError, match="unknown Bybit venue"):
        bybit_endpoints("bybit_inverse", BybitLinearSettings())


def test_okx_endpoints_per_network_and_overrides() -> None:
    main = okx_endpoints("okx_swap", OkxVenueSettings())
    assert (main.ws, main.rest) == ("wss://ws.okx.com:8443/ws/v5/public", "https://www.okx.com")
    demo = okx_endpoints("okx_spot", OkxVenueSettings(network="demo"))
    assert demo.ws == "wss://wspap.okx.com:8443/ws/v5/public"
    assert okx_endpoints("okx_spot", OkxVenueSettings(ws_url="ws://127.0.0.1:1/ws/v5/public")).ws.startswith(
        "ws://127.0.0.1"
    )


def test_adapters_plan_their_subscriptions_from_config() -> None:
    linear = BybitMarketData("bybit_linear", BybitLinearSettings(depth=200), [XRP_LINEAR], lambda e: None)
    (conn,) = linear._connections
    assert conn.subscriptions == ["orderbook.200.XRPUSDT", "publicTrade.XRPUSDT", "tickers.XRPUSDT"]
    assert conn.book_instruments == [XRP_LINEAR.key] and conn.url.endswith("/v5/public/linear")
    swap = OkxMarketData(
        "okx_swap", OkxVenueSettings(channel="books5", trades=False), [OKX_SWAP], lambda e: None
    )
    assert [(a["channel"], a["instId"]) for a in swap._connections[0].subscriptions] == [
        ("books5", "BTC-USDT-SWAP"),
        ("funding-rate", "BTC-USDT-SWAP"),
        ("mark-price", "BTC-USDT-SWAP"),
    ]
    specs = [msgspec_replace(XRP_LINEAR, symbol=f"S{i}USDT") for i in range(5)]
    split = BybitMarketData(
        "bybit_linear", BybitLinearSettings(max_subscriptions_per_connection=7), specs, lambda e: None
    )
    assert [len(c.subscriptions) for c in split._connections] == [6, 6, 3]  # an instrument is never split
    with pytest.raises(ValueError, match="ws:// or wss://"):
        BybitMarketData("bybit_linear", BybitLinearSettings(ws_url="http://x"), [XRP_LINEAR], lambda e: None)
    with pytest.raises(ValueError, match="does not belong"):
        OkxMarketData("okx_spot", OkxVenueSettings(), [OKX_SWAP], lambda e: None)


def msgspec_replace(spec: InstrumentSpec, **fields: str) -> InstrumentSpec:
    import msgspec

    return msgspec.structs.replace(spec, **fields)


def test_registry_creates_the_adapter_of_every_venue() -> None:
    settings = Settings()
    assert set(ADAPTERS) == {
        "binance_spot",
        "binance_usdm",
        "bybit_spot",
        "bybit_linear",
        "okx_spot",
        "okx_swap",
        "okx_futures",
        "bitget_spot",
        "bitget_usdtm",
    }
    adapter = create_adapter(
        "okx_spot", settings.venues.for_venue("okx_spot"), [OKX_BTC_USDT], lambda e: None
    )
    assert isinstance(adapter, OkxMarketData) and adapter.venue == "okx_spot"
    with pytest.raises(ValueError, match="no market-data adapter"):
        create_adapter("kraken_spot", settings.venues.okx_spot, [OKX_BTC_USDT], lambda e: None)


def test_config_sections_engines_and_hedges_across_venues(tmp_path: pytest.TempPathFactory) -> None:
    path = tmp_path / "c.toml"  # type: ignore[operator]
    path.write_text(
        """
[engines.xrp]
venue = "binance_spot"
symbol = "XRPUSDT"
hedge = { venue = "bybit_linear", symbol = "XRPUSDT" }

[engines.okx]
venue = "okx_spot"
symbol = "BTC-USDT"
hedge = { venue = "okx_swap", symbol = "BTC-USDT-SWAP" }

[venues.bybit_linear]
network = "testnet"
depth = 500

[venues.okx_spot]
network = "demo"
channel = "books5"
"""
    )
    settings = load_settings(path)
    assert settings.instruments() == [
        "binance_spot:XRPUSDT",
        "bybit_linear:XRPUSDT",
        "okx_spot:BTC-USDT",
        "okx_swap:BTC-USDT-SWAP",
    ]
    assert settings.venues.bybit_linear.depth == 500 and settings.venues.bybit_linear.network == "testnet"
    assert settings.venues.for_venue("okx_spot").channel == "books5"


@pytest.mark.parametrize(
    ("toml", "problem"),
    [
        ("[venues.bybit_spot]\ndepth = 500\n", "venues.bybit_spot.depth: must be 1, 50, 200 or 1000"),
        ("[venues.okx_swap]\nchannel = 'books-l2-tbt'\n", "venues.okx_swap.channel"),
        ("[venues.okx_spot]\nnetwork = 'testnet'\n", "venues.okx_spot.network"),
        (
            "[venues.bybit_linear]\nping_interval_s = 40\n",
            "stale_after_s must be greater than ping_interval_s",
        ),
        ("[engines.a]\nvenue = 'okx_swap'\nsymbol = 'BTC-USDT'\n", "okx_swap instruments end in -SWAP"),
        ("[engines.a]\nvenue = 'bybit_linear'\nsymbol = 'BTC-USDT'\n", "bybit_linear symbols have no dashes"),
        ("[engines.a]\nvenue = 'okx_spot'\nsymbol = 'BTCUSDT'\n", "OKX instrument ids look like"),
    ],
)
def test_bad_venue_config_names_the_field(tmp_path: pytest.TempPathFactory, toml: str, problem: str) -> None:
    path = tmp_path / "bad.toml"  # type: ignore[operator]
    path.write_text(toml)
    with pytest.raises(ConfigError, match=problem.replace("(", r"\(")):
        load_settings(path)


# ---- Bybit decoder ----------------------------------------------------------------------------


def recorded_bybit() -> list[str]:
    with zipfile.ZipFile(BYBIT_FILE) as archive:
        (name,) = archive.namelist()
        return archive.read(name).decode().splitlines()


def test_bybit_book_messages_from_the_recording() -> None:
    first, second = recorded_bybit()[:2]
    (snapshot,) = BYBIT.decode(first, 7)
    assert isinstance(snapshot, BookSnapshot)
    assert snapshot.update_id == 20254869 and snapshot.exch_ts == 1733011200691 * 1_000_000
    assert snapshot.bids[0] == (19531, 6203) and len(snapshot.bids) == len(snapshot.asks) == 500
    (delta,) = BYBIT.decode_frame(second.encode(), 8)
    assert isinstance(delta, BookDelta) and delta.first_id == delta.last_id == 20254870
    assert delta.local_ts == 8 and delta.bids[0] == (19531, 6198)


def test_bybit_trades_and_ticker_snapshot_plus_deltas() -> None:
    decoder = BybitDecoder("bybit_linear", [XRP_LINEAR])
    trades = {
        "topic": "publicTrade.XRPUSDT",
        "type": "snapshot",
        "ts": 1672304486868,
        "data": [
            {
                "T": 1672304486865,
                "s": "XRPUSDT",
                "S": "Buy",
                "v": "100",
                "p": "1.9535",
                "i": "2290000000061666327",
            },
            {
                "T": 1672304486866,
                "s": "XRPUSDT",
                "S": "Sell",
                "v": "5",
                "p": "1.9534",
                "i": "a-uuid",
                "BT": True,
            },
        ],
    }
    buy, sell = decoder.decode(json.dumps(trades), 1)
    assert isinstance(buy, Trade) and buy.side is Side.BUY and buy.price == 19535 and buy.size == 100
    assert buy.trade_id == 2290000000061666327 and not buy.liquidation
    assert sell.side is Side.SELL and sell.trade_id == 0 and sell.liquidation  # block trade: off the book
    snapshot = {
        "topic": "tickers.XRPUSDT",
        "type": "snapshot",
        "ts": 1,
        "cs": 1,
        "data": {
            "symbol": "XRPUSDT",
            "lastPrice": "1.9535",
            "markPrice": "1.95351",
            "indexPrice": "1.9533",
            "fundingRate": "0.0001",
            "nextFundingTime": "1733011200000",
        },
    }
    (mark,) = decoder.decode(json.dumps(snapshot), 2)
    assert isinstance(mark, MarkPrice)
    assert (mark.mark_price, mark.index_price) == (
        19535,
        19533,
    )  # computed prices round half-even to the tick
    assert mark.funding_rate == Decimal("0.0001") and mark.next_funding_ts == 1733011200000 * 1_000_000
    volume_only = {
        "topic": "tickers.XRPUSDT",
        "type": "delta",
        "ts": 3,
        "data": {"symbol": "XRPUSDT", "volume24h": "5"},
    }
    assert decoder.decode(json.dumps(volume_only), 3) == []
    funding = {
        "topic": "tickers.XRPUSDT",
        "type": "delta",
        "ts": 4,
        "data": {"symbol": "XRPUSDT", "fundingRate": "-0.0002"},
    }
    (changed,) = decoder.decode(json.dumps(funding), 4)
    assert (
        changed.funding_rate == Decimal("-0.0002") and changed.mark_price == 19535
    )  # merged with the snapshot


def test_bybit_control_frames_and_errors() -> None:
    assert BYBIT.decode('{"success":true,"ret_msg":"","conn_id":"c","req_id":"1","op":"subscribe"}', 1) == []
    assert BYBIT.decode('{"success":true,"ret_msg":"pong","conn_id":"c","op":"ping"}', 1) == []
    assert BYBIT.decode('{"op":"pong","args":["1672916271846"],"conn_id":"c"}', 1) == []
    cases = {
        '{"success":false,"ret_msg":"error:handler not found","op":"subscribe"}': "invalid",
        '{"topic":"orderbook.50.XRPUSDT","type":"delta","ts":1,"data":{"s":"XRPUSDT","b":[],"a":[]}}': "invalid",
        '{"topic":"orderbook.50.XRPUSDT","type":"weird","ts":1,"data":{"s":"XRPUSDT","b":[],"a":[],"u":2}}': "invalid",
        '{"topic":"orderbook.50.XRPUSDT","type":"delta","ts":1,"data":{"s":"BTCUSDT","b":[],"a":[],"u":2}}': "invalid",
        '{"topic":"orderbook.50.XRPUSDT","type":"delta","ts":1,"data":{"s":"XRPUSDT","b":[["1.95305","1"]],"a":[],"u":2}}': "off_tick",
        '{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1,"data":{}}': "unknown_symbol",
        '{"topic":"kline.5.XRPUSDT","data":[]}': "unknown_stream",
        '{"topic":"orderbook.50.XRPUSDT"}': "malformed",
        "[1,2": "malformed",
        "{}": "malformed",
    }
    for frame, kind in cases.items():
        with pytest.raises(DecodeError) as caught:
            BYBIT.decode(frame, 1)
        assert caught.value.kind == kind, frame


# ---- OKX decoder ------------------------------------------------------------------------------


def recorded_okx(inst: str, action: str) -> str:
    for line in OKX_FILE.read_text().splitlines():
        if f'"action":"{action}"' in line and f'"instId":"{inst}"' in line:
            return line.partition(": ")[2]
    raise AssertionError("not in the recording")


def test_okx_book_messages_with_and_without_sequence_ids() -> None:
    decoder = OkxDecoder("okx_spot", [OKX_BTC_USDT])
    (snapshot,) = decoder.decode(recorded_okx("BTC-USDT", "snapshot"), 1)
    assert isinstance(snapshot, BookSnapshot) and snapshot.update_id == -1
    assert len(snapshot.bids) == len(snapshot.asks) == 400 and snapshot.checksum is not None
    (update,) = decoder.decode(recorded_okx("BTC-USDT", "update"), 2)
    assert isinstance(update, BookDelta) and (update.first_id, update.last_id, update.prev_id) == (-1, -1, -1)
    sequenced = {
        "arg": {"channel": "books", "instId": "BTC-USDT"},
        "action": "update",
        "data": [
            {
                "asks": [["30228.7", "0", "0", "0"]],
                "bids": [],
                "ts": "1652459225464",
                "checksum": -855196043,
                "prevSeqId": 123456,
                "seqId": 123457,
            }
        ],
    }
    (delta,) = decoder.decode(json.dumps(sequenced), 3)
    assert (delta.first_id, delta.last_id, delta.prev_id, delta.checksum) == (
        123457,
        123457,
        123456,
        -855196043,
    )
    assert delta.asks == [(302287, 0)] and delta.exch_ts == 1652459225464 * 1_000_000
    books5 = {
        "arg": {"channel": "books5", "instId": "BTC-USDT"},
        "data": [
            {
                "asks": [["30228.7", "1", "0", "2"]],
                "bids": [["30228.6", "2", "0", "1"]],
                "ts": "1",
                "seqId": 9,
            }
        ],
    }
    (full,) = decoder.decode(json.dumps(books5), 4)
    assert isinstance(full, BookSnapshot) and full.update_id == 9 and full.checksum is None


def test_okx_trades_funding_and_mark_price() -> None:
    decoder = OkxDecoder("okx_swap", [OKX_SWAP])
    trade = {
        "arg": {"channel": "trades", "instId": "BTC-USDT-SWAP"},
        "data": [
            {
                "instId": "BTC-USDT-SWAP",
                "tradeId": "130639474",
                "px": "42219.9",
                "sz": "12.5",
                "side": "sell",
                "ts": "1630048897897",
            }
        ],
    }
    (fill,) = decoder.decode(json.dumps(trade), 1)
    assert (
        fill.side is Side.SELL and fill.price == 422199 and fill.size == 1250 and fill.trade_id == 130639474
    )
    funding = {
        "arg": {"channel": "funding-rate", "instId": "BTC-USDT-SWAP"},
        "data": [
            {
                "instId": "BTC-USDT-SWAP",
                "instType": "SWAP",
                "fundingRate": "0.0001875391284828",
                "fundingTime": "1700726400000",
                "nextFundingTime": "1700755200000",
                "ts": "1700724675402",
            }
        ],
    }
    assert decoder.decode(json.dumps(funding), 2) == []  # no mark price yet
    mark = {
        "arg": {"channel": "mark-price", "instId": "BTC-USDT-SWAP"},
        "data": [
            {"instType": "SWAP", "instId": "BTC-USDT-SWAP", "markPx": "42310.63", "ts": "1630049139746"}
        ],
    }
    (event,) = decoder.decode(json.dumps(mark), 3)
    assert isinstance(event, MarkPrice) and event.mark_price == 423106  # 42310.63 -> nearest 0.1 tick
    assert event.funding_rate == Decimal("0.0001875391284828")
    assert event.next_funding_ts == 1700726400000 * 1_000_000 and event.index_price == 0


def test_okx_control_frames_and_errors() -> None:
    decoder = OkxDecoder("okx_spot", [OKX_BTC_USDT])
    assert decoder.decode("pong", 1) == [] and decoder.decode(b"pong", 1) == []
    assert (
        decoder.decode('{"event":"subscribe","arg":{"channel":"books","instId":"BTC-USDT"},"connId":"a"}', 1)
        == []
    )
    assert (
        decoder.decode('{"event":"channel-conn-count","channel":"books","connCount":"2","connId":"a"}', 1)
        == []
    )
    assert decoder.decode('{"event":"notice","code":"64008","msg":"upgrade","connId":"a"}', 1) == []
    cases = {
        '{"event":"error","code":"60018","msg":"Wrong URL","connId":"a"}': "invalid",
        '{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"weird","data":[{"asks":[],"bids":[],"ts":"1"}]}': "invalid",
        '{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"ETH-USDT","tradeId":"1","px":"1","sz":"1","side":"buy","ts":"1"}]}': "invalid",
        '{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":[["1.05","1"]],"bids":[],"ts":"1"}]}': "off_tick",
        '{"arg":{"channel":"books","instId":"ETH-USDT"},"action":"update","data":[]}': "unknown_symbol",
        '{"arg":{"channel":"candle1m","instId":"ETH-USDT"},"data":[[]]}': "unknown_stream",
        '{"arg":{"channel":"books","instId":"BTC-USDT"}}': "malformed",
        "ping": "malformed",
    }
    for frame, kind in cases.items():
        with pytest.raises(DecodeError) as caught:
            decoder.decode(frame, 1)
        assert caught.value.kind == kind, frame


def test_okx_non_canonical_number_disables_checksums_for_that_instrument() -> None:
    assert is_canonical("30249.4") and is_canonical("0.23393") and is_canonical("30261") and is_canonical("0")
    assert (
        not is_canonical("5.150")
        and not is_canonical("1e-5")
        and not is_canonical("+1")
        and not is_canonical("0.0")
    )
    decoder = OkxDecoder("okx_spot", [OKX_BTC_USDT])
    frame = {
        "arg": {"channel": "books", "instId": "BTC-USDT"},
        "action": "update",
        "data": [{"asks": [["30228.70", "1", "0", "1"]], "bids": [], "ts": "1", "checksum": 5}],
    }
    (delta,) = decoder.decode(json.dumps(frame), 1)
    assert delta.checksum is None and decoder.checksum_disabled == {"BTC-USDT"}
    frame["data"][0]["asks"] = [["30228.8", "1", "0", "1"]]  # type: ignore[index]
    (later,) = decoder.decode(json.dumps(frame), 2)
    assert later.checksum is None  # stays off: the book still holds the odd text
