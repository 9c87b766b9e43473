"""Bitget endpoints, config sections, subscription planning and the pure decoder (no sockets).

Message shapes follow Bitget's v2 public websocket documentation (and the request /
answer pairs of JKorf/Bitget.Net's recorded test fixtures); the book messages are real
ones from cryptofeed's 2022 recording in tests/data, re-addressed to v2."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from bot.config import BitgetVenueSettings, ConfigError, Settings, load_settings
from bot.core.events import BookDelta, BookSnapshot, MarkPrice, Side, Trade
from bot.venues.bitget.adapter import BitgetMarketData
from bot.venues.bitget.endpoints import channel_arg, request
from bot.venues.bitget.endpoints import resolve_endpoints as bitget_endpoints
from bot.venues.bitget.messages import BitgetDecoder, is_fixed
from bot.venues.decoding import DecodeError
from bot.venues.registry import create_adapter
from tests.bitget_kit import BTC_SPOT, DASH, UNI, book_frame, recorded_messages, v2_frame

SPOT = BitgetDecoder("bitget_spot", [BTC_SPOT])
PERP = BitgetDecoder("bitget_usdtm", [DASH, UNI])


# ---- endpoints, config, planning --------------------------------------------------------------


def test_endpoints_per_network_and_overrides() -> None:
    main = bitget_endpoints("bitget_spot", BitgetVenueSettings())
    assert (main.ws, main.rest) == ("wss://ws.bitget.com/v2/ws/public", "https://api.bitget.com")
    demo = bitget_endpoints("bitget_usdtm", BitgetVenueSettings(network="demo"))
    assert demo.ws == "wss://wspap.bitget.com/v2/ws/public"
    custom = bitget_endpoints("bitget_usdtm", BitgetVenueSettings(ws_url="ws://127.0.0.1:9/v2/ws/public/"))
    assert custom.ws == "ws://127.0.0.1:9/v2/ws/public"
    with pytest.raises(ValueError, match="unknown Bitget venue"):
        bitget_endpoints("bitget_coinm", BitgetVenueSettings())


def test_subscribe_requests_are_the_documented_shape() -> None:
    args = [channel_arg("bitget_spot", "books", "BTCUSDT"), channel_arg("bitget_usdtm", "ticker", "BTCUSDT")]
    assert json.loads(request("subscribe", args)) == {
        "op": "subscribe",
        "args": [
            {"instType": "SPOT", "channel": "books", "instId": "BTCUSDT"},
            {"instType": "USDT-FUTURES", "channel": "ticker", "instId": "BTCUSDT"},
        ],
    }


def test_adapters_plan_their_subscriptions_from_config() -> None:
    perp = BitgetMarketData("bitget_usdtm", BitgetVenueSettings(), [DASH], lambda e: None)
    (conn,) = perp._connections
    assert [(a["instType"], a["channel"], a["instId"]) for a in conn.subscriptions] == [
        ("USDT-FUTURES", "books", "DASHUSDT"),
        ("USDT-FUTURES", "trade", "DASHUSDT"),
        ("USDT-FUTURES", "ticker", "DASHUSDT"),
    ]
    assert conn.book_instruments == [DASH.key] and conn.url == "wss://ws.bitget.com/v2/ws/public"
    assert perp.app_ping == "ping" and not perp.app_ping_when_idle and not perp.ws_pings
    spot = BitgetMarketData(
        "bitget_spot", BitgetVenueSettings(channel="books15", trades=False), [BTC_SPOT], lambda e: None
    )
    assert [(a["channel"], a["instId"]) for a in spot._connections[0].subscriptions] == [
        ("books15", "BTCUSDT")
    ]
    specs = [msgspec.structs.replace(DASH, symbol=f"S{i}USDT") for i in range(40)]
    split = BitgetMarketData("bitget_usdtm", BitgetVenueSettings(), specs, lambda e: None)
    assert [len(c.subscriptions) for c in split._connections] == [48, 48, 24]  # < 50 per connection
    frames = split._subscribe_frames(split._connections[0].subscriptions)
    assert [len(json.loads(f)["args"]) for f in frames] == [20, 20, 8]
    with pytest.raises(ValueError, match="ws:// or wss://"):
        BitgetMarketData("bitget_spot", BitgetVenueSettings(ws_url="http://x"), [BTC_SPOT], lambda e: None)
    with pytest.raises(ValueError, match="does not belong"):
        BitgetMarketData("bitget_spot", BitgetVenueSettings(), [DASH], lambda e: None)


def test_registry_creates_the_bitget_adapters() -> None:
    settings = Settings()
    for venue, spec in (("bitget_spot", BTC_SPOT), ("bitget_usdtm", DASH)):
        adapter = create_adapter(venue, settings.venues.for_venue(venue), [spec], lambda e: None)
        assert isinstance(adapter, BitgetMarketData) and adapter.venue == venue


def test_config_sections_engines_and_hedges(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        """
[engines.btc]
venue = "bitget_spot"
symbol = "BTCUSDT"
hedge = { venue = "bitget_usdtm", symbol = "BTCUSDT" }

