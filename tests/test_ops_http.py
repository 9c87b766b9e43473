"""Ops HTTP server: health checks, Prometheus metrics, status JSON and token-guarded control."""

from __future__ import annotations

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.core.events import BookDelta, BookSnapshot
from bot.engine.loop import Engine
from bot.ops.http import OpsServer
from bot.ops.live import LiveRunner
from bot.ops.metrics import build_registry
from tests.specs import SPOT_BTC

KEY = SPOT_BTC.key


def make(token: str | None = None) -> tuple[LiveRunner, OpsServer]:
    runner = LiveRunner([Engine("e1", [SPOT_BTC])], clock=lambda: 10**18)
    server = OpsServer(
        registry=build_registry(runner, lambda: 10**18),
        status=lambda: {"instruments": runner.status_lines()},
        host="127.0.0.1",
        port=0,
        token=token,
    )

    def books_valid() -> str | None:
        bad = [line["instrument"] for line in runner.status_lines() if not line["valid"]]
        return ", ".join(bad) or None

    server.add_check("books_valid", books_valid)
    server.add_control("kill", lambda body: {"killed": True, "reason": body.get("reason")})
    return runner, server


def sync_book(runner: LiveRunner) -> None:
    runner.sink(BookSnapshot(instrument=KEY, local_ts=10**18, update_id=10, bids=[(100, 5)], asks=[(101, 7)]))
    runner.sink(BookDelta(instrument=KEY, local_ts=10**18, first_id=11, last_id=11, bids=[(100, 6)], asks=[]))


async def test_healthz_goes_from_503_to_200_and_metrics_parse() -> None:
    runner, server = make()
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(server.url + "/healthz") as resp:
                assert resp.status == 503
                body = await resp.json()
                assert KEY in body["failures"]["books_valid"]
            sync_book(runner)
            async with http.get(server.url + "/healthz") as resp:
                assert resp.status == 200
            async with http.get(server.url + "/metrics") as resp:
                text = await resp.text()
            families = {f.name: f for f in text_string_to_metric_families(text)}
            applied = [
                s for s in families["mmbot_book_applied"].samples if s.name == "mmbot_book_applied_total"
            ]
            assert applied[0].value == 1 and applied[0].labels == {"engine": "e1", "instrument": KEY}
            assert families["mmbot_book_valid"].samples[0].value == 1.0
            assert families["mmbot_engine_events"].samples[0].value == 2
            async with http.get(server.url + "/status") as resp:
                status = await resp.json()
            assert status["instruments"][0]["best_bid"] == "1.00" and status["instruments"][0]["valid"]
    finally:
        await server.stop()


@pytest.mark.parametrize(
    ("token", "header", "expected"),
    [
        (None, "Bearer anything", 403),
        ("s3cret", None, 401),
        ("s3cret", "Bearer wrong", 401),
        ("s3cret", "s3cret", 401),
        ("s3cret", "Bearer s3cret", 200),
    ],
)
async def test_control_requires_the_bearer_token(
    token: str | None, header: str | None, expected: int
) -> None:
    _, server = make(token)
    await server.start()
    try:
        headers = {"Authorization": header} if header else {}
        async with aiohttp.ClientSession() as http:
            async with http.post(
                server.url + "/control/kill", json={"reason": "test"}, headers=headers
            ) as resp:
                assert resp.status == expected
                body = await resp.json()
                if expected == 200:
                    assert body == {"killed": True, "reason": "test"}
                else:
                    assert "s3cret" not in str(body)
            if expected == 200:
                async with http.post(server.url + "/control/nope", headers=headers) as resp:
                    assert resp.status == 404
    finally:
        await server.stop()
