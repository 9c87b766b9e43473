"""ccxt numbers -> exact integer ticks and lots; ccxt book images -> level changes.

ccxt.pro keeps books, trades and tickers as Python floats parsed from the exchange's
decimal strings. A decimal with at most 15 significant digits survives the trip
through an IEEE double and back through Python's shortest ``repr`` unchanged
(``repr(float("61737.63")) == "61737.63"``), so :func:`decimal_text` recovers the
exchange's own number exactly; :class:`Converter` then refuses anything that is not
an exact multiple of the tick or lot (:class:`BadValue` ``off_tick``): a mis-ticked
value is reported, never rounded onto the grid. Only mark and index prices, which the
exchange computes rather than quotes, are rounded (half-even) to the tick, as the
Binance decoder does.

Book images: ccxt gives the whole book after every update (it does the venue's sync
itself and does not expose the raw diffs), so the adapter turns consecutive images
into diffs (:func:`side_image`, :func:`side_changes`) in the float domain, where two
images of one ccxt book compare exactly, and converts only the changed levels.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any, Literal

from bot.core.instrument import ConversionError, InstrumentSpec

Raw = Any
"""A number as ccxt hands it over: float mostly, sometimes str, int or None."""

_PRICE_CACHE_MAX = 200_000


class BadValue(ValueError):
    """A ccxt value that cannot become ticks/lots: ``off_tick`` or ``invalid``."""

    def __init__(self, kind: Literal["off_tick", "invalid"], message: str) -> None:
        super().__init__(message)
        self.kind = kind


def decimal_text(value: Raw, what: str) -> str:
    """The plain decimal string of a ccxt number (shortest float repr, no exponent)."""
    if isinstance(value, bool) or value is None:
        raise BadValue("invalid", f"{what} is missing ({value!r})")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise BadValue("invalid", f"{what} is not finite ({value!r})")
        text = repr(value)
    elif isinstance(value, int):
        return str(value)
    elif isinstance(value, str):
        text = value.strip()
    elif isinstance(value, Decimal):
        text = str(value)
    else:
        raise BadValue("invalid", f"{what} = {value!r} is not a number")
    if "e" in text or "E" in text:
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise BadValue("invalid", f"{what} = {value!r} is not a number") from None
        if not number.is_finite():
            raise BadValue("invalid", f"{what} is not finite ({value!r})")
        text = format(number, "f")
    return text


class Converter:
    """Exact conversions for one instrument (prices cached: they repeat across images)."""

    __slots__ = ("_price_cache", "prices", "sizes", "spec")

    def __init__(self, spec: InstrumentSpec) -> None:
        self.spec = spec
        self.prices = spec.prices
        self.sizes = spec.sizes
        self._price_cache: dict[Raw, int] = {}

    def price(self, value: Raw) -> int:
        """Ticks of a quoted price; must be positive and on tick."""
        cache = self._price_cache
        try:
            return cache[value]
        except (KeyError, TypeError):
            pass
        ticks = self._exact(self.prices, value, "price")
        if ticks <= 0:
            raise BadValue("invalid", f"price {value!r} is not positive")
        if len(cache) >= _PRICE_CACHE_MAX:
            cache.clear()
        with contextlib.suppress(TypeError):  # unhashable raw values are just not cached
            cache[value] = ticks
        return ticks

    def size(self, value: Raw) -> int:
        """Lots of a size; must be >= 0 and on lot."""
        lots = self._exact(self.sizes, value, "size")
        if lots < 0:
            raise BadValue("invalid", f"size {value!r} is negative")
        return lots

    def rounded_price(self, value: Raw, what: str = "mark price") -> int:
        """Ticks of a computed price (mark/index), rounded half-even to the tick."""
        text = decimal_text(value, what)
        try:
            ticks = (Decimal(text) / self.spec.tick_size).to_integral_value(ROUND_HALF_EVEN)
        except InvalidOperation:
            raise BadValue("invalid", f"{what} = {value!r} is not a number") from None
        if ticks <= 0:
            raise BadValue("invalid", f"{what} {value!r} is not positive")
        return int(ticks)

    def levels(self, changes: Iterable[tuple[Raw, Raw]]) -> list[tuple[int, int]]:
        price, size = self.price, self.size
        return [(price(p), size(s)) for p, s in changes]

    def _exact(self, scaler: Any, value: Raw, what: str) -> int:
        text = decimal_text(value, what)
        try:
            count: int = scaler.to_int(text)
        except ConversionError as exc:
            raise BadValue("off_tick", f"{self.spec.key}: {what} {exc}") from None
        except ValueError:
            raise BadValue("invalid", f"{self.spec.key}: {what} {value!r} is not a number") from None
        return count


def side_image(levels: Sequence[Sequence[Raw]]) -> dict[Raw, Raw]:
    """``{price: size}`` of one ccxt book side, best first (extra fields such as counts ignored)."""
    return {level[0]: level[1] for level in levels}


def side_changes(old: Mapping[Raw, Raw], new: Mapping[Raw, Raw]) -> list[tuple[Raw, Raw]]:
    """Levels whose size differs between two images; removed levels get size 0."""
    changes = [(price, size) for price, size in new.items() if old.get(price) != size]
    changes.extend((price, 0) for price in old if price not in new)
    return changes
