"""The deal's calendar: when it starts and expires in market time, and its own clock.

Owns the one mapping between market (event) time and the deal's calendar, on which the
calls are valued (time to expiry) and expiry falls:

- **real dates** (``term_s`` unset): the deal starts at midnight UTC of ``loan.start`` and
  expires at midnight UTC of ``loan.expiry``; deal time is market time;
- **compressed** (``term_s`` set): a simulation cannot replay a one-year deal in real time,
  so the deal's term -- ``loan.start`` to ``loan.expiry`` -- is mapped linearly onto
  ``term_s`` seconds of market time from ``start_ns`` (the first event the deal desk sees).
  Deal time runs ``scale = term / term_s`` times faster than market time: the calls' time
  value decays on the deal's calendar while the market moves at its own speed. Funding,
  the sale and the closing windows stay in market time.

Pure: every time is an argument.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.events import NS_PER_S
from bot.hedge.deal import Deal
from bot.hedge.dealbook import date_ns


@dataclass(frozen=True, slots=True)
class DealCalendar:
    start_ns: int
    """Market time the deal starts."""
    expiry_ns: int
    """Market time the deal expires (exercise, then the loan's return)."""
    deal_start_ns: int
    """The deal's own start (midnight UTC of loan.start)."""
    deal_expiry_ns: int

    @classmethod
    def real(cls, deal: Deal) -> DealCalendar:
        start, expiry = date_ns(deal.loan.start), date_ns(deal.loan.expiry)
        return cls(start, expiry, start, expiry)

    @classmethod
    def compressed(cls, deal: Deal, start_ns: int, term_s: float) -> DealCalendar:
        if not term_s > 0:
            raise ValueError(f"term_s must be positive, got {term_s}")
        return cls(
            start_ns,
            start_ns + round(term_s * NS_PER_S),
            date_ns(deal.loan.start),
            date_ns(deal.loan.expiry),
        )

    @property
    def scale(self) -> float:
        """Deal seconds per market second (1 on real dates)."""
        return (self.deal_expiry_ns - self.deal_start_ns) / (self.expiry_ns - self.start_ns)

    def started(self, now: int) -> bool:
        return now >= self.start_ns

    def expired(self, now: int) -> bool:
        return now >= self.expiry_ns

    def deal_time(self, now: int) -> int:
        """The deal's clock at market time ``now`` (the options' valuation time), clamped to the term."""
        if now <= self.start_ns:
            return self.deal_start_ns
        if now >= self.expiry_ns:
            return self.deal_expiry_ns
        span = self.deal_expiry_ns - self.deal_start_ns
        return self.deal_start_ns + (now - self.start_ns) * span // (self.expiry_ns - self.start_ns)

    def as_dict(self) -> dict[str, int | float]:
        return {
            "start_ns": self.start_ns,
            "expiry_ns": self.expiry_ns,
            "deal_start_ns": self.deal_start_ns,
            "deal_expiry_ns": self.deal_expiry_ns,
            "scale": self.scale,
        }
