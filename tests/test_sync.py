"""Binance book sync rules (spot U/u chaining, USD-M pu chaining) and the engine around them.

The procedures are Binance's documented ones ("How to manage a local order book correctly",
spot and USD-M API docs), restated in /DESIGN.md §4 and bot/market/sync/binance.py.
"""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.actions import RequestSnapshot
from bot.core.events import NS_PER_S, BookDelta, BookSnapshot, FeedState, FeedStatus, Level, Timer
from bot.engine.loop import Engine
from bot.market.book import OrderBook
from bot.market.sync import SyncState, make_sync
from tests.specs import SPOT_BTC, USDM_BTC

KEY = SPOT_BTC.key


def delta(
    first: int,
    last: int,
    bids: list[Level] | None = None,
    asks: list[Level] | None = None,
    prev: int = -1,
    ts: int = 0,
) -> BookDelta:
    return BookDelta(
        instrument=KEY,
        local_ts=ts,
        first_id=first,
        last_id=last,
        prev_id=prev,
        bids=bids or [],
        asks=asks or [],
    )


def snapshot(update_id: int, bids: list[Level], asks: list[Level], ts: int = 0) -> BookSnapshot:
    return BookSnapshot(instrument=KEY, local_ts=ts, update_id=update_id, bids=bids, asks=asks)


def spot_sync() -> tuple[OrderBook, object]:
    book = OrderBook(KEY)
    return book, make_sync("binance_spot", book)


def test_spot_buffer_splice_and_chain() -> None:
    book, sync = spot_sync()
    # diffs arrive before the snapshot: buffered
    assert not sync.on_delta(delta(90, 95, bids=[(10, 1)]))
    assert not sync.on_delta(delta(96, 101, bids=[(11, 2)]))
    assert not sync.on_delta(delta(102, 104, asks=[(20, 3)]))
    assert sync.state is SyncState.AWAITING_SNAPSHOT and not book.valid
    # snapshot L=100: 90..95 dropped (u <= L), 96..101 straddles L+1, then 102..104 chains
    assert sync.on_snapshot(snapshot(100, [(9, 5)], [(21, 5)]))
    assert sync.counters.skipped == 1 and sync.counters.applied == 2
    assert book.bids == {9: 5, 11: 2} and book.asks == {20: 3, 21: 5}
    assert sync.last_id == 104 and book.valid
    # next must start at 105
    assert sync.on_delta(delta(105, 105, bids=[(9, 0)]))
    assert book.bids == {11: 2}


def test_spot_first_event_may_start_exactly_at_last_update_id_plus_one() -> None:
    # the real ETHUSDT recording starts with U == L+1 (SOURCES.md): a U <= L <= u check would reject it
    _book, sync = spot_sync()
    sync.on_snapshot(snapshot(100, [(9, 5)], [(21, 5)]))
    assert sync.state is SyncState.SYNCING and not sync.valid
    assert sync.on_delta(delta(101, 102, bids=[(10, 1)]))
    assert sync.valid


def test_spot_gap_invalidates_and_requests_snapshot() -> None:
    book, sync = spot_sync()
    sync.on_snapshot(snapshot(100, [(9, 5)], [(21, 5)]))
    sync.on_delta(delta(101, 103))
    assert sync.valid
    assert not sync.on_delta(delta(105, 106, bids=[(8, 1)]))  # 104 missing
    assert not sync.valid and not book.valid
    assert sync.counters.gaps == 1 and sync.counters.resyncs == 1
    assert sync.pending_request is not None and "gap" in sync.pending_request
    # the gapped diff is kept for the next snapshot
    assert sync.on_snapshot(snapshot(105, [(9, 5)], [(21, 5)]))
    assert book.bids == {9: 5, 8: 1} and sync.last_id == 106


def test_duplicate_diff_is_dropped_without_invalidating() -> None:
    _, sync = spot_sync()
    sync.on_snapshot(snapshot(100, [(9, 5)], [(21, 5)]))
    sync.on_delta(delta(101, 103))
    assert not sync.on_delta(delta(101, 103, bids=[(1, 1)]))
    assert sync.valid and sync.counters.dropped == 1


