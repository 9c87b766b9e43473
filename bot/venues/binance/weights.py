"""Binance REST request weights and documented limits (LIBRARY_NOTES "Binance REST weights").

Kept free of other imports so the settings can validate a budget against them.
"""

from __future__ import annotations

DOCUMENTED_WEIGHT_LIMIT = {"binance_spot": 6000, "binance_usdm": 2400}
"""``REQUEST_WEIGHT`` per minute when ``exchangeInfo`` cannot be read (Binance's docs)."""

EXCHANGE_INFO_WEIGHT = {"binance_spot": 20, "binance_usdm": 1}


def depth_weight(venue: str, limit: int) -> int:
    """REST request weight of a depth snapshot with ``limit`` levels."""
    if venue == "binance_spot":
        if limit <= 100:
            return 5
        if limit <= 500:
            return 25
        if limit <= 1000:
            return 50
        return 250
    if limit <= 50:
        return 2
    if limit <= 100:
        return 5
    if limit <= 500:
        return 10
    return 20
