"""Building an engine's hedger from the configuration (called by :func:`bot.engine.assemble.build_engine`).

:func:`build_hedger` resolves the engine's ``[hedge]`` settings, checks that the hedge
instrument is a perpetual on the quoted market's base and quote, loads the deal file
(``config/deals/*.toml``) and checks its token, finds hedge orders an earlier run left
open on the restored paper venue (to be cancelled first) and the options' starting
values it journaled, and returns the :class:`~bot.engine.hedging.HedgePipeline`.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from bot.config import ConfigError, EngineSettings, Settings
from bot.core.instrument import InstrumentKind
from bot.engine.hedging import HedgePipeline
from bot.engine.loop import Engine
from bot.hedge.deal import load_deal

if TYPE_CHECKING:
    from bot.engine.trading import RecordSink
    from bot.paper.exchange import PaperExchange
    from bot.store.journal import Journal


def build_hedger(
    name: str,
    engine_settings: EngineSettings,
    settings: Settings,
    engine: Engine,
    exchange: PaperExchange,
    *,
    record: RecordSink | None = None,
    journal: Journal | None = None,
) -> HedgePipeline | None:
    """The hedger of engine ``name``, or ``None`` when the engine has no hedge perpetual.

    With ``[hedge] enabled = false`` the hedger still reports the net delta but never trades.
    ``journal`` (the engine's) gives back the options' and LP's starting values of an
    earlier run, so their value change keeps its origin across restarts.
    Raises :class:`ConfigError` for a hedge instrument that is not a perpetual on the same
    base and quote, and for a deal file that is invalid or on another token.
    """
    ref = engine_settings.hedge
    if ref is None:
        return None
    resolved = settings.hedge.resolve(name)
    spot = engine.instruments[engine_settings.key].spec
    perp = engine.instruments[ref.key].spec
    if perp.kind is not InstrumentKind.PERP:
        raise ConfigError(f"engines.{name}.hedge: {ref.key} is a {perp.kind.value} market, not a perpetual")
    if (perp.base, perp.quote) != (spot.base, spot.quote):
        raise ConfigError(
            f"engines.{name}.hedge: {ref.key} trades {perp.base}/{perp.quote}, the engine quotes "
            f"{spot.base}/{spot.quote}"
        )
    deal = None
    if resolved.deal is not None:
        deal = load_deal(resolved.deal, dt.date.min)  # expiry is checked against event time later
        if deal.token != spot.base or deal.quote != spot.quote:
            raise ConfigError(
                f"hedge.deal: {resolved.deal} is a {deal.token}/{deal.quote} deal, engine {name} "
                f"trades {spot.base}/{spot.quote}"
            )
    prefix = f"{name[:12]}-h"
    orphans = {
        order.client_id: order.side * order.remaining
        for order in exchange.open_orders(ref.key)
        if order.client_id.startswith(prefix + "-")
    }
    for client_id, command in exchange.inflight.items():
        if command.instrument == ref.key and client_id.startswith(prefix + "-"):
            orphans[client_id] = int(command.side) * command.size
    start = None
    if journal is not None:
        for _id, _ts, _type, _source, payload in journal.events("hedge_start"):
            start = payload
    return HedgePipeline(
        engine,
        underlying=spot.key,
        hedge=ref.key,
        venue=exchange,
        ledger=exchange.ledger,
        settings=resolved,
        deal=deal,
        record=record,
        id_prefix=prefix,
        first_seq=exchange.commands + 1,
        orphans=orphans,
        start=start,
        persistence=journal,
    )
