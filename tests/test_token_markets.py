"""The synthetic ABC token market: one price path on every venue with each venue's own book, the
abc_* scenarios (calm, launch volatility, crash), served offline for the configured instruments; and
the order manager's named slots the obligation lane relies on."""

from __future__ import annotations

import argparse
from decimal import Decimal

import pytest

from bot.commands.emulator import build_source
from bot.core.events import Side
from bot.core.orders import CancelOrder, NewOrder, OrderAccepted, OrderCancelled, OrderReport
from bot.emulator.offline import offline_source
from bot.emulator.scenarios import SCENARIOS
from bot.emulator.settings import OfflineSettings
from bot.emulator.synthetic import SyntheticMarket
from bot.emulator.synthetic_source import SyntheticSource
from bot.emulator.token_markets import market_options
from bot.errors import InputError
from bot.replay.readers import shipped_spec
from bot.strategy.order_manager import OrderManager
from bot.strategy.types import Quote

VENUES = ("binance_spot", "bybit_spot", "bitget_spot", "binance_usdm")


def mids(venue: str, scenario: str, seed: int = 3) -> tuple[list[int], list[float], SyntheticMarket]:
    spec = shipped_spec(f"{venue}:ABCUSDT")
    market = SyntheticMarket(scenario, spec=spec, **market_options(spec, seed))
    bids = dict(market.initial_book()[0])
    asks = dict(market.initial_book()[1])
    ts: list[int] = []
    out: list[float] = []
    for step in market:
        for book, levels in ((bids, step.bids), (asks, step.asks)):
            for price, lots in levels:
                if lots:
                    book[price] = lots
                else:
                    book.pop(price, None)
        ts.append(step.ts_ns)
        out.append((max(bids) + min(asks)) / 2)
    return ts, out, market


