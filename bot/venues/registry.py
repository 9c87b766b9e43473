"""Which adapter class serves which venue: ``mmbot run`` creates adapters from here.

Every entry takes ``(venue, settings, specs, sink)`` -- the venue's config section
(``settings.venues.for_venue(venue)``), the instrument specs it streams and the
runner's sink -- and returns an object with the
:class:`~bot.ops.live.MarketDataAdapter` interface (``venue``, ``run()``,
``request_snapshot()``, ``close()``, ``stats``). A new venue adds one line here (see
the template in :mod:`bot.venues`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from bot.core.events import MarketEvent
from bot.core.instrument import InstrumentSpec

AdapterFactory = Callable[[str, Any, Sequence[InstrumentSpec], Callable[[MarketEvent], None]], Any]


def _binance(venue: str, settings: Any, specs: Sequence[InstrumentSpec], sink: Any) -> Any:
    from bot.venues.binance.adapter import BinanceMarketData

    return BinanceMarketData(venue, settings, specs, sink)


def _bybit(venue: str, settings: Any, specs: Sequence[InstrumentSpec], sink: Any) -> Any:
    from bot.venues.bybit.adapter import BybitMarketData

    return BybitMarketData(venue, settings, specs, sink)


def _okx(venue: str, settings: Any, specs: Sequence[InstrumentSpec], sink: Any) -> Any:
    from bot.venues.okx.adapter import OkxMarketData

    return OkxMarketData(venue, settings, specs, sink)


def _bitget(venue: str, settings: Any, specs: Sequence[InstrumentSpec], sink: Any) -> Any:
    from bot.venues.bitget.adapter import BitgetMarketData

    return BitgetMarketData(venue, settings, specs, sink)


ADAPTERS: dict[str, AdapterFactory] = {
    "binance_spot": _binance,
    "binance_usdm": _binance,
    "bybit_spot": _bybit,
    "bybit_linear": _bybit,
    "okx_spot": _okx,
    "okx_swap": _okx,
    "okx_futures": _okx,
    "bitget_spot": _bitget,
    "bitget_usdtm": _bitget,
}


def create_adapter(
    venue: str, settings: Any, specs: Sequence[InstrumentSpec], sink: Callable[[MarketEvent], None]
) -> Any:
    """The market-data adapter of ``venue`` for ``specs``; ValueError for an unknown venue."""
    try:
        factory = ADAPTERS[venue]
    except KeyError:
        raise ValueError(f"no market-data adapter for venue {venue!r}; known: {sorted(ADAPTERS)}") from None
    return factory(venue, settings, specs, sink)
