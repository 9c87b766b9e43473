"""Bitget ``books`` sync rule (sans IO): snapshot in the stream, the ``seq`` / ``pseq`` chain,
resets, and the CRC32 checksum verified in the core from integer ticks and lots.

Rules as Bitget documents them (restated in bot/market/sync/bitget.py): the snapshot
replaces the book, size 0 deletes, ``seq`` increases (not necessarily by 1), ``pseq`` is
the previous ``seq`` where sent (0 after a reset), the checksum covers the best 25 levels
per side as sent -- fixed decimals -- and is checked when non-zero. The CRC here is
computed bit by bit in tests/bitget_kit.py, independently of zlib and of bot/ code."""

from __future__ import annotations

import json
import zlib
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.events import BookDelta, BookSnapshot, Level
from bot.core.instrument import InstrumentSpec
from bot.market.book import OrderBook
from bot.market.sync import SyncState, make_sync
from bot.market.sync.bitget import BitgetSync, bitget_checksum, fixed_text
from bot.venues.bitget.messages import BitgetDecoder
from tests.bitget_kit import (
    BTC_SPOT,
    DASH,
    UNI,
    NaiveBitget,
    crc32_bitwise,
    recorded_messages,
    reference_checksum,
    v2_frame,
)

KEY = BTC_SPOT.key


def snap(update_id: int, bids: list[Level], asks: list[Level], checksum: int | None = None) -> BookSnapshot:
    return BookSnapshot(
        instrument=KEY, local_ts=0, update_id=update_id, bids=bids, asks=asks, checksum=checksum
    )


def delta(
    seq: int,
    bids: list[Level] | None = None,
    asks: list[Level] | None = None,
    prev: int = -1,
    checksum: int | None = None,
) -> BookDelta:
    return BookDelta(
        instrument=KEY,
        local_ts=0,
        first_id=seq,
        last_id=seq,
        prev_id=prev,
        bids=bids or [],
        asks=asks or [],
        checksum=checksum,
    )


def new_sync(spec: InstrumentSpec = BTC_SPOT, bind: bool = True) -> tuple[OrderBook, BitgetSync]:
    book = OrderBook(spec.key)
    sync = make_sync(spec.venue, book)
    assert isinstance(sync, BitgetSync)
    if bind:
        sync.bind(spec)
    return book, sync


# ---- the chain -----------------------------------------------------------------------------------


def test_both_venues_use_the_bitget_rule() -> None:
    for venue in ("bitget_spot", "bitget_usdtm"):
        assert isinstance(make_sync(venue, OrderBook(f"{venue}:X")), BitgetSync)


def test_snapshot_is_live_at_once_and_updates_chain_by_pseq() -> None:
    book, sync = new_sync()
    seq = 1_343_064_377_779_269_632  # the size of Bitget's ids
    assert sync.on_snapshot(snap(seq, [(6000010, 5), (6000000, 3)], [(6000020, 7)]))
    assert sync.state is SyncState.LIVE and book.valid and book.update_id == seq
    # seq grows by arbitrary steps; pseq names the previous one
    assert sync.on_delta(delta(seq + 17, bids=[(6000010, 0), (6000011, 2)], prev=seq))  # size 0 deletes
    assert sync.on_delta(delta(seq + 18, asks=[(6000019, 1)], prev=seq + 17))
    assert book.bids == {6000011: 2, 6000000: 3} and book.asks == {6000019: 1, 6000020: 7}
    assert sync.counters.applied == 2 and sync.last_id == seq + 18 and sync.valid


def test_pseq_break_invalidates_asks_for_a_snapshot_and_the_next_snapshot_recovers() -> None:
    book, sync = new_sync()
    sync.on_snapshot(snap(100, [(6000010, 5)], [(6000020, 7)]))
    sync.on_delta(delta(103, bids=[(6000011, 1)], prev=100))
    assert not sync.on_delta(delta(109, bids=[(6000012, 1)], prev=105))  # 105 never arrived
    assert not sync.valid and not book.valid
    assert sync.counters.gaps == 1 and sync.counters.resyncs == 1
    assert sync.pending_request is not None and sync.pending_request.startswith("gap")
    assert not sync.on_delta(delta(110, bids=[(6000013, 1)], prev=109))  # ignored until the snapshot
    assert 6000012 not in book.bids and 6000013 not in book.bids
    assert sync.on_snapshot(snap(110, [(6000013, 1)], [(6000020, 7)]))
    assert sync.valid and sync.counters.skipped == 2  # the two waiting updates predate it
    assert sync.on_delta(delta(111, asks=[(6000021, 1)], prev=110))


