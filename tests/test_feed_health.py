"""Market-data cross-checks (bot/market/feedhealth.py, bot/market/lag.py) on real recordings.

The engine is fed the real Binance recordings event by event (tests/data: USD-M 2023,
``depth@0ms`` + bookTicker + trade; bot/emulator/data: spot 2024, ``depth@100ms`` + bookTicker +
trade): left alone the checks never fire; with the depth stream cut while the other streams go
on, with a backlog delivered late (a paused bot), or with a top of book that disagrees with the
book at the same update id, they do -- within the configured tolerance, naming what they saw.
"""

from __future__ import annotations

import functools
from pathlib import Path

import msgspec
import pytest

from bot.core.events import NS_PER_S, BookDelta, BookSnapshot, MarketEvent, Timer, TopOfBook, Trade
from bot.engine.loop import Engine
from bot.market.feed_settings import FeedCheckSettings
from bot.market.lag import ExchangeLag
from bot.replay.readers import open_replay

REPO = Path(__file__).resolve().parents[1]
USDM_2023 = REPO / "tests/data/binance_usdm_btcusdt_20230404.dat.gz"
SPOT_2024 = REPO / "bot/emulator/data/binance_spot_btcusdt_20240808.gz"
TIMER_NS = NS_PER_S // 10


@functools.cache
def recording(path: Path) -> tuple[list[MarketEvent], object]:
    replay = open_replay([path])
    return list(replay), next(iter(replay.specs.values()))


class Run:
    """An engine fed a list of events with 100 ms timers in between (as the live driver does)."""

    def __init__(self, path: Path, checks: FeedCheckSettings | None = None) -> None:
        self.events, self.spec = recording(path)
        self.key = self.spec.key  # type: ignore[attr-defined]
        self.engine = Engine("t", [self.spec], checks=checks)  # type: ignore[list-item]
        self.state = self.engine.instruments[self.key]
        self.invalid: list[tuple[int, str]] = []
        self.untradeable: list[tuple[int, str]] = []
        self.requests = 0

    def feed(self, events: list[MarketEvent], *, lags: dict[int, int] | None = None) -> None:
        engine, state = self.engine, self.state
        next_timer = 0
        for index, event in enumerate(events):
            while next_timer and event.local_ts > next_timer:
                self._step(Timer(local_ts=next_timer), 0)
                next_timer += TIMER_NS
            if not next_timer:
                next_timer = event.local_ts + TIMER_NS
            self._step(event, (lags or {}).get(index, 0))
        del engine, state

    def _step(self, event: MarketEvent | Timer, lag: int) -> None:
        state = self.state
        was_valid, was_tradeable = state.sync.valid, state.health.behind is None
        self.engine.on_event(event, lag)
        self.requests += len(self.engine.drain_actions())
        now = self.engine.clock.now
        if was_valid and not state.sync.valid:
            self.invalid.append((now, state.sync.invalid_reason))
        if was_tradeable and state.health.behind is not None:
            self.untradeable.append((now, state.health.behind))


def test_checks_never_fire_on_the_real_recordings() -> None:
    for path in (USDM_2023, SPOT_2024):
        run = Run(path)
        run.feed(run.events)
        counters = run.state.health.counters.as_dict()
        assert counters == {
            "behind_episodes": 0,
            "depth_silences": 0,
            "top_mismatches": 0,
            "trade_mismatches": 0,
        }
        assert run.invalid == [] and run.untradeable == []
        assert run.state.quotable and run.requests == 0
        # the exchange-time lag stayed far below the limit: the learned offset absorbed the recorder's
        # clock error (-1.27 s in 2024) and kept only the jitter
        assert run.state.health.exchange.known and run.state.health.lag_ns < NS_PER_S // 5


def _frozen(events: list[MarketEvent], at_ns: int, *, keep: tuple[type, ...]) -> list[MarketEvent]:
    """The recording with every depth diff from ``at_ns`` on removed (other kinds in ``keep``)."""
    return [e for e in events if e.local_ts < at_ns or (type(e) is not BookDelta and type(e) in keep)]


