"""Assembling an engine: the one place that builds and connects the core components.

:func:`build_engine` turns settings, instrument specs and a strategy profile into an
:class:`Engine` with, when the engine quotes, its paper exchange (restored from its
journal), estimators, risk manager (kill state restored), quoter, order manager and
:class:`QuotingPipeline` registered as handlers in that order. ``mmbot run`` (live and
offline) and ``mmbot replay`` both call it, so live and replay run the same core.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import structlog

from bot.config import ConfigError, EngineSettings, Settings, config_source
from bot.core.events import NS_PER_S, Side
from bot.core.instrument import InstrumentSpec
from bot.core.orders import OrderReport
from bot.core.units import tidy
from bot.defaults import Source, find_profile, known_profiles, strategy_search_path
from bot.engine.hedge_setup import build_hedger
from bot.engine.hedging import HedgePipeline
from bot.engine.loop import Engine
from bot.engine.obligation_setup import build_obligation
from bot.engine.obligations import ObligationDesk
from bot.engine.trading import QuotingPipeline
from bot.engine.views import engine_status, engine_summary
from bot.market.estimators import Estimators
from bot.paper.exchange import PaperExchange
from bot.paper.fees import schedule_for
from bot.paper.records import FillRecord
from bot.risk.explain import from_payload
from bot.risk.manager import RiskManager
from bot.risk.settings import check_horizons as check_risk_horizons
from bot.store.journal import Journal
from bot.store.recovery import open_paper
from bot.strategy.costs import FeeRates
from bot.strategy.markouts import MarkoutTracker
from bot.strategy.markouts import from_payload as markout_from_payload
from bot.strategy.order_manager import OrderManager
from bot.strategy.profile import StrategyProfile, build_quoter, check_horizons, load_profile

log = structlog.get_logger("bot.assemble")

RISK_RECORD_TYPES = ("regime_transition", "risk_kill")


StrategySearch = Sequence[Source]
"""Folders searched in order for ``NAME.toml`` (:func:`bot.defaults.strategy_search_path`)."""


def strategy_search(settings: Settings, config: Source | Path | None) -> list[Source]:
    """Where the strategy profiles of a run are looked up: ``quoting.strategies_dir``,
    ``strategies/`` next to the config file in use (``config``: the resolved
    :func:`~bot.config.config_source`, or the ``--config`` argument), ``./config/strategies``,
    the packaged profiles (first match wins)."""
    source = config if isinstance(config, Source) else config_source(config)
    return strategy_search_path(source, settings.quoting.strategies_dir)


PROFILE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
"""A profile name: a file name on the profile search path, never a path."""


def profile_names(where: Path | StrategySearch) -> list[str]:
    """Every profile on the search path (or in one folder): the ``*.toml`` file names, sorted."""
    try:
        return [name for name in known_profiles(_search(where)) if PROFILE_NAME.match(name)]
    except OSError:
        return []


def _search(where: Path | StrategySearch) -> list[Source]:
    if isinstance(where, Path):
        return [Source(where, "folder")]
    return list(where)


def find_strategy(where: Path | StrategySearch, name: str) -> Path:
    """The file of profile ``name`` (ConfigError listing the known profiles if none).

    ``name`` must be one of :func:`profile_names` -- a file name on the search path, never
    a path: ``../x`` or ``/etc/x`` is refused before any file is opened."""
    search = _search(where)
    known = profile_names(search)
    path = find_profile(search, name) if PROFILE_NAME.match(name) and name in known else None
    if path is None:
        shown = name if len(name) <= 64 else name[:64] + "..."
        places = ", ".join(str(source.path) for source in search) or "(no profile folder exists)"
        raise ConfigError(
            f"strategy {shown!r}: no {shown}.toml in {places}: no such profile; known profiles: {known}"
        )
    return path


def load_strategy(where: Path | StrategySearch, name: str) -> StrategyProfile:
    """Profile ``name`` from a folder or the search path, validated (ConfigError names the
    file, field and problem)."""
    return load_profile(find_strategy(where, name))


def with_account_fees(settings: Settings, spec: InstrumentSpec) -> InstrumentSpec:
    """``spec`` with the venue's configured fee tier / fee override applied (``mmbot run``
    applies them to the metadata already; replays and directly given specs get them here),
    so the paper exchange charges -- and the quoter quotes against -- the account's fees."""
    rates = settings.venues.fee_rates(spec.venue)
    if rates is None or (spec.maker_fee, spec.taker_fee) == rates:
        return spec
    return msgspec.structs.replace(spec, maker_fee=rates[0], taker_fee=rates[1])


