"""OrderBook: property tests against a naive reference (dicts + sorting)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.market.book import OrderBook

prices = st.integers(min_value=1, max_value=200)
sizes = st.integers(min_value=0, max_value=50)
updates = st.lists(st.tuples(st.sampled_from([1, -1]), prices, sizes), max_size=300)


def naive_apply(reference: dict[int, dict[int, int]], side: int, price: int, size: int) -> None:
    levels = reference[side]
    if size:
        levels[price] = size
    else:
        levels.pop(price, None)


@given(updates)
@settings(max_examples=300)
def test_book_equals_naive_reference(seq: list[tuple[int, int, int]]) -> None:
    book = OrderBook("t:X")
    reference: dict[int, dict[int, int]] = {1: {}, -1: {}}
    for side, price, size in seq:
        if side > 0:
            book.set_bid(price, size)
        else:
            book.set_ask(price, size)
        naive_apply(reference, side, price, size)
        bids, asks = reference[1], reference[-1]
        assert book.best_bid == (max(bids) if bids else None)
        assert book.best_ask == (min(asks) if asks else None)
        assert book.best_bid_size == (bids[max(bids)] if bids else 0)
    assert book.bids == reference[1]
    assert book.asks == reference[-1]
    assert list(book.bid_levels()) == sorted(reference[1].items(), reverse=True)
    assert list(book.ask_levels()) == sorted(reference[-1].items())


@given(updates, st.integers(min_value=0, max_value=10))
def test_batch_apply_equals_single_updates(seq: list[tuple[int, int, int]], depth: int) -> None:
    one, batch = OrderBook("a"), OrderBook("b")
    for side, price, size in seq:
        (one.set_bid if side > 0 else one.set_ask)(price, size)
    batch.apply([(p, s) for side, p, s in seq if side > 0], [(p, s) for side, p, s in seq if side < 0])
    assert one.bids == batch.bids and one.asks == batch.asks
    assert one.top(depth) == batch.top(depth)
    top_bids, top_asks = one.top(depth)
    assert top_bids == sorted(one.bids.items(), reverse=True)[:depth]
    assert top_asks == sorted(one.asks.items())[:depth]


@given(
    st.dictionaries(st.integers(1, 99), st.integers(1, 9), min_size=1),
    st.dictionaries(st.integers(101, 200), st.integers(1, 9), min_size=1),
    st.floats(min_value=0.0, max_value=0.5),
)
def test_depth_within_and_walk(bids: dict[int, int], asks: dict[int, int], fraction: float) -> None:
    book = OrderBook("t")
    book.load(bids.items(), asks.items(), 1)
    mid = (max(bids) + min(asks)) / 2
    assert book.mid() == mid
    # the band edge with depth_within's documented hair of slack (mid * 1e-12): a level exactly
    # on the edge counts, whichever way float rounding puts the computed edge (e.g. mid 114,
    # fraction 1/3: 114 * (1 - 0.333...) is 76.00000000000001 in floats, the level 76 is in)
    slack = mid * 1e-12
    expected_bid = sum(s for p, s in bids.items() if p >= mid * (1 - fraction) - slack)
    expected_ask = sum(s for p, s in asks.items() if p <= mid * (1 + fraction) + slack)
    assert book.depth_within(fraction) == (expected_bid, expected_ask)
    limit = min(asks) + 10
    assert list(book.levels_through(-1, limit)) == sorted((p, s) for p, s in asks.items() if p <= limit)
    floor = max(bids) - 10
    assert list(book.levels_through(1, floor)) == sorted(
        ((p, s) for p, s in bids.items() if p >= floor), reverse=True
    )
    assert not book.is_crossed


def test_crossed_detection_and_clear() -> None:
    book = OrderBook("t")
    book.load([(100, 1)], [(101, 1)], 7)
    assert not book.is_crossed and book.update_id == 7
    book.set_bid(101, 2)
    assert book.is_crossed
    book.clear()
    assert book.best_bid is None and book.best_ask is None and len(book) == 0 and book.mid() is None


def test_deleting_absent_level_is_harmless() -> None:
    book = OrderBook("t")
    book.set_bid(5, 0)
    book.set_ask(5, 0)
    assert len(book) == 0
    book.set_ask(9, 3)
    book.set_ask(9, 4)  # size change keeps one index entry
    assert list(book.ask_levels()) == [(9, 4)]
    book.set_ask(9, 0)
    assert list(book.ask_levels()) == []