[venues.bitget_spot]
network = "demo"
channel = "books5"
maker_fee = 0.001
taker_fee = 0.001

[venues.bitget_usdtm]
ticker = false
reconnect_min_s = 1
reconnect_max_s = 60
"""
    )
    settings = load_settings(path)
    assert settings.instruments() == ["bitget_spot:BTCUSDT", "bitget_usdtm:BTCUSDT"]
    spot = settings.venues.for_venue("bitget_spot")
    assert (spot.network, spot.channel, spot.maker_fee) == ("demo", "books5", Decimal("0.001"))
    perp = settings.venues.bitget_usdtm
    assert (perp.ticker, perp.reconnect_max_s, perp.max_subscriptions_per_connection) == (False, 60, 50)


@pytest.mark.parametrize(
    ("toml", "problem"),
    [
        ("[venues.bitget_spot]\nchannel = 'books50'\n", "venues.bitget_spot.channel"),
        ("[venues.bitget_usdtm]\nnetwork = 'testnet'\n", "venues.bitget_usdtm.network"),
        ("[venues.bitget_spot]\nmaker_fee = 0.001\n", "set both maker_fee and taker_fee"),
        ("[venues.bitget_spot]\nreconnect_min_s = 5\nreconnect_max_s = 1\n", "reconnect_max_s must be >="),
        ("[engines.a]\nvenue = 'bitget_spot'\nsymbol = 'BTC-USDT'\n", "bitget_spot symbols have no dashes"),
    ],
)
def test_bad_bitget_config_names_the_field(tmp_path: Path, toml: str, problem: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError, match=problem):
        load_settings(path)


# ---- books ------------------------------------------------------------------------------------


def test_recorded_snapshot_and_update_decode_to_frozen_events() -> None:
    messages = [
        m
        for _, m in recorded_messages()
        if m["arg"]["channel"] == "books" and m["arg"]["instId"] == "DASHUSDT"
    ]
    (snapshot,) = PERP.decode(v2_frame(messages[0]), 123)
    (data,) = messages[0]["data"]
    assert isinstance(snapshot, BookSnapshot) and snapshot.instrument == DASH.key
    assert snapshot.update_id == -1 and snapshot.checksum == data["checksum"] == -139104234
    assert snapshot.bids[0] == (11337, 23761) and snapshot.asks[0] == (
        11342,
        640,
    )  # "113.37"/"237.61", "113.42"/"6.40"
    assert len(snapshot.bids) == len(data["bids"]) and snapshot.local_ts == 123
    assert snapshot.exch_ts == int(data["ts"]) * 1_000_000
    (update,) = PERP.decode(v2_frame(messages[1]), 124)
    assert isinstance(update, BookDelta)
    assert (update.first_id, update.last_id, update.prev_id) == (-1, -1, -1)
    assert update.checksum == messages[1]["data"][0]["checksum"]
    assert any(size == 0 for _, size in update.bids + update.asks)  # "0" deletes
    with pytest.raises(AttributeError):
        update.checksum = 0  # type: ignore[misc]  # frozen msgspec structs


def test_seq_and_pseq_as_numbers_or_strings_and_pseq_zero() -> None:
    big = 1343064377779269632
    (snap,) = SPOT.decode(
        book_frame("snapshot", [["60000.00", "0.500000"]], [["60000.01", "1.000000"]], seq=str(big), pseq=0),
        0,
    )
    assert isinstance(snap, BookSnapshot) and snap.update_id == big
    (upd,) = SPOT.decode(book_frame("update", [["60000.00", "0"]], [], seq=big + 9, pseq=big), 0)
    assert isinstance(upd, BookDelta) and (upd.last_id, upd.prev_id, upd.bids) == (
        big + 9,
        big,
        [(6000000, 0)],
    )
    (reset,) = SPOT.decode(book_frame("update", [], [["60000.02", "0.000001"]], seq=5, pseq=0), 0)
    assert isinstance(reset, BookDelta) and (reset.last_id, reset.prev_id) == (
        5,
        -1,
    )  # pseq 0 = no chain info
    (bare,) = SPOT.decode(book_frame("update", [], [["60000.02", "0.000001"]]), 0)
    assert isinstance(bare, BookDelta) and (bare.last_id, bare.prev_id) == (-1, -1)


def test_fixed_depth_channels_are_snapshots_without_checksum() -> None:
    for channel in ("books1", "books5", "books15"):
        frame = book_frame(
            "snapshot",
            [["60000.00", "0.500000"]],
            [["60000.01", "1.000000"]],
            channel=channel,
            seq=7,
            checksum=-1367582038,
        )
        (event,) = SPOT.decode(frame, 0)
        assert isinstance(event, BookSnapshot) and event.checksum is None and event.update_id == 7


def test_unknown_action_wrong_inst_type_unknown_symbol_and_off_tick() -> None:
    with pytest.raises(DecodeError, match="unknown action") as bad:
        SPOT.decode(book_frame("partial", [], []), 0)
    assert bad.value.kind == "invalid"
    with pytest.raises(DecodeError) as other_type:
        SPOT.decode(book_frame("snapshot", [], [], inst_type="USDT-FUTURES"), 0)
    assert other_type.value.kind == "unknown_stream"
    with pytest.raises(DecodeError) as unknown:
        SPOT.decode(book_frame("snapshot", [], [], inst="ETHUSDT"), 0)
    assert unknown.value.kind == "unknown_symbol"
    with pytest.raises(DecodeError) as off:
        SPOT.decode(book_frame("snapshot", [["60000.005", "1.000000"]], []), 0)
    assert off.value.kind == "off_tick"
    for broken in (
        "{",
        '{"arg":{"instType":"SPOT","channel":"books","instId":"BTCUSDT"},"action":"update"}',
        "[]",
    ):
        with pytest.raises(DecodeError) as malformed:
            SPOT.decode(broken, 0)
        assert malformed.value.kind == "malformed"


def test_a_number_in_another_shape_disables_checksums_for_that_instrument() -> None:
    decoder = BitgetDecoder("bitget_usdtm", [DASH, UNI])

    def frame(inst: str, bids: list[list[str]], asks: list[list[str]]) -> str:
        return book_frame("snapshot", bids, asks, inst=inst, inst_type="USDT-FUTURES", checksum=5)

    (first,) = decoder.decode(frame("DASHUSDT", [["113.50", "6.40"]], [["113.60", "2.00"]]), 0)
    assert isinstance(first, BookSnapshot) and first.checksum == 5
    (odd,) = decoder.decode(frame("DASHUSDT", [["113.5", "6.40"]], [["113.60", "2.00"]]), 0)  # "113.5"
    assert isinstance(odd, BookSnapshot) and odd.bids == [(11350, 640)] and odd.checksum is None
    (later,) = decoder.decode(frame("DASHUSDT", [["113.50", "6.40"]], [["113.60", "2.00"]]), 0)
    assert isinstance(later, BookSnapshot) and later.checksum is None  # off for good: it cannot be rebuilt
    (other,) = decoder.decode(frame("UNIUSDT", [["9.964", "593"]], [["9.969", "67"]]), 0)
    assert isinstance(other, BookSnapshot) and other.checksum == 5  # UNIUSDT unaffected
    (deleted,) = decoder.decode(frame("UNIUSDT", [["9.964", "0"]], [["9.969", "67"]]), 0)
    assert isinstance(deleted, BookSnapshot) and deleted.checksum == 5  # a deletion's "0" is fine
    assert decoder.checksum_disabled == {"DASHUSDT"}


def test_canonical_trade_prices_do_not_hide_a_canonical_book_price_from_the_guard() -> None:
    decoder = BitgetDecoder("bitget_usdtm", [DASH])
    fill = {"ts": "1649290080580", "price": "113.4", "size": "0.43", "side": "sell"}
    (trade,) = decoder.decode(trade_frame("update", [fill], "USDT-FUTURES", "DASHUSDT"), 0)
    assert isinstance(trade, Trade) and trade.price == 11340  # trades are written canonically
    frame = book_frame(
        "snapshot", [["113.4", "6.40"]], [["113.60", "2.00"]], inst="DASHUSDT", inst_type="USDT-FUTURES"
    )
    decoder.decode(frame, 0)
    assert decoder.checksum_disabled == {"DASHUSDT"}


def test_is_fixed() -> None:
    assert is_fixed("113.50", 2) and is_fixed("67", 0) and is_fixed("0.000001", 6)
    assert not is_fixed("113.5", 2) and not is_fixed("67.0", 0) and not is_fixed("1e-5", 5)
    assert not is_fixed("-1.00", 2) and not is_fixed("1.", 0)


# ---- trades, ticker, control ----------------------------------------------------------------------


def trade_frame(
    action: str, fills: list[dict[str, str]], inst_type: str = "SPOT", inst: str = "BTCUSDT"
) -> str:
    arg = {"instType": inst_type, "channel": "trade", "instId": inst}
    return json.dumps({"action": action, "arg": arg, "data": fills, "ts": 1695711090682})


def test_trades_update_becomes_trades_and_the_history_snapshot_is_skipped() -> None:
    fill = {
        "ts": "1695709835822",
        "price": "26293.4",
        "size": "0.0013",
        "side": "buy",
        "tradeId": "1000000000",
    }
    assert SPOT.decode(trade_frame("snapshot", [fill]), 0) == []  # history from before the subscription
    sell = {**fill, "side": "sell", "tradeId": "1000000001", "price": "26293.39"}
    first, second = SPOT.decode(trade_frame("update", [fill, sell]), 5)
    assert isinstance(first, Trade) and isinstance(second, Trade)
    assert (first.price, first.size, first.side, first.trade_id) == (2629340, 1300, Side.BUY, 1000000000)
    assert (second.side, second.price) == (Side.SELL, 2629339)
    assert first.exch_ts == 1695709835822 * 1_000_000 and first.local_ts == 5
    with pytest.raises(DecodeError, match="trade side"):
        SPOT.decode(trade_frame("update", [{**fill, "side": "long"}]), 0)


def test_usdtm_ticker_becomes_mark_price_and_spot_ticker_nothing() -> None:
    ticker = {
        "instId": "DASHUSDT",
        "lastPr": "113.37",
        "bidPr": "113.36",
        "askPr": "113.41",
        "fundingRate": "-0.000100",
        "nextFundingTime": "1649314800000",
        "markPrice": "113.381",
        "indexPrice": "113.427",
        "ts": "1649290077309",
    }
    arg = {"instType": "USDT-FUTURES", "channel": "ticker", "instId": "DASHUSDT"}
    (mark,) = PERP.decode(json.dumps({"action": "snapshot", "arg": arg, "data": [ticker]}), 0)
    assert isinstance(mark, MarkPrice)
    assert (mark.mark_price, mark.index_price) == (11338, 11343)  # rounded half-even to the 0.01 tick
    assert mark.funding_rate == Decimal("-0.000100") and mark.next_funding_ts == 1649314800000 * 1_000_000
    spot_arg = {"instType": "SPOT", "channel": "ticker", "instId": "BTCUSDT"}
    assert (
        SPOT.decode(json.dumps({"action": "snapshot", "arg": spot_arg, "data": [{"lastPr": "1"}]}), 0) == []
    )


def test_control_frames_and_errors() -> None:
    assert SPOT.decode("pong", 0) == [] and SPOT.decode(b"pong", 0) == []
    ack = {"event": "subscribe", "arg": {"instType": "SPOT", "channel": "books", "instId": "BTCUSDT"}}
    assert SPOT.decode(json.dumps(ack), 0) == []
    error = {"event": "error", "code": 30001, "msg": "instType:SPOT,channel:books,instId:NOPE doesn't exist"}
    with pytest.raises(DecodeError, match="30001") as failed:
        SPOT.decode(json.dumps(error), 0)
    assert failed.value.kind == "invalid"
