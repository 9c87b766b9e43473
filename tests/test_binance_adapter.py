"""The adapter's connection policy against scripted loopback servers (real websockets on
127.0.0.1): staleness and rollover reconnects with shrunk timings, heartbeats, REST
snapshot failures retried and counted, bad frames counted and skipped, sink errors
contained, connection failures backed off."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import WSMsgType, web

from bot.core.events import MarketEvent, Trade
from bot.emulator.server import EmulatorServer
from bot.venues.binance.adapter import BinanceMarketData
from tests.market_harness import SPOT_BTC, Harness, settings_for, spot_source_30s, wait_until


def depth(first: int, last: int, bid: str = "100.00", qty: str = "1.00000000") -> str:
    data = {"e": "depthUpdate", "E": 1, "s": "BTCUSDT", "U": first, "u": last, "b": [[bid, qty]], "a": []}
    return json.dumps({"stream": "btcusdt@depth@100ms", "data": data})


def trade(
    price: str = "100.01", trade_id: int = 1, *, maker_buyer: bool = True, symbol: str = "btcusdt"
) -> str:
    data = {
        "e": "trade",
        "E": 1723161255343,
        "s": symbol.upper(),
        "t": trade_id,
        "p": price,
        "q": "0.02000000",
        "T": 1,
        "m": maker_buyer,
    }
    return json.dumps({"stream": f"{symbol}@trade", "data": data})


SNAPSHOT = json.dumps(
    {"lastUpdateId": 100, "bids": [["100.00", "1.00000000"]], "asks": [["100.02", "2.00000000"]]}
)


class ScriptedExchange:
    """A tiny Binance look-alike whose behaviour each test scripts."""

    def __init__(self) -> None:
        self.frames: list[str] = []
        self.ticker_every_s: float | None = None
        self.autoping = True
        self.close_after_frames = False
        self.rest: deque[tuple[int, str, dict[str, str]]] = deque()
        self.rest_delay_s = 0.0
        self.rest_calls = 0
        self.connections = 0
        self.pong_payloads: list[bytes] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> ScriptedExchange:
        app = web.Application()
        app.router.add_get("/stream", self._ws)
        app.router.add_get("/api/v3/depth", self._depth)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    def settings(self, **fields: Any) -> Any:
        overrides = {"ws_url": "ws" + self.url.removeprefix("http"), "rest_url": self.url}
        return settings_for("binance_spot", overrides, **fields)

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        self.connections += 1
        ws = web.WebSocketResponse(autoping=self.autoping)
        await ws.prepare(request)
        for frame in self.frames:
            await ws.send_str(frame)
        if self.close_after_frames:
            await ws.close()
            return ws
        ticker = asyncio.create_task(self._tickers(ws)) if self.ticker_every_s else None
        if not self.autoping:
            await ws.ping(b"are you there")
        try:
            async for message in ws:
                if message.type == WSMsgType.PONG:
                    self.pong_payloads.append(message.data)
        finally:
            if ticker is not None:
                ticker.cancel()
        return ws

    async def _tickers(self, ws: web.WebSocketResponse) -> None:
        assert self.ticker_every_s
        update_id = 1000
        while not ws.closed:
            update_id += 1
            data = {"u": update_id, "s": "BTCUSDT", "b": "100.00", "B": "1.0", "a": "100.02", "A": "2.0"}
            await ws.send_str(json.dumps({"stream": "btcusdt@bookTicker", "data": data}))
            await asyncio.sleep(self.ticker_every_s)

    async def _depth(self, request: web.Request) -> web.Response:
        self.rest_calls += 1
        if self.rest_delay_s:
            await asyncio.sleep(self.rest_delay_s)
        status, body, headers = self.rest.popleft() if self.rest else (200, SNAPSHOT, {})
        return web.Response(status=status, text=body, headers=headers, content_type="application/json")


async def run_adapter(
    settings: Any,
    sink: Callable[[MarketEvent], None],
    until: Callable[[BinanceMarketData], bool],
    timeout: float,
) -> BinanceMarketData:
    import random

    adapter = BinanceMarketData("binance_spot", settings, [SPOT_BTC], sink, rng=random.Random(3))
    task = asyncio.create_task(adapter.run())
    try:
        await wait_until(lambda: until(adapter), timeout=timeout, what="adapter condition")
    finally:
        await adapter.close()
        await task
    return adapter


async def test_silent_connection_is_reconnected_as_stale() -> None:
    async with ScriptedExchange() as exchange:
        harness = Harness("binance_spot", exchange.settings(stale_after_s=0.2, reconnect_min_s=0.01))
        async with harness:
            await wait_until(lambda: harness.adapter.stats.stale_reconnects >= 3, timeout=5, what="3 stale")
        stats = harness.adapter.stats
        assert stats.rollovers == 0
        assert exchange.connections >= 3
        assert stats.connections_opened == exchange.connections
        disconnects = [reason for state, reason in harness.feed_states() if state == "disconnected"]
        assert disconnects[0].startswith("stale: no message for 0.2")
        # the book is never valid on a feed that sends nothing
        assert harness.transitions == []


async def test_rollover_reconnects_proactively_without_backoff() -> None:
    async with EmulatorServer(spot_source_30s(), speed=1.0, loop=False) as emu:
        # a 1 s minimum backoff would allow at most one reconnect in the time below:
        # rollovers must bypass it
        settings = settings_for(
            "binance_spot",
            emu.overrides("binance_spot"),
            max_connection_age_s=0.35,
            reconnect_min_s=1.0,
            reconnect_max_s=2.0,
            stale_after_s=5.0,
        )
        harness = Harness("binance_spot", settings)
        async with harness:
            await wait_until(
                lambda: (
                    harness.adapter.stats.rollovers >= 3
                    and harness.adapter.stats.connections_opened >= 4
                    and harness.sync.valid
                ),
                timeout=5,
                what="3 rollovers and a valid book on the 4th connection",
            )
        stats = harness.adapter.stats
        assert stats.stale_reconnects == 0 and stats.connect_failures == 0
        assert stats.connections_opened >= 4
        disconnects = [reason for state, reason in harness.feed_states() if state == "disconnected"]
        assert disconnects[:3] == ["rollover after 0.35s"] * 3
        # each new connection resynced the book from a fresh snapshot, and it stayed right
        assert harness.sync.counters.snapshots >= 4
        assert harness.mismatches == []


async def test_unanswered_pings_close_the_connection_and_server_pings_are_answered() -> None:
    async with ScriptedExchange() as exchange:
        exchange.autoping = False  # the server neither answers pings nor pongs for us
        exchange.ticker_every_s = 0.05  # ... but keeps the stream busy, so it is never stale
        settings = exchange.settings(ping_interval_s=0.1, ping_timeout_s=0.15, stale_after_s=10.0)
        adapter = await run_adapter(
            settings, lambda event: None, lambda a: a.stats.disconnects >= 1 and a.stats.events > 5, 5.0
        )
        assert adapter.stats.stale_reconnects == 0
        assert adapter.stats.reconnects >= 1
        # our client answered the server's ping with the same payload
        assert exchange.pong_payloads[0] == b"are you there"


async def test_snapshot_failures_are_retried_and_counted() -> None:
    async with ScriptedExchange() as exchange:
        exchange.frames = [depth(101, 101, "100.00", "3.00000000")]
        exchange.rest.extend(
            [
                (500, "internal error", {}),
                (400, json.dumps({"code": -1121, "msg": "Invalid symbol."}), {}),
                (200, '{"lastUpdateId": 100, "bids": [["100.00", ', {}),  # truncated body
                (200, json.dumps({"lastUpdateId": 100, "bids": [["100.001", "1"]], "asks": []}), {}),
            ]
        )
        harness = Harness("binance_spot", exchange.settings(reconnect_min_s=0.01, reconnect_max_s=0.02))
        async with harness:
            await wait_until(lambda: harness.sync.valid, timeout=5, what="book valid after retries")
        stats = harness.adapter.stats
        assert exchange.rest_calls == 5
        assert stats.snapshot_fetches == 5
        assert stats.snapshot_errors == 4
        assert stats.snapshots_delivered == 1
        assert harness.sync.counters.snapshots == 1
        # snapshot 100 + diff 101 (absolute size 3 at the best bid)
        assert harness.book.best_bid == 10000 and harness.book.best_bid_size == 300000000
        assert harness.book.update_id == 101


async def test_rate_limit_answer_is_honoured() -> None:
    async with ScriptedExchange() as exchange:
        exchange.frames = [depth(101, 101)]
        exchange.rest.append(
            (429, json.dumps({"code": -1003, "msg": "Too many requests"}), {"Retry-After": "0.4"})
        )
        harness = Harness("binance_spot", exchange.settings(reconnect_min_s=0.01, reconnect_max_s=0.02))
        async with harness:
            start = asyncio.get_running_loop().time()
            await wait_until(lambda: harness.sync.valid, timeout=5, what="book valid")
            elapsed = asyncio.get_running_loop().time() - start
        assert harness.adapter.stats.snapshot_errors == 1
        assert elapsed >= 0.4


async def test_snapshot_requests_are_deduplicated_and_skipped_while_down() -> None:
    async with ScriptedExchange() as exchange:
        exchange.rest_delay_s = 0.3
        exchange.frames = [depth(101, 101)]
        harness = Harness("binance_spot", exchange.settings())
        # before any connection: nothing to fetch for (CONNECTED will ask again)
        harness.adapter.request_snapshot(SPOT_BTC.key, "early")
        assert harness.adapter.stats.snapshot_skipped == 1
        async with harness:
            await wait_until(lambda: harness.adapter.stats.snapshot_fetches == 1, what="first fetch")
            harness.adapter.request_snapshot(SPOT_BTC.key, "again")
            harness.adapter.request_snapshot(SPOT_BTC.key, "and again")
            harness.adapter.request_snapshot("binance_spot:ETHUSDT", "not ours")
            await wait_until(lambda: harness.sync.valid, what="book valid")
        stats = harness.adapter.stats
        assert stats.snapshot_deduped == 2
        assert exchange.rest_calls == 1


async def test_bad_frames_are_counted_by_kind_and_skipped() -> None:
    async with ScriptedExchange() as exchange:
        exchange.frames = [
            '{"result":null,"id":1}',
            '{"stream":"btcusdt@trade","data":{"e":"trade",',
            json.dumps({"stream": "btcusdt@kline_1m", "data": {"e": "kline"}}),
            trade(symbol="ethusdt"),
            trade(price="100.005"),
            depth(105, 104),
            trade(price="100.01", trade_id=7, maker_buyer=True),
        ]
        events: list[MarketEvent] = []
        adapter = await run_adapter(exchange.settings(), events.append, lambda a: a.stats.messages >= 7, 5.0)
        stats = adapter.stats
        assert stats.acks == 1
        assert stats.malformed == 1
        assert stats.unknown_streams == 2
        assert stats.off_tick == 1
        assert stats.invalid == 1
        assert stats.decode_errors == 5
        assert stats.connections_opened == 1 and stats.reconnects == 0
        trades = [e for e in events if isinstance(e, Trade)]
        assert len(trades) == 1
        assert trades[0].trade_id == 7 and trades[0].price == 10001 and trades[0].side == -1


async def test_sink_exceptions_are_contained() -> None:
    async with ScriptedExchange() as exchange:
        exchange.frames = [trade(trade_id=i) for i in range(1, 6)]
        seen: list[int] = []

        def sink(event: MarketEvent) -> None:
            if isinstance(event, Trade):
                seen.append(event.trade_id)
                if event.trade_id % 2:
                    raise RuntimeError("bug in a handler")

        adapter = await run_adapter(exchange.settings(), sink, lambda a: len(seen) == 5, 5.0)
        assert seen == [1, 2, 3, 4, 5]
        assert adapter.stats.sink_errors == 3
        assert adapter.stats.connections_opened == 1


async def test_unreachable_exchange_is_retried_with_backoff() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()  # nothing listens on this port any more
    settings = settings_for(
        "binance_spot",
        {"ws_url": f"ws://127.0.0.1:{port}", "rest_url": f"http://127.0.0.1:{port}"},
        reconnect_min_s=0.01,
        reconnect_max_s=0.05,
    )
    adapter = await run_adapter(settings, lambda event: None, lambda a: a.stats.connect_failures >= 4, 5.0)
    assert adapter.stats.connections_opened == 0
    assert adapter.stats.reconnects >= 4


async def test_close_is_not_lost_while_a_connection_is_cleaning_up() -> None:
    """Regression: close() arriving while the reader waits for its watchdog to finish
    must stop the adapter (the cancellation was once swallowed, and close() hung)."""

    class SlowCleanup(BinanceMarketData):
        async def _watchdog(self, conn: Any, ws: Any) -> None:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                await asyncio.sleep(0.3)  # a slow cleanup keeps the reader waiting
                raise

    async with ScriptedExchange() as exchange:
        exchange.close_after_frames = True  # every connection ends at once
        adapter = SlowCleanup(
            "binance_spot",
            exchange.settings(reconnect_min_s=5.0, reconnect_max_s=5.0),
            [SPOT_BTC],
            lambda e: None,
        )
        task = asyncio.create_task(adapter.run())
        await wait_until(lambda: exchange.connections == 1, what="first connection")
        await asyncio.sleep(0.1)  # the server has closed; the reader is in its cleanup
        await asyncio.wait_for(adapter.close(), 2.0)
        await asyncio.wait_for(task, 2.0)
        assert adapter.stats.reconnects == 0


def test_adapter_rejects_bad_configuration() -> None:
    with pytest.raises(ValueError, match="ws:// or wss://"):  # refused as a setting ...
        settings_for("binance_spot", {"ws_url": "http://127.0.0.1:1"})
    settings = settings_for("binance_spot", {})
    unchecked = settings.model_copy(update={"ws_url": "http://127.0.0.1:1"})
    with pytest.raises(ValueError, match="ws:// or wss://"):  # ... and by the adapter itself
        BinanceMarketData("binance_spot", unchecked, [SPOT_BTC], lambda e: None)
    with pytest.raises(ValueError, match="unknown Binance venue"):
        BinanceMarketData("kraken", settings, [SPOT_BTC], lambda e: None)
    with pytest.raises(ValueError, match="does not belong"):
        BinanceMarketData("binance_usdm", settings_for("binance_usdm", {}), [SPOT_BTC], lambda e: None)
