"""Prices, sizes and money as text a person reads: decimal strings in the instrument's
own precision, never exponent notation (``0E-8``) or float noise (``2681.4700000000003``).

The core counts in integer ticks and lots and sums money in ``Decimal``; these
functions are the one place that turns those numbers into text for ``/status``, run
summaries, ``mmbot ledger show``, ``mmbot regimes show`` and log lines:

- :func:`price_text`: ticks (an int, or a float such as a mid half-way between two
  ticks) -> the price with the tick's decimals (one more for a half tick);
- :func:`size_text`: lots -> base units with the lot's decimals;
- :func:`money_text`: a quote-currency amount rounded to :func:`money_places` (at least
  4 decimals, more if the tick is finer) -- for reading; JSON keeps :func:`exact_text`;
- :func:`exact_text`: any ``Decimal`` exactly, in fixed-point notation, trailing zeros
  dropped;
- :func:`tidy`: floats in a JSON-able structure rounded to 12 significant digits.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any

from bot.core.instrument import InstrumentSpec

MIN_MONEY_PLACES = 4
"""Quote-currency amounts are shown to 1/10,000 of the quote unit at least."""


def places(increment: Decimal) -> int:
    """Decimal places of an increment: 0.01 -> 2, 1E-8 -> 8, 0.5 -> 1, 10 -> 0."""
    exponent = increment.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


def fixed(value: Decimal | int | float | str, decimals: int) -> str:
    """``value`` rounded half-even to ``decimals`` places, fixed-point, never ``-0``."""
    number = (
        value if isinstance(value, Decimal) else Decimal(repr(value) if isinstance(value, float) else value)
    )
    with localcontext() as context:
        context.prec = max(28, len(number.as_tuple().digits) + decimals + 2)
        rounded = number.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_EVEN)
    if rounded == 0:
        rounded = abs(rounded)
    return format(rounded, "f")


def exact_text(value: Decimal | int) -> str:
    """The exact value in fixed-point notation with trailing zeros dropped ("0E-10" -> "0")."""
    number = Decimal(value).normalize()
    if number == 0:
        return "0"
    return format(number, "f")


def price_places(spec: InstrumentSpec) -> int:
    return places(spec.tick_size)


def size_places(spec: InstrumentSpec) -> int:
    return places(spec.lot_size)


def money_places(spec: InstrumentSpec) -> int:
    """Decimals of quote-currency amounts (PnL, fees, equity): max(4, tick decimals)."""
    return max(MIN_MONEY_PLACES, price_places(spec))


def price_text(spec: InstrumentSpec, ticks: int | float) -> str:
    """Ticks -> the price; a non-integer tick count (a mid) gets one more decimal."""
    if isinstance(ticks, int):
        return fixed(spec.tick_size * ticks, price_places(spec))
    value = Decimal(repr(float(ticks))) * spec.tick_size
    text = fixed(value, price_places(spec) + 1)
    return text[:-1].removesuffix(".") if text.endswith("0") else text


def price_value_text(spec: InstrumentSpec, price: Decimal | float) -> str:
    """A price that need not sit on the tick (an average entry, a mark) with two more decimals
    than the tick; trailing zeros beyond the tick's decimals dropped."""
    decimals = price_places(spec)
    text = fixed(price if isinstance(price, Decimal) else Decimal(repr(float(price))), decimals + 2)
    while text.endswith("0") and "." in text and len(text.rpartition(".")[2]) > decimals:
        text = text[:-1]
    return text.removesuffix(".")


def size_text(spec: InstrumentSpec, lots: int) -> str:
    """Lots -> base units with the lot's decimals (0 lots of 1E-8 -> "0.00000000")."""
    return fixed(spec.lot_size * lots, size_places(spec))


def base_text(spec: InstrumentSpec, amount: Decimal | float) -> str:
    """A base-asset amount (a balance, a delta) with the lot's decimals."""
    return fixed(amount if isinstance(amount, Decimal) else Decimal(repr(float(amount))), size_places(spec))


def money_text(spec: InstrumentSpec, amount: Decimal | float | int | str, *, signed: bool = False) -> str:
    """A quote-currency amount rounded to :func:`money_places`; ``signed`` adds "+"."""
    text = fixed(amount if isinstance(amount, Decimal | str) else Decimal(repr(amount)), money_places(spec))
    if signed and not text.startswith("-"):
        text = "+" + text
    return text


def tidy(value: Any, digits: int = 12) -> Any:
    """``value`` with every float rounded to ``digits`` significant digits (no float noise)."""
    if isinstance(value, float):
        if value == 0.0:
            return 0.0  # never "-0.0"
        if not math.isfinite(value):
            return value
        return float(f"{value:.{digits}g}")
    if isinstance(value, dict):
        return {key: tidy(item, digits) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [tidy(item, digits) for item in value]
    if isinstance(value, Decimal):
        return exact_text(value)
    return value
