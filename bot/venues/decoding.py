"""What every venue decoder shares: the typed :class:`DecodeError` and exact scalers.

A venue's ``messages.py`` turns raw frames into core events with a pure decoder
(no sockets, no clock). Whatever cannot become an event raises :class:`DecodeError`
whose ``kind`` tells the adapter which counter to bump; the adapter skips the frame
and keeps running. :class:`Scalers` converts a venue's decimal strings into the
instrument's integer ticks and lots, exactly (never rounding), with memo tables:
book prices and sizes repeat constantly and a dict lookup is several times cheaper
than parsing.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Literal

from bot.core.events import Level
from bot.core.instrument import DecimalScaler, InstrumentSpec

DecodeErrorKind = Literal["malformed", "unknown_stream", "unknown_symbol", "off_tick", "invalid"]


class DecodeError(ValueError):
    """A message that cannot become an event. ``kind`` says which class of problem:

    ``malformed`` (not JSON / wrong shape), ``unknown_stream`` (a topic or channel we
    do not decode), ``unknown_symbol`` (an instrument we did not subscribe to),
    ``off_tick`` (a price or size that is not a multiple of tick / lot), ``invalid``
    (well-formed but wrong content, e.g. an error answer from the venue).
    """

    def __init__(self, kind: DecodeErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind


CACHE_LIMIT = 100_000


class Scalers:
    """Exact converters of one instrument, memoised per decimal string."""

    __slots__ = ("key", "price_cache", "prices", "size_cache", "sizes", "spec", "tick")

    def __init__(self, spec: InstrumentSpec) -> None:
        self.spec = spec
        self.key = spec.key
        self.prices: DecimalScaler = spec.prices
        self.sizes: DecimalScaler = spec.sizes
        self.tick = spec.tick_size
        self.price_cache: dict[str, int] = {}
        self.size_cache: dict[str, int] = {}

    def price(self, text: str) -> int:
        value = self.price_cache.get(text)
        if value is None:
            value = self.prices.to_int(text)
            if len(self.price_cache) >= CACHE_LIMIT:
                self.price_cache.clear()
            self.price_cache[text] = value
        return value

    def size(self, text: str) -> int:
        value = self.size_cache.get(text)
        if value is None:
            value = self.sizes.to_int(text)
            if len(self.size_cache) >= CACHE_LIMIT:
                self.size_cache.clear()
            self.size_cache[text] = value
        return value

    def levels(self, raw: Iterable[tuple[str, str]] | Iterable[list[str]]) -> list[Level]:
        """``[[price, size, ...], ...]`` -> ``[(ticks, lots), ...]`` (extra fields ignored)."""
        prices, sizes = self.price_cache, self.size_cache
        out: list[Level] = []
        append = out.append
        for entry in raw:
            price_text = entry[0]
            size_text = entry[1]
            price = prices.get(price_text)
            if price is None:
                price = self.prices.to_int(price_text)
                if len(prices) >= CACHE_LIMIT:
                    prices.clear()
                prices[price_text] = price
            size = sizes.get(size_text)
            if size is None:
                size = self.sizes.to_int(size_text)
                if len(sizes) >= CACHE_LIMIT:
                    sizes.clear()
                sizes[size_text] = size
            append((price, size))
        return out


def round_ticks(text: str, tick: Decimal) -> int:
    """Nearest whole number of ticks (half-even) for computed prices (mark/index)."""
    return int((Decimal(text) / tick).to_integral_value(rounding=ROUND_HALF_EVEN))
