"""Replay input readers: recorded market data (raw Binance, Tardis CSV, reference NPZ)
or a synthetic scenario as a deterministic stream of core events. Entry point:
:func:`bot.replay.readers.open_replay`."""

from bot.replay.readers import FORMATS, ReplayInput, open_replay

__all__ = ["FORMATS", "ReplayInput", "open_replay"]
