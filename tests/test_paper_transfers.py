"""Deposits and withdrawals on a paper account: not PnL, applied once, journaled and restored.

A transfer moves the balance and ``equity_start`` by ``amount x mark``: the attribution's
components still sum to ``equity - equity_start`` (hand-computed below), the position measured
from the start (the quoting pipeline's inventory) does not move, a ``ref`` applies once, and a
restart folds the transfer back from the SQLite journal. Notes ride in the same unit of work.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from bot.core.events import Side
from bot.errors import MmbotError
from bot.paper.records import NoteRecord, TransferRecord
from bot.store.journal import Journal
from bot.store.recovery import open_paper
from tests.helpers.paperkit import SPOT, Feed, market, settings, spot_spec

BALANCES = {"USDT": Decimal(10_000), "BTC": Decimal(1)}


def opened(tmp_path: Path):  # type: ignore[no-untyped-def]
    exchange, journal = open_paper([spot_spec()], settings(starting_balances=BALANCES), tmp_path, "t")
    feed = Feed()
    for event in feed.open([(10000, 50_000)], [(10002, 50_000)]):  # mid 1000.1
        exchange.on_event(event)
    return exchange, journal, feed


def test_transfers_are_not_pnl_and_the_attribution_still_sums(tmp_path: Path) -> None:
    exchange, journal, feed = opened(tmp_path)
    ledger = exchange.ledger
    exchange.submit(market("buy", Side.BUY, 500, feed.ts))  # 0.5 BTC at 1000.2 (taker fee 0.02 %)
    start_qty = ledger.start_qty(SPOT)
    before = ledger.attribution()
    deposit = exchange.transfer("BTC", Decimal("2"), "in-1", reason="exercise")
    assert deposit is not None and deposit.mark == Decimal("1000.1")  # the mid: no mark sample yet
    cash = exchange.transfer("USDT", Decimal("-4000"), "out-1")
    assert cash is not None and cash.mark == 1
    after = ledger.attribution()
    assert after == before  # no component moved, total unchanged
    assert after.total == after.components_sum()
    # by hand: 10,000 - 0.5 x 1000.2 - fee 0.02 % of 500.1 - 4,000 withdrawn
    assert ledger.balances["BTC"] == Decimal("3.5") and ledger.balances["USDT"] == Decimal("5499.79998")
    assert ledger.position_qty(SPOT) - ledger.start_qty(SPOT) == 500  # the traded inventory only
    assert ledger.start_qty(SPOT) == start_qty + 2000
    assert ledger.transferred == Decimal("2") * Decimal("1000.1") - 4000
    # a price move after the deposit is PnL on all 3.5 BTC
    exchange.on_event(feed.delta(bids=[(10000, 0), (10010, 50_000)], asks=[(10002, 0), (10012, 50_000)]))
    exchange.submit(market("sell", Side.SELL, 100, feed.ts))
    moved = ledger.attribution()
    assert moved.total == moved.components_sum()
    assert moved.inventory - after.inventory == Decimal("3.5") * Decimal("1.0")  # 1000.1 -> 1001.1
    journal.close()


def test_a_ref_applies_once_and_bad_transfers_are_refused(tmp_path: Path) -> None:
    exchange, journal, _feed = opened(tmp_path)
    assert exchange.transfer("BTC", Decimal("0.5"), "x") is not None
    assert exchange.transfer("BTC", Decimal("0.5"), "x") is None  # retried after a crash: a no-op
    assert exchange.ledger.balances["BTC"] == Decimal("1.5")
    with pytest.raises(MmbotError, match="exceeds"):
        exchange.transfer("BTC", Decimal("-2"), "too-much")
    with pytest.raises(MmbotError, match="lot size"):
        exchange.transfer("BTC", Decimal("0.0005"), "dust")
    with pytest.raises(MmbotError, match="no spot market for ETH"):
        exchange.transfer("ETH", Decimal("1"), "eth")
    with pytest.raises(MmbotError, match="free balance"):
        exchange.transfer("USDT", Decimal("-10001"), "cash")
    journal.close()


def test_transfers_and_notes_are_journaled_with_the_unit_and_restored(tmp_path: Path) -> None:
    exchange, journal, feed = opened(tmp_path)
    exchange.transfer("BTC", Decimal("-0.25"), "lp-seed", reason="pool")
    exchange.note("deal_step", {"id": "lp_seed", "amount": "0.25"})
    exchange.on_event(feed.delta(bids=[(10000, 49_000)]))  # commits the unit
    equity, start = exchange.ledger.equity(), exchange.ledger.equity_start
    journal.close()
    with Journal.open(tmp_path / "journal" / "t.sqlite", readonly=True) as read:
        records = [r for _, _, _, r in read.records()]
    transfers = [r for r in records if isinstance(r, TransferRecord)]
    notes = [r for r in records if isinstance(r, NoteRecord)]
    assert [(t.asset, t.amount, t.ref) for t in transfers] == [("BTC", Decimal("-0.25"), "lp-seed")]
    assert notes[0].kind == "deal_step" and notes[0].payload == {"id": "lp_seed", "amount": "0.25"}
    again, journal2 = open_paper([spot_spec()], settings(starting_balances=BALANCES), tmp_path, "t")
    assert again.ledger.balances["BTC"] == Decimal("0.75")
    assert again.ledger.equity() == equity and again.ledger.equity_start == start
    assert "lp-seed" in again.ledger.transfer_refs
    assert again.transfer("BTC", Decimal("-0.25"), "lp-seed") is None
    assert journal2 is not None
    journal2.close()