def test_without_pseq_seq_must_grow_and_any_step_is_accepted() -> None:
    _book, sync = new_sync()
    sync.on_snapshot(snap(500, [(6000010, 5)], [(6000020, 7)]))
    assert sync.on_delta(delta(501, bids=[(6000011, 1)]))
    assert sync.on_delta(delta(9_000, bids=[(6000012, 1)]))  # not contiguous: fine
    assert not sync.on_delta(delta(9_000, bids=[(6000013, 1)]))  # not growing: a break, never "dropped"
    assert sync.counters.gaps == 1 and sync.counters.dropped == 0 and not sync.valid


def test_a_reset_after_maintenance_restarts_lower_and_is_a_break() -> None:
    """Bitget: seq increases "except during symbol maintenance"; the unified-account docs say a
    reset arrives with pseq = 0 (the decoder passes 0 as -1). Both shapes end in a resubscription."""
    _book, sync = new_sync()
    sync.on_snapshot(snap(800, [(6000010, 5)], [(6000020, 7)]))
    assert not sync.on_delta(delta(3, bids=[(6000011, 1)]))  # pseq 0 -> -1, seq lower
    assert sync.counters.resyncs == 1 and sync.pending_request is not None
    assert sync.on_snapshot(snap(4, [(6000011, 1)], [(6000020, 7)]))  # the resubscription's snapshot
    assert sync.on_delta(delta(5, bids=[(6000012, 1)], prev=4))


def test_a_stream_without_seq_is_accepted_and_checked_by_checksum_only() -> None:
    _book, sync = new_sync()
    c1 = reference_checksum([("60000.10", "0.000005")], [("60000.20", "0.000007")])
    assert sync.on_snapshot(snap(-1, [(6000010, 5)], [(6000020, 7)], checksum=c1))
    c2 = reference_checksum([("60000.11", "0.000001"), ("60000.10", "0.000005")], [("60000.20", "0.000007")])
    assert sync.on_delta(delta(-1, bids=[(6000011, 1)], checksum=c2))
    assert sync.counters.checksums == 2 and sync.valid
    # a delta with a seq after a seq-less snapshot cannot be placed: a break
    assert not sync.on_delta(delta(7, bids=[(6000012, 1)], prev=6))


def test_a_crossed_book_is_invalid() -> None:
    _book, sync = new_sync()
    sync.on_snapshot(snap(1, [(6000010, 5)], [(6000020, 7)]))
    sync.on_delta(delta(2, bids=[(6000030, 1)], prev=1))
    assert not sync.valid and sync.counters.crossed == 1
    assert not sync.on_snapshot(snap(3, [(6000030, 1)], [(6000020, 1)]))
    assert sync.counters.crossed == 2


# ---- the checksum -------------------------------------------------------------------------------


def test_crc_of_the_documented_example_string_by_hand() -> None:
    """Bitget's docs build "43231.1:4:43232.8:9:43231:6:43232.9:8" from two levels per side."""
    text = "43231.1:4:43232.8:9:43231:6:43232.9:8"
    expected = crc32_bitwise(text.encode())
    assert expected == (zlib.crc32(text.encode()) ^ 0x80000000) - 0x80000000  # same polynomial as zlib
    bids, asks = [("43231.1", "4"), ("43231", "6")], [("43232.8", "9"), ("43232.9", "8")]
    assert bitget_checksum(bids, asks) == expected == reference_checksum(bids, asks)
    # fewer levels on one side: that side simply stops contributing (docs' second example)
    bids, asks = [("3366.1", "7")], [("3366.8", "9"), ("3368", "8"), ("3372", "8")]
    assert bitget_checksum(bids, asks) == crc32_bitwise(b"3366.1:7:3366.8:9:3368:8:3372:8")


def test_checksum_takes_the_best_25_levels_per_side_only() -> None:
    bids = [(f"{100 - i}.00", "1.00") for i in range(40)]
    asks = [(f"{200 + i}.00", "2.00") for i in range(30)]
    assert bitget_checksum(bids, asks) == reference_checksum(bids[:25], asks[:25])
    assert bitget_checksum(bids, asks) != reference_checksum(bids[:24], asks[:25])


