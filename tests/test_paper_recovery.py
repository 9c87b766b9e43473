"""Recovery modes: restore open orders with their queue position, or cancel them with a
journaled record; replay catch-up refuses strategy commands."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from bot.core.events import Side
from bot.core.orders import CancelReason, CancelRejected, OrderCancelled
from bot.errors import MmbotError
from bot.store.journal import Journal
from bot.store.recovery import open_paper
from tests.helpers.paperkit import Feed, cancel, latency, limit, settings, spot_spec

BALANCES = {"USDT": Decimal(100_000), "BTC": Decimal(1)}


def _session(tmp_path: Path, **kw: object) -> tuple[Feed, list[object]]:
    """Run a session that leaves one resting bid (behind 7 lots), one resting ask and a
    new order plus a cancel in flight, then 'crash' (close without cleanup)."""
    exchange, journal = open_paper(
        [spot_spec()], settings(starting_balances=BALANCES, latency=latency(entry_ms=5), **kw), tmp_path, "r"
    )
    assert journal is not None
    feed = Feed()
    events = feed.open([(10000, 7), (9999, 20)], [(10001, 9), (10002, 30)])
    for event in events:
        exchange.on_event(event)
    exchange.submit(limit("bid", Side.BUY, 10000, 3, feed.ts))
    exchange.submit(limit("ask", Side.SELL, 10002, 4, feed.ts))
    events.append(feed.delta(bids=[(9999, 21)], step_ns=6_000_000))  # both arrive
    exchange.on_event(events[-1])
    events.append(feed.trade(Side.SELL, 10000, 2))  # bid: 5 ahead now
    exchange.on_event(events[-1])
    exchange.submit(limit("late", Side.BUY, 9998, 1, feed.ts))  # in flight
    exchange.submit(cancel("ask", feed.ts))  # in flight too
    events.append(feed.delta(bids=[(9999, 22)], step_ns=1_000_000))
    exchange.on_event(events[-1])  # commits the unit with the in-flight commands
    assert exchange.orders["bid"].ahead == 5 and set(exchange.inflight) == {"late"}
    journal.close()
    return feed, events


def test_restore_keeps_orders_queue_positions_and_commands_in_flight(tmp_path: Path) -> None:
    feed, _ = _session(tmp_path)
    exchange, journal = open_paper(
        [spot_spec()], settings(starting_balances=BALANCES, latency=latency(entry_ms=5)), tmp_path, "r"
    )
    assert journal is not None
    assert sorted(exchange.orders) == ["ask", "bid"] and exchange.orders["bid"].ahead == 5
    assert set(exchange.inflight) == {"late"} and exchange.cancels_inflight == {"ask": 1}
    # live restart: new data continues; the bid still needs 5 lots to trade ahead of it
    for event in feed.open([(10000, 5), (9999, 20)], [(10001, 9), (10002, 30)]):
        exchange.on_event(event)
    exchange.on_event(feed.trade(Side.SELL, 10000, 6, step_ns=10_000_000))
    reports = exchange.drain_reports()
    fills = [r for r in reports if type(r).__name__ == "OrderFilled"]
    assert [(f.client_id, f.size) for f in fills] == [("bid", 1)]  # type: ignore[attr-defined]
    assert any(isinstance(r, OrderCancelled) and r.client_id == "ask" for r in reports)
    journal.close()


def test_cancel_mode_cancels_everything_with_journaled_records(tmp_path: Path) -> None:
    _session(tmp_path)
    exchange, journal = open_paper(
        [spot_spec()],
        settings(starting_balances=BALANCES, latency=latency(entry_ms=5), recovery="cancel"),
        tmp_path,
        "r",
    )
    assert journal is not None
    reports = exchange.drain_reports()
    cancelled = {r.client_id: r for r in reports if isinstance(r, OrderCancelled)}
    assert set(cancelled) == {"bid", "ask", "late"}
    assert all(r.reason is CancelReason.RECOVERY for r in cancelled.values())
    assert cancelled["bid"].remaining == 3 and cancelled["late"].remaining == 1
    assert [r.client_id for r in reports if isinstance(r, CancelRejected)] == ["ask"]
    assert exchange.orders == {} and exchange.inflight == {}
    journal.close()
    with Journal.open(tmp_path / "journal" / "r.sqlite") as again:  # committed before anything else
        kinds = [record.reason for _, _, _, record in again.records() if isinstance(record, OrderCancelled)]
        assert kinds.count(CancelReason.RECOVERY) == 3
        state = again.state()
        assert state is not None and state.orders == [] and state.pending == []


def test_replay_resume_refuses_commands_while_catching_up(tmp_path: Path) -> None:
    _, events = _session(tmp_path)
    exchange, journal = open_paper(
        [spot_spec()],
        settings(starting_balances=BALANCES, latency=latency(entry_ms=5)),
        tmp_path,
        "r",
        replay=True,
    )
    assert journal is not None
    state = journal.state()
    assert state is not None and 0 < state.position < len(events) - 1
    for event in events[: state.position + 1]:  # journaled input: books only
        exchange.on_event(event)
        assert exchange.catching_up
        with pytest.raises(MmbotError, match="catching_up"):
            exchange.submit(limit("x", Side.BUY, 9990, 1, 0))
    exchange.on_event(events[state.position + 1])  # the first event the journal has not seen
    assert not exchange.catching_up
    exchange.submit(limit("x", Side.BUY, 9990, 1, exchange.now))
    assert exchange.orders["bid"].ahead == 5
    journal.close()
