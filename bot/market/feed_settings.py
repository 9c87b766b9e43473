"""Settings of the market-data cross-checks (:mod:`bot.market.feedhealth`).

Mounted flat in the ``[market]`` table of the configuration (``bot.config.MarketSettings``
extends :class:`FeedCheckSettings`). Times are seconds; 0 turns a check off.
"""

from __future__ import annotations

from pydantic import Field

from bot.inputmodel import InputModel


class FeedCheckSettings(InputModel):
    """Strict like every settings model (:class:`~bot.inputmodel.InputModel`): no unknown
    keys, no NaN/inf."""

    top_mismatch_s: float = Field(
        1.0,
        ge=0,
        le=60,
        description="A top-of-book message (Binance bookTicker) ahead of the book whose prices contradict "
        "the book's top, with the book not catching up to its update id within this long: the book is "
        "invalid and resynced. 0 = off.",
    )
    trade_mismatch_s: float = Field(
        1.0,
        ge=0,
        le=60,
        description="A trade impossible on the book (a buy at or below the best bid, a sell at or above "
        "the best ask) with no depth update past its exchange time within this long: the book is "
        "invalid and resynced. 0 = off.",
    )
    depth_silence_s: float = Field(
        2.0,
        ge=0,
        le=600,
        description="The depth stream silent this long while the trade or top-of-book stream of the same "
        "instrument keeps delivering (every trade and top change moves the book): the book is invalid "
        "and resynced. 0 = off.",
    )
    max_lag_s: float = Field(
        1.0,
        ge=0,
        le=600,
        description="Falling behind: a depth update later than this (by exchange time, against the learned "
        "clock offset) or an event queued this long after socket receipt makes the book untradeable "
        "(quotes pulled, no resync) until it catches up. 0 = off.",
    )
    lag_recovery_s: float = Field(
        1.0,
        ge=0,
        le=600,
        description="After falling behind, the lag must stay below half of max_lag_s this long before "
        "the book is tradeable again.",
    )
    exchange_clock_drift: float = Field(
        0.01,
        ge=0,
        le=1,
        description="How fast (seconds per second) the learned offset between the exchange's clock and "
        "ours may rise; a lag that builds up slower than this is absorbed as clock drift. Raise it "
        "only against an emulator replaying slower than real time (1 - speed).",
    )
