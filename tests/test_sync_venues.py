"""Bybit v5 and OKX book-sync rules (sans IO): snapshot in the stream, chain checks, resets,
heartbeats, and OKX's CRC32 checksum verified in the core.

Rules as the venues document them (restated in bot/market/sync/bybit.py and okx.py):
Bybit -- a snapshot replaces the book, ``u == 1`` is a full book after a restart, size 0
deletes, a break in ``u`` (+1 each time) means resubscribe. OKX -- snapshot ``prevSeqId
= -1``, each update's ``prevSeqId`` equals the previous ``seqId``, an empty update with
equal ids is a heartbeat, a lower ``seqId`` after maintenance is valid if ``prevSeqId``
chains, the checksum covers the best 25 levels as sent and is checked when non-zero.
"""

from __future__ import annotations

import json
import zlib
from decimal import Decimal

import pytest

from bot.core.actions import RequestSnapshot
from bot.core.events import BookDelta, BookSnapshot, FeedState, FeedStatus, Level
from bot.engine.loop import Engine
from bot.market.book import OrderBook
from bot.market.sync import SyncState, make_sync
from bot.market.sync.okx import increment_text, okx_checksum
from tests.venue_harness import OKX_BTC_USDT, OKX_FILE, XRP_LINEAR

BYBIT = XRP_LINEAR.key
OKX = OKX_BTC_USDT.key


def snap(
    key: str, update_id: int, bids: list[Level], asks: list[Level], checksum: int | None = None
) -> BookSnapshot:
    return BookSnapshot(
        instrument=key, local_ts=0, update_id=update_id, bids=bids, asks=asks, checksum=checksum
    )


def delta(
    key: str,
    seq: int,
    bids: list[Level] | None = None,
    asks: list[Level] | None = None,
    prev: int = -1,
    checksum: int | None = None,
) -> BookDelta:
    return BookDelta(
        instrument=key,
        local_ts=0,
        first_id=seq,
        last_id=seq,
        prev_id=prev,
        bids=bids or [],
        asks=asks or [],
        checksum=checksum,
    )


def bybit_sync() -> tuple[OrderBook, object]:
    book = OrderBook(BYBIT)
    sync = make_sync("bybit_linear", book)
    sync.bind(XRP_LINEAR)
    return book, sync


def okx_sync(bind: bool = True) -> tuple[OrderBook, object]:
    book = OrderBook(OKX)
    sync = make_sync("okx_spot", book)
    if bind:
        sync.bind(OKX_BTC_USDT)
    return book, sync


# ---- Bybit ------------------------------------------------------------------------------------


def test_bybit_snapshot_is_live_at_once_and_deltas_chain_by_u() -> None:
    book, sync = bybit_sync()
    assert sync.on_snapshot(snap(BYBIT, 100, [(19530, 5), (19529, 3)], [(19540, 7)]))
    assert sync.state is SyncState.LIVE and book.valid and book.update_id == 100
    assert sync.on_delta(delta(BYBIT, 101, bids=[(19530, 0), (19531, 2)]))  # size 0 deletes
    assert sync.on_delta(delta(BYBIT, 102, asks=[(19539, 1)]))
    assert book.bids == {19531: 2, 19529: 3} and book.asks == {19539: 1, 19540: 7}
    assert sync.counters.applied == 2 and sync.valid


def test_bybit_later_snapshot_replaces_the_whole_book() -> None:
    book, sync = bybit_sync()
    sync.on_snapshot(snap(BYBIT, 100, [(19530, 5), (19529, 3)], [(19540, 7)]))
    sync.on_delta(delta(BYBIT, 101, bids=[(19528, 9)]))
    assert sync.on_snapshot(snap(BYBIT, 500, [(19600, 1)], [(19610, 2)]))
    assert book.bids == {19600: 1} and book.asks == {19610: 2}  # nothing of the old book is left
    assert sync.on_delta(delta(BYBIT, 501, bids=[(19601, 4)]))
    assert sync.counters.snapshots == 2 and sync.counters.gaps == 0


def test_bybit_u_equal_1_resets_the_book_and_restarts_the_chain() -> None:
    book, sync = bybit_sync()
    sync.on_snapshot(snap(BYBIT, 90_000, [(19530, 5)], [(19540, 7)]))
    sync.on_delta(delta(BYBIT, 90_001, bids=[(19531, 1)]))
    # the service restarted: a full book with u = 1, even if labelled a delta
    assert sync.on_delta(delta(BYBIT, 1, bids=[(19500, 4)], asks=[(19510, 6)]))
    assert book.bids == {19500: 4} and book.asks == {19510: 6} and sync.valid
    assert sync.counters.snapshots == 2 and sync.counters.gaps == 0
    assert sync.on_delta(delta(BYBIT, 2, bids=[(19501, 1)]))  # the chain goes on from 1
    assert sync.last_id == 2


