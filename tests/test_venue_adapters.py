"""The Bybit and OKX adapters' connection policy against scripted loopback servers (real
websockets on 127.0.0.1): subscribe requests as the venues document them, malformed and
foreign frames counted by kind and skipped without dropping the connection,
application heartbeats (Bybit ``{"op":"ping"}`` on a timer, OKX ``ping`` only when
idle), unanswered pings and silent connections reconnected, resubscription requests
de-duplicated and skipped while down."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

from bot.config import BybitLinearSettings, OkxVenueSettings
from bot.core.events import BookDelta, BookSnapshot, MarketEvent, Trade
from bot.venues.bybit.adapter import BybitMarketData
from bot.venues.okx.adapter import OkxMarketData
from tests.market_harness import wait_until
from tests.venue_harness import OKX_BTC_USDT, XRP_LINEAR

FAST = {"reconnect_min_s": 0.02, "reconnect_max_s": 0.1}


def bybit_book(
    kind: str, u: int, bids: list[list[str]], asks: list[list[str]], symbol: str = "XRPUSDT"
) -> str:
    data = {"s": symbol, "b": bids, "a": asks, "u": u, "seq": 1}
    return json.dumps({"topic": f"orderbook.50.{symbol}", "type": kind, "ts": 1733011200691, "data": data})


def bybit_trade(price: str = "1.9531", symbol: str = "XRPUSDT") -> str:
    fill = {
        "T": 1,
        "s": symbol,
        "S": "Sell",
        "v": "10",
        "p": price,
        "L": "MinusTick",
        "i": "u-u-i-d",
        "BT": False,
    }
    return json.dumps({"topic": f"publicTrade.{symbol}", "type": "snapshot", "ts": 1, "data": [fill]})


def okx_book(action: str, bids: list[list[str]], asks: list[list[str]], inst: str = "BTC-USDT") -> str:
    data = {"asks": asks, "bids": bids, "ts": "1652459225464", "checksum": 0}
    return json.dumps({"arg": {"channel": "books", "instId": inst}, "action": action, "data": [data]})


def okx_trade(price: str = "30236", inst: str = "BTC-USDT") -> str:
    fill = {"instId": inst, "tradeId": "7", "px": price, "sz": "0.0002", "side": "buy", "ts": "1652459224818"}
    return json.dumps({"arg": {"channel": "trades", "instId": inst}, "data": [fill]})


class ScriptedVenue:
    """A tiny Bybit / OKX look-alike: records what the client sends, answers its first
    subscribe request with scripted frames, answers pings when told to."""

    def __init__(self, path: str, pong: str | None) -> None:
        self.path = path
        self.pong = pong
        self.frames: list[str] = []
        self.received: list[tuple[float, str]] = []
        self.connections = 0
        self.chatter_every_s: float | None = None
        self.chatter = ""
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> ScriptedVenue:
        app = web.Application()
        app.router.add_get(self.path, self._ws)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"ws://127.0.0.1:{port}{self.path}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    def sent(self, predicate: Callable[[str], bool]) -> list[float]:
        return [at for at, text in self.received if predicate(text)]

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        self.connections += 1
        ws = web.WebSocketResponse(autoping=False)  # no protocol-level pongs: OKX has none
        await ws.prepare(request)
        loop = asyncio.get_running_loop()
        chatter = asyncio.create_task(self._chatter(ws)) if self.chatter_every_s else None
        scripted = False
        try:
            async for message in ws:
                if message.type != WSMsgType.TEXT:
                    continue
                self.received.append((loop.time(), message.data))
                if message.data in ("ping", '{"op":"ping"}'):
                    if self.pong is not None:
                        await ws.send_str(self.pong)
                    continue
                if not scripted and "subscribe" in message.data:
                    scripted = True
                    for frame in self.frames:
                        await ws.send_str(frame)
        finally:
            if chatter is not None:
                chatter.cancel()
        return ws

    async def _chatter(self, ws: web.WebSocketResponse) -> None:
        assert self.chatter_every_s
        while not ws.closed:
            await asyncio.sleep(self.chatter_every_s)
            await ws.send_str(self.chatter)


def bybit_adapter(
    venue: ScriptedVenue, sink: Callable[[MarketEvent], None], **fields: Any
) -> BybitMarketData:
    settings = BybitLinearSettings(ws_url=venue.url, tickers=False, **FAST, **fields)
    return BybitMarketData("bybit_linear", settings, [XRP_LINEAR], sink, rng=random.Random(1))


def okx_adapter(venue: ScriptedVenue, sink: Callable[[MarketEvent], None], **fields: Any) -> OkxMarketData:
    settings = OkxVenueSettings(ws_url=venue.url, **FAST, **fields)
    return OkxMarketData("okx_spot", settings, [OKX_BTC_USDT], sink, rng=random.Random(1))


async def run_until(adapter: Any, until: Callable[[], bool], timeout: float = 5.0) -> None:
    task = asyncio.create_task(adapter.run())
    try:
        await wait_until(until, timeout=timeout, what="adapter condition")
    finally:
        await adapter.close()
        await task


# ---- subscriptions and bad frames -----------------------------------------------------------


async def test_bybit_subscribes_and_counts_malformed_and_foreign_frames() -> None:
    async with ScriptedVenue("/v5/public/linear", None) as venue:
        venue.frames = [
            '{"success":true,"ret_msg":"","conn_id":"c","req_id":"1","op":"subscribe"}',
            bybit_book("snapshot", 10, [["1.9530", "5"]], [["1.9540", "7"]]),
            '{"topic":"orderbook.50.XRPUSDT","type":"delta","data":{"s":',  # truncated
            "not json at all",
            json.dumps({"stream": "btcusdt@trade", "data": {"e": "trade"}}),  # a Binance frame
            json.dumps(
                {"topic": "kline.1.XRPUSDT", "type": "snapshot", "ts": 1, "data": []}
            ),  # unknown topic
            bybit_trade(symbol="BTCUSDT"),  # not subscribed
            bybit_trade(price="1.95305"),  # off the tick
            '{"success":false,"ret_msg":"error:handler not found,topic:x","op":"subscribe"}',
            bybit_book("delta", 11, [["1.9531", "3"]], []),
            bybit_trade(),
        ]
        events: list[MarketEvent] = []
        adapter = bybit_adapter(venue, events.append)
        await run_until(adapter, lambda: any(isinstance(e, Trade) for e in events))
        (subscribe,) = [json.loads(text) for _, text in venue.received]
        assert subscribe["op"] == "subscribe"
        assert subscribe["args"] == ["orderbook.50.XRPUSDT", "publicTrade.XRPUSDT"]
        stats = adapter.stats
        assert (stats.malformed, stats.unknown_streams, stats.off_tick, stats.invalid) == (3, 2, 1, 1)
        assert stats.decode_errors == 7 and stats.acks == 1
        assert stats.connections_opened == 1 and stats.reconnects == 0
        book = [e for e in events if isinstance(e, BookSnapshot | BookDelta)]
        assert [type(e).__name__ for e in book] == ["BookSnapshot", "BookDelta"]
        (trade,) = [e for e in events if isinstance(e, Trade)]
        assert trade.price == 19531 and trade.size == 10 and trade.side == -1 and trade.trade_id == 0


async def test_okx_subscribes_and_counts_malformed_and_foreign_frames() -> None:
    async with ScriptedVenue("/ws/v5/public", "pong") as venue:
        venue.frames = [
            '{"event":"subscribe","arg":{"channel":"books","instId":"BTC-USDT"},"connId":"a"}',
            okx_book("snapshot", [["30228.6", "0.23393"]], [["30228.7", "1.5"]]),
            '{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":[["',
            "pong",  # a stray pong is a control frame, not an error
            json.dumps({"topic": "orderbook.50.XRPUSDT", "type": "delta"}),  # a Bybit frame
            json.dumps({"arg": {"channel": "candle1m", "instId": "BTC-USDT"}, "data": [[]]}),
            okx_trade(inst="ETH-USDT"),
            okx_trade(price="30236.05"),
            '{"event":"error","code":"60018","msg":"Wrong URL or channel","connId":"a"}',
            '{"event":"notice","code":"64008","msg":"The connection will soon be closed","connId":"a"}',
            okx_book("update", [["30228.6", "0"]], [["30228.8", "2"]]),
            okx_trade(),
        ]
        events: list[MarketEvent] = []
        adapter = okx_adapter(venue, events.append)
        await run_until(adapter, lambda: any(isinstance(e, Trade) for e in events))
        (subscribe,) = [json.loads(text) for _, text in venue.received]
        assert subscribe == {
            "op": "subscribe",
            "args": [{"channel": "books", "instId": "BTC-USDT"}, {"channel": "trades", "instId": "BTC-USDT"}],
        }
        stats = adapter.stats
        assert (stats.malformed, stats.unknown_streams, stats.off_tick, stats.invalid) == (2, 2, 1, 1)
        assert stats.decode_errors == 6 and stats.acks == 3
        assert stats.connections_opened == 1 and stats.reconnects == 0
        book = [e for e in events if isinstance(e, BookSnapshot | BookDelta)]
        assert [type(e).__name__ for e in book] == ["BookSnapshot", "BookDelta"]
        assert book[1].bids == [(302286, 0)] and book[1].checksum == 0
        assert adapter.decoder.notices == 1


async def test_the_engine_survives_garbage_on_every_venue() -> None:
    """End to end with the engine: garbage between valid messages never invalidates a
    good book and never stops the adapter."""
    from tests.venue_harness import VenueHarness

    async with ScriptedVenue("/v5/public/linear", None) as venue:
        venue.frames = [bybit_book("snapshot", 1000, [["1.9530", "5"]], [["1.9540", "7"]])]
        for u in range(1001, 1041):
            venue.frames += [
                "\x00\xff garbage",
                '{"topic":5}',
                bybit_book("delta", u, [["1.9530", str(u)]], []),
            ]
        settings = BybitLinearSettings(ws_url=venue.url, tickers=False, **FAST)
        harness = VenueHarness(BybitMarketData, "bybit_linear", settings, [XRP_LINEAR])
        async with harness:
            key = XRP_LINEAR.key
            await wait_until(lambda: harness.engine.book(key).update_id == 1040, what="last delta")
            assert harness.sync(key).valid and harness.sync(key).counters.applied == 40
            assert harness.adapter.stats.decode_errors == 80
            assert harness.engine.book(key).bids == {19530: 1040}
            assert [t[0] for t in harness.transitions[key]] == [True]


# ---- heartbeats -------------------------------------------------------------------------------


async def test_bybit_pings_on_a_timer_even_while_data_flows() -> None:
    async with ScriptedVenue("/v5/public/linear", '{"success":true,"ret_msg":"pong","op":"ping"}') as venue:
        venue.chatter_every_s = 0.02
        venue.chatter = bybit_trade()
        adapter = bybit_adapter(
            venue, lambda e: None, ping_interval_s=0.1, ping_timeout_s=0.5, stale_after_s=5
        )
        await run_until(adapter, lambda: len(venue.sent(lambda t: t == '{"op":"ping"}')) >= 4)
        pings = venue.sent(lambda t: t == '{"op":"ping"}')
        gaps = [b - a for a, b in itertools.pairwise(pings)]
        assert all(0.07 < gap < 0.6 for gap in gaps)
        assert adapter.stats.reconnects == 0 and adapter.stats.pong_timeouts == 0


async def test_okx_pings_only_when_idle_and_reconnects_when_unanswered() -> None:
    async with ScriptedVenue("/ws/v5/public", "pong") as venue:
        venue.chatter_every_s = 0.01
        venue.chatter = okx_trade()
        adapter = okx_adapter(venue, lambda e: None, ping_interval_s=0.6, ping_timeout_s=1.0, stale_after_s=5)
        task = asyncio.create_task(adapter.run())
        try:
            await asyncio.sleep(1.5)
            assert venue.sent(lambda t: t == "ping") == []  # busy stream: no ping needed
            venue.chatter_every_s = None  # new connections are silent
        finally:
            await adapter.close()
            await task
    async with ScriptedVenue("/ws/v5/public", "pong") as venue:
        adapter = okx_adapter(venue, lambda e: None, ping_interval_s=0.1, ping_timeout_s=1.0, stale_after_s=5)
        await run_until(adapter, lambda: len(venue.sent(lambda t: t == "ping")) >= 3)
        assert adapter.stats.reconnects == 0 and adapter.stats.pong_timeouts == 0
    async with ScriptedVenue("/ws/v5/public", None) as venue:  # never answers
        adapter = okx_adapter(
            venue, lambda e: None, ping_interval_s=0.1, ping_timeout_s=0.15, stale_after_s=5
        )
        await run_until(adapter, lambda: adapter.stats.reconnects >= 2)
        assert adapter.stats.pong_timeouts >= 2 and venue.connections >= 2
        assert adapter.stats.stale_reconnects == 0


# ---- resubscription ---------------------------------------------------------------------------


async def test_resubscription_is_deduplicated_retried_on_timeout_and_skipped_while_down() -> None:
    async with ScriptedVenue("/ws/v5/public", "pong") as venue:
        venue.frames = [okx_book("snapshot", [["30228.6", "1"]], [["30228.7", "1"]])]
        events: list[MarketEvent] = []
        adapter = okx_adapter(venue, events.append, snapshot_timeout_s=0.3)
        task = asyncio.create_task(adapter.run())
        try:
            await wait_until(lambda: any(isinstance(e, BookSnapshot) for e in events), what="snapshot")
            key = OKX_BTC_USDT.key
            adapter.request_snapshot(key, "gap")
            adapter.request_snapshot(key, "gap again")  # the first one is still waiting
            await wait_until(lambda: len(venue.received) == 3, what="unsubscribe + subscribe")
            unsub, sub = (json.loads(text) for _, text in venue.received[1:])
            book_arg = [{"channel": "books", "instId": "BTC-USDT"}]
            assert unsub == {"op": "unsubscribe", "args": book_arg}
            assert sub == {"op": "subscribe", "args": book_arg}
            assert (adapter.stats.resubscribes, adapter.stats.snapshot_deduped) == (1, 1)
            # no snapshot comes (the script sends it once): the adapter retries by itself
            await wait_until(lambda: adapter.stats.resubscribes == 2, timeout=10.0, what="retry")
            assert adapter.stats.snapshot_timeouts == 1
            # the counter moves when the adapter decides; its frames reach the server a moment later
            await wait_until(lambda: len(venue.received) >= 5, what="second unsubscribe + subscribe")
            assert [json.loads(t)["op"] for _, t in venue.received[3:5]] == ["unsubscribe", "subscribe"]
        finally:
            await adapter.close()
            await task
        adapter.request_snapshot(OKX_BTC_USDT.key, "while down")
        assert adapter.stats.snapshot_skipped == 1
