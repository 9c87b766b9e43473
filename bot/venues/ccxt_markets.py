"""Loading one venue's instrument list through ccxt and turning it into exact specs.

The venue-neutral half of the metadata fetch (:mod:`bot.venues.metadata` calls it):
:func:`fetch_markets` runs ``exchange.load_markets()`` with a timeout, reports network
trouble in :attr:`VenueFetch.error` instead of raising, looks each wanted symbol up
by the venue's own id, asks the venue's rule whether the instrument is acceptable
(``refuse``) and builds the spec with the venue's builder (``build``), which reads the
exchange's *raw* instrument fields as exact decimal strings. Each venue's
``rest.py`` supplies the exchange object, the builder and the rule (Bybit:
:mod:`bot.venues.bybit.rest`, OKX: :mod:`bot.venues.okx.rest`, Binance: :mod:`bot.venues.binance_markets`). The types and
helpers every venue's metadata code shares live here too: :class:`VenueFetch`,
:class:`MarketDataError`, :func:`exact_decimal`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import structlog

from bot.core.instrument import InstrumentSpec

log = structlog.get_logger("bot.venues.metadata")


class MarketDataError(ValueError):
    """The exchange's market description lacks something a spec needs (schema change?)."""


@dataclass(slots=True)
class VenueFetch:
    """What one venue's ``exchangeInfo`` fetch produced (specs, or why not)."""

    venue: str
    url: str
    specs: dict[str, InstrumentSpec] = field(default_factory=dict)
    error: str | None = None  # whole-venue failure (network, timeout, HTTP error)
    bad: dict[str, str] = field(default_factory=dict)  # symbol -> why no spec was built
    unlisted: list[str] = field(default_factory=list)  # the venue does not list the symbol
    refused: dict[str, str] = field(default_factory=dict)  # symbol -> why mmbot cannot use it
    listed_count: int = 0


def exact_decimal(value: Any, what: str) -> Decimal:
    """An exact ``Decimal`` from an exchange string, or from a ccxt float via its shortest repr."""
    if isinstance(value, bool) or value is None:
        raise MarketDataError(f"{what} is missing")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise MarketDataError(f"{what} = {value!r} is not a decimal number") from None
    else:
        raise MarketDataError(f"{what} = {value!r} is not a number")
    if not number.is_finite():
        raise MarketDataError(f"{what} = {value!r} is not finite")
    return _tidy(number)


def _tidy(number: Decimal) -> Decimal:
    """Drop trailing zeros without switching to exponent form: "0.01000000" -> 0.01, "100" -> 100."""
    normal = number.normalize()
    exponent = normal.as_tuple().exponent
    if isinstance(exponent, int) and exponent > 0:
        return normal.quantize(Decimal(1))
    return normal


def _short(exc: BaseException, limit: int = 300) -> str:
    """One line: the error plus its cause (ccxt wraps e.g. DNS or connection errors)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    cause = exc.__cause__ or exc.__context__
    if cause is not None and str(cause) and str(cause) not in text:
        text += f" ({type(cause).__name__}: {' '.join(str(cause).split())})"
    return text if len(text) <= limit else text[: limit - 3] + "..."


SpecBuilder = Callable[[str, Mapping[str, Any]], InstrumentSpec]
Refusal = Callable[[str, Mapping[str, Any]], str | None]


async def fetch_markets(
    venue: str,
    symbols: Sequence[str],
    timeout_s: float,
    exchange: Any,
    url: str,
    build: SpecBuilder,
    refuse: Refusal,
) -> VenueFetch:
    """Load ``venue``'s markets with ``exchange`` (a ccxt async exchange, closed here)
    and build specs for ``symbols``; never raises for network trouble."""
    result = VenueFetch(venue=venue, url=url)
    try:
        await asyncio.wait_for(exchange.load_markets(), timeout=timeout_s)
    except TimeoutError:
        result.error = f"no answer within {timeout_s:g} s"
        return result
    except Exception as exc:  # network edge: any failure means "use the cache"
        result.error = f"{type(exc).__name__}: {_short(exc)}"
        return result
    finally:
        try:
            await exchange.close()
        except Exception as exc:  # closing must never mask the result
            log.debug("ccxt_close_failed", venue=venue, error=repr(exc))
    markets_by_id = exchange.markets_by_id or {}
    result.listed_count = len(markets_by_id)
    if not markets_by_id:
        result.error = "the exchange answered with no markets"
        return result
    for symbol in symbols:
        candidates = markets_by_id.get(symbol) or []
        if not candidates:
            result.unlisted.append(symbol)
            continue
        market = candidates[0]
        reason = refuse(venue, market)
        if reason is not None:
            result.refused[symbol] = reason
            continue
        try:
            spec = build(venue, market)
        except (MarketDataError, ValueError) as exc:
            result.bad[symbol] = str(exc)
            continue
        result.specs[symbol] = spec
    return result


def raw(info: Mapping[str, Any], *path: str) -> Any:
    """``info["a"]["b"]`` or None."""
    value: Any = info
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value