def _top_change_after(events: list[MarketEvent], at_ns: int) -> int:
    """Receipt time of the first bookTicker after ``at_ns`` whose prices differ from the one before."""
    previous: TopOfBook | None = None
    for event in events:
        if type(event) is TopOfBook:
            if (
                previous is not None
                and event.local_ts > at_ns
                and (event.bid_price, event.ask_price) != (previous.bid_price, previous.ask_price)
            ):
                return event.local_ts
            previous = event
    raise AssertionError("no top-of-book change")


@pytest.mark.parametrize("path", [USDM_2023, SPOT_2024])
def test_frozen_depth_with_book_ticker_flowing_is_caught_naming_both_tops(path: Path) -> None:
    run = Run(path)
    events = run.events
    # freeze the depth stream just before the top of book moves: the next bookTicker contradicts
    # the frozen book and the book never reaches its update id
    moved = _top_change_after(events, events[0].local_ts + 30 * NS_PER_S)
    run.feed(_frozen(events, moved - 1, keep=(TopOfBook, Trade, BookSnapshot))[: len(events) // 2])
    (when, reason), *_ = run.invalid
    # caught 1 s (the tolerance) after that bookTicker, at the next event or timer tick
    assert moved + NS_PER_S < when <= moved + int(1.15 * NS_PER_S), (when - moved) / NS_PER_S
    assert reason.startswith("top of book contradicted for 1.")
    assert "venue update" in reason and "the depth stream has not caught up" in reason
    # both tops, in price units of the instrument
    spec, book = run.state.spec, run.state.book
    assert (
        f"book update {book.update_id} bid {spec.price(book.best_bid)} / ask {spec.price(book.best_ask)}"
        in (  # type: ignore[arg-type]
            reason
        )
    )
    assert run.state.health.counters.top_mismatches == 1 and run.requests == 1


def test_frozen_depth_with_an_unmoving_top_is_caught_by_the_silence_rule() -> None:
    run = Run(USDM_2023)
    events = run.events
    freeze = events[0].local_ts + 30 * NS_PER_S  # the top stays put for the next 2 s here
    run.feed(_frozen(events, freeze, keep=(TopOfBook, Trade, BookSnapshot))[: len(events) // 2])
    (when, reason), *_ = run.invalid
    assert when <= freeze + int(2.2 * NS_PER_S)
    assert reason.startswith("depth stream silent for 2.") and "last top of book" in reason


def test_frozen_depth_with_only_trades_flowing_is_caught() -> None:
    run = Run(USDM_2023)
    events = run.events
    freeze = events[0].local_ts + 30 * NS_PER_S
    run.feed(_frozen(events, freeze, keep=(Trade,))[: len(events) // 2])
    (when, reason), *_ = run.invalid
    assert when <= freeze + int(2.3 * NS_PER_S)
    counters = run.state.health.counters
    if reason.startswith("trade contradicts"):
        assert "no depth update past it" in reason and counters.trade_mismatches == 1
    else:  # a calm market: no trade impossible on the frozen book; the silence rule catches it
        assert reason.startswith("depth stream silent for 2.") and "last trade" in reason
        assert counters.depth_silences == 1


def test_depth_silence_rule_alone_catches_a_frozen_stream() -> None:
    run = Run(SPOT_2024, FeedCheckSettings(top_mismatch_s=0, trade_mismatch_s=0))
    events = run.events
    freeze = events[0].local_ts + 20 * NS_PER_S
    run.feed(_frozen(events, freeze, keep=(TopOfBook, Trade))[: len(events) // 3])
    (when, reason), *_ = run.invalid
    # 2 s after the first trade / top message that no depth message followed (just before the freeze)
    assert freeze + int(1.8 * NS_PER_S) < when <= freeze + int(2.3 * NS_PER_S)
    assert reason.startswith("depth stream silent for 2.")
    assert "last trade" in reason and "last top of book" in reason


def _live_prefix(run: Run, seconds: int) -> list[MarketEvent]:
    """The recording up to the last depth diff before ``seconds`` in (the book live on it)."""
    events = run.events
    end = events[0].local_ts + seconds * NS_PER_S
    last = max(i for i, e in enumerate(events) if type(e) is BookDelta and e.local_ts < end)
    return events[: last + 1]


def test_frozen_depth_on_a_quiet_market_is_still_caught() -> None:
    """Trades only every 1.5 s (longer than the pause that holds the checks): the pending clock is
    not restarted by each trade, so the silence rule still fires within a trade interval or so."""
    run = Run(USDM_2023)
    events = run.events
    freeze = events[0].local_ts + 30 * NS_PER_S
    quiet: list[MarketEvent] = []
    last_trade = 0
    for event in events:
        if event.local_ts < freeze:
            quiet.append(event)
        elif type(event) is Trade and event.local_ts - last_trade >= int(1.5 * NS_PER_S):
            quiet.append(event)
            last_trade = event.local_ts
    run.feed([e for e in quiet if e.local_ts < freeze + 10 * NS_PER_S])
    (when, reason), *_ = run.invalid
    assert when <= freeze + 4 * NS_PER_S, (when - freeze) / NS_PER_S
    assert reason.startswith(("depth stream silent for", "trade contradicts the book"))


def test_book_ticker_disagreeing_at_the_same_update_id_invalidates_at_once() -> None:
    """bookTicker.u is the book's own update id: at an equal id the tops must be equal (on the
    bundled 2024 USD-M recording 126 of 126 such pairs are; a broken book is caught at once)."""
    run = Run(USDM_2023)
    prefix = _live_prefix(run, 20)
    run.feed(prefix)
    book = run.state.book
    assert run.state.sync.valid and book.best_bid is not None and book.best_ask is not None
    at = prefix[-1].local_ts + 1000
    ticker = TopOfBook(
        instrument=run.key,
        local_ts=at,
        update_id=book.update_id,
        bid_price=book.best_bid,
        bid_size=1,
        ask_price=book.best_ask,
        ask_size=1,
    )
    run.feed([ticker])
    assert run.invalid == []  # agrees: fine
    run.feed([msgspec.structs.replace(ticker, bid_price=book.best_bid - 5, local_ts=at + 1)])
    (when, reason), *_ = run.invalid
    assert when == at + 1
    bid, ask = run.state.spec.price(book.best_bid), run.state.spec.price(book.best_ask)
    venue_bid = run.state.spec.price(book.best_bid - 5)
    assert reason == (
        f"top of book wrong at update {book.update_id}: venue bid {venue_bid} / ask {ask}, "
        f"book bid {bid} / ask {ask}"
    )
    assert run.requests == 1 and run.state.health.counters.top_mismatches == 1


def test_book_reaching_a_contradicting_tickers_update_id_must_agree_with_it() -> None:
    """A bookTicker ahead of the book is pending until the book reaches its id; reaching it
    exactly with another top is a wrong book (the real next diff, against a doctored ticker)."""
    run = Run(USDM_2023)
    prefix = _live_prefix(run, 20)
    run.feed(prefix)
    following = next(e for e in run.events[len(prefix) :] if type(e) is BookDelta)
    book = run.state.book
    assert book.best_bid is not None and book.best_ask is not None
    ticker = TopOfBook(
        instrument=run.key,
        local_ts=following.local_ts - 1,
        update_id=following.last_id,
        bid_price=book.best_bid - 50,
        bid_size=1,
        ask_price=book.best_ask - 50,
        ask_size=1,
    )
    run.feed([ticker])
    assert run.invalid == []  # ahead of the book: pending
    run.feed([following])
    (when, reason), *_ = run.invalid
    assert when == following.local_ts
    assert reason.startswith(f"top of book wrong at update {following.last_id}: venue bid ")


def test_backlog_delivered_late_makes_the_book_untradeable_until_caught_up() -> None:
    """A bot stopped for 4 s: the events of those seconds arrive in one burst at resume. Their local
    stamps are all fresh (the backlog waited in the kernel); their exchange times are not."""
    run = Run(USDM_2023)
    events = run.events
    start = events[0].local_ts
    pause, resume = start + 40 * NS_PER_S, start + 44 * NS_PER_S
    burst: list[MarketEvent] = []
    for event in events:
        if pause <= event.local_ts < resume:
            event = msgspec.structs.replace(event, local_ts=resume)  # received at resume
        burst.append(event)
    run.feed([e for e in burst if e.local_ts < start + 60 * NS_PER_S])
    (when, reason), *more = run.untradeable
    assert more == []
    assert when == resume and reason.startswith("falling behind: depth update 3.")
    assert reason.endswith("s now (max 1.00s)")
    health = run.state.health
    assert health.counters.behind_episodes == 1 and health.behind is None  # recovered
    assert run.invalid == []  # the chain was intact: nothing to resync
    assert run.state.quotable


def test_recovery_waits_for_lag_recovery_s_of_calm() -> None:
    run = Run(USDM_2023, FeedCheckSettings(lag_recovery_s=1.5))
    events = [e for e in run.events if e.local_ts < run.events[0].local_ts + 30 * NS_PER_S]
    run.feed(events[: len(events) // 2])
    health = run.state.health
    now = run.engine.clock.now
    health.on_queue_lag(2 * NS_PER_S, now)
    assert health.behind == "falling behind: event queued 2.00s late at worst, 2.00s now (max 1.00s)"
    assert not run.state.quotable and run.state.reason == health.behind
    health.on_queue_lag(int(0.6 * NS_PER_S), now + NS_PER_S)  # below the limit, above half: not calm
    assert health.behind == "falling behind: event queued 2.00s late at worst, 0.60s now (max 1.00s)"
    health.on_queue_lag(int(0.4 * NS_PER_S), now + 2 * NS_PER_S)  # calm from here
    run.engine.on_event(Timer(local_ts=now + int(3.4 * NS_PER_S)))
    assert health.behind is not None
    run.engine.on_event(Timer(local_ts=now + int(3.5 * NS_PER_S)))
    assert health.behind is None and run.state.quotable


def test_queue_lag_from_the_driver_marks_the_book_untradeable() -> None:
    run = Run(USDM_2023)
    events = [e for e in run.events if e.local_ts < run.events[0].local_ts + 20 * NS_PER_S]
    middle = len(events) // 2
    run.feed(events, lags={middle: int(1.5 * NS_PER_S)})
    (_, reason), *_ = run.untradeable
    assert reason == "falling behind: event queued 1.50s late at worst, 1.50s now (max 1.00s)"
    assert run.state.health.behind is None  # later events were processed promptly: recovered


def test_checks_can_be_turned_off() -> None:
    run = Run(
        USDM_2023, FeedCheckSettings(top_mismatch_s=0, trade_mismatch_s=0, depth_silence_s=0, max_lag_s=0)
    )
    events = run.events
    freeze = events[0].local_ts + 30 * NS_PER_S
    run.feed(_frozen(events, freeze, keep=(TopOfBook, Trade))[: len(events) // 2])
    assert run.invalid == []  # only the any-stream staleness rule is left, and trades keep flowing


# ---- the learned clock offset ---------------------------------------------------------------


def test_exchange_lag_learns_the_offset_and_leaks_at_the_drift_rate() -> None:
    lag = ExchangeLag(drift=0.01)
    s = NS_PER_S
    # a clock 1.27 s behind the exchange: delays are negative; the first one is the baseline
    assert lag.observe(100 * s, 100 * s + int(1.27 * s)) == 0
    assert lag.baseline == -int(1.27 * s)
    # 10 s later a message 50 ms slower: the baseline leaked up by 10 s x 1 % = 100 ms, so
    # the message is not late at all and becomes the new baseline
    assert lag.observe(110 * s, 110 * s + int(1.22 * s)) == 0
    assert lag.baseline == -int(1.22 * s)
    # a faster message lowers the baseline at once
    assert lag.observe(111 * s, 111 * s + int(1.30 * s)) == 0
    # 4 s of backlog: lag = delay - baseline (after 1 s of leak: 10 ms)
    assert lag.observe(112 * s, 108 * s + int(1.30 * s)) == 4 * s - int(0.01 * s)
    # exchange-time age of that message, clock offset removed
    assert lag.exchange_age(112 * s, 108 * s + int(1.30 * s)) == 4 * s - int(0.01 * s)


def test_exchange_lag_needs_a_non_negative_drift() -> None:
    with pytest.raises(ValueError, match="drift"):
        ExchangeLag(drift=-0.1)
