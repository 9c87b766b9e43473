"""The sans-IO order mirror and the reconciliation rules.

The mirror sits between the real quoting pipeline and the real paper exchange on the bundled real
Binance recording: the paper exchange still gets (and journals) every command, the mirror's
outbox holds exactly the same commands in the same order, and its account of each order's paper
life agrees with the paper journal. Reconciliation rules are checked case by case."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from bot.core.events import Side
from bot.core.orders import (
    CancelOrder,
    CancelReason,
    NewOrder,
    OrderCancelled,
    OrderCommand,
    TimeInForce,
)
from bot.engine.assemble import build_engine, load_strategy
from bot.engine.mirror import MirrorVenue, PaperOrder, PaperState
from bot.engine.reconcile import Reconciler, TestnetOrder, TestnetState, compare
from bot.paper.records import FillRecord
from tests.specs import SPOT_BTC
from tests.trading_kit import FAST_AS, fast_settings, recorded_events, write_profile

KEY = SPOT_BTC.key


def test_mirror_on_the_real_pipeline_forwards_everything_and_tracks_the_paper_life(tmp_path: Path) -> None:
    write_profile(tmp_path / "strategies", "fast_as", FAST_AS)
    settings = fast_settings(tmp_path / "data")
    trading = build_engine(
        "btc",
        settings.engines["btc"],
        settings,
        {KEY: SPOT_BTC},
        profile=load_strategy(tmp_path / "strategies", "fast_as"),
        data_dir=tmp_path / "data",
    )
    pipeline, exchange, journal = trading.pipeline, trading.exchange, trading.journal
    assert pipeline is not None and exchange is not None and journal is not None
    mirror = MirrorVenue(exchange)
    pipeline.venue = mirror
    pipeline.report_observers.append(mirror.on_report)
    for event in recorded_events(seconds=180):
        trading.engine.on_event(event)
    exchange.flush()
    records = [record for _, _, _, record in journal.records()]
    journaled: list[OrderCommand] = [r for r in records if isinstance(r, NewOrder | CancelOrder)]
    assert len(journaled) > 50
    assert list(mirror.outbox) == journaled  # same commands, same order, nothing extra
    assert mirror.commands == len(journaled)
    fills: dict[str, int] = defaultdict(int)
    for record in records:
        if isinstance(record, FillRecord):
            fills[record.fill.client_id] += record.fill.size
    assert fills, "no fill in 180 s: the fill tracking is untested"
    assert {cid: o.filled for cid, o in mirror.orders.items() if o.filled} == dict(fills)
    live = set(exchange.orders) | set(exchange.inflight)
    for cid, order in mirror.orders.items():
        if cid in exchange.orders:
            assert order.state == PaperState.OPEN
        elif cid not in live:
            assert order.final, (cid, order)
    trading.close()  # shutdown cancels every paper order: the mirror sees the reports
    assert all(order.final for order in mirror.orders.values())
    assert len(mirror.outbox) == len(journaled)  # shutdown cancels are not new commands


def _paper(state: str, filled: int = 0) -> PaperOrder:
    return PaperOrder("c1", KEY, Side.BUY, 100_000, 6_000_000, 1, state=state, filled=filled)


def _testnet(state: str, filled: int = 0, reason: str = "") -> TestnetOrder:
    return TestnetOrder("c1", "mmx_c1", KEY, Side.BUY, 100_000, state=state, filled=filled, reason=reason)


def test_compare_rules() -> None:
    assert compare(_paper("cancelled"), _testnet("cancelled")) is None
    assert compare(_paper("filled", 100_000), _testnet("filled", 100_000)) is None
    assert compare(_paper("rejected"), _testnet("rejected", reason="would cross")) is None
    assert compare(_paper("cancelled"), _testnet("not_sent")) is None  # cancelled before it was sent
    diff = compare(_paper("cancelled"), _testnet("rejected", reason="-2010 balance"))
    assert diff is not None and (diff.kind, diff.detail) == ("rejected_on_testnet", "-2010 balance")
    diff = compare(_paper("rejected"), _testnet("cancelled"))
    assert diff is not None and diff.kind == "rejected_on_paper"
    diff = compare(_paper("cancelled", 40_000), _testnet("filled", 100_000))
    assert diff is not None and diff.kind == "fill_mismatch"
    assert (diff.paper_filled, diff.testnet_filled) == (40_000, 100_000)
    diff = compare(_paper("filled", 100_000), _testnet("not_sent"))
    assert diff is not None and diff.kind == "fill_mismatch"


def test_reconciler_only_compares_closed_orders_and_totals_positions() -> None:
    reconciler = Reconciler(SPOT_BTC)
    paper = {"a": _paper("open"), "b": _paper("filled", 100_000), "c": _paper("cancelled")}
    for cid, order in paper.items():
        order.client_id = cid
    testnet = {
        "a": _testnet("open"),
        "b": _testnet("open"),  # the testnet has not closed it yet
        "c": _testnet("cancelled"),
    }
    assert reconciler.settle(paper, testnet) == []
    assert set(paper) == {"a", "b"} and reconciler.totals.matched == 1
    assert reconciler.live_divergence(paper, testnet) == 1  # b: paper filled, testnet not
    testnet["b"].state = TestnetState.CANCELLED
    (diff,) = reconciler.settle(paper, testnet)
    assert diff.kind == "fill_mismatch" and diff.client_id == "b"
    totals = reconciler.totals.as_dict(SPOT_BTC)
    assert totals["paper_filled"] == {"buy": "0.001", "sell": "0"}
    assert totals["position_diff"] == "-0.001"  # the testnet is short of the paper ledger by 0.001
    # a closed paper order the testnet never heard of counts as not sent
    paper["d"] = PaperOrder("d", KEY, Side.SELL, 100_000, 6_000_000, 1, state="cancelled")
    assert reconciler.settle(paper, testnet) == [] and reconciler.totals.not_sent == 1


class _Paper:
    def submit(self, command: OrderCommand) -> None:
        pass

    @property
    def catching_up(self) -> bool:
        return False


def test_mirror_memory_is_bounded_while_the_executor_is_away() -> None:
    mirror = MirrorVenue(_Paper(), max_queue=10)
    for i in range(200):
        order = NewOrder(
            client_id=f"o{i}", instrument=KEY, side=Side.BUY, size=100_000, price=6_000_000,
            tif=TimeInForce.GTX, ts=i,
        )  # fmt: skip
        mirror.submit(order)
        if i % 2:  # every other order closes on paper
            mirror.on_report(
                OrderCancelled(
                    client_id=order.client_id, instrument=KEY, ts=i, reason=CancelReason.REQUESTED,
                    remaining=order.size,
                )
            )  # fmt: skip
    assert len(mirror.outbox) <= 10 and mirror.overflowed and mirror.dropped > 0
    open_ids = {f"o{i}" for i in range(0, 200, 2)}
    assert open_ids <= set(mirror.orders)  # open orders are never forgotten
    assert mirror.forgotten > 0 and len(mirror.orders) <= 40 + len(open_ids)