def quote_fees(settings: Settings, spec: InstrumentSpec) -> FeeRates:
    """The fees the paper exchange will charge on ``spec`` (its schedule: the spec's rates,
    i.e. the venue fee tier or metadata, unless ``[paper.fees]`` overrides them): quoters
    quote against exactly these."""
    schedule = schedule_for(spec, settings.paper.fee_overrides())
    return FeeRates(maker=float(schedule.maker), taker=float(schedule.taker))


@dataclass
class TradingEngine:
    """An engine and, when it quotes, the components around it."""

    engine: Engine
    exchange: PaperExchange | None = None
    journal: Journal | None = None
    pipeline: QuotingPipeline | None = None
    hedger: HedgePipeline | None = None
    obligation: ObligationDesk | None = None

    lost: int = 0
    """Journal records that could not be written before the journal closed (lost)."""
    fault: str | None = None
    """The journal's fault when it closed (None: everything was written)."""
    closed_journal: dict[str, Any] | None = None
    """The journal's health as it closed."""
    closed: bool = False

    def close(self, now: int | None = None) -> None:
        """Cancel every paper order, commit and close the journal (clean shutdown).

        With the journal in a fault the cancels are still made (the venue does not care
        about our disk) and one last write is tried; what it cannot write is counted in
        :attr:`lost` and the fault kept in :attr:`fault` for the run summary."""
        if self.closed:
            return
        self.closed = True
        if self.obligation is not None:
            self.obligation.stopping()  # the cancels below open a breach: say why
        if self.exchange is not None:
            cancelled = self.exchange.cancel_all()
            self.exchange.flush()
            if cancelled:
                log.info("paper orders cancelled at shutdown", engine=self.engine.name, count=cancelled)
        if self.obligation is not None:
            try:
                self.obligation.close(self.engine.clock.now)
            except Exception as exc:  # the journal may be the thing that failed: never block shutdown
                log.error(
                    "obligation accounting not saved at shutdown", engine=self.engine.name, error=str(exc)
                )
        if self.journal is not None:
            journal = self.journal
            fault = journal.fault
            journal.close()
            self.journal = None
            self.lost = journal.lost
            self.fault = fault if journal.lost else None
            self.closed_journal = journal.health()

    def journal_health(self) -> dict[str, Any] | None:
        """The journal's write health (open or, after close, as it closed)."""
        if self.journal is not None:
            return self.journal.health()
        return self.closed_journal

    def status(self) -> dict[str, Any]:
        """The ``/status`` entry of this engine, in human units (:mod:`bot.engine.views`)."""
        now = self.engine.clock.now
        out = engine_status(self.engine.name, self.pipeline, self.hedger, now)
        if self.pipeline is not None:
            out["markouts"] = self.pipeline.markout_summary()
        if self.obligation is not None:
            out["obligation"] = tidy(self.obligation.status(now))
        journal = self.journal_health()
        if journal is not None:
            out["journal"] = journal
        return out

    def summary(self, start_ns: int | None = None) -> dict[str, Any]:
        """This engine's part of the run summary; ``start_ns`` = when the run started."""
        exchange = self.exchange
        out = engine_summary(
            self.engine.name,
            self.engine.events,
            self.pipeline,
            exchange.ledger if exchange is not None else None,
            len(exchange.orders) if exchange is not None else 0,
            self.hedger,
            start_ns=start_ns,
            now=self.engine.clock.now,
        )
        if self.obligation is not None:
            out["obligation"] = tidy(self.obligation.summary())
        journal = self.journal_health()
        if journal is not None:
            out["journal"] = journal
        return out


def restore_markouts(tracker: MarkoutTracker, journal: Journal, instrument: str, now: int) -> None:
    """After a restart: the journaled markouts back into the statistics, and our fills of the
    last minute (venue time ``now``) waiting again for the horizons they had not reached."""
    done: dict[int, list[int]] = {}
    for _id, _ts, _type, _source, payload in journal.events("markout"):
        if payload.get("instrument") == instrument:
            markout = markout_from_payload(payload)
            tracker.record(markout)
            done.setdefault(markout.fill_id, []).append(markout.horizon_s)
    since = now - max(tracker.horizons_s) * NS_PER_S
    for _seq, _position, ts, record in journal.records():
        if ts >= since and isinstance(record, FillRecord) and record.fill.instrument == instrument:
            fill = record.fill
            tracker.on_fill(
                fill.fill_id, fill.ts, int(fill.side), fill.price, fill.size, skip=done.get(fill.fill_id, ())
            )


