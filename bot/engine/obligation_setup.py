"""Building an engine's obligation desk from the configuration (called by
:func:`bot.engine.assemble.build_engine`).

:func:`build_obligation` binds ``[obligations.engines.NAME]`` to the quoted instrument,
builds the layer, the lane's order manager and the compliance meter, and resumes the
meter from the engine's journal: the last ``obligation_sample`` (uptime totals), the
breach still open then, closed days and recent breaches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.config import Settings
from bot.core.instrument import InstrumentSpec
from bot.engine.loop import Engine
from bot.engine.obligations import ObligationDesk
from bot.risk.compliance import ComplianceMeter
from bot.risk.manager import RiskManager
from bot.strategy.ladder import QuoteRules
from bot.strategy.obligation_terms import bind_terms
from bot.strategy.obligations import ObligationLayer
from bot.strategy.order_manager import OrderManager

if TYPE_CHECKING:
    from bot.engine.trading import RecordSink
    from bot.paper.exchange import PaperExchange
    from bot.store.journal import Journal

RECENT_BREACHES = 200


def build_obligation(
    name: str,
    settings: Settings,
    engine: Engine,
    spec: InstrumentSpec,
    exchange: PaperExchange,
    risk: RiskManager,
    rules: QuoteRules,
    *,
    record: RecordSink | None = None,
    journal: Journal | None = None,
) -> ObligationDesk | None:
    """The obligation desk of engine ``name``, or ``None`` when it has no obligation."""
    params = settings.obligations.engines.get(name)
    if params is None:
        return None
    terms = bind_terms(params, spec)
    layer = ObligationLayer(terms, rules, max_order_tl=risk.limits.max_order_tl if risk.enabled else None)
    lane = OrderManager(
        spec.key,
        id_prefix=f"{name[:12]}-o",
        refresh_ticks=0,
        size_tolerance=0.0,
        max_age_ns=0,
        first_seq=exchange.commands + 1,
        reject_cooldown_ns=int(settings.quoting.reject_cooldown_s * 1e9),
    )
    meter = ComplianceMeter(
        terms,
        sink=record,
        sample_interval_ns=int(settings.obligations.sample_interval_s * 1e9),
        window=settings.obligations.window_ns(),
    )
    if journal is not None:
        restore_meter(meter, journal)
    desk = ObligationDesk(
        engine,
        spec,
        terms=terms,
        layer=layer,
        lane=lane,
        venue=exchange,
        risk=risk,
        meter=meter,
        record=record,
    )
    desk.adopt_resting()
    return desk


def restore_meter(meter: ComplianceMeter, journal: Journal) -> None:
    """Resume ``meter`` from what an earlier run journaled (nothing if it is a fresh journal)."""

    def payloads(type_: str, limit: int) -> list[dict[str, Any]]:
        return [row[4] for row in journal.last_events(type_, limit)]

    samples = payloads("obligation_sample", 1)
    starts = payloads("obligation_breach_start", 1)
    ended = payloads("obligation_breach", RECENT_BREACHES)
    closed = {payload["start"] for payload in ended}
    open_breach = starts[-1] if starts and starts[-1]["start"] not in closed else None
    meter.restore(
        samples[-1] if samples else None,
        open_breach,
        days=payloads("obligation_day", 400),
        recent=ended,
    )