@pytest.mark.parametrize(
    ("increment", "count", "text"),
    [
        ("0.01", 11350, "113.50"),
        ("0.01", 640, "6.40"),
        ("0.001", 9970, "9.970"),
        ("0.001", 10000, "10.000"),
        ("1", 67, "67"),
        ("0.000001", 500000, "0.500000"),
        ("0.000001", 1, "0.000001"),
        ("0.05", 2, "0.10"),
        ("0.1", 262750, "26275.0"),
        ("0.0001", 500, "0.0500"),
    ],
)
def test_numbers_are_written_with_the_increments_fixed_decimals(
    increment: str, count: int, text: str
) -> None:
    assert fixed_text(Decimal(increment))(count) == text


def test_the_core_rebuilds_the_recorded_checksums_from_integers() -> None:
    """Every book message of the 2022 recording, through the decoder into the sync rule:
    the checksum Bitget sent equals the one the core computes from ticks and lots."""
    naive = NaiveBitget()
    decoder = BitgetDecoder("bitget_usdtm", [DASH, UNI])
    syncs = {spec.key: new_sync(spec)[1] for spec in (DASH, UNI)}
    for _, message in recorded_messages():
        if message["arg"]["channel"] != "books":
            continue
        for event in decoder.decode(v2_frame(message), 0):
            sync = syncs[event.instrument]
            if isinstance(event, BookSnapshot):
                assert sync.on_snapshot(event)
            else:
                assert isinstance(event, BookDelta) and event.last_id == -1 and event.checksum
                assert sync.on_delta(event), sync.invalid_reason
    assert decoder.checksum_disabled == set()
    total = sum(s.counters.checksums for s in syncs.values())
    assert total == naive.checksums_verified == 194
    assert sum(s.counters.checksum_failures for s in syncs.values()) == 0
    for spec in (DASH, UNI):
        book = syncs[spec.key].book
        ours = (
            {spec.tick_size * p: spec.lot_size * q for p, q in book.bids.items()},
            {spec.tick_size * p: spec.lot_size * q for p, q in book.asks.items()},
        )
        assert ours == naive.books[spec.symbol]


def test_checksum_mismatch_invalidates_and_asks_for_a_resync() -> None:
    _book, sync = new_sync()
    good = reference_checksum([("60000.10", "0.000005")], [("60000.20", "0.000007")])
    assert sync.on_snapshot(snap(1, [(6000010, 5)], [(6000020, 7)], checksum=good))
    after = reference_checksum(
        [("60000.10", "0.000005")], [("60000.20", "0.000007"), ("60000.30", "0.000002")]
    )
    assert sync.on_delta(delta(2, asks=[(6000030, 2)], prev=1, checksum=after))
    sync.on_delta(delta(3, bids=[(6000005, 1)], prev=2, checksum=after))  # a stale checksum
    assert not sync.valid and sync.counters.checksum_failures == 1 and sync.counters.resyncs == 1
    assert sync.invalid_reason.startswith("checksum mismatch after seq 3")
    assert sync.counters.checksums == 2 and sync.pending_request is not None


def test_a_canonical_text_checksum_does_not_match_bitgets_fixed_text() -> None:
    """The difference from OKX that matters: Bitget keeps trailing zeros."""
    _book, sync = new_sync(DASH)
    canonical = reference_checksum([("113.5", "6.4")], [("113.6", "2")])
    assert not sync.on_snapshot(
        BookSnapshot(
            instrument=DASH.key,
            local_ts=0,
            update_id=-1,
            bids=[(11350, 640)],
            asks=[(11360, 200)],
            checksum=canonical,
        )
    )
    fixed = reference_checksum([("113.50", "6.40")], [("113.60", "2.00")])
    assert sync.on_snapshot(
        BookSnapshot(
            instrument=DASH.key,
            local_ts=0,
            update_id=-1,
            bids=[(11350, 640)],
            asks=[(11360, 200)],
            checksum=fixed,
        )
    )


def test_zero_checksum_is_not_checked_and_an_unbound_sync_cannot_check() -> None:
    _book, sync = new_sync()
    assert sync.on_snapshot(snap(1, [(6000010, 1)], [(6000020, 1)], checksum=0))
    assert sync.on_delta(delta(2, prev=1, checksum=0))
    assert sync.counters.checksums == 0 and sync.valid
    _, unbound = new_sync(bind=False)
    assert unbound.on_snapshot(snap(1, [(6000010, 1)], [(6000020, 1)], checksum=12345))
    assert unbound.valid and unbound.unverified == 1 and unbound.counters.checksum_failures == 0


# ---- properties ---------------------------------------------------------------------------------

