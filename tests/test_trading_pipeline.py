"""The assembled trading pipeline on real recorded Binance data (no sockets): the full bot
quotes both sides, respects tick/lot rules, never crosses its own quotes or the book with a
post-only order, skews against inventory, switches strategy in place (journaled) and restores
its kill switch from the journal."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError
from bot.core.events import BookDelta, BookSnapshot, Side
from bot.core.orders import NewOrder, OrderCommand
from bot.engine.assemble import build_engine, load_strategy
from bot.ops.control import Controller
from bot.risk.explain import Regime
from tests.specs import SPOT_BTC
from tests.trading_kit import FAST_AS, FAST_FIXED, fast_settings, recorded_events, write_profile

KEY = SPOT_BTC.key


def assemble(tmp_path: Path, profile_text: str = FAST_AS, name: str = "fast_as"):  # type: ignore[no-untyped-def]
    strategies = tmp_path / "strategies"
    write_profile(strategies, name, profile_text)
    settings = fast_settings(tmp_path / "data")
    profile = load_strategy(strategies, name)
    trading = build_engine(
        "btc", settings.engines["btc"], settings, {KEY: SPOT_BTC}, profile=profile, data_dir=tmp_path / "data"
    )
    return trading, strategies


def test_full_bot_on_recorded_data_quotes_both_sides_within_the_rules(tmp_path: Path) -> None:
    trading, _ = assemble(tmp_path)
    engine, exchange, pipeline = trading.engine, trading.exchange, trading.pipeline
    assert exchange is not None and pipeline is not None
    sent: list[tuple[NewOrder, int | None, int | None]] = []
    submit = exchange.submit

    def spy(command: OrderCommand) -> None:
        if isinstance(command, NewOrder):
            book = engine.book(KEY)
            sent.append((command, book.best_bid, book.best_ask))
        submit(command)

    pipeline.venue = type("SpyVenue", (), {"submit": staticmethod(spy), "catching_up": False})()
    skews = {"long": 0, "short": 0}
    both_sides = 0
    for event in recorded_events(seconds=240):
        engine.on_event(event)
        desired = pipeline.desired
        if desired.bids and desired.asks:
            both_sides += 1
            assert max(q.price for q in desired.bids) < min(q.price for q in desired.asks)
        if isinstance(event, BookDelta | BookSnapshot) and (desired.bids or desired.asks):
            if pipeline.position > 0:
                assert desired.reservation < desired.fair
                skews["long"] += 1
            elif pipeline.position < 0:
                assert desired.reservation > desired.fair
                skews["short"] += 1
    trading.close()
    assert both_sides > 100, "never quoted both sides"
    assert len(sent) > 50 and exchange.ledger.snapshot().fills > 0
    step = SPOT_BTC.step_lots
    for order, best_bid, best_ask in sent:
        assert order.tif.value == "gtx" and order.price is not None
        assert order.size % step == 0 and order.size >= SPOT_BTC.min_qty_lots
        assert SPOT_BTC.notional(order.price, order.size) >= SPOT_BTC.min_notional
        # post-only: never crosses the book it was priced against
        if order.side is Side.BUY:
            assert best_ask is None or order.price < best_ask
        else:
            assert best_bid is None or order.price > best_bid
    assert skews["long"] + skews["short"] > 0, "inventory never moved: skew untested"
    assert not exchange.orders and not exchange.inflight  # close() cancelled everything


def test_strategy_switch_in_place_is_validated_and_journaled(tmp_path: Path) -> None:
    trading, strategies = assemble(tmp_path)
    engine, pipeline, journal = trading.engine, trading.pipeline, trading.journal
    assert pipeline is not None and journal is not None
    controller = Controller(
        [trading], strategies_dir=strategies, data_dir=tmp_path / "data", clock=lambda: engine.clock.now
    )
    events = recorded_events(seconds=120)
    for event in events:
        engine.on_event(event)
        if pipeline.desired.bids and engine.clock.now > 0:
            break
    assert pipeline.quoter.name == "fast_as"
    # a bad profile is refused and the old one keeps running
    write_profile(
        strategies, "broken", FAST_FIXED.replace("half_spread_ticks = 150", "half_spread_ticks = -1")
    )
    with pytest.raises(ConfigError, match="half_spread_ticks"):
        controller.switch("broken", "test")
    assert pipeline.quoter.name == "fast_as"
    write_profile(strategies, "wide", FAST_FIXED)
    controller.switch("wide", "test")
    assert pipeline.quoter.name == "wide"
    for event in events:
        engine.on_event(event)
        if pipeline.desired.bids and pipeline.desired.asks:
            break
    desired = pipeline.desired
    spread = min(q.price for q in desired.asks) - max(q.price for q in desired.bids)
    assert spread >= 2 * 150 - 2  # the fixed 150-tick half spread is in force (rounding aside)
    switches = [p for _i, _t, type_, _s, p in journal.events("strategy_switch")]
    assert switches == [
        {"instrument": KEY, "from": "fast_as", "to": "wide", "source": "test", "quoter": "fixed_spread"}
    ]
    trading.close()


def test_kill_pulls_quotes_in_the_same_event_and_survives_a_restart(tmp_path: Path) -> None:
    trading, _strategies = assemble(tmp_path)
    engine, pipeline, exchange = trading.engine, trading.pipeline, trading.exchange
    assert pipeline is not None and exchange is not None
    events = recorded_events(seconds=200)
    for event in events:
        engine.on_event(event)
        if pipeline.order_manager.orders and exchange.orders:
            break
    assert exchange.orders
    now = engine.clock.now
    pipeline.kill("test kill", "cli", now)
    assert pipeline.risk.regime is Regime.HALTED
    assert all(o.state.value == "pending_cancel" for o in pipeline.order_manager.orders.values())
    for event in events:  # the cancels arrive after their latency; nothing new is placed
        engine.on_event(event)
        if engine.clock.now > now + 2_000_000_000:
            break
    assert not exchange.orders and not pipeline.order_manager.orders
    trading.close()
    again, _ = assemble(tmp_path)
    assert again.pipeline is not None and again.pipeline.risk.killed
    assert again.pipeline.risk.regime is Regime.HALTED
    again.close()