def test_snapshot_older_than_stream_is_retried() -> None:
    _, sync = spot_sync()
    sync.on_delta(delta(150, 160))
    sync.on_snapshot(snapshot(100, [(9, 5)], [(21, 5)]))  # 101..149 missing between them
    assert not sync.valid and sync.state is SyncState.AWAITING_SNAPSHOT
    assert sync.counters.snapshot_retries == 1 and sync.pending_request
    # the next snapshot is fetched after 150..160 was published, so it covers it
    assert not sync.on_snapshot(snapshot(163, [(9, 5)], [(21, 5)]))
    assert sync.on_delta(delta(161, 170, bids=[(10, 1)]))
    assert sync.last_id == 170 and sync.valid


def test_stray_diff_with_bogus_ids_does_not_poison_the_buffer() -> None:
    _, sync = spot_sync()
    sync.on_delta(delta(10**9, 10**9 + 1))  # stray
    sync.on_delta(delta(99, 101))
    sync.on_delta(delta(102, 103))
    assert sync.on_snapshot(snapshot(100, [(9, 5)], [(21, 5)]))
    assert sync.last_id == 103


def test_crossed_book_invalidates() -> None:
    _book, sync = spot_sync()
    sync.on_snapshot(snapshot(100, [(9, 5)], [(21, 5)]))
    sync.on_delta(delta(101, 101, bids=[(25, 1)]))
    assert not sync.valid and sync.counters.crossed == 1
    assert "crossed" in sync.invalid_reason


def test_usdm_pu_chaining() -> None:
    book = OrderBook(USDM_BTC.key)
    sync = make_sync("binance_usdm", book)
    sync.on_delta(delta(1000, 1010, prev=990))  # u < L: dropped
    sync.on_delta(delta(1015, 1030, prev=1010, bids=[(5, 1)]))  # straddles L=1020
    sync.on_delta(delta(1042, 1050, prev=1030, asks=[(30, 2)]))
    assert sync.on_snapshot(snapshot(1020, [(4, 1)], [(31, 1)]))
    assert sync.last_id == 1050 and book.bids == {4: 1, 5: 1}
    # ids are not contiguous on USD-M: pu must equal the previous u
    assert sync.on_delta(delta(1077, 1080, prev=1050))
    assert not sync.on_delta(delta(1090, 1100, prev=1085))
    assert sync.counters.gaps == 1


def test_usdm_first_event_contains_the_snapshot_id_or_chains_onto_it() -> None:
    book = OrderBook(USDM_BTC.key)
    sync = make_sync("binance_usdm", book)
    sync.on_snapshot(snapshot(1020, [(4, 1)], [(31, 1)]))
    # quiet symbol: the snapshot is exactly current (L == u of the last diff published), so the
    # next diff starts past it but chains onto it with pu == L
    assert sync.on_delta(delta(1021, 1030, prev=1020, bids=[(5, 2)]))
    assert sync.valid and sync.last_id == 1030 and book.bids == {4: 1, 5: 2}
    assert sync.counters.snapshot_retries == 0 and sync.request_attempt == 0


def test_usdm_snapshot_behind_the_stream_says_which_rule_failed() -> None:
    sync = make_sync("binance_usdm", OrderBook(USDM_BTC.key))
    sync.request_snapshot("connected")
    sync.on_snapshot(snapshot(1020, [(4, 1)], [(31, 1)]))
    assert not sync.on_delta(delta(1025, 1030, prev=1023))  # U > L and pu != L: really behind
    assert sync.counters.snapshot_retries == 1 and sync.state is SyncState.AWAITING_SNAPSHOT
    assert sync.pending_request == sync.invalid_reason
    assert sync.invalid_reason == (
        "snapshot 1020 older than the diff stream: the next diff U=1025 u=1030 pu=1023 is past it "
        "(the first diff must have U <= 1020 <= u or pu == 1020)"
    )
    assert sync.request_attempt == 2  # the connect request, then this retry: the edge backs off
    # the diff is kept: the next snapshot (taken after it was published) splices onto it
    assert sync.on_snapshot(snapshot(1027, [(4, 1)], [(31, 1)]))
    assert sync.last_id == 1030 and sync.request_attempt == 0