def test_one_price_path_on_every_venue_each_with_its_own_book() -> None:
    phases = tuple(p for p in SCENARIOS["abc_crash"])
    paths = {venue: mids(venue, "abc_crash") for venue in VENUES}
    ts0, base, market = paths["binance_spot"]
    assert base[0] == pytest.approx(10_000, abs=5)  # 1.0000 USDT at tick 0.0001
    for venue in VENUES[1:]:
        ts, other, _ = paths[venue]
        assert ts == ts0
        gaps = sorted(abs(a - b) / a for a, b in zip(base, other, strict=True))
        assert gaps[len(gaps) // 2] < 0.0002  # half the time within 2 bp (a tick or two)
        assert gaps[int(len(gaps) * 0.99)] < 0.002  # 99 % within 20 bp
        assert gaps[-1] < 0.02  # never more than 2 %, even in the crash's thin books
        assert other != base  # ...but not the same book
    # the crash drops ~15 %, the recovery takes some of it back
    spans = {name: (a, b) for name, a, b in market.phase_spans()}
    at = {t: m for t, m in zip(ts0, base, strict=True)}
    before = at[spans["withdrawal"][0]]
    bottom = min(m for t, m in at.items() if spans["crash"][0] <= t <= spans["recovery"][0] + 5_000_000_000)
    assert 0.80 < bottom / before < 0.90
    assert [p.name for p in phases] == ["calm", "withdrawal", "crash", "recovery", "calm"]
    assert [p.name for p in SCENARIOS["abc_launch"]] == [
        "calm",
        "launch",
        "settle",
        "withdrawal",
        "crash",
        "recovery",
        "calm",
    ]


def test_thin_books_scaled_per_venue() -> None:
    """Bybit's and Bitget's books are about half Binance's (and so is their flow)."""
    depth = {}
    for venue in ("binance_spot", "bybit_spot", "bitget_spot"):
        spec = shipped_spec(f"{venue}:ABCUSDT")
        bids, asks = SyntheticMarket("abc_calm", spec=spec, **market_options(spec, 1)).initial_book()
        mid = (bids[0][0] + asks[0][0]) / 2
        depth[venue] = sum(p * q for p, q in bids if p >= mid * 0.98) * spec.tick_size * spec.lot_size
    assert 40_000 < depth["binance_spot"] < 150_000  # ±2 % public depth of a fresh listing
    assert 0.3 < depth["bybit_spot"] / depth["binance_spot"] < 0.7
    assert 0.3 < depth["bitget_spot"] / depth["binance_spot"] < 0.7
    assert market_options(shipped_spec("bybit_spot:ABCUSDT"), 1)["trade_scale"] == 0.5
    assert market_options(shipped_spec("binance_spot:BTCUSDT"), 1) == {}


def args(**kw: object) -> argparse.Namespace:
    values: dict[str, object] = {
        "scenario": "abc_launch",
        "instrument": None,
        "start_price": None,
        "seed": 1,
        "replay": None,
        "full": False,
    }
    values.update(kw)
    return argparse.Namespace(**values)


def test_emulator_command_serves_the_token_at_its_own_price() -> None:
    source = build_source(
        args(instrument=["binance_spot:ABCUSDT", "bybit_spot:ABCUSDT", "bitget_spot:ABCUSDT"])
    )
    assert isinstance(source, SyntheticSource)

    def best_bid(source: object, key: tuple[str, str]) -> Decimal:
        return max(source.open_pass().books[key].bids)  # type: ignore[attr-defined]

    assert best_bid(source, ("binance_spot", "ABCUSDT")) == pytest.approx(
        Decimal("1.0"), abs=Decimal("0.001")
    )
    assert best_bid(source, ("bybit_spot", "ABCUSDT")) == pytest.approx(Decimal("1.0"), abs=Decimal("0.001"))
    assert best_bid(source, ("bitget_spot", "ABCUSDT")) == pytest.approx(Decimal("1.0"), abs=Decimal("0.001"))
    btc = build_source(args(scenario="calm", instrument=["binance_spot:BTCUSDT"]))
    assert best_bid(btc, ("binance_spot", "BTCUSDT")) > 50_000
    forced = build_source(args(instrument=["binance_spot:ABCUSDT"], start_price="2"))
    assert best_bid(forced, ("binance_spot", "ABCUSDT")) == pytest.approx(Decimal(2), abs=Decimal("0.01"))
    with pytest.raises(InputError, match="--start-price"):
        build_source(args(instrument=["binance_spot:ABCUSDT"], start_price="-1"))


def test_offline_scenario_renders_the_configured_instruments() -> None:
    offline = OfflineSettings(scenario="abc_calm", seed=5)
    keys = ["binance_spot:ABCUSDT", "bybit_spot:ABCUSDT", "bitget_spot:ABCUSDT", "binance_usdm:ABCUSDT"]
    source = offline_source(offline, keys)
    assert sorted(f"{v}:{s}" for v, s in source.markets()) == sorted(keys)
    assert "abc_calm" in source.description and "seed 5" in source.description
    with pytest.raises(InputError, match=r"no instrument spec for binance_spot:NOPEUSDT"):
        offline_source(offline, ["binance_spot:NOPEUSDT"])


def report(om: OrderManager, command: NewOrder | CancelOrder) -> None:
    answer: OrderReport
    if isinstance(command, NewOrder):
        assert command.price is not None
        answer = OrderAccepted(
            client_id=command.client_id,
            instrument=command.instrument,
            ts=1,
            side=command.side,
            price=command.price,
            size=command.size,
        )
    else:
        answer = OrderCancelled(
            client_id=command.client_id, instrument=command.instrument, ts=2, reason="user", remaining=1
        )  # type: ignore[arg-type]
    om.on_report(answer)


def test_named_slots_keep_their_orders_while_others_come_and_go() -> None:
    om = OrderManager("binance_spot:ABCUSDT", id_prefix="x-o", refresh_ticks=0, size_tolerance=0.0)
    first = om.reconcile_slots({0: Quote(Side.BUY, 9990, 10), 5: Quote(Side.BUY, 9900, 20)}, {}, 1)
    assert [(c.price, c.size) for c in first if isinstance(c, NewOrder)] == [(9990, 10), (9900, 20)]
    for command in first:
        report(om, command)
    # slot 0 goes, slot 5 stays put, slot 1 is new: only those two commands
    second = om.reconcile_slots({1: Quote(Side.BUY, 9991, 10), 5: Quote(Side.BUY, 9900, 20)}, {}, 2)
    kinds = sorted(type(c).__name__ for c in second)
    assert kinds == ["CancelOrder", "NewOrder"]
    new = next(c for c in second if isinstance(c, NewOrder))
    assert new.price == 9991
    slots = {o.level: o.price for o in om.orders.values()}
    assert slots[5] == 9900 and slots[1] == 9991
    # adopted orders land from the first free slot at or after first_slot
    om.adopt("x-o99", Side.SELL, 10010, 5, 0, first_slot=1000)
    assert next(o for o in om.orders.values() if o.client_id == "x-o99").level == 1000
