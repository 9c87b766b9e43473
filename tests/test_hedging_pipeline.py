"""The hedger in the assembled bot on the bundled real Binance recordings (spot + USD-M, no
sockets): spot fills that push the net delta out of the band get a perp order in the same
report; passive hedges rest at the touch and go taker after the timeout; samples, status
and the journal carry the hedger's numbers; a restart cancels an earlier run's hedge
order before hedging again."""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from bot.config import ConfigError
from bot.core.events import Event, Side
from bot.core.orders import (
    CancelOrder,
    NewOrder,
    OrderCancelled,
    OrderCommand,
    OrderFilled,
    OrderReport,
    OrderType,
    TimeInForce,
)
from bot.engine.assemble import TradingEngine, build_engine, load_strategy
from tests.hedge_kit import hedged_settings, with_timers
from tests.specs import SPOT_BTC, USDM_BTC
from tests.trading_kit import BUNDLED_SPOT, FAST_AS, REPO, recorded_events, write_profile

BUNDLED_USDM = [REPO / "bot" / "emulator" / "data" / "binance_usdm_btcusdt_20240808.gz"]
SPECS = {SPOT_BTC.key: SPOT_BTC, USDM_BTC.key: USDM_BTC}
BAND = 0.003


def real_events(seconds: float) -> Iterator[Event]:
    """Spot and USD-M recordings merged by receive time, with a Timer every 100 ms."""
    never = 10**12  # no timers from the per-file readers; with_timers adds them once
    spot = recorded_events(BUNDLED_SPOT, SPOT_BTC, seconds=seconds, timer_ms=never)
    usdm = recorded_events(BUNDLED_USDM, USDM_BTC, seconds=seconds, timer_ms=never)
    return with_timers(heapq.merge(spot, usdm, key=lambda e: e.local_ts))


def assemble(tmp_path: Path, *, replay: bool = False, **hedge: Any) -> TradingEngine:
    strategies = tmp_path / "strategies"
    write_profile(strategies, "fast_as", FAST_AS)
    settings = hedged_settings(
        tmp_path / "data",
        {"enabled": True, "band": BAND, **hedge},
        paper={
            "starting_balances": {"USDT": "100000", "BTC": "0.02"},
            "latency": {"order_entry": {"ms": 1.0}, "cancel": {"ms": 1.0}},
        },
    )
    return build_engine(
        "btc",
        settings.engines["btc"],
        settings,
        SPECS,
        profile=load_strategy(strategies, "fast_as"),
        data_dir=tmp_path / "data",
        replay=replay,
    )


class Spy:
    """Records the hedger's orders and, for each spot fill, the net delta it left."""

    def __init__(self, trading: TradingEngine) -> None:
        hedger, exchange = trading.hedger, trading.exchange
        assert hedger is not None and exchange is not None
        self.trading = trading
        self.orders: list[tuple[int, NewOrder, int | None, int | None]] = []
        self.cancels: list[CancelOrder] = []
        self.fill_checks: list[
            tuple[float, bool, int]
        ] = []  # (net after fill, hedge working before, orders sent)
        submit, forward = exchange.submit, hedger.on_report
        engine = trading.engine

        def spy_submit(command: OrderCommand) -> None:
            if command.instrument == USDM_BTC.key:
                if isinstance(command, NewOrder):
                    book = engine.book(USDM_BTC.key)
                    self.orders.append((engine.clock.now, command, book.best_bid, book.best_ask))
                else:
                    self.cancels.append(command)
            submit(command)

        def spy_report(report: OrderReport) -> None:
            if isinstance(report, OrderFilled) and report.instrument == SPOT_BTC.key:
                price = hedger.price()
                busy = hedger.busy
                before = len(self.orders)
                net = hedger.breakdown(price, engine.clock.now).net if price is not None else 0.0
                forward(report)
                self.fill_checks.append((net, busy, len(self.orders) - before))
            else:
                forward(report)

        hedger.venue = type("SpyVenue", (), {"submit": staticmethod(spy_submit), "catching_up": False})()
        hedger.on_report = spy_report  # type: ignore[method-assign]