def build_engine(
    name: str,
    engine_settings: EngineSettings,
    settings: Settings,
    specs: Mapping[str, InstrumentSpec],
    *,
    profile: StrategyProfile | None,
    data_dir: Path,
    replay: bool = False,
    hedging: bool = True,
) -> TradingEngine:
    """Build engine ``name``; ``hedging=False`` skips its own hedger (the deal desk hedges its market)."""
    keys = engine_settings.instruments()
    specs = {key: with_account_fees(settings, specs[key]) for key in keys}
    engine_specs = [specs[key] for key in keys]
    engine = Engine(
        name,
        engine_specs,
        stale_after_s=settings.market.stale_after_s,
        max_buffer=settings.market.max_buffer,
        checks=settings.market,
    )
    if not engine_settings.quote or profile is None:
        return TradingEngine(engine)
    spec = specs[engine_settings.key]
    horizons = settings.estimators.vol_horizons_s
    check_horizons(profile, horizons)
    check_risk_horizons(settings.risk, horizons)
    quoter = build_quoter(profile, spec, quote_fees(settings, spec))

    pipeline_ref: list[QuotingPipeline] = []
    hedger_ref: list[HedgePipeline] = []

    def on_report(report: OrderReport) -> None:
        if pipeline_ref:
            pipeline_ref[0].on_report(report)
        if hedger_ref:
            hedger_ref[0].on_report(report)

    exchange, journal = open_paper(
        engine_specs, settings.paper_for(name), data_dir, name, replay=replay, on_report=on_report
    )
    try:
        engine.add_venue(exchange)
        risk = RiskManager(settings.risk, spec, base_levels=quoter.ladder.levels)
        if journal is not None:
            risk.restore(
                from_payload(payload, type_)
                for _id, _ts, type_, _source, payload in journal.events()
                if type_ in RISK_RECORD_TYPES
            )
        order_manager = OrderManager(
            spec.key,
            id_prefix=f"{name[:12]}-",
            refresh_ticks=settings.quoting.refresh_ticks,
            size_tolerance=settings.quoting.size_tolerance,
            max_age_ns=int(settings.quoting.max_order_age_s * 1e9),
            first_seq=exchange.commands + 1,
            reject_cooldown_ns=int(settings.quoting.reject_cooldown_s * 1e9),
        )
        lane_prefix = f"{name[:12]}-o"
        for resting in exchange.open_orders(spec.key):
            if resting.client_id.startswith(lane_prefix):
                continue  # the obligation lane's: its desk adopts them
            order_manager.adopt(
                resting.client_id, Side(resting.side), resting.price, resting.remaining, resting.accepted_ts
            )
        record = None
        if journal is not None:
            append = journal.append_event

            def record(type_: str, payload: dict[str, Any], ts: int) -> None:
                append(type_, payload, ts, source=name)

        markouts = MarkoutTracker(ewma_fills=settings.quoting.markout_ewma_fills)
        if journal is not None:
            restore_markouts(markouts, journal, spec.key, exchange.now)
        pipeline = QuotingPipeline(
            engine,
            spec.key,
            venue=exchange,
            ledger=exchange.ledger,
            estimators=Estimators(spec.key, settings.estimators),
            risk=risk,
            quoter=quoter,
            order_manager=order_manager,
            record=record,
            sample_interval_s=settings.quoting.sample_interval_s,
            persistence=journal,
            on_journal_recovery=settings.paper.journal.on_recovery,
            markouts=markouts,
            decide_on_change=settings.quoting.decide == "on-change",
        )
        pipeline_ref.append(pipeline)
        engine.add_handler(pipeline)
        hedger = (
            build_hedger(name, engine_settings, settings, engine, exchange, record=record, journal=journal)
            if hedging
            else None
        )
        if hedger is not None:
            hedger_ref.append(hedger)
            engine.add_handler(hedger)
            pipeline.hedge_view = hedger
        obligation = build_obligation(
            name, settings, engine, spec, exchange, risk, quoter.rules, record=record, journal=journal
        )
        if obligation is not None:
            obligation.pipeline = pipeline
            pipeline.overlay = obligation
            pipeline.report_observers.append(obligation.observe_report)
            engine.add_handler(obligation)
    except BaseException:
        if journal is not None:
            journal.close()
        raise
    return TradingEngine(engine, exchange, journal, pipeline, hedger, obligation)