def test_bybit_break_in_u_invalidates_and_asks_for_a_snapshot() -> None:
    book, sync = bybit_sync()
    sync.on_snapshot(snap(BYBIT, 100, [(19530, 5)], [(19540, 7)]))
    sync.on_delta(delta(BYBIT, 101, bids=[(19531, 1)]))
    assert not sync.on_delta(delta(BYBIT, 103, bids=[(19532, 1)]))  # 102 is missing
    assert not sync.valid and not book.valid
    assert sync.counters.gaps == 1 and sync.counters.resyncs == 1
    assert sync.pending_request is not None and sync.pending_request.startswith("gap")
    assert not sync.on_delta(delta(BYBIT, 104, bids=[(19533, 1)]))  # ignored until the snapshot
    assert 19532 not in book.bids and 19533 not in book.bids
    assert sync.on_snapshot(snap(BYBIT, 104, [(19533, 1)], [(19540, 7)]))
    assert sync.valid and sync.counters.skipped == 2  # the two waiting deltas predate it
    assert sync.on_delta(delta(BYBIT, 105, asks=[(19541, 1)]))


def test_bybit_duplicate_is_dropped_and_a_crossed_book_is_invalid() -> None:
    book, sync = bybit_sync()
    sync.on_snapshot(snap(BYBIT, 100, [(19530, 5)], [(19540, 7)]))
    sync.on_delta(delta(BYBIT, 101, bids=[(19531, 1)]))
    assert not sync.on_delta(delta(BYBIT, 101, bids=[(19531, 99)]))  # a repeat
    assert book.bids[19531] == 1 and sync.counters.dropped == 1 and sync.valid
    sync.on_delta(delta(BYBIT, 102, bids=[(19545, 1)]))  # bid above the ask
    assert not sync.valid and sync.counters.crossed == 1 and sync.pending_request is not None
    assert not sync.on_snapshot(snap(BYBIT, 200, [(19550, 1)], [(19540, 1)]))  # a crossed snapshot
    assert not sync.valid and sync.counters.crossed == 2


def test_bybit_engine_asks_for_a_resubscription_on_connect_and_on_a_gap() -> None:
    engine = Engine("e", [XRP_LINEAR])
    engine.on_event(FeedStatus(instrument=BYBIT, local_ts=1, state=FeedState.CONNECTED))
    assert engine.drain_actions() == [RequestSnapshot(instrument=BYBIT, reason="connected")]
    engine.on_event(snap(BYBIT, 100, [(19530, 5)], [(19540, 7)]))
    engine.on_event(delta(BYBIT, 101))
    assert engine.drain_actions() == []
    engine.on_event(delta(BYBIT, 105))
    (action,) = engine.drain_actions()
    assert action.instrument == BYBIT and action.reason.startswith("gap")


# ---- OKX: sequence ids --------------------------------------------------------------------------


def test_okx_prev_seq_id_chain_heartbeat_and_maintenance_reset() -> None:
    book, sync = okx_sync()
    assert sync.on_snapshot(snap(OKX, 10, [(302286, 100)], [(302287, 200)]))
    assert sync.on_delta(delta(OKX, 15, bids=[(302285, 5)], prev=10))
    assert sync.on_delta(delta(OKX, 15, prev=15))  # empty update, equal ids: a heartbeat
    assert sync.valid and sync.last_id == 15
    assert sync.on_delta(delta(OKX, 3, asks=[(302288, 1)], prev=15))  # maintenance: seqId restarts lower
    assert sync.valid and sync.last_id == 3
    assert sync.on_delta(delta(OKX, 4, prev=3, bids=[(302285, 0)]))
    assert book.bids == {302286: 100} and sync.counters.gaps == 0 and sync.counters.applied == 4


def test_okx_break_in_the_chain_is_a_gap_even_with_a_lower_seq_id() -> None:
    _book, sync = okx_sync()
    sync.on_snapshot(snap(OKX, 10, [(302286, 100)], [(302287, 200)]))
    # lower seqId but prevSeqId does not continue the chain: not a "duplicate", a break
    assert not sync.on_delta(delta(OKX, 5, bids=[(302280, 1)], prev=4))
    assert not sync.valid and sync.counters.gaps == 1 and sync.counters.dropped == 0
    assert sync.pending_request is not None
    assert sync.on_snapshot(snap(OKX, 40, [(302286, 1)], [(302287, 2)]))
    assert not sync.on_delta(delta(OKX, 45, prev=41))
    assert sync.counters.gaps == 2


def test_okx_stream_without_sequence_ids_is_accepted_and_checked_by_checksum_only() -> None:
    _book, sync = okx_sync()
    assert sync.on_snapshot(snap(OKX, -1, [(302286, 100)], [(302287, 200)]))
    assert sync.on_delta(delta(OKX, -1, bids=[(302285, 1)]))
    assert sync.on_delta(delta(OKX, -1, asks=[(302288, 1)]))
    assert sync.valid and sync.counters.applied == 2
    # but a chain that had ids must keep them
    _, with_ids = okx_sync()
    with_ids.on_snapshot(snap(OKX, 10, [(302286, 100)], [(302287, 200)]))
    assert not with_ids.on_delta(delta(OKX, -1, bids=[(302285, 1)]))


