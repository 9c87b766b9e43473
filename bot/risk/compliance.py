"""Obligation compliance, measured the way exchanges measure it.

**What is measured** (:func:`measure`), on *our resting orders* at the venue (accepted
and not yet filled or cancelled, at their remaining size -- an order whose cancel is
on its way still rests) and the venue's public book:

- *mid* ``m = (B + A) / 2`` with ``B`` the best bid and ``A`` the best ask of the book
  the venue shows: the public book together with our orders;
- *spread* ``(a - b) / a``, where ``a`` is our lowest ask and ``b`` our highest bid among
  our orders of at least ``min_spread_notional``: relative to our best ask; met when
  ``<= max_spread_pct``; undefined (not met) when a side has no such order;
- *depth* per side: the sum of ``price x remaining size`` of our bids priced at or above
  ``m x (1 - band)``, and of our asks at or below ``m x (1 + band)``, in the quote
  currency; met when ``>=`` the required depth of that side.

Everything is compared exactly (integers and fractions). The obligation is *met* at an
instant when the spread and both depths are met.

**Uptime** (:class:`ComplianceMeter`): the measurement is re-evaluated after every event
the engine handles (book changes, trades, order reports, and the 100 ms timer), so the
met/not-met state is known continuously in event time; between two evaluations it is
constant, and uptime is the time-weighted share of met time -- per UTC day and over the
deal (from the deal window's start, or the first measurement). Time the bot is not
running counts as not met. A *breach* is a maximal interval of not-met time; it is
recorded with its start, end, duration, the conditions that failed (with their numbers)
and the context the engine gives (halted and why, book not valid, funds short, chosen,
orders being placed, not running).

The meter writes its records through a sink (the engine journals them): a sample every
``sample_interval`` (current figures and the running totals, from which a restart
resumes), ``obligation_breach_start`` / ``obligation_breach`` and ``obligation_day`` at
each UTC day's end. Pure: event time only.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.strategy.obligation_terms import ObligationTerms

NS_PER_DAY = 86_400 * 1_000_000_000
MAX_CAUSES = 12

Sink = Callable[[str, dict[str, Any], int], None]


def day_name(day: int) -> str:
    return datetime.fromtimestamp(day * 86_400, tz=UTC).strftime("%Y-%m-%d")


@dataclass(frozen=True, slots=True)
class Measurement:
    """One evaluation of the obligation (prices in ticks, depth in tick-lots)."""

    two_mid: int | None
    best_bid: int | None
    best_ask: int | None
    bid_depth_tl: int
    ask_depth_tl: int
    spread_met: bool
    bid_met: bool
    ask_met: bool

    @property
    def met(self) -> bool:
        return self.spread_met and self.bid_met and self.ask_met

    def spread_pct(self) -> float | None:
        if self.best_bid is None or self.best_ask is None:
            return None
        return ObligationTerms.spread_pct(self.best_bid, self.best_ask)

    def failing(self, terms: ObligationTerms) -> list[tuple[str, str]]:
        """(condition, text with numbers) of every condition not met."""
        quote = terms.params
        out: list[tuple[str, str]] = []
        if self.two_mid is None:
            out.append(("no_market", "no two-sided book: mid undefined"))
        if not self.spread_met:
            spread = self.spread_pct()
            if spread is None:
                missing = "bid" if self.best_bid is None else "ask"
                out.append(("spread", f"spread undefined: no {missing} of ours"))
            else:
                out.append(("spread", f"spread {spread:.4f}% > {quote.max_spread_pct}%"))
        for name, ok, have, need in (
            ("bid_depth", self.bid_met, self.bid_depth_tl, terms.bid_depth_tl),
            ("ask_depth", self.ask_met, self.ask_depth_tl, terms.ask_depth_tl),
        ):
            if not ok:
                out.append((name, f"{name.replace('_', ' ')} {_money(terms, have)} < {_money(terms, need)}"))
        return out


def _money(terms: ObligationTerms, tick_lots: int) -> str:
    return f"{float(terms.quote(tick_lots)):,.0f}"


def measure(
    terms: ObligationTerms,
    orders: Iterable[tuple[int, int, int]],
    public_bid: int | None,
    public_ask: int | None,
) -> Measurement:
    """The obligation now. ``orders`` = our resting orders ``(side, price, remaining)`` with
    side +1 bid / -1 ask; ``public_*`` = the public book's best prices (ticks)."""
    resting = [o for o in orders if o[2] > 0]
    min_tl = terms.min_spread_tl
    our_bid = our_ask = None
    any_bid = any_ask = None
    for side, price, size in resting:
        big = price * size >= min_tl
        if side > 0:
            any_bid = price if any_bid is None or price > any_bid else any_bid
            if big and (our_bid is None or price > our_bid):
                our_bid = price
        else:
            any_ask = price if any_ask is None or price < any_ask else any_ask
            if big and (our_ask is None or price < our_ask):
                our_ask = price
    book_bid = max((p for p in (public_bid, any_bid) if p is not None), default=None)
    book_ask = min((p for p in (public_ask, any_ask) if p is not None), default=None)
    two_mid = book_bid + book_ask if book_bid is not None and book_ask is not None else None
    spread_met = our_bid is not None and our_ask is not None and terms.spread_ok(our_bid, our_ask)
    bid_tl = ask_tl = 0
    if two_mid is not None:
        lo, hi = terms.band_lo(two_mid), terms.band_hi(two_mid)
        for side, price, size in resting:
            if side > 0:
                if price >= lo:
                    bid_tl += price * size
            elif price <= hi:
                ask_tl += price * size
    return Measurement(
        two_mid=two_mid,
        best_bid=our_bid,
        best_ask=our_ask,
        bid_depth_tl=bid_tl,
        ask_depth_tl=ask_tl,
        spread_met=spread_met and two_mid is not None,
        bid_met=two_mid is not None and bid_tl >= terms.bid_depth_tl,
        ask_met=two_mid is not None and ask_tl >= terms.ask_depth_tl,
    )


