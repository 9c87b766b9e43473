"""Loading one venue's instrument list through ccxt and turning it into exact specs.

The venue-neutral half of the metadata fetch (:mod:`bot.venues.metadata` calls it):
:func:`fetch_markets` runs ``exchange.load_markets()`` with a timeout, reports network
trouble in :attr:`VenueFetch.error` instead of raising, looks each wanted symbol up
by the venue's own id, asks the venue's rule whether the instrument is acceptable
(``refuse``) and builds the spec with the venue's builder (``build``), which reads the
exchange's *raw* instrument fields as exact decimal strings. Each venue's
``rest.py`` supplies the exchange object, the builder and the rule (Bybit:
:mod:`bot.venues.bybit.rest`, OKX: :mod:`bot.venues.okx.rest`; Binance keeps its own
:mod:`bot.venues.binance_markets`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import structlog

from bot.core.instrument import InstrumentSpec
from bot.venues.binance_markets import MarketDataError, VenueFetch, _short

log = structlog.get_logger("bot.venues.metadata")

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
