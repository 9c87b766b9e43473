"""What ``mmbot run`` needs to serve ``ccxt_*`` venues: specs, adapters, offline redirect.

Meant to be called from ``bot/commands/run.py`` next to the native Binance wiring::

    if offline:
        settings = offline_settings(settings, emulator.url)       # inside _offline_emulator
    native = [k for k in keys if not is_ccxt_key(k)]
    specs = await load_specs(settings, native, offline=offline) if native else {}
    specs.update(await ccxt_specs(settings, keys, offline=offline))
    engines = [Engine(...) ...]  # make_sync picks the image rule for ccxt_* venues
    for adapter, venue_keys in ccxt_adapters(settings, specs, keys, runner.sink):
        runner.add_adapter(adapter, venue_keys)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from bot.config import Settings
from bot.core.events import MarketEvent
from bot.core.instrument import InstrumentSpec
from bot.venues.ccxtpro.adapter import CcxtProMarketData
from bot.venues.ccxtpro.loopback import offline_venue_settings
from bot.venues.ccxtpro.markets import resolve_ccxt_instruments
from bot.venues.metadata import cache_dir_for
from bot.venues.settings import is_ccxt_venue


def is_ccxt_key(key: str) -> bool:
    return is_ccxt_venue(key.partition(":")[0])


def ccxt_venues(keys: Iterable[str]) -> dict[str, list[str]]:
    """``{venue: [SYMBOL, ...]}`` of the ccxt instrument keys, in first-seen order."""
    venues: dict[str, list[str]] = {}
    for key in keys:
        if is_ccxt_key(key):
            venue, _, symbol = key.partition(":")
            symbols = venues.setdefault(venue, [])
            if symbol not in symbols:
                symbols.append(symbol)
    return venues


async def ccxt_specs(settings: Settings, keys: Iterable[str], *, offline: bool) -> dict[str, InstrumentSpec]:
    """Specs of the ccxt instruments among ``keys`` per ``[metadata]``.

    Offline runs have been redirected to the emulator (:func:`offline_settings`), which
    answers ``load_markets`` itself: they ask it and leave the user cache alone.
    """
    specs: dict[str, InstrumentSpec] = {}
    source = settings.metadata.source
    for venue, symbols in ccxt_venues(keys).items():
        specs.update(
            await resolve_ccxt_instruments(
                venue,
                settings.venues.ccxt_venue(venue),
                symbols,
                cache_dir=None if offline else cache_dir_for(settings.data_dir),
                offline=source == "cache" and not offline,
                fallback=source != "exchange",
            )
        )
    return specs


def offline_settings(settings: Settings, http_base: str) -> Settings:
    """Point every ccxt venue an engine uses at the emulator (InputError if it cannot be)."""
    used = ccxt_venues(settings.instruments())
    ccxt = dict(settings.venues.ccxt)
    for venue in used:
        name = venue.removeprefix("ccxt_")
        ccxt[name] = offline_venue_settings(ccxt[name], http_base)
    venues = settings.venues.model_copy(update={"ccxt": ccxt})
    return settings.model_copy(update={"venues": venues})


def ccxt_adapters(
    settings: Settings,
    specs: Mapping[str, InstrumentSpec],
    keys: Iterable[str],
    sink: Callable[[MarketEvent], None],
) -> list[tuple[CcxtProMarketData, list[str]]]:
    """One adapter per ccxt venue with the keys it serves (for ``runner.add_adapter``)."""
    result = []
    for venue, symbols in ccxt_venues(keys).items():
        venue_keys = [f"{venue}:{symbol}" for symbol in symbols]
        adapter = CcxtProMarketData(
            venue, settings.venues.ccxt_venue(venue), [specs[key] for key in venue_keys], sink
        )
        result.append((adapter, venue_keys))
    return result
