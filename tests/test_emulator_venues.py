"""The emulator's Bybit and OKX protocols seen by a plain websocket client (no adapter):
paths, subscribe / unsubscribe acks and errors, ping / pong, the snapshot on subscription,
depth-limited views; and loading replay files of every format."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.emulator.server import EmulatorServer
from bot.emulator.sources import detect_format, load_replay
from bot.errors import InputError
from tests.venue_harness import BYBIT_FILE, OKX_FILE, NaiveBybit, okx_checksum_reference

BINANCE_FILE = Path(__file__).resolve().parent / "data" / "binance_spot_btcusdt_20240808_head120.gz"


async def receive(ws: aiohttp.ClientWebSocketResponse, timeout: float = 2.0) -> str:
    message = await asyncio.wait_for(ws.receive(), timeout)
    assert message.type == aiohttp.WSMsgType.TEXT, message
    return str(message.data)


async def quiet(ws: aiohttp.ClientWebSocketResponse, seconds: float = 0.2) -> bool:
    try:
        await asyncio.wait_for(ws.receive(), seconds)
    except TimeoutError:
        return True
    return False


def ws_url(emu: EmulatorServer, path: str) -> str:
    return "ws://" + emu.url.removeprefix("http://") + path


async def test_bybit_control_messages_and_the_snapshot_on_subscription() -> None:
    naive = NaiveBybit()
    async with (
        EmulatorServer(load_replay([BYBIT_FILE]), speed=0, loop=False, autostart=False) as emu,
        aiohttp.ClientSession() as session,
    ):
        ws = await session.ws_connect(ws_url(emu, "/v5/public/linear"))
        await ws.send_str(
            json.dumps(
                {
                    "op": "subscribe",
                    "args": ["orderbook.50.XRPUSDT", "orderbook.7.XRPUSDT"],
                    "req_id": "a",
                }
            )
        )
        answer = json.loads(await receive(ws))
        assert answer["op"] == "subscribe" and answer["req_id"] == "a" and answer["success"] is False
        assert answer["ret_msg"] == "error:handler not found,topic:orderbook.7.XRPUSDT"
        snapshot = json.loads(await receive(ws))  # the valid topic was subscribed anyway
        assert snapshot["topic"] == "orderbook.50.XRPUSDT" and snapshot["type"] == "snapshot"
        data = snapshot["data"]
        assert len(data["b"]) == len(data["a"]) == 50 and data["u"] == naive.first_u
        best_bids = sorted((Decimal(p) for p, _ in data["b"]), reverse=True)
        assert [Decimal(p) for p, _ in data["b"]] == best_bids  # best first
        await ws.send_str('{"op":"ping","req_id":"p"}')
        pong = json.loads(await receive(ws))
        assert (pong["op"], pong["ret_msg"], pong["success"], pong["req_id"]) == (
            "ping",
            "pong",
            True,
            "p",
        )
        await ws.send_str("{not json")
        assert json.loads(await receive(ws))["success"] is False
        emu.play()
        await emu.wait_finished()
        await ws.close()
        ws = await session.ws_connect(ws_url(emu, "/v5/public/linear"))
        await ws.send_str(json.dumps({"op": "subscribe", "args": ["orderbook.1.XRPUSDT"]}))
        assert json.loads(await receive(ws))["success"] is True
        top = json.loads(await receive(ws))["data"]
        best_bid = max(naive.bids)
        assert (Decimal(top["b"][0][0]), Decimal(top["b"][0][1])) == (best_bid, naive.bids[best_bid])
        await ws.send_str(json.dumps({"op": "unsubscribe", "args": ["orderbook.1.XRPUSDT"], "req_id": "u"}))
        assert json.loads(await receive(ws))["op"] == "unsubscribe"
        assert emu.status()["venues"]["bybit"]["subscriptions"] == 0
        await ws.close()


async def test_bybit_depth_view_deltas_rebuild_the_top_levels() -> None:
    naive = NaiveBybit()
    async with (
        EmulatorServer(load_replay([BYBIT_FILE]), speed=0, loop=False, autostart=False) as emu,
        aiohttp.ClientSession() as session,
    ):
        ws = await session.ws_connect(ws_url(emu, "/v5/public/linear"))
        await ws.send_str(json.dumps({"op": "subscribe", "args": ["orderbook.50.XRPUSDT"]}))
        await receive(ws)
        snapshot = json.loads(await receive(ws))["data"]
        bids = {Decimal(p): Decimal(q) for p, q in snapshot["b"]}
        asks = {Decimal(p): Decimal(q) for p, q in snapshot["a"]}
        u = snapshot["u"]
        emu.play()
        deltas = 0
        while True:
            try:
                frame = json.loads(await receive(ws, 1.0))
            except TimeoutError:
                break
            data = frame["data"]
            assert frame["type"] == "delta" and data["u"] == u + 1
            u = data["u"]
            deltas += 1
            for side, levels in ((bids, data["b"]), (asks, data["a"])):
                for price, size in levels:
                    if Decimal(size):
                        side[Decimal(price)] = Decimal(size)
                    else:
                        side.pop(Decimal(price), None)
            assert len(bids) <= 50 and len(asks) <= 50
        top_bids = dict(sorted(naive.bids.items(), reverse=True)[:50])
        top_asks = dict(sorted(naive.asks.items())[:50])
        assert (bids, asks) == (top_bids, top_asks)
        assert 0 < deltas <= 49
        await ws.close()


async def test_okx_control_messages_checksummed_snapshot_and_books5() -> None:
    async with (
        EmulatorServer(load_replay([OKX_FILE]), speed=0, loop=False, autostart=False) as emu,
        aiohttp.ClientSession() as session,
    ):
        ws = await session.ws_connect(ws_url(emu, "/ws/v5/public"))
        args = [
            {"channel": "books", "instId": "BTC-USDT"},
            {"channel": "books", "instId": "DOGE-USDT"},
            {"channel": "books5", "instId": "UNI-USD-SWAP"},
        ]
        await ws.send_str(json.dumps({"op": "subscribe", "args": args}))
        frames = [json.loads(await receive(ws)) for _ in range(5)]
        events = [f.get("event") for f in frames]
        assert events.count("subscribe") == 2 and events.count("error") == 1
        error = next(f for f in frames if f.get("event") == "error")
        assert error["code"] == "60018" and "DOGE-USDT" in error["msg"]
        books = next(f for f in frames if f.get("arg", {}).get("channel") == "books" and "data" in f)
        assert books["action"] == "snapshot"
        (data,) = books["data"]
        assert "seqId" not in data  # the 2022 recording has none, and the emulator serves it as is
        text_bids = {Decimal(lv[0]): (lv[0], lv[1]) for lv in data["bids"]}
        text_asks = {Decimal(lv[0]): (lv[0], lv[1]) for lv in data["asks"]}
        assert data["checksum"] == okx_checksum_reference(text_bids, text_asks)
        five = next(f for f in frames if f.get("arg", {}).get("channel") == "books5" and "data" in f)
        assert "action" not in five and len(five["data"][0]["bids"]) == 5
        await ws.send_str("ping")
        assert await receive(ws) == "pong"
        await ws.send_str(json.dumps({"op": "unsubscribe", "args": args[:1]}))
        assert json.loads(await receive(ws))["event"] == "unsubscribe"
        await ws.send_str("hello")
        assert json.loads(await receive(ws))["code"] == "60012"
        await ws.close()


def test_replay_formats_are_recognised_by_content(tmp_path: Path) -> None:
    assert detect_format(BYBIT_FILE) == "bybit"
    assert detect_format(OKX_FILE) == "okx"
    assert detect_format(BINANCE_FILE) == "binance"
    plain = tmp_path / "bybit.jsonl"
    with __import__("zipfile").ZipFile(BYBIT_FILE) as archive:
        plain.write_bytes(archive.read(archive.namelist()[0]))
    assert detect_format(plain) == "bybit"
    source = load_replay([BINANCE_FILE, plain, OKX_FILE])
    assert sorted(source.markets()) == [
        ("binance_spot", "BTCUSDT"),
        ("bybit_linear", "XRPUSDT"),
        ("okx_futures", "BTC-USD-220527"),
        ("okx_spot", "BTC-USDT"),
        ("okx_swap", "UNI-USD-SWAP"),
    ]
    items = list(source.open_pass().items)
    starts: dict[str, int] = {}
    for item in items:
        starts.setdefault(item.venue.partition("_")[0], item.ts_ns)
    # recordings years apart are lined up to start together (within their first second)
    assert max(starts.values()) - min(starts.values()) < 1_000_000_000
    window = source.common_window()
    end = max(item.ts_ns for item in window.open_pass().items)
    assert end - min(starts.values()) < 5_000_000_000  # clipped to the shortest (Bybit, 4.8 s)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"hello world\n", "unknown recording format"),
        (
            b'1652459225.5: {"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{}]}\n',
            "book levels",
        ),
        (
            b'{"topic":"orderbook.50.X","type":"delta","ts":1,"data":{"s":"X","b":[],"a":[],"u":2}}\n',
            "no book snapshot",
        ),
        (
            b'{"topic":"orderbook.50.X","type":"snapshot","data":{"s":"X","b":[],"a":[],"u":2}}\n',
            "integer 'ts'",
        ),
    ],
)
def test_bad_recordings_are_one_clear_input_error(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "recording.log"
    path.write_bytes(content)
    with pytest.raises(InputError, match=problem) as caught:
        load_replay([path])
    assert str(path) in str(caught.value)


def test_emulator_cli_builds_a_source_from_any_format() -> None:
    from bot.commands.emulator import build_source

    args: Any = type(
        "Args", (), {"scenario": None, "instrument": None, "replay": [BYBIT_FILE, OKX_FILE], "full": False}
    )()
    source = build_source(args)
    assert ("bybit_linear", "XRPUSDT") in source.markets() and ("okx_spot", "BTC-USDT") in source.markets()


def test_fault_specs_name_the_new_venues_and_okx_instruments() -> None:
    from bot.emulator.faults import parse_fault_spec

    scheduled = parse_fault_spec("checksum@2.5,venue=okx_spot,symbol=btc-usdt")
    assert (scheduled.fault.kind, scheduled.fault.venue, scheduled.fault.symbol) == (
        "checksum",
        "okx_spot",
        "BTC-USDT",
    )
    assert parse_fault_spec("gap@1,venue=bybit_linear").fault.matches("bybit_linear", "XRPUSDT")
    with pytest.raises(InputError, match="unknown venue 'kraken'"):
        parse_fault_spec("gap@1,venue=kraken")