@dataclass(slots=True)
class Breach:
    """A maximal interval of not-met time."""

    start: int
    causes: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    worst_spread_pct: float | None = None
    min_bid_depth: float | None = None
    min_ask_depth: float | None = None
    end: int | None = None

    def add(self, key: str, text: str) -> None:
        if key not in self.keys and len(self.keys) < MAX_CAUSES:
            self.keys.append(key)
            self.causes.append(text)

    def note(self, terms: ObligationTerms, m: Measurement) -> None:
        spread = m.spread_pct()
        if spread is not None and (self.worst_spread_pct is None or spread > self.worst_spread_pct):
            self.worst_spread_pct = spread
        bid, ask = float(terms.quote(m.bid_depth_tl)), float(terms.quote(m.ask_depth_tl))
        self.min_bid_depth = bid if self.min_bid_depth is None else min(self.min_bid_depth, bid)
        self.min_ask_depth = ask if self.min_ask_depth is None else min(self.min_ask_depth, ask)

    def payload(self, instrument: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "instrument": instrument,
            "start": self.start,
            "end": self.end,
            "duration_s": (self.end - self.start) / 1e9 if self.end is not None else None,
            "cause": self.causes[0] if self.causes else "",
            "causes": list(self.causes),
            "worst_spread_pct": self.worst_spread_pct,
            "min_bid_depth": self.min_bid_depth,
            "min_ask_depth": self.min_ask_depth,
        }
        return out


@dataclass(slots=True)
class Totals:
    """Measured and met time of one window (ns)."""

    measured: int = 0
    met: int = 0

    def ratio(self) -> float | None:
        return self.met / self.measured if self.measured else None


