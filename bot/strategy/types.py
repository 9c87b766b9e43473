"""Value types shared by quoters, the ladder and (later) the order manager.

:class:`Quote` and :class:`DesiredQuotes` are what a quoter hands on; the order
manager diffs ``DesiredQuotes`` against live orders. :class:`Theo` is a model's
unrounded answer (float ticks) before the ladder turns it into integer quotes, and
:class:`QuoteAdjustments` is how the risk manager scales a quoter without knowing
which model runs. All frozen.
"""

from __future__ import annotations

import math

import msgspec

from bot.core.events import Side


class Quote(msgspec.Struct, frozen=True, gc=False):
    """One desired resting order: ``side`` (BUY = bid), ``price`` in ticks, ``size`` in lots."""

    side: Side
    price: int
    size: int


class DesiredQuotes(msgspec.Struct, frozen=True, kw_only=True):
    """The full set of quotes a quoter wants resting now.

    ``bids`` and ``asks`` are best-first (bids descending, asks ascending); every bid
    is strictly below every ask. The remaining fields explain how they were made
    (float ticks, ``q`` in quote units, see :mod:`bot.strategy`).
    """

    bids: tuple[Quote, ...] = ()
    asks: tuple[Quote, ...] = ()
    fair: float = math.nan
    """Fair value s the model started from (mid or micro-price), ticks."""
    reservation: float = math.nan
    """Price the quotes are centred on, ticks."""
    half_spread: float = math.nan
    """Model half spread around the reservation price (after adjustments), ticks."""
    q: float = math.nan
    """Inventory in quote units, measured from the target."""
    note: str = ""
    """Why a side (or everything) is missing, empty when quoting normally."""

    @property
    def empty(self) -> bool:
        return not self.bids and not self.asks


class Theo(msgspec.Struct, frozen=True, kw_only=True):
    """A model's unrounded quotes in float ticks, before the ladder."""

    fair: float
    reservation: float
    half_spread: float
    bid: float
    ask: float
    allow_bid: bool = True
    allow_ask: bool = True
    note: str = ""


class QuoteAdjustments(msgspec.Struct, frozen=True, kw_only=True):
    """Scaling applied on top of a profile (the risk manager's per-regime knobs)."""

    spread_mult: float = 1.0
    """Multiplies the model half spread."""
    size_mult: float = 1.0
    """Multiplies every level's size (before lot rounding)."""
    gamma_mult: float = 1.0
    """Multiplies risk aversion (AS gamma, GLFT gamma and xi)."""
    levels: int | None = None
    """Overrides the number of ladder levels per side."""
    reduce_only: bool = False
    """Quote only the side that reduces |position|, never past flat."""
    allow_bid: bool = True
    allow_ask: bool = True


NO_ADJUSTMENT = QuoteAdjustments()
