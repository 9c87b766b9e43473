"""The engine's sync factory for ccxt.pro venues (kept for callers of this module).

The rule itself lives in :mod:`bot.market.sync.image`; :func:`bot.market.sync.make_sync`
selects it for every ``ccxt_*`` venue.
"""

from __future__ import annotations

from bot.market.book import OrderBook
from bot.market.sync import BookSync, make_sync
from bot.market.sync.image import CcxtImageSync

__all__ = ["CcxtImageSync", "make_venue_sync"]


def make_venue_sync(venue: str, book: OrderBook, max_buffer: int = 10_000) -> BookSync:
    """Same as :func:`bot.market.sync.make_sync` (which knows the ccxt image rule)."""
    return make_sync(venue, book, max_buffer)