class ComplianceMeter:
    """Continuous compliance accounting of one obligation (see the module docstring)."""

    def __init__(
        self,
        terms: ObligationTerms,
        *,
        sink: Sink | None = None,
        sample_interval_ns: int = 1_000_000_000,
        window: tuple[int | None, int | None] = (None, None),
        history: int = 200,
    ) -> None:
        self.terms = terms
        self.instrument = terms.instrument
        self.sink = sink
        self.sample_interval_ns = sample_interval_ns
        self.window_start, self.window_end = window
        self.last_ts: int | None = None
        self.last: Measurement | None = None
        self.context: tuple[str, str] = ("", "")
        self.day: int | None = None
        self.today = Totals()
        self.deal = Totals()
        self.deal_start: int | None = self.window_start
        self.breach: Breach | None = None
        self.breaches = 0
        self.day_breaches = 0
        self.recent: deque[Breach] = deque(maxlen=history)
        self.days: deque[dict[str, Any]] = deque(maxlen=400)
        self.next_sample_ts = 0
        self._interval = Totals()
        self._gap: tuple[int, str] | None = None
        self._announce = False

    # ---- restart ---------------------------------------------------------------------

    def restore(
        self,
        sample: dict[str, Any] | None,
        open_breach: dict[str, Any] | None,
        days: Iterable[dict[str, Any]] = (),
        recent: Iterable[dict[str, Any]] = (),
    ) -> None:
        """Resume from the journal: the last sample's totals, the breach open then (if any),
        the closed days and recent breaches. The time from that sample to the next event
        counts as not met ('not running')."""
        for payload in days:
            self.days.append(dict(payload))
        for payload in recent:
            breach = Breach(start=int(payload["start"]), end=payload.get("end"))
            breach.causes = list(payload.get("causes") or [])
            breach.keys = list(breach.causes)
            breach.worst_spread_pct = payload.get("worst_spread_pct")
            breach.min_bid_depth = payload.get("min_bid_depth")
            breach.min_ask_depth = payload.get("min_ask_depth")
            self.recent.append(breach)
        if sample is None:
            return
        ts = int(sample["ts"])
        self.last_ts = ts
        self.day = ts // NS_PER_DAY
        self.today = Totals(int(sample["day_measured_ns"]), int(sample["day_met_ns"]))
        self.deal = Totals(int(sample["deal_measured_ns"]), int(sample["deal_met_ns"]))
        self.deal_start = sample.get("deal_start_ns", self.deal_start)
        self.breaches = int(sample.get("breaches", 0))
        self.day_breaches = int(sample.get("day_breaches", 0))
        if open_breach is not None:
            if sample.get("breach_since") != open_breach["start"]:  # opened after the last sample
                self.breaches += 1
                self.day_breaches += 1
            self.breach = Breach(start=min(ts, int(open_breach["start"])))
            self.breach.causes = list(open_breach.get("causes") or [open_breach.get("cause", "")])
            self.breach.keys = list(self.breach.causes)
        self._gap = (ts, "mmbot was not running (stopped or restarted): no orders at the venue")

    # ---- per event -------------------------------------------------------------------

    def update(self, now: int, measurement: Measurement | None, context: tuple[str, str] = ("", "")) -> None:
        """Account the time since the last update with the previous state, then take the new
        measurement (None = unchanged) and context ``(label, text)`` (why, if not met)."""
        if self._gap is not None:
            start, text = self._gap
            self._gap = None
            if now > start:
                if self.breach is None:
                    self._open(start)
                assert self.breach is not None
                self.breach.add("not_running", text)
                self._account(start, now, False)
            self.last_ts = now
        elif self.last_ts is None:
            self.last_ts = now
            if self.deal_start is None:
                self.deal_start = now
        elif now > self.last_ts:
            self._account(self.last_ts, now, self.last is not None and self.last.met)
            self.last_ts = now
        if measurement is not None:
            self.last = measurement
        self.context = context
        m = self.last
        met = m is not None and m.met
        if not met:
            if self.breach is None:
                self._open(now)
            self._note(m)
        elif self.breach is not None:
            self._close(now)
        if self._announce:
            self._announce = False
            if self.sink is not None and self.breach is not None:
                self.sink("obligation_breach_start", self.breach.payload(self.instrument), now)
        if self.sink is not None and now >= self.next_sample_ts:
            self.next_sample_ts = now + self.sample_interval_ns
            self.sink("obligation_sample", self.sample(now), now)

    def close(self, now: int) -> None:
        """Clean shutdown: account up to ``now`` and write a final sample (the breach, if
        any, stays open: the orders are gone while the bot is down)."""
        if self.last_ts is None:
            return
        self.update(now, None, self.context)
        if self.sink is not None:
            self.sink("obligation_sample", self.sample(now), now)

    # ---- internals -------------------------------------------------------------------

    def _note(self, m: Measurement | None) -> None:
        breach = self.breach
        assert breach is not None
        label, text = self.context
        if m is None:
            conditions = [("no_measurement", "no measurement yet")]
        else:
            conditions = m.failing(self.terms)
            breach.note(self.terms, m)
        key = "+".join(c for c, _ in conditions) + (f"|{label}" if label else "")
        if key in breach.keys or len(breach.keys) >= MAX_CAUSES:
            return
        cause = "; ".join(t for _, t in conditions)
        if text:
            cause = f"{cause} ({text})"
        breach.add(key, cause)

    def _open(self, now: int) -> None:
        self._announce = True
        self.breach = Breach(start=now)
        self.breaches += 1
        self.day_breaches += 1

    def _close(self, now: int) -> None:
        breach = self.breach
        assert breach is not None
        breach.end = now
        self.breach = None
        self.recent.append(breach)
        if self.sink is not None:
            self.sink("obligation_breach", breach.payload(self.instrument), now)

    def _account(self, start: int, end: int, met: bool) -> None:
        while start < end:
            day = start // NS_PER_DAY
            if self.day is None:
                self.day = day
            elif day != self.day:
                self._roll(day, start)
            stop = min(end, (day + 1) * NS_PER_DAY)
            span = stop - start
            self.today.measured += span
            if met:
                self.today.met += span
            lo = max(start, self.deal_start if self.deal_start is not None else start)
            hi = min(stop, self.window_end if self.window_end is not None else stop)
            if hi > lo:
                self.deal.measured += hi - lo
                if met:
                    self.deal.met += hi - lo
            if met:
                self._interval.met += span
            self._interval.measured += span
            start = stop

    def _roll(self, day: int, ts: int) -> None:
        assert self.day is not None
        record = {
            "instrument": self.instrument,
            "day": day_name(self.day),
            "measured_ns": self.today.measured,
            "met_ns": self.today.met,
            "uptime": self.today.ratio(),
            "min_uptime": self.terms.min_uptime,
            "met": (self.today.ratio() or 0.0) >= self.terms.min_uptime,
            "breaches": self.day_breaches,
        }
        self.days.append(record)
        if self.sink is not None:
            self.sink("obligation_day", record, ts)
        self.day = day
        self.today = Totals()
        self.day_breaches = 1 if self.breach is not None else 0

    # ---- reading ---------------------------------------------------------------------

    def sample(self, now: int, *, consume: bool = True) -> dict[str, Any]:
        """Current figures and running totals (journaled; also /status). ``consume`` starts a
        new interval for ``interval_met_ratio`` (the journaled samples do; /status does not)."""
        terms, m = self.terms, self.last
        interval = self._interval
        if consume:
            self._interval = Totals()
        out: dict[str, Any] = {
            "instrument": self.instrument,
            "ts": now,
            "met": m is not None and m.met,
            "spread_pct": m.spread_pct() if m is not None else None,
            "spread_met": m is not None and m.spread_met,
            "bid_depth": float(terms.quote(m.bid_depth_tl)) if m is not None else 0.0,
            "ask_depth": float(terms.quote(m.ask_depth_tl)) if m is not None else 0.0,
            "bid_met": m is not None and m.bid_met,
            "ask_met": m is not None and m.ask_met,
            "two_mid": m.two_mid if m is not None else None,
            "best_bid": m.best_bid if m is not None else None,
            "best_ask": m.best_ask if m is not None else None,
            "interval_met_ratio": interval.ratio(),
            "day": day_name(self.day) if self.day is not None else None,
            "day_measured_ns": self.today.measured,
            "day_met_ns": self.today.met,
            "deal_start_ns": self.deal_start,
            "deal_measured_ns": self.deal.measured,
            "deal_met_ns": self.deal.met,
            "breaches": self.breaches,
            "day_breaches": self.day_breaches,
            "breach_since": self.breach.start if self.breach is not None else None,
            "context": self.context[1],
        }
        return out

    def uptime(self) -> dict[str, float | None]:
        return {"day": self.today.ratio(), "deal": self.deal.ratio()}

    def open_breach(self) -> dict[str, Any] | None:
        return self.breach.payload(self.instrument) if self.breach is not None else None
