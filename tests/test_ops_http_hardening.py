"""The ops HTTP server against clients that misbehave, over real sockets on 127.0.0.1: control
bodies decoded strictly (400 naming the problem, never a 500), strategy names only from the profile
list (a path is refused before any file is read), a bounded reason, idle / read / request timeouts,
a connection cap, and an audit line with the client address for every control call. The control
endpoints are wired as `mmbot run` wires them (bot.ops.server_setup.build_ops_server) around a real
engine."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from structlog.testing import capture_logs

from bot.engine.assemble import TradingEngine, build_engine, load_strategy
from bot.ops.control import Controller
from bot.ops.http import Limits, OpsServer
from bot.ops.live import LiveRunner
from bot.ops.metrics import build_registry
from bot.ops.server_setup import build_ops_server
from tests.specs import SPOT_BTC
from tests.trading_kit import FAST_AS, FAST_FIXED, fast_settings, write_profile

TOKEN = "hardening-token-4b6f"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def wired(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[OpsServer, TradingEngine]]:
    strategies = tmp_path / "strategies"
    write_profile(strategies, "fast_as", FAST_AS)
    write_profile(strategies, "wide", FAST_FIXED)
    write_profile(tmp_path, "evil", FAST_FIXED)  # outside the profiles directory
    monkeypatch.setenv("MMBOT_HTTP__TOKEN", TOKEN)
    settings = fast_settings(
        tmp_path / "data",
        http={"enabled": True, "listen": "127.0.0.1:0", "idle_timeout_s": 1.0, "read_timeout_s": 1.0},
        quoting={"strategies_dir": str(strategies)},
    )
    trading = build_engine(
        "btc",
        settings.engines["btc"],
        settings,
        {SPOT_BTC.key: SPOT_BTC},
        profile=load_strategy(strategies, "fast_as"),
        data_dir=tmp_path / "data",
    )
    runner = LiveRunner([trading.engine])
    controller = Controller([trading], strategies_dir=strategies, data_dir=tmp_path / "data")
    server = build_ops_server(settings, runner, [trading], controller)
    await server.start()
    try:
        yield server, trading
    finally:
        await server.stop()
        trading.close()


async def post(
    server: OpsServer, path: str, data: bytes, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(server.url + path, data=data, headers={**AUTH, **(headers or {})}) as resp,
    ):
        return resp.status, await resp.json()


async def test_bodies_are_decoded_strictly_and_every_call_is_audited(
    wired: tuple[OpsServer, TradingEngine],
) -> None:
    server, trading = wired
    assert trading.pipeline is not None
    cases = [
        (b'{"reason": "caf\xe9"}', 400, "not UTF-8"),
        (b"\xff\xfe\x00", 400, "not UTF-8"),
        (b'{"reason": ', 400, "not JSON"),
        (b"[1, 2]", 400, "JSON object"),
        (b'{"reason": 5}', 400, "reason must be a string"),
        (b'{"reason": "x", "force": "yes"}', 400, "unknown key(s) ['force']"),
        (json.dumps({"reason": "r" * 201}).encode(), 400, "at most 200"),
        (json.dumps({"reason": "r" * (1 << 20)}).encode(), 413, "larger than"),
    ]
    with capture_logs() as logs:
        for body, status, needle in cases:
            code, answer = await post(server, "/control/kill", body)
            assert (code, needle in answer["error"]) == (status, True), (body[:40], code, answer)
        assert not trading.pipeline.risk.killed  # nothing got through
        code, answer = await post(server, "/control/kill", json.dumps({"reason": "r" * 200}).encode())
        assert code == 200 and trading.pipeline.risk.killed
        code, answer = await post(server, "/control/resume", b"")
        assert code == 200 and not trading.pipeline.risk.killed
        code, _ = await post(server, "/control/kill", b"{}", headers={"Authorization": "Bearer wrong"})
        assert code == 401
    audit = [entry for entry in logs if entry["event"] == "control audit"]
    assert len(audit) == len(cases) + 3
    assert all(entry["client"].startswith("127.0.0.1:") for entry in audit)
    assert [entry["status"] for entry in audit] == [s for _, s, _ in cases] + [200, 200, 401]
    assert audit[-3]["body"] == {"reason": "r" * 200} and TOKEN not in repr(audit)


async def test_strategy_names_come_only_from_the_profile_list(wired: tuple[OpsServer, TradingEngine]) -> None:
    server, trading = wired
    assert trading.pipeline is not None
    for name in (
        "../evil",
        "../../../evil",
        "/etc/passwd",
        "..",
        ".hidden",
        "evil",
        "wide/../wide",
        "w" * 300,
    ):
        code, answer = await post(server, "/control/strategy", json.dumps({"name": name}).encode())
        assert code == 400, (name, answer)
        assert "no such profile" in answer["error"] or "at most 200" in answer["error"]
        assert trading.pipeline.quoter.name == "fast_as"
    code, answer = await post(server, "/control/strategy", json.dumps({"name": "../evil"}).encode())
    assert "known profiles: ['fast_as', 'wide']" in answer["error"]
    code, answer = await post(server, "/control/strategy", b'{"name": "wide"}')
    assert code == 200 and answer == {"switched": {"btc": "wide"}} and trading.pipeline.quoter.name == "wide"


async def test_idle_and_trickling_connections_are_closed(wired: tuple[OpsServer, TradingEngine]) -> None:
    server, _ = wired
    port = server.bound_port
    # a connection that never sends anything: closed after idle_timeout_s (1 s)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    start = time.monotonic()
    assert await asyncio.wait_for(reader.read(), 5) == b""
    assert 0.8 <= time.monotonic() - start < 3
    writer.close()
    # a request whose headers trickle in, a byte every 0.2 s, forever: cut at read_timeout_s
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /status HTTP/1.1\r\nHost: x\r\n")
    start = time.monotonic()
    closed = False
    while time.monotonic() - start < 5:
        writer.write(b"X")
        try:
            await writer.drain()
            data = await asyncio.wait_for(reader.read(100), 0.2)
        except TimeoutError:
            continue
        except ConnectionError:
            data = b""
        if data == b"":
            closed = True
            break
    assert closed and time.monotonic() - start < 3
    writer.close()
    # a body announced but never sent: 408 within read_timeout_s
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /control/kill HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
        + TOKEN.encode()
        + b'\r\nContent-Length: 100\r\n\r\n{"reas'
    )
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(4096), 5)
    assert answer.startswith(b"HTTP/1.1 408")
    writer.close()
    assert server.connection_stats()["timed_out"]["idle"] >= 1
    assert server.connection_stats()["timed_out"]["read"] >= 1


async def test_request_timeout_and_connection_cap() -> None:
    runner = LiveRunner([], clock=lambda: 0)
    server = OpsServer(
        registry=build_registry(runner, lambda: 0),
        status=lambda: {},
        host="127.0.0.1",
        port=0,
        token=TOKEN,
        limits=Limits(max_connections=4, idle_timeout_s=2.0, read_timeout_s=1.0, request_timeout_s=0.5),
    )

    async def slow(_body: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(5)
        return {}

    server.add_control("slow", slow)
    await server.start()
    try:
        start = time.monotonic()
        code, answer = await post(server, "/control/slow", b"")
        assert code == 503 and "no answer within 0.5 s" in answer["error"] and time.monotonic() - start < 3
        # four idle connections use the cap; the fifth, and a flood of 200 more, are refused at once
        held = [await asyncio.open_connection("127.0.0.1", server.bound_port) for _ in range(4)]
        await asyncio.sleep(0.1)
        refused = 0
        for _ in range(200):
            reader, writer = await asyncio.open_connection("127.0.0.1", server.bound_port)
            data = await asyncio.wait_for(reader.read(), 2)
            refused += data.startswith(b"HTTP/1.1 503") and b"too many connections" in data
            writer.close()
        assert refused == 200 and server.connection_stats()["refused"] == 200
        for _, writer in held:
            writer.close()
        await asyncio.sleep(0.2)
        async with aiohttp.ClientSession() as http, http.get(server.url + "/healthz") as resp:
            assert resp.status == 200  # room again: served
    finally:
        await server.stop()


async def test_a_registered_stream_outlives_the_request_deadline() -> None:
    """The dashboard's server-sent events last as long as the browser stays: a path registered
    with add_stream keeps streaming past request_timeout_s, an ordinary slow answer does not."""
    runner = LiveRunner([], clock=lambda: 0)
    server = OpsServer(
        registry=build_registry(runner, lambda: 0),
        status=lambda: {},
        host="127.0.0.1",
        port=0,
        limits=Limits(request_timeout_s=0.5, idle_timeout_s=1.0),
    )

    async def ticks(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for n in range(8):  # 1.6 s in all: three times the deadline
            await response.write(f"data: {n}\n\n".encode())
            await asyncio.sleep(0.2)
        return response

    def routes(app: web.Application) -> None:
        app.router.add_get("/stream", ticks)
        app.router.add_get("/not-a-stream", ticks)

    server.extend(routes)
    server.add_stream("/stream")
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(server.url + "/stream") as resp:
                body = await resp.text()
            assert [line for line in body.split("\n") if line] == [f"data: {n}" for n in range(8)]
            # unregistered: cut at the deadline mid-stream (the idle timer then closes it)
            with pytest.raises(aiohttp.ClientPayloadError):
                async with http.get(server.url + "/not-a-stream") as resp:
                    await asyncio.wait_for(resp.text(), 10)
    finally:
        await server.stop()