def drive(trading: TradingEngine, events: Iterator[Event], *, until: Any = None) -> int:
    """Feed events; assert the settled band invariant after each; stop when ``until()``."""
    hedger, engine = trading.hedger, trading.engine
    assert hedger is not None
    settled = 0
    for event in events:
        engine.on_event(event)
        perp_ok = engine.instruments[USDM_BTC.key].sync.valid
        if perp_ok and hedger.last is not None and not hedger.busy and engine.clock.now >= hedger.retry_at:
            settled += 1
            assert abs(hedger.last.net) <= BAND + 1e-12, (engine.clock.now, hedger.last)
        if until is not None and until():
            break
    return settled


def test_spot_fills_out_of_the_band_get_a_perp_order_in_the_same_report(tmp_path: Path) -> None:
    trading = assemble(tmp_path)
    spy = Spy(trading)
    hedger, pipeline, journal = trading.hedger, trading.pipeline, trading.journal
    assert hedger is not None and pipeline is not None and journal is not None
    settled = drive(trading, real_events(300))
    assert settled > 1000
    # the first hedge sells the 0.02 BTC starting inventory
    first = spy.orders[0][1]
    assert first.side is Side.SELL and USDM_BTC.size(first.size) == Decimal("0.02")
    assert all(o.order_type is OrderType.MARKET and o.tif is TimeInForce.IOC for _, o, _, _ in spy.orders)
    assert all(o.size % USDM_BTC.step_lots == 0 for _, o, _, _ in spy.orders)
    assert all(o.client_id.startswith("btc-h-t") for _, o, _, _ in spy.orders)
    # spot fills that pushed |net| past the band got a hedge order before the report returned
    pushed = [check for check in spy.fill_checks if abs(check[0]) > BAND and not check[1]]
    assert pipeline.fills > 5 and len(pushed) >= 2, spy.fill_checks
    assert all(sent == 1 for _, _, sent in pushed)
    # ... and fills inside the band did not
    assert all(sent == 0 for net, busy, sent in spy.fill_checks if abs(net) <= BAND and not busy)
    assert hedger.failed == 0 and len(hedger.history) == len(spy.orders)
    # samples and status carry the hedger's numbers; the journal has its records
    sample = pipeline.sample(trading.engine.clock.now)
    assert sample["net_delta"] == hedger.net_delta() and abs(sample["net_delta"]) <= BAND
    assert sample["pnl"]["hedge"] == hedger.hedge_pnl()
    status = trading.status()["hedge"]
    assert status["orders"] == len(spy.orders) and status["state"] == "idle"
    assert Decimal(status["volume"]) == sum(USDM_BTC.size(o.size) for _, o, _, _ in spy.orders)
    assert float(status["pnl"]["hedge_fees"]) > 0  # taker hedges pay fees
    journaled = {type_ for _, _, type_, _, _ in journal.events() if type_.startswith("hedge")}
    assert journaled == {"hedge_start", "hedge_order", "hedge_done"}
    samples = [p for _, _, type_, _, p in journal.events("sample")]
    assert any(p["net_delta"] is not None for p in samples)
    trading.close()


def test_passive_hedges_rest_at_the_touch_then_go_taker(tmp_path: Path) -> None:
    trading = assemble(tmp_path, mode="passive", passive_timeout_s=2.0)
    spy = Spy(trading)
    hedger = trading.hedger
    assert hedger is not None
    drive(trading, real_events(300))
    trading.close()
    passive = [(ts, o, bid, ask) for ts, o, bid, ask in spy.orders if o.order_type is OrderType.LIMIT]
    taker = [o for _, o, _, _ in spy.orders if o.order_type is OrderType.MARKET]
    assert len(passive) >= 3
    for _ts, order, bid, ask in passive:
        assert order.tif is TimeInForce.GTX  # post-only
        assert order.price == (bid if order.side is Side.BUY else ask)  # joins the touch
    # timeouts: a cancel 2 s after the passive order, then a taker for what was left
    cancelled = {c.client_id for c in spy.cancels}
    timed_out = [p for p in passive if p[1].client_id in cancelled]
    assert timed_out, "no passive hedge timed out"
    assert taker, "no taker after a timeout"
    passive_filled = sum(r.passive for r in hedger.history)
    assert passive_filled > 0  # some hedges were made as maker
    for record in hedger.history:
        assert record.filled <= record.requested