def test_usdm_quiet_start_with_buffered_diff_equal_to_snapshot() -> None:
    """The snapshot id equals the u of the last diff already buffered: splice on it, keep going."""
    book = OrderBook(USDM_BTC.key)
    sync = make_sync("binance_usdm", book)
    sync.on_delta(delta(990, 1000, prev=980, bids=[(3, 1)]))
    sync.on_delta(delta(1005, 1020, prev=1000, bids=[(5, 1)]))
    # 990..1000 is covered; 1005..1020 ends exactly at L: re-applying it is idempotent
    assert sync.on_snapshot(snapshot(1020, [(4, 1), (5, 1)], [(31, 1)]))
    assert sync.last_id == 1020 and book.bids == {4: 1, 5: 1} and sync.counters.skipped == 1
    assert sync.on_delta(delta(1031, 1040, prev=1020, asks=[(30, 1)]))
    assert sync.valid and book.asks == {30: 1, 31: 1} and sync.counters.snapshot_retries == 0


def test_usdm_quiet_start_with_empty_buffer_waits_for_the_first_diff() -> None:
    sync = make_sync("binance_usdm", OrderBook(USDM_BTC.key))
    assert not sync.on_snapshot(snapshot(1020, [(4, 1)], [(31, 1)]))
    assert sync.state is SyncState.SYNCING and sync.pending_request is None
    assert sync.invalid_reason == "waiting for the first diff after snapshot 1020"
    assert not sync.on_delta(delta(1001, 1019, prev=990))  # u < L: covered, skipped
    assert sync.on_delta(delta(1031, 1040, prev=1020))


def test_snapshot_retry_keeps_newer_buffered_diffs_for_a_lagging_snapshot() -> None:
    # a second snapshot served from a cache that still lags part of the buffered stream
    _, sync = spot_sync()
    sync.on_delta(delta(150, 160, bids=[(10, 1)]))
    sync.on_delta(delta(161, 170, bids=[(11, 1)]))
    assert not sync.on_snapshot(snapshot(100, [(9, 5)], [(21, 5)]))
    assert "snapshot 100 older than the diff stream: buffered diff U=150 u=160 is past it" in (
        sync.invalid_reason
    )
    assert sync.on_snapshot(snapshot(165, [(9, 5)], [(21, 5)]))  # splices on the kept 161..170
    assert sync.last_id == 170 and sync.counters.snapshot_retries == 1


def test_gap_message_names_the_rule_and_the_numbers() -> None:
    sync = make_sync("binance_usdm", OrderBook(USDM_BTC.key))
    sync.on_snapshot(snapshot(1020, [(4, 1)], [(31, 1)]))
    sync.on_delta(delta(1015, 1030, prev=1010))
    sync.on_delta(delta(1042, 1050, prev=1035))
    assert sync.invalid_reason == "gap: expected continuation of 1030 (pu == 1030), got U=1042 u=1050 pu=1035"


# ---- engine: feed status, staleness, actions ------------------------------------------


def test_engine_requests_snapshot_on_connect_and_marks_stale_feeds() -> None:
    engine = Engine("t", [SPOT_BTC], stale_after_s=2.0)
    engine.on_event(FeedStatus(instrument=KEY, local_ts=1 * NS_PER_S, state=FeedState.CONNECTED))
    actions = engine.drain_actions()
    assert actions == [RequestSnapshot(instrument=KEY, reason="connected")]
    engine.on_event(delta(99, 101, ts=1 * NS_PER_S))
    engine.on_event(snapshot(100, [(9, 5)], [(21, 5)], ts=int(1.2 * NS_PER_S)))
    assert engine.book(KEY).valid
    engine.on_event(Timer(local_ts=3 * NS_PER_S))  # 1.8 s of silence: still fresh
    assert engine.book(KEY).valid and not engine.outbox
    engine.on_event(Timer(local_ts=int(3.3 * NS_PER_S)))  # 2.1 s: stale
    assert not engine.book(KEY).valid
    (action,) = engine.drain_actions()
    assert action.reason.startswith("stale")
    assert engine.instruments[KEY].sync.counters.stale == 1


