"""Cross-checks that catch a book the update-id chain cannot: frozen, contradicted or late.

The sync rules (:mod:`bot.market.sync`) prove that every diff that reached the book
continues the chain. They cannot see a depth stream that simply *stops* while the
connection stays up, nor a bot that falls seconds behind the exchange. One
:class:`FeedHealth` per instrument watches the other streams and the clocks:

- **per-stream staleness**: the local receipt time of the last depth, trade and
  top-of-book message is kept apart. Every trade and every top-of-book change moves the
  book, so a trade or top message that no depth message follows within
  ``depth_silence_s``, while those streams keep delivering, means the depth stream is
  frozen: the book is invalid.
- **top of book** (Binance ``bookTicker``, whose ``u`` is the book's own update id): a
  message *ahead* of the book (``u`` > the book's id) whose prices differ from the book's
  top starts a clock; the book must reach that update id within ``top_mismatch_s``
  (a later message that happens to agree with the stale book proves nothing and does
  not stop the clock). When the book reaches exactly that id, its top must equal the
  message's -- as it must for a message with the book's own id on arrival (an exact
  check: the book is wrong).
- **trades**: a trade impossible on the book -- a buy (the aggressor lifted an ask) at
  or below our best bid, a sell at or above our best ask -- starts a clock; a depth
  message with an exchange time at or past the trade's must come within
  ``trade_mismatch_s``. Liquidation prints are ignored.
- **falling behind**: each depth diff's lag by exchange time against the learned clock
  offset (:class:`~bot.market.lag.ExchangeLag`), and each event's queue lag from socket
  receipt to processing (measured by the driver, handed in), above ``max_lag_s`` make
  the book *untradeable* (:attr:`FeedHealth.behind`, which names the worst lag of the
  episode and the lag now): quotes are pulled, nothing is resynced (the chain is intact,
  only late). It is tradeable again once the lag has stayed below half the limit for
  ``lag_recovery_s``.

A check fires only while the instrument's streams keep delivering: when all of them pause
for more than half the smallest tolerance (a stalled link, a stopped process), a pending
check waits, and once data flows again it waits a short grace more (a quarter second at
most) -- the backlog of a pause holds the depth messages that answer it, a few
milliseconds behind the others. The clocks are not restarted, so on a quiet market (a
trade every second or two) a frozen depth stream is still caught on time. Total silence
is the any-stream staleness rule's (``stale_after_s``) and the lag check's business.

The measured recordings (``bot/emulator/data``, ``tests/data``): a top-of-book message
ahead of the book is caught up within 106 ms (spot, ``depth@100ms``) and 66 ms (USD-M,
``depth@0ms``); a contradicting trade within 105 ms; every trade or top message is
followed by a depth message within 118 ms; depth delays vary by under 120 ms around their
minimum. The defaults (1 s, 1 s, 2 s, 1 s) leave an order of magnitude of margin.

Methods return a reason string when the book must be invalidated (the engine does it and
requests a resync), None otherwise. No I/O and no clock: time arrives with the events.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from bot.core.events import NS_PER_S, BookDelta, Side, TopOfBook, Trade
from bot.core.instrument import InstrumentSpec
from bot.market.book import OrderBook
from bot.market.feed_settings import FeedCheckSettings
from bot.market.lag import ExchangeLag

_COUNTER_FIELDS = ("behind_episodes", "depth_silences", "top_mismatches", "trade_mismatches")
"""The counters, in the order :meth:`HealthCounters.as_dict` lists them (compiled classes have no
``__slots__`` attribute to read them from)."""

_BUY: Final = Side.BUY
"""A C static in the compiled build (read on every trade)."""


class HealthCounters:
    """Monotonic counters of the cross-checks (logs, /status, /metrics)."""

    __slots__ = _COUNTER_FIELDS

    def __init__(self) -> None:
        self.top_mismatches = 0  # books invalidated by the top-of-book check
        self.trade_mismatches = 0  # ... by the trade check
        self.depth_silences = 0  # ... because depth went silent while other streams flowed
        self.behind_episodes = 0  # episodes of falling behind (book untradeable)

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in _COUNTER_FIELDS}


def _s(ns: int) -> float:
    return ns / NS_PER_S


class FeedHealth:
    """Cross-checks of one instrument's book against its other streams and the clocks."""

    __slots__ = (
        "_calm_since",
        "_gap",
        "_grace",
        "_grace_until",
        "_last_any_ts",
        "_max_lag",
        "_peak_lag",
        "_peak_what",
        "_recovery",
        "_silence",
        "_top_ask",
        "_top_bid",
        "_top_id",
        "_top_since",
        "_top_tol",
        "_trade_exch",
        "_trade_price",
        "_trade_side",
        "_trade_since",
        "_trade_tol",
        "_unanswered_since",
        "behind",
        "counters",
        "deadline",
        "exchange",
        "lag_ns",
        "last_depth_exch",
        "last_depth_ts",
        "last_top_ts",
        "last_trade_ts",
        "queue_lag_ns",
        "spec",
    )

    def __init__(self, settings: FeedCheckSettings | None = None, spec: InstrumentSpec | None = None) -> None:
        settings = settings or FeedCheckSettings()
        self.spec = spec
        self._top_tol = int(settings.top_mismatch_s * NS_PER_S)
        self._trade_tol = int(settings.trade_mismatch_s * NS_PER_S)
        self._silence = int(settings.depth_silence_s * NS_PER_S)
        self._max_lag = int(settings.max_lag_s * NS_PER_S)
        self._recovery = int(settings.lag_recovery_s * NS_PER_S)
        tolerances = [t for t in (self._top_tol, self._trade_tol, self._silence) if t]
        self._gap = min(tolerances) // 2 if tolerances else 0
        """A pause of every stream longer than this holds the pending checks (see module doc)."""
        self._grace = min(self._gap, NS_PER_S // 4)
        self._grace_until = 0
        self._last_any_ts = 0
        self.exchange = ExchangeLag(settings.exchange_clock_drift)
        self.counters = HealthCounters()
        self.last_depth_ts = 0
        """Local receipt time of the last depth message (diff or snapshot), ns; 0 = none yet."""
        self.last_trade_ts = 0
        self.last_top_ts = 0
        self.last_depth_exch = 0
        """Exchange time of the last depth diff that carried one, ns."""
        self.lag_ns = 0
        """Exchange-time lag of the last depth diff (against the learned clock offset)."""
        self.queue_lag_ns = 0
        """Socket receipt -> processing of the last event (0 where the driver does not measure it)."""
        self.behind: str | None = None
        """Why the book is untradeable (falling behind); None when it is current."""
        self.deadline = 0
        """Earliest local time (ns) at which a pending check expires; 0 = nothing pending."""
        self._calm_since = 0
        self._peak_lag = 0
        self._peak_what = ""
        self._top_since = 0
        self._top_id = 0
        self._top_bid = 0
        self._top_ask = 0
        self._trade_since = 0
        self._trade_exch = 0
        self._trade_price = 0
        self._trade_side = Side.BUY
        self._unanswered_since = 0

    # ---- inputs ------------------------------------------------------------------------------

    def on_depth(self, event: BookDelta, book: OrderBook, valid: bool, now: int) -> str | None:
        """A depth diff (after the sync handled it)."""
        self._arrival(now)
        self.last_depth_ts = now
        self._unanswered_since = 0
        exch = event.exch_ts
        if exch:
            self.last_depth_exch = exch
            if self._max_lag:
                self.lag_ns = self.exchange.observe(event.local_ts, exch)
                self._update_behind(now, True)
        problem = None
        if valid:
            if self._top_since and book.update_id >= self._top_id:
                problem = self._top_caught_up(book)
            if self._trade_since and (not exch or not self._trade_exch or exch >= self._trade_exch):
                self._trade_since = 0
        self._refresh_deadline()
        return problem

    def on_snapshot(self, now: int) -> None:
        """A book snapshot (REST or in-stream): a new book, nothing pending applies to it."""
        self._arrival(now)
        self.last_depth_ts = now
        self._unanswered_since = 0
        self.reset()

    def on_top(self, event: TopOfBook, book: OrderBook, valid: bool, now: int) -> str | None:
        self._arrival(now)
        self.last_top_ts = now
        if not valid:
            return None
        if self._silence and not self._unanswered_since:
            self._unanswered_since = now
            self._refresh_deadline()
        if not self._top_tol:
            return None
        update_id = event.update_id
        book_id = book.update_id
        bid, ask = book.best_bid, book.best_ask
        if update_id <= 0 or bid is None or ask is None or update_id < book_id:
            return None  # no id to compare, or the book is already past this message
        agrees = event.bid_price == bid and event.ask_price == ask
        if update_id == book_id:
            if agrees:
                return None
            self.counters.top_mismatches += 1
            return (
                f"top of book wrong at update {book_id}: venue bid {self._p(event.bid_price)} / ask "
                f"{self._p(event.ask_price)}, book bid {self._p(bid)} / ask {self._p(ask)}"
            )
        if not agrees and not self._top_since:
            self._top_since = now
            self._top_id = update_id
            self._top_bid = event.bid_price
            self._top_ask = event.ask_price
            self._refresh_deadline()
        return None

    def on_trade(self, event: Trade, book: OrderBook, valid: bool, now: int) -> str | None:
        self._arrival(now)
        self.last_trade_ts = now
        if not valid or event.liquidation:
            return None
        if self._silence and not self._unanswered_since:
            self._unanswered_since = now
            self._refresh_deadline()
        if not self._trade_tol or self._trade_since:
            return None  # keep the oldest unresolved one
        bid, ask = book.best_bid, book.best_ask
        if bid is None or ask is None:
            return None
        price = event.price
        if (price <= bid) if event.side is _BUY else (price >= ask):
            self._trade_since = now
            self._trade_exch = event.exch_ts
            self._trade_price = price
            self._trade_side = event.side
            self._refresh_deadline()
        return None

    def on_queue_lag(self, lag_ns: int, now: int) -> None:
        """The driver's measure of how long the event waited between socket receipt and processing."""
        self.queue_lag_ns = lag_ns
        if self._max_lag:
            self._update_behind(now, True)

    def overdue(self, book: OrderBook, valid: bool, now: int) -> str | None:
        """Called on timers and once :attr:`deadline` has passed: the expired check's reason
        (only while the book is valid); also lets a book that fell behind recover in silence."""
        if self.behind is not None:
            self._update_behind(now, False)
        if (
            not valid
            or not self.deadline
            or now < self.deadline
            or now - self._last_any_ts > self._gap
            or now < self._grace_until
        ):
            return None  # nothing due, or every stream paused or just resumed: wait (see module doc)
        problem = None
        if self._top_since and now - self._top_since > self._top_tol:
            self.counters.top_mismatches += 1
            problem = (
                f"top of book contradicted for {_s(now - self._top_since):.1f}s: venue update "
                f"{self._top_id} bid {self._p(self._top_bid)} / ask {self._p(self._top_ask)}, book "
                f"update {book.update_id} bid {self._p(book.best_bid)} / ask {self._p(book.best_ask)}; "
                "the depth stream has not caught up"
            )
        elif self._trade_since and now - self._trade_since > self._trade_tol:
            self.counters.trade_mismatches += 1
            side = "buy" if self._trade_side is Side.BUY else "sell"
            problem = (
                f"trade contradicts the book for {_s(now - self._trade_since):.1f}s: a {side} at "
                f"{self._p(self._trade_price)} vs book bid {self._p(book.best_bid)} / ask "
                f"{self._p(book.best_ask)} (update {book.update_id}); no depth update past it"
            )
        elif self._unanswered_since and now - self._unanswered_since > self._silence:
            self.counters.depth_silences += 1
            others = []
            if self.last_trade_ts > self.last_depth_ts:
                others.append(f"last trade {_s(now - self.last_trade_ts):.1f}s ago")
            if self.last_top_ts > self.last_depth_ts:
                others.append(f"last top of book {_s(now - self.last_top_ts):.1f}s ago")
            problem = (
                f"depth stream silent for {_s(now - self.last_depth_ts):.1f}s while other streams "
                f"flow ({', '.join(others)})"
            )
        if problem is not None:
            self.reset()
        else:
            self._refresh_deadline()
        return problem

    def reset(self) -> None:
        """Forget pending checks (the book was invalidated or replaced)."""
        self._top_since = self._trade_since = self._unanswered_since = 0
        self._refresh_deadline()

    # ---- status ------------------------------------------------------------------------------

    @property
    def tradeable(self) -> bool:
        return self.behind is None

    def stream_ages(self, now: int) -> dict[str, float | None]:
        """Seconds since the last message of each stream (None: none yet)."""
        return {
            "depth": _s(now - self.last_depth_ts) if self.last_depth_ts else None,
            "trades": _s(now - self.last_trade_ts) if self.last_trade_ts else None,
            "top": _s(now - self.last_top_ts) if self.last_top_ts else None,
        }

    def depth_exchange_age(self, now: int) -> float | None:
        """Age of the last depth diff by its exchange time at local ``now`` (clock offset removed)."""
        if not self.last_depth_exch or not self.exchange.known:
            return None
        return _s(self.exchange.exchange_age(now, self.last_depth_exch))

    # ---- internals ---------------------------------------------------------------------------

    def _arrival(self, now: int) -> None:
        """Any message of the instrument: after a pause of every stream, a short grace."""
        if now - self._last_any_ts > self._gap:
            self._grace_until = now + self._grace
        self._last_any_ts = now

    def _top_caught_up(self, book: OrderBook) -> str | None:
        problem = None
        if book.update_id == self._top_id and (
            book.best_bid != self._top_bid or book.best_ask != self._top_ask
        ):
            self.counters.top_mismatches += 1
            problem = (
                f"top of book wrong at update {self._top_id}: venue bid {self._p(self._top_bid)} / ask "
                f"{self._p(self._top_ask)}, book bid {self._p(book.best_bid)} / ask {self._p(book.best_ask)}"
            )
        self._top_since = 0
        return problem

    def _update_behind(self, now: int, measured_now: bool) -> None:
        lag = max(self.lag_ns, self.queue_lag_ns)
        limit = self._max_lag
        if lag > limit:
            if self.behind is None:
                self.counters.behind_episodes += 1
                self._peak_lag = 0
            if lag > self._peak_lag:
                self._peak_lag = lag
                self._peak_what = "depth update" if self.lag_ns >= self.queue_lag_ns else "event queued"
            self._calm_since = 0
        elif self.behind is not None:
            if lag * 2 > limit:
                self._calm_since = 0
            elif not self._calm_since:
                self._calm_since = now
            if self._calm_since and now - self._calm_since >= self._recovery:
                self.behind = None
                self._calm_since = 0
                return
        else:
            return
        if measured_now or self.behind is None:
            self.behind = (
                f"falling behind: {self._peak_what} {_s(self._peak_lag):.2f}s late at worst, "
                f"{_s(lag):.2f}s now (max {_s(limit):.2f}s)"
            )

    def _refresh_deadline(self) -> None:
        deadline = 0
        if self._top_since:
            deadline = self._top_since + self._top_tol
        if self._trade_since:
            due = self._trade_since + self._trade_tol
            deadline = due if not deadline else min(deadline, due)
        if self._unanswered_since:
            due = self._unanswered_since + self._silence
            deadline = due if not deadline else min(deadline, due)
        self.deadline = deadline

    def _p(self, ticks: int | None) -> Decimal | int | None:
        if ticks is None or self.spec is None:
            return ticks
        return self.spec.price(ticks)
