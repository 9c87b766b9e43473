"""The in-process emulator behind ``mmbot run --offline``: config in, server + client settings out.

    emulator = offline_emulator(settings.offline)
    async with emulator:
        spot = settings.venues.binance_spot.model_copy(update=emulator.overrides("binance_spot"))
        usdm = settings.venues.binance_usdm.model_copy(update=emulator.overrides("binance_usdm"))
        ...  # BinanceMarketData("binance_spot", spot, specs, sink) etc.

With ``offline.scenario`` the emulator serves a synthetic market of that scenario for
every configured instrument instead (a token's markets on several venues share one
price path, :mod:`bot.emulator.token_markets`). Otherwise the replay is the configured
recordings (``offline.replay``: Binance, Bybit and OKX
recordings, any mix -- see :mod:`bot.emulator.sources`) or, when none are given, the
real Binance recordings bundled in ``bot/emulator/data``; several markets are lined up
in time and clipped to their common window so no venue falls silent while another
still plays. The server serves every venue's protocol on one port: point each venue at
it with ``emulator.overrides(venue)``.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.core.instrument import InstrumentSpec
from bot.emulator.server import EmulatorServer
from bot.emulator.settings import OfflineSettings, bundled_replay_files
from bot.emulator.source import MarketSource
from bot.emulator.sources import load_replay
from bot.emulator.synthetic_source import SyntheticSource
from bot.errors import InputError


def shipped_spec(key: str) -> InstrumentSpec:
    """``key``'s spec from the market cache shipped with mmbot (synthetic markets use it)."""
    from bot.venues.metadata_cache import SHIPPED_CACHE, CacheFile

    cache = CacheFile.read(SHIPPED_CACHE)
    entry = cache.get(key) if cache is not None else None
    if entry is None:
        raise InputError(
            f"offline.scenario: no instrument spec for {key} in the market cache shipped with mmbot "
            f"({SHIPPED_CACHE}): a synthetic market cannot be rendered for it"
        )
    return entry.spec


def offline_source(offline: OfflineSettings, instruments: Sequence[str] = ()) -> MarketSource:
    """The configured recordings, or with ``offline.scenario`` a synthetic market rendering
    that scenario for ``instruments`` (``venue:SYMBOL`` keys)."""
    if offline.scenario is not None:
        if not instruments:
            raise InputError("offline.scenario: no instruments configured to render")
        specs = [shipped_spec(key) for key in instruments]
        return SyntheticSource(offline.scenario, seed=offline.seed, specs=specs)
    files = list(offline.replay) or bundled_replay_files()
    if not files:
        raise InputError("offline mode: no replay files configured and no bundled recordings found")
    return load_replay(files).common_window()


def offline_emulator(offline: OfflineSettings, instruments: Sequence[str] = ()) -> EmulatorServer:
    """An unstarted :class:`EmulatorServer` for ``offline`` (``async with`` it, or start())."""
    return EmulatorServer(
        offline_source(offline, instruments),
        host=offline.host,
        port=offline.port,
        speed=offline.speed,
        loop=offline.loop,
    )
