"""Venue book-sync rules, looked up by venue name.

Binance (REST snapshot spliced onto a buffered diff stream) in :mod:`.binance`;
venues that send their snapshot in the stream (Bybit v5, OKX, Bitget) build on
:mod:`.stream` with their chain rules in :mod:`.bybit`, :mod:`.okx` and :mod:`.bitget`.
"""

from __future__ import annotations

from bot.market.book import OrderBook
from bot.market.sync.base import BookSync, SyncCounters, SyncState
from bot.market.sync.binance import BinanceSpotSync, BinanceUsdmSync
from bot.market.sync.bitget import BitgetSync
from bot.market.sync.bybit import BybitSync
from bot.market.sync.image import CcxtImageSync
from bot.market.sync.okx import OkxSync

SYNC_RULES: dict[str, type[BookSync]] = {
    "binance_spot": BinanceSpotSync,
    "binance_usdm": BinanceUsdmSync,
    "bybit_spot": BybitSync,
    "bybit_linear": BybitSync,
    "okx_spot": OkxSync,
    "okx_swap": OkxSync,
    "okx_futures": OkxSync,
    "bitget_spot": BitgetSync,
    "bitget_usdtm": BitgetSync,
    # the reference benchmark stream (gen_l2.py NPZ) and explicit-spec Tardis replays carry
    # synthetic contiguous ids that satisfy the Binance spot rule
    "bench": BinanceSpotSync,
}


IMAGE_VENUE_PREFIX = "ccxt_"
"""Venues fed by book images (ccxt.pro) use :class:`CcxtImageSync`."""


def make_sync(venue: str, book: OrderBook, max_buffer: int = 10_000) -> BookSync:
    """The sync state machine for ``venue``'s diff protocol."""
    if venue.startswith(IMAGE_VENUE_PREFIX):
        return CcxtImageSync(book, max_buffer)
    try:
        rule = SYNC_RULES[venue]
    except KeyError:
        raise ValueError(f"no book-sync rule for venue {venue!r}; known: {sorted(SYNC_RULES)}") from None
    return rule(book, max_buffer)


__all__ = ["SYNC_RULES", "BookSync", "SyncCounters", "SyncState", "make_sync"]
