"""The dashboard's data, from a real engine on the bundled real Binance recording (no sockets):
bounded history, every fill and every regime transition delivered exactly once across frames
(checked against the journal), the ladder equal to the paper exchange's resting orders and
queue positions, exact decimal text, and the broadcaster dropping a client that falls behind."""

from __future__ import annotations

import asyncio
import itertools
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from bot.config import DashboardSettings
from bot.core.events import NS_PER_S
from bot.engine.assemble import TradingEngine, build_engine, load_strategy
from bot.ops.dashboard import Dashboard, _Client
from bot.ops.dashboard_feed import POINT_FIELDS, DashboardFeed, decimal_formatter
from bot.ops.http import OpsServer
from tests.specs import SPOT_BTC
from tests.trading_kit import FAST_AS, fast_settings, recorded_events, write_profile

COL = {name: i for i, name in enumerate(POINT_FIELDS)}


def engine(tmp_path: Path) -> TradingEngine:
    write_profile(tmp_path / "strategies", "fast_as", FAST_AS)
    settings = fast_settings(tmp_path / "data")
    return build_engine(
        "btc",
        settings.engines["btc"],
        settings,
        {SPOT_BTC.key: SPOT_BTC},
        profile=load_strategy(tmp_path / "strategies", "fast_as"),
        data_dir=tmp_path / "data",
    )


def test_frames_deliver_every_fill_and_transition_once_with_bounded_history(tmp_path: Path) -> None:
    trading = engine(tmp_path)
    pipeline, exchange = trading.pipeline, trading.exchange
    assert pipeline is not None and exchange is not None
    feed = DashboardFeed(
        [trading],
        lambda: {"engines": [trading.status()]},
        history_points=40,
        fills=200,
        regimes=4,
        ladder_levels=5,
    )
    view = feed.engines[0]
    frames: list[dict[str, Any]] = []
    ladders_checked = 0
    next_frame = 0
    for event in recorded_events(seconds=150):
        trading.engine.on_event(event)
        now = trading.engine.clock.now
        if now < next_frame:
            continue
        next_frame = now + NS_PER_S // 4
        frame = json.loads(feed.frame(now, with_status=len(frames) % 4 == 0))
        frames.append(frame)
        ladder = frame["engines"]["btc"]["ladder"]
        resting = {o.client_id: o for o in exchange.open_orders(SPOT_BTC.key)}
        on_ladder = {o["client_id"]: (row["price"], o) for row in ladder["rows"] for o in row["ours"]}
        assert set(resting) <= set(on_ladder)
        for client_id, order in resting.items():
            price, shown = on_ladder[client_id]
            assert price == str(SPOT_BTC.price(order.price))
            assert Decimal(shown["remaining"]) == SPOT_BTC.size(order.remaining)
            assert Decimal(shown["ahead"]) == SPOT_BTC.size(order.ahead)
            ladders_checked += bool(resting)
        prices = [Decimal(row["price"]) for row in ladder["rows"]]
        assert prices == sorted(prices, reverse=True)
        book_rows = [row for row in ladder["rows"] if row["bid"] or row["ask"]]
        assert len(book_rows) <= 2 * 5
    assert trading.journal is not None
    journaled = [
        (p["from_state"], p["to_state"], p["rule"])
        for _id, _ts, type_, _src, p in trading.journal.events("regime_transition")
    ]
    trading.close()
    assert ladders_checked > 0, "our orders were resting at some frame"
    # history: bounded, strictly increasing, the book's touch at each point
    assert len(view.points) == 40
    points = [json.loads(p) for p in view.points]
    times = [p[COL["t"]] for p in points]
    assert times == sorted(set(times))
    assert all(p[COL["best_bid"]] < p[COL["best_ask"]] for p in points)
    # every fill exactly once across frames, as the ledger booked it
    fills = [f for frame in frames for f in frame["engines"]["btc"]["fills"]]
    assert pipeline.fills >= 3, "the recording should give this profile some fills"
    assert len(fills) == pipeline.fills == exchange.ledger.fill_count
    assert [json.loads(f) for f in view.fills] == fills[-200:]
    assert all(Decimal(f["size"]) > 0 and f["side"] in ("buy", "sell") for f in fills)
    # every regime transition exactly once, as journaled (rule included)
    seen = [
        (r["from"], r["to"], r["rule"])
        for frame in frames
        for r in frame["engines"]["btc"]["regimes"]
        if r["kind"] == "transition"
    ]
    assert seen and seen == journaled
    # /status rides along only when asked; the snapshot carries the latest one
    assert [f["status"] is not None for f in frames[:5]] == [True, False, False, False, True]
    snapshot = json.loads(feed.snapshot(trading.engine.clock.now, {"max_rate_hz": 4}))
    assert snapshot["fields"] == list(POINT_FIELDS)
    assert len(snapshot["engines"]["btc"]["points"]) == 40
    assert len(snapshot["engines"]["btc"]["regimes"]) <= 4
    assert snapshot["status"]["engines"][0]["engine"] == "btc"