# ---- OKX: checksum ------------------------------------------------------------------------------


def reference_checksum(bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> int:
    """Written out from OKX's documentation: bid1:ask1:bid2:ask2..., signed CRC-32."""
    fields = []
    for i in range(max(len(bids), len(asks))):
        if i < len(bids):
            fields.append(f"{bids[i][0]}:{bids[i][1]}")
        if i < len(asks):
            fields.append(f"{asks[i][0]}:{asks[i][1]}")
    value = zlib.crc32(":".join(fields).encode())
    return value - (1 << 32) if value & (1 << 31) else value


def test_checksum_function_matches_the_documented_construction() -> None:
    bids = [("3366.1", "7"), ("3366", "6")]
    asks = [("3366.8", "9"), ("3368", "8"), ("3372", "8")]
    assert okx_checksum(bids, asks) == reference_checksum(bids, asks)
    deep = [(str(100 - i), "1") for i in range(40)]
    assert okx_checksum(deep, []) == reference_checksum(deep[:25], [])  # best 25 only


def test_checksum_of_the_recorded_snapshot_equals_the_venue_value() -> None:
    """Against OKX's own number: the first BTC-USDT snapshot of the 2022 recording."""
    for line in OKX_FILE.read_text().splitlines():
        if '"action":"snapshot"' in line and '"instId":"BTC-USDT"' in line:
            message = json.loads(line.partition(": ")[2])
            break
    (data,) = message["data"]
    bids = [(lv[0], lv[1]) for lv in data["bids"]]
    asks = [(lv[0], lv[1]) for lv in data["asks"]]
    assert okx_checksum(bids, asks) == data["checksum"]
    # and the core, from integer ticks and lots, gets the same
    _book, sync = okx_sync()
    prices, sizes = OKX_BTC_USDT.prices, OKX_BTC_USDT.sizes
    levels_b = [(prices.to_int(p), sizes.to_int(q)) for p, q in bids]
    levels_a = [(prices.to_int(p), sizes.to_int(q)) for p, q in asks]
    assert sync.on_snapshot(snap(OKX, -1, levels_b, levels_a, checksum=data["checksum"]))
    assert sync.counters.checksums == 1 and sync.counters.checksum_failures == 0


def test_checksum_mismatch_invalidates_and_asks_for_a_resync() -> None:
    _book, sync = okx_sync()
    bids, asks = [(302286, 23393000)], [(302287, 155896972)]
    good = reference_checksum([("30228.6", "0.23393")], [("30228.7", "1.55896972")])
    assert sync.on_snapshot(snap(OKX, 1, bids, asks, checksum=good))
    after = reference_checksum([("30228.6", "0.23393")], [("30228.7", "1.55896972"), ("30228.8", "2")])
    assert sync.on_delta(delta(OKX, 2, asks=[(302288, 200000000)], prev=1, checksum=after))
    assert sync.counters.checksums == 2
    sync.on_delta(delta(OKX, 3, bids=[(302285, 100000000)], prev=2, checksum=after))  # stale checksum
    assert not sync.valid and sync.counters.checksum_failures == 1 and sync.counters.resyncs == 1
    assert sync.invalid_reason.startswith("checksum mismatch after seqId 3")
    assert sync.pending_request is not None


def test_zero_checksum_is_not_checked_and_an_unbound_sync_cannot_check() -> None:
    _book, sync = okx_sync()
    assert sync.on_snapshot(snap(OKX, 1, [(302286, 1)], [(302287, 1)], checksum=0))
    assert sync.on_delta(delta(OKX, 2, prev=1, checksum=0))
    assert sync.counters.checksums == 0 and sync.valid
    _, unbound = okx_sync(bind=False)
    assert unbound.on_snapshot(snap(OKX, 1, [(302286, 1)], [(302287, 1)], checksum=12345))
    assert unbound.valid and unbound.unverified == 1 and unbound.counters.checksum_failures == 0


def test_engine_binds_the_spec_so_checksums_are_verified() -> None:
    engine = Engine("e", [OKX_BTC_USDT])
    good = reference_checksum([("30228.6", "1")], [("30228.7", "2")])
    engine.on_event(snap(OKX, 1, [(302286, 100000000)], [(302287, 200000000)], checksum=good))
    assert engine.instruments[OKX].sync.counters.checksums == 1


@pytest.mark.parametrize(
    ("increment", "count", "text"),
    [
        ("0.1", 302494, "30249.4"),
        ("0.1", 302610, "30261"),
        ("0.00000001", 23393000, "0.23393"),
        ("0.00000001", 100000000, "1"),
        ("0.00000001", 1, "0.00000001"),
        ("1", 452, "452"),
        ("0.001", 5150, "5.15"),
        ("0.5", 3, "1.5"),
        ("0.1", 0, "0"),
    ],
)
def test_canonical_text_of_ticks_and_lots(increment: str, count: int, text: str) -> None:
    assert increment_text(Decimal(increment))(count) == text
