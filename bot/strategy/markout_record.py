"""One completed markout of our fills (:class:`Markout`), the frozen msgspec struct the engine
journals.

Kept apart from :mod:`bot.strategy.markouts` so that module (the tracker, run on every event)
can be compiled with mypyc, which would drop the struct's class keywords. Re-exported by
:mod:`bot.strategy.markouts`.
"""

from __future__ import annotations

from typing import Any

import msgspec


class Markout(msgspec.Struct, frozen=True, kw_only=True):
    """One completed markout (prices in ticks, size in lots)."""

    fill_id: int
    side: int
    price: int
    size: int
    fill_ts: int
    horizon_s: int
    mid: float
    bps: float

    def payload(self, instrument: str) -> dict[str, Any]:
        return {"instrument": instrument, **msgspec.structs.asdict(self)}
