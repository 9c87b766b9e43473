"""Counters of the Binance adapter: the venue-neutral :class:`bot.venues.stats.AdapterStats`."""

from __future__ import annotations

from bot.venues.stats import AdapterStats

__all__ = ["AdapterStats"]
