"""The in-process emulator behind ``mmbot run --offline``: config in, server + client settings out.

    emulator = offline_emulator(settings.offline)
    async with emulator:
        spot = settings.venues.binance_spot.model_copy(update=emulator.overrides("binance_spot"))
        usdm = settings.venues.binance_usdm.model_copy(update=emulator.overrides("binance_usdm"))
        ...  # BinanceMarketData("binance_spot", spot, specs, sink) etc.

The replay is the configured recordings (``offline.replay``: Binance, Bybit and OKX
recordings, any mix -- see :mod:`bot.emulator.sources`) or, when none are given, the
real Binance recordings bundled in ``bot/emulator/data``; several markets are lined up
in time and clipped to their common window so no venue falls silent while another
still plays. The server serves every venue's protocol on one port: point each venue at
it with ``emulator.overrides(venue)``.
"""

from __future__ import annotations

from bot.emulator.server import EmulatorServer
from bot.emulator.settings import OfflineSettings, bundled_replay_files
from bot.emulator.sources import CombinedSource, load_replay
from bot.errors import InputError


def offline_source(offline: OfflineSettings) -> CombinedSource:
    files = list(offline.replay) or bundled_replay_files()
    if not files:
        raise InputError("offline mode: no replay files configured and no bundled recordings found")
    return load_replay(files).common_window()


def offline_emulator(offline: OfflineSettings) -> EmulatorServer:
    """An unstarted :class:`EmulatorServer` for ``offline`` (``async with`` it, or start())."""
    return EmulatorServer(
        offline_source(offline),
        host=offline.host,
        port=offline.port,
        speed=offline.speed,
        loop=offline.loop,
    )