def test_engine_disconnect_invalidates_without_request_until_reconnect() -> None:
    engine = Engine("t", [SPOT_BTC])
    engine.on_event(snapshot(100, [(9, 5)], [(21, 5)]))
    engine.on_event(delta(101, 101))
    assert engine.book(KEY).valid
    engine.on_event(FeedStatus(instrument=KEY, local_ts=5, state=FeedState.DISCONNECTED, reason="closed"))
    assert not engine.book(KEY).valid and engine.drain_actions() == []
    engine.on_event(FeedStatus(instrument=KEY, local_ts=6, state=FeedState.CONNECTED))
    assert len(engine.drain_actions()) == 1


def test_engine_ignores_foreign_instruments_and_calls_handlers() -> None:
    seen: list[object] = []
    engine = Engine("t", [SPOT_BTC])
    engine.add_handler(seen.append)
    engine.on_event(BookDelta(instrument="other:X", local_ts=1, first_id=1, last_id=1, bids=[], asks=[]))
    engine.on_event(Timer(local_ts=2))
    assert len(seen) == 1 and isinstance(seen[0], Timer)


# ---- property: invalid messages never corrupt the book ---------------------------------


@given(st.integers(0, 2**32), st.integers(20, 120))
@settings(max_examples=60, deadline=None)
def test_book_valid_implies_equal_to_reference(seed: int, steps: int) -> None:
    """Feed a valid diff chain with injected faults (gaps, duplicates, swaps, foreign ids).

    Whenever the sync says the book is valid, it must equal the true book as of its last update id.
    """
    rng = random.Random(seed)
    truth_bids = {p: rng.randint(1, 9) for p in range(80, 100)}
    truth_asks = {p: rng.randint(1, 9) for p in range(101, 121)}
    history: dict[int, tuple[dict[int, int], dict[int, int]]] = {}
    last = 1000
    history[last] = (dict(truth_bids), dict(truth_asks))
    stream: list[BookDelta] = []
    for _ in range(steps):
        bids = [(rng.randint(60, 100), rng.choice([0, rng.randint(1, 9)])) for _ in range(rng.randint(0, 3))]
        asks = [(rng.randint(101, 140), rng.choice([0, rng.randint(1, 9)])) for _ in range(rng.randint(0, 3))]
        first, last = last + 1, last + rng.randint(1, 3)
        for p, s in bids:
            truth_bids.pop(p, None) if s == 0 else truth_bids.__setitem__(p, s)
        for p, s in asks:
            truth_asks.pop(p, None) if s == 0 else truth_asks.__setitem__(p, s)
        history[last] = (dict(truth_bids), dict(truth_asks))
        stream.append(delta(first, last, bids, asks))

    book, sync = spot_sync()
    sent: list[BookDelta] = []
    i = 0
    sync.on_snapshot(snapshot(1000, list(history[1000][0].items()), list(history[1000][1].items())))
    while i < len(stream):
        fault = rng.random()
        if fault < 0.05 and i + 1 < len(stream):  # gap: skip one diff forever
            i += 1
        elif fault < 0.10 and sent:  # duplicate of an old diff
            sync.on_delta(rng.choice(sent))
        elif fault < 0.15 and i + 1 < len(stream):  # out of order
            sync.on_delta(stream[i + 1])
            sync.on_delta(stream[i])
            sent += [stream[i + 1], stream[i]]
            i += 2
            continue
        elif fault < 0.18:  # foreign ids far ahead with crossing garbage
            sync.on_delta(delta(10**9, 10**9 + 1, bids=[(500, 1)], asks=[(1, 1)]))
        sync.on_delta(stream[i])
        sent.append(stream[i])
        i += 1
        if sync.pending_request is not None:  # the edge fetches a snapshot "now"
            newest = stream[i - 1].last_id
            b, a = history[newest]
            sync.on_snapshot(snapshot(newest, list(b.items()), list(a.items())))
        if sync.valid:
            b, a = history[sync.last_id]
            assert book.bids == b and book.asks == a
            assert not book.is_crossed
    # liveness: once faults stop, one snapshot and one clean diff make the book valid again
    if not sync.valid:
        b, a = history[last]
        sync.on_snapshot(snapshot(last, list(b.items()), list(a.items())))
    sync.on_delta(delta(last + 1, last + 1, bids=[(99, 3)]))
    assert sync.valid and book.bids[99] == 3 and sync.pending_request is None