def test_a_restart_cancels_the_earlier_runs_hedge_order_first(tmp_path: Path) -> None:
    trading = assemble(tmp_path, mode="passive", passive_timeout_s=30.0)
    hedger, exchange = trading.hedger, trading.exchange
    assert hedger is not None and exchange is not None
    drive(trading, real_events(300), until=lambda: bool(exchange.open_orders(USDM_BTC.key)))
    resting = exchange.open_orders(USDM_BTC.key)
    assert len(resting) == 1 and resting[0].client_id.startswith("btc-h-p")
    start_ns = hedger.model.start_ns
    exchange.flush()  # "crash": the journal holds the resting hedge order
    assert trading.journal is not None
    trading.journal.close()

    # the restarted engine re-reads the recording from its start (books need the snapshot);
    # the paper exchange skips what its journal already holds, and nobody acts meanwhile
    again = assemble(tmp_path, replay=True, mode="passive", passive_timeout_s=30.0)
    new = again.hedger
    assert new is not None and again.exchange is not None
    assert set(new.orphans) == {resting[0].client_id}
    assert new.model.start_ns == start_ns  # value changes keep their origin
    cancelled: list[str] = []
    forward = new.on_report

    def watch(report: OrderReport) -> None:
        if isinstance(report, OrderCancelled) and report.client_id in new.orphans:
            cancelled.append(report.client_id)
        forward(report)

    new.on_report = watch  # type: ignore[method-assign]
    drive(again, real_events(300), until=lambda: len(new.history) >= 1)
    assert cancelled == [resting[0].client_id]
    assert not new.orphans
    new_ids = {r for r in again.exchange.closed if r.startswith("btc-h-")} - {resting[0].client_id}
    assert new_ids and all(
        int(i.split("-")[-1][1:]) > int(resting[0].client_id.split("-")[-1][1:]) for i in new_ids
    )
    again.close()


def test_bad_hedge_configuration_is_refused(tmp_path: Path) -> None:
    strategies = tmp_path / "strategies"
    write_profile(strategies, "fast_as", FAST_AS)
    profile = load_strategy(strategies, "fast_as")
    eth_spot = msgspec.structs.replace(SPOT_BTC, symbol="ETHUSDT", base="ETH")
    eth_perp = msgspec.structs.replace(USDM_BTC, symbol="ETHUSDT", base="ETH")
    cases = [
        (
            "binance_spot",
            eth_spot,
            r"engines\.btc\.hedge: binance_spot:ETHUSDT is a spot market, not a perpetual",
        ),
        ("binance_usdm", eth_perp, r"binance_usdm:ETHUSDT trades ETH/USDT, the engine quotes BTC/USDT"),
    ]
    for index, (venue, spec, message) in enumerate(cases):
        engine = {
            "venue": "binance_spot",
            "symbol": "BTCUSDT",
            "hedge": {"venue": venue, "symbol": "ETHUSDT"},
        }
        settings = hedged_settings(tmp_path / f"x{index}", {"enabled": True}, engines={"btc": engine})
        with pytest.raises(ConfigError, match=message):
            build_engine(
                "btc",
                settings.engines["btc"],
                settings,
                {SPOT_BTC.key: SPOT_BTC, spec.key: spec},
                profile=profile,
                data_dir=tmp_path / f"x{index}",
            )
    # a deal on another token
    deal = tmp_path / "abc.toml"
    deal.write_text((REPO / "config" / "deals" / "abc.toml").read_text())
    settings = hedged_settings(tmp_path / "b", {"enabled": True, "deal": str(deal)})
    with pytest.raises(ConfigError, match="is a ABC/USDT deal, engine btc trades BTC/USDT"):
        build_engine(
            "btc", settings.engines["btc"], settings, SPECS, profile=profile, data_dir=tmp_path / "b"
        )
    # a bad deal file is refused with its own error
    deal.write_text(deal.read_text().replace('loan_delta = "usd_debt"', 'loan_delta = "maybe"'))
    with pytest.raises(ConfigError, match="loan_delta"):
        build_engine(
            "btc", settings.engines["btc"], settings, SPECS, profile=profile, data_dir=tmp_path / "c"
        )
