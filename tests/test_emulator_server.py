"""The emulator's wire protocol, seen by plain websocket/HTTP clients on 127.0.0.1:
REST depth and its errors, raw and combined streams, SUBSCRIBE, route enforcement,
aggTrade rendering, stall backlog, loop restarts and the control endpoints."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import aiohttp
from websockets.asyncio.client import connect

from bot.emulator.faults import Fault
from bot.emulator.server import EmulatorServer
from tests.market_harness import Harness, settings_for, spot_source_30s, wait_until


async def get_json(url: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.json(content_type=None)


async def test_rest_depth_snapshot_and_errors() -> None:
    async with EmulatorServer(spot_source_30s(), speed=0, autostart=False) as emu:
        status, body = await get_json(f"{emu.url}/api/v3/depth?symbol=BTCUSDT&limit=3")
        assert status == 200
        book = emu.books[("binance_spot", "BTCUSDT")]
        assert body["lastUpdateId"] == book.last_id
        assert "E" not in body  # spot snapshots carry no event time
        best_bids = sorted(book.bids, reverse=True)[:3]
        assert [Decimal(p) for p, _ in body["bids"]] == best_bids
        assert [Decimal(p) for p, _ in body["asks"]] == sorted(book.asks)[:3]
        status, body = await get_json(f"{emu.url}/api/v3/depth?symbol=BTCUSDT&limit=100000")
        assert len(body["bids"]) == min(5000, len(book.bids))
        # Binance's own error bodies
        assert await get_json(f"{emu.url}/api/v3/depth?symbol=ETHUSDT") == (
            400,
            {"code": -1121, "msg": "Invalid symbol."},
        )
        assert (await get_json(f"{emu.url}/api/v3/depth?symbol=btcusdt"))[1]["code"] == -1121
        assert (await get_json(f"{emu.url}/api/v3/depth"))[1]["code"] == -1102
        assert (await get_json(f"{emu.url}/api/v3/depth?symbol=BTCUSDT&limit=abc"))[1]["code"] == -1100
        assert (await get_json(f"{emu.url}/api/v3/depth?symbol=BTCUSDT&limit=0"))[1]["code"] == -1100
        # the spot recording does not serve USD-M
        assert (await get_json(f"{emu.url}/fapi/v1/depth?symbol=BTCUSDT"))[1]["code"] == -1121
        assert await get_json(f"{emu.url}/api/v3/ping") == (200, {})
        assert await get_json(f"{emu.url}/fapi/v1/ping") == (200, {})
        status, body = await get_json(f"{emu.url}/api/v3/time")
        assert status == 200 and "serverTime" in body
        status, body = await get_json(f"{emu.url}/_emulator/status")
        assert status == 200 and body["playing"] is False and body["finished"] is False
        assert body["books"]["binance_spot:BTCUSDT"]["update_id"] == book.last_id


async def test_streams_raw_combined_subscribe_and_routes() -> None:
    source = spot_source_30s()
    async with EmulatorServer(source, speed=0, autostart=False, loop=False) as emu:
        ws_base = "ws" + emu.url.removeprefix("http")
        async with (
            # these clients stop reading early: do not wait for a clean close
            connect(f"{ws_base}/ws/btcusdt@trade", close_timeout=0.1) as raw,
            connect(f"{ws_base}/stream?streams=btcusdt@aggTrade", close_timeout=0.1) as combined,
            connect(f"{ws_base}/ws", close_timeout=0.1) as later,
            connect(f"{ws_base}/public/stream?streams=btcusdt@trade", close_timeout=0.1) as wrong_venue,
        ):
            await later.send(json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@bookTicker"], "id": 5}))
            assert json.loads(await later.recv()) == {"result": None, "id": 5}
            await later.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 6}))
            assert json.loads(await later.recv()) == {"result": ["btcusdt@bookTicker"], "id": 6}
            await later.send(json.dumps({"method": "PING", "id": 7}))
            assert json.loads(await later.recv())["error"]["code"] == 2
            await later.send("not json")
            assert json.loads(await later.recv())["error"]["code"] == 3
            await wait_until(lambda: emu.status()["connections"] == 4, what="4 connections")
            emu.play()
            recorded_trades = [json.loads(i.data) for i in source._timeline if i.kind == "trade"]
            # /ws/<stream>: bare payloads, exactly as recorded
            first = json.loads(await raw.recv())
            assert first == recorded_trades[0]
            # combined: envelope with the stream name the client asked for; aggTrade of each fill
            message = json.loads(await combined.recv())
            assert message["stream"] == "btcusdt@aggTrade"
            agg, trade = message["data"], recorded_trades[0]
            assert agg["e"] == "aggTrade"
            assert (agg["a"], agg["f"], agg["l"]) == (trade["t"],) * 3
            assert (agg["p"], agg["q"], agg["m"], agg["T"]) == (
                trade["p"],
                trade["q"],
                trade["m"],
                trade["T"],
            )
            ticker = json.loads(await later.recv())
            assert set(ticker) == {"u", "s", "b", "B", "a", "A"}  # bare spot bookTicker
            # the USD-M public route has no BTCUSDT recording here: nothing arrives
            try:
                frame = await asyncio.wait_for(wrong_venue.recv(), 0.2)
            except TimeoutError:
                frame = None
            assert frame is None


async def test_usdm_routes_serve_only_their_streams() -> None:
    from tests.test_emulator_synthetic import StandInMarket, synthetic_source

    source = synthetic_source(StandInMarket, venues=("binance_usdm",), steps=40)
    async with EmulatorServer(source, speed=0, autostart=False, loop=False) as emu:
        ws_base = "ws" + emu.url.removeprefix("http")
        async with (
            connect(f"{ws_base}/public/stream?streams=btcusdt@markPrice@1s/btcusdt@depth@100ms") as public,
            connect(f"{ws_base}/market/stream?streams=btcusdt@markPrice@1s/btcusdt@depth@100ms") as market,
        ):
            await wait_until(lambda: emu.status()["connections"] == 2, what="2 connections")
            emu.play()
            await emu.wait_finished()
            public_streams = await drain_streams(public)
            market_streams = await drain_streams(market)
        assert public_streams == {"btcusdt@depth@100ms"}
        assert market_streams == {"btcusdt@markPrice@1s"}


async def drain_streams(ws: Any) -> set[str]:
    streams: set[str] = set()
    while True:
        try:
            streams.add(json.loads(await asyncio.wait_for(ws.recv(), 0.2))["stream"])
        except TimeoutError:
            return streams


async def test_stall_delivers_the_backlog_afterwards_in_order() -> None:
    source = spot_source_30s()
    trades = [json.loads(i.data)["t"] for i in source._timeline if i.kind == "trade"]
    async with EmulatorServer(source, speed=0, autostart=False, loop=False) as emu:
        ws_base = "ws" + emu.url.removeprefix("http")
        async with connect(f"{ws_base}/ws/btcusdt@trade") as ws:
            await wait_until(lambda: emu.status()["connections"] == 1, what="connection")
            emu.inject(Fault("stall", duration_s=0.5))
            loop = asyncio.get_running_loop()
            started = loop.time()
            emu.play()
            received = [json.loads(await ws.recv())["t"]]
            first_at = loop.time()
            while len(received) < len(trades):
                received.append(json.loads(await ws.recv())["t"])
        assert first_at - started >= 0.45
        assert received == trades
        assert emu.status()["faults_applied"] == {"stall": 1}


async def test_loop_restarts_the_replay_and_the_adapter_resyncs() -> None:
    async with EmulatorServer(spot_source_30s(), speed=0, autostart=False, loop=True) as emu:
        harness = Harness("binance_spot", settings_for("binance_spot", emu.overrides("binance_spot")))
        async with harness:
            await wait_until(lambda: harness.sync.counters.snapshots == 1, what="first snapshot")
            emu.play()
            await wait_until(
                lambda: emu.passes >= 2 and harness.sync.counters.snapshots >= 2 and harness.sync.valid,
                timeout=10,
                what="a second pass with a resynced book",
            )
            reasons = [reason for state, reason in harness.feed_states() if state == "disconnected"]
        assert reasons[0] == "closed with code 1012: replay restart"
        assert harness.adapter.stats.connections_opened >= 2
        assert harness.mismatches == []


async def test_fault_endpoint() -> None:
    async with EmulatorServer(spot_source_30s(), speed=50, autostart=False) as emu:
        async with aiohttp.ClientSession() as session:
            async with session.post(
                f"{emu.url}/_emulator/fault", json={"kind": "gap", "symbol": "btcusdt"}
            ) as r:
                assert r.status == 200
                assert (await r.json())["fault"] == {
                    "kind": "gap",
                    "venue": None,
                    "symbol": "BTCUSDT",
                    "duration_s": 0.0,
                }
            for body, problem in (
                ("{", "invalid JSON"),
                (json.dumps({"kind": "meltdown"}), "unknown fault kind"),
                (json.dumps({"kind": "stall", "duration": "long"}), "duration"),
                (json.dumps({"kind": "drop", "venue": "kraken"}), "unknown venue"),
                (json.dumps({"kind": "gap", "colour": 1}), "unknown field"),
                (json.dumps(["gap"]), "JSON object"),
            ):
                async with session.post(f"{emu.url}/_emulator/fault", data=body) as r:
                    assert r.status == 400
                    answer = await r.json()
                    assert answer["ok"] is False
                    assert problem in answer["error"]
        # the accepted gap was armed and applies to the next diff
        emu.play()
        await wait_until(lambda: emu.faults_applied.get("gap") == 1, what="gap applied")
        assert emu.faults_applied == {"gap": 1}