PRICES = st.integers(min_value=0, max_value=19)
OPS = st.lists(
    st.tuples(
        st.booleans(), PRICES, st.integers(min_value=0, max_value=5), st.integers(min_value=1, max_value=9)
    ),
    min_size=1,
    max_size=30,
)


def _stream(
    ops: list[tuple[bool, int, int, int]], with_pseq: bool
) -> tuple[BookSnapshot, list[BookDelta], list[dict[tuple[str, int], int]]]:
    """A snapshot and updates of a shallow book (< 25 levels a side: every change is in the
    checksummed window); bids on ticks 100..119, asks on 200..219; checksums from the
    reference text book; the reference book after each update."""
    text = fixed_text(BTC_SPOT.tick_size), fixed_text(BTC_SPOT.lot_size)
    bids = {110: 3, 105: 1}
    asks = {205: 2, 215: 4}

    def crc() -> int:
        b = [(text[0](p), text[1](q)) for p, q in sorted(bids.items(), reverse=True)]
        a = [(text[0](p), text[1](q)) for p, q in sorted(asks.items())]
        return reference_checksum(b, a)

    seq = 1_000
    snapshot = snap(seq, sorted(bids.items(), reverse=True), sorted(asks.items()), checksum=crc())
    deltas, states = [], []
    for is_bid, offset, size, step in ops:
        side, price = (bids, 100 + offset) if is_bid else (asks, 200 + offset)
        if size:
            side[price] = size
        else:
            side.pop(price, None)
        prev, seq = seq, seq + step
        level = [(price, size)]
        deltas.append(
            delta(
                seq,
                bids=level if is_bid else None,
                asks=None if is_bid else level,
                prev=prev if with_pseq else -1,
                checksum=crc(),
            )
        )
        states.append(_sides(bids, asks))
    return snapshot, deltas, states


def _sides(bids: dict[int, int], asks: dict[int, int]) -> dict[tuple[str, int], int]:
    return {**{("b", p): q for p, q in bids.items()}, **{("a", p): q for p, q in asks.items()}}


def _state(book: OrderBook) -> dict[tuple[str, int], int]:
    return _sides(dict(book.bids), dict(book.asks))


@settings(max_examples=150, deadline=None)
@given(ops=OPS, with_pseq=st.booleans())
def test_an_unbroken_stream_keeps_the_book_valid_and_equal_to_the_reference(
    ops: list[tuple[bool, int, int, int]], with_pseq: bool
) -> None:
    snapshot, deltas, states = _stream(ops, with_pseq)
    book, sync = new_sync()
    assert sync.on_snapshot(snapshot)
    for update, state in zip(deltas, states, strict=True):
        assert sync.on_delta(update) and sync.valid, sync.invalid_reason
        assert _state(book) == state
    assert sync.counters.checksum_failures == 0 and sync.counters.checksums == len(deltas) + 1


@settings(max_examples=200, deadline=None)
@given(ops=OPS, with_pseq=st.booleans(), data=st.data())
def test_a_lost_update_is_never_accepted_into_a_wrong_valid_book(
    ops: list[tuple[bool, int, int, int]], with_pseq: bool, data: st.DataObject
) -> None:
    """Drop one update: with ``pseq`` the chain breaks at the next message; without, the
    checksum catches it -- or the books are equal anyway (a later update rewrote the level)."""
    snapshot, deltas, states = _stream([*ops, (True, 0, 1, 1)], with_pseq)
    lost = data.draw(st.integers(min_value=0, max_value=len(deltas) - 2))
    book, sync = new_sync()
    sync.on_snapshot(snapshot)
    for index, (update, state) in enumerate(zip(deltas, states, strict=True)):
        if index == lost:
            continue
        sync.on_delta(update)
        if sync.valid:
            assert _state(book) == state
        else:
            assert with_pseq or sync.counters.checksum_failures == 1
            assert sync.pending_request is not None
            break
    if with_pseq:
        assert sync.counters.gaps == 1 and not sync.valid


def test_recorded_frames_are_the_shape_the_property_tests_assume() -> None:
    """Sanity: the recording's updates really are absolute sizes with "0" deletions."""
    zeros = sizes = 0
    for _, message in recorded_messages():
        if message["arg"]["channel"] == "books" and message["action"] == "update":
            for level in message["data"][0]["bids"] + message["data"][0]["asks"]:
                sizes += 1
                zeros += level[1] == "0"
    assert sizes > 5000 and 0 < zeros < sizes
    assert json.loads(v2_frame(recorded_messages()[-1][1]))["arg"]["instType"] in ("USDT-FUTURES", "SPOT")