def test_sampling_without_viewers_keeps_history_but_no_backlog(tmp_path: Path) -> None:
    trading = engine(tmp_path)
    feed = DashboardFeed([trading], lambda: {}, history_points=10, fills=3, regimes=50)
    view = feed.engines[0]
    next_sample = 0
    for event in recorded_events(seconds=90):
        trading.engine.on_event(event)
        if trading.engine.clock.now >= next_sample:
            next_sample = trading.engine.clock.now + NS_PER_S // 4
            feed.sample()
    trading.close()
    assert len(view.points) == 10
    assert trading.pipeline is not None and trading.pipeline.fills > 3
    assert len(view.fills) == 3
    assert view.take_new() == ([], [])  # nothing piles up for a viewer who may never come
    assert len(view.regimes) > 1


@given(
    increment=st.sampled_from(["0.01", "1E-8", "0.5", "0.00025", "1", "10", "1E+2", "0.10"]),
    count=st.integers(min_value=-(10**12), max_value=10**12),
)
def test_decimal_formatter_matches_decimal_arithmetic(increment: str, count: int) -> None:
    assert decimal_formatter(Decimal(increment))(count) == format(Decimal(increment) * count, "f")


def test_broadcaster_drops_a_client_that_falls_behind_and_serves_the_others(tmp_path: Path) -> None:
    trading = engine(tmp_path)
    events = recorded_events(seconds=120)
    for event in itertools.islice(events, 3000):
        trading.engine.on_event(event)
    settings = DashboardSettings(client_queue=3)
    ops = OpsServer(registry=CollectorRegistry(), status=lambda: {"engines": []})
    feed = DashboardFeed([trading], ops.status, history_points=100)
    dashboard = Dashboard(settings, feed, ops, registry=CollectorRegistry())

    async def run() -> tuple[_Client, _Client, list[bytes]]:
        slow, fast = _Client(settings.client_queue), _Client(settings.client_queue)
        dashboard.pending += [slow, fast]
        received: list[bytes] = []
        for _ in range(10):
            for _ in range(200):  # let the market move between updates
                trading.engine.on_event(next(events))
            dashboard.tick()
            while not fast.queue.empty():
                item = fast.queue.get_nowait()
                assert item is not None
                received.append(item)
        return slow, fast, received

    slow, fast, received = asyncio.run(run())
    trading.close()
    assert slow.dropped and slow not in dashboard.clients and dashboard.stats.dropped == 1
    assert slow.queue.qsize() == 1 and slow.queue.get_nowait() is None  # its backlog was freed
    assert fast in dashboard.clients and not fast.dropped
    assert received[0].startswith(b"event: snapshot\ndata: {")
    assert len(received) == 10 and all(r.startswith(b"event: frame\ndata: {") for r in received[1:])
    assert all(r.endswith(b"\n\n") and r.count(b"\n") == 3 for r in received)  # one data line each
    assert dashboard.stats.frames == 10
