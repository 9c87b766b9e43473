"""Full-speed replay: the live engine core driven straight from a recorded input.

No sockets and no asyncio in the loop: events come from :func:`bot.replay.open_replay`
in file order, their recorded receive time is the clock, and :class:`Timer` events are
injected every ``timer_interval`` of event time exactly as the live driver does from
the wall clock. The engine is the one ``mmbot run`` builds (:func:`build_engine`:
paper exchange, estimators, risk, quoter, order manager, hedger), or -- for
like-for-like throughput comparisons -- the minimal reference market maker of the
shared benchmark (:class:`bot.paper.refmm.ReferenceMarketMaker`) on the same paper
exchange.

With several markets in the input (e.g. ``synthetic:abc_launch`` rendered for every
instrument of ``config/abc.toml``) and no ``--instrument``, every configured engine whose
market is in the input runs, each event routed to the engines trading it, all on one
clock -- and, with a ``[deal]`` section, the deal desk (:mod:`bot.engine.deal_setup`)
beside them: its own engine, accounts (``deal/*.sqlite``), pool and hedge.

A run directory holds ``journal/<engine>.sqlite``, ``config.json`` (the effective
settings and strategy) and ``summary.json`` (status, counts, PnL, timing). Runs are
deterministic: the same input, config and seed give byte-identical journals.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import structlog

from bot.config import EngineSettings, Settings
from bot.core.events import NS_PER_S, Timer
from bot.core.units import exact_text
from bot.engine.assemble import StrategySearch, TradingEngine, build_engine, load_strategy, with_account_fees
from bot.engine.deal_setup import DealRun, build_deal, deal_engines, read_deal
from bot.engine.loop import Engine
from bot.errors import InputError, MmbotError
from bot.paper.refmm import ReferenceMarketMaker
from bot.replay.readers import ReplayInput
from bot.store.journal import JournalError
from bot.store.recovery import open_paper
from bot.strategy.profile import StrategyProfile

_FAULT_CHECK_EVERY = 4096
"""Events between two checks of the journal's health."""

log = structlog.get_logger("bot.replay")

SUMMARY = "summary.json"
CONFIG = "config.json"


@dataclass
class MinimalMM:
    """The shared benchmark's minimal market maker (``benchmarks/reference/README.md``), in base units."""

    size: Decimal = Decimal("0.01")
    half_spread_ticks: float = 8.0
    skew_ticks: float = 4.0
    skew_unit: Decimal = Decimal("0.01")
    max_inventory: Decimal = Decimal("0.2")


@dataclass
class ReplayResult:
    status: str
    events: int
    loop_s: float
    summary: dict[str, Any] = field(default_factory=dict)


def check_run_dir(out: Path, *, resume: bool) -> None:
    """Refuse to overwrite a run; ``resume`` only continues an incomplete one."""
    summary = out / SUMMARY
    if not out.exists():
        if resume:
            raise InputError(f"{out}: no such run directory to resume")
        return
    if not out.is_dir():
        raise InputError(f"{out}: exists and is not a directory")
    if not resume:
        if any(out.iterdir()):
            raise InputError(
                f"{out}: run directory already exists; choose another --out (or --resume an incomplete run)"
            )
        return
    try:
        previous = json.loads(summary.read_text())
    except (OSError, ValueError):
        previous = {"status": "incomplete"}
    if previous.get("complete"):
        raise InputError(f"{out}: the run is complete; nothing to resume")


def choose_engine(
    settings: Settings, instruments: list[str], instrument: str | None
) -> tuple[str, EngineSettings]:
    """The engine to replay: ``instrument`` if given, else the config's first engine whose
    instruments are all in the input, else the input's first instrument."""
    if instrument is not None:
        if instrument not in instruments:
            raise InputError(f"--instrument {instrument}: not in the replay input ({', '.join(instruments)})")
        for name, engine in settings.engines.items():
            if engine.key == instrument:
                return name, _restrict_hedge(engine, instruments)
        return "replay", _engine_for(instrument)
    for name, engine in settings.engines.items():
        if engine.key in instruments:
            return name, _restrict_hedge(engine, instruments)
    return "replay", _engine_for(instruments[0])


def engines_in(settings: Settings, instruments: list[str]) -> list[str]:
    """The configured quoting engines whose quoted market is in the input."""
    return [name for name, engine in settings.engines.items() if engine.quote and engine.key in instruments]


def _engine_for(instrument: str) -> EngineSettings:
    """An engine quoting ``instrument``; replay-only venues (``bench``, Tardis exchanges with
    explicit specs) are not config venues, so the settings are built without validation."""
    venue, _, symbol = instrument.partition(":")
    default = EngineSettings.model_fields
    return EngineSettings.model_construct(
        venue=venue, symbol=symbol, strategy=default["strategy"].default, quote=True, hedge=None
    )


def _restrict_hedge(engine: EngineSettings, instruments: list[str]) -> EngineSettings:
    if engine.hedge is not None and engine.hedge.key not in instruments:
        log.warning("hedge instrument not in the replay input; replaying without it", hedge=engine.hedge.key)
        return engine.model_copy(update={"hedge": None})
    return engine


class ReplayRun:
    """One replay into a run directory."""

    def __init__(
        self,
        settings: Settings,
        replay: ReplayInput,
        *,
        out: Path,
        profile: StrategyProfile | None,
        instrument: str | None = None,
        minimal: MinimalMM | None = None,
        resume: bool = False,
        timer_interval_s: float = 0.1,
        strategies: Path | StrategySearch | None = None,
    ) -> None:
        self.settings = settings
        self.replay = replay
        self.out = out
        self.resume = resume
        self.minimal = minimal
        self.timer_ns = int(timer_interval_s * NS_PER_S)
        self.others: list[TradingEngine] = []
        """Further engines of a multi-market run (the first is :attr:`trading`)."""
        self.deal: DealRun | None = None
        self.name, self.engine_settings = choose_engine(settings, replay.instruments, instrument)
        names = engines_in(settings, replay.instruments)
        self.multi = minimal is None and instrument is None and len(names) > 1
        specs = {key: with_account_fees(settings, spec) for key, spec in replay.specs.items()}
        keys = self.engine_settings.instruments()
        self.quote_key = self.engine_settings.key
        self.refmm: ReferenceMarketMaker | None = None
        if minimal is not None:
            engine = Engine(
                self.name,
                [specs[k] for k in keys],
                stale_after_s=settings.market.stale_after_s,
                max_buffer=settings.market.max_buffer,
                checks=settings.market,
            )
            # the reference MM reads the exchange's state, not its reports: none are kept (else
            # the report outbox grows with every order), and acks/cancels are not even built
            exchange, journal = open_paper(
                [specs[k] for k in keys],
                settings.paper_for(self.name),
                out,
                self.name,
                replay=resume,
                reports=False,
            )
            engine.add_venue(exchange)
            spec = specs[self.quote_key]
            self.refmm = ReferenceMarketMaker(
                exchange,
                self.quote_key,
                book=engine.book(self.quote_key),
                size=int(minimal.size / spec.lot_size),
                half_spread=minimal.half_spread_ticks,
                skew=minimal.skew_ticks,
                skew_unit=int(minimal.skew_unit / spec.lot_size),
                max_inventory=int(minimal.max_inventory / spec.lot_size),
                prefix="mm",
            )
            engine.add_handler(self.refmm.on_event)
            self.trading = TradingEngine(engine, exchange, journal, None)
        elif self.multi:
            self._build_all(names, specs, profile, strategies)
        else:
            self.trading = build_engine(
                self.name, self.engine_settings, settings, specs, profile=profile, data_dir=out, replay=resume
            )
            if settings.deal.enabled:
                log.warning(
                    "the deal desk needs every market of the deal in the input; replaying one engine without it",
                    engine=self.name,
                )
        self.profile = profile
        self.events = 0
        self.first_ts: int | None = None

    def _build_all(
        self,
        names: list[str],
        specs: dict[str, Any],
        profile: StrategyProfile | None,
        strategies: Path | StrategySearch | None,
    ) -> None:
        """Every engine of the input's markets (each with its own profile), then the deal desk."""
        settings = self.settings
        deal = read_deal(settings)
        deal_names = set(deal_engines(settings, specs, deal))
        built: list[TradingEngine] = []
        try:
            for name in names:
                engine_settings = _restrict_hedge(settings.engines[name], self.replay.instruments)
                engine_profile = profile
                if strategies is not None and engine_settings.strategy != (profile.name if profile else None):
                    engine_profile = load_strategy(strategies, engine_settings.strategy)
                built.append(
                    build_engine(
                        name,
                        engine_settings,
                        settings,
                        specs,
                        profile=engine_profile,
                        data_dir=self.out,
                        replay=self.resume,
                        hedging=name not in deal_names,
                    )
                )
            if deal is not None:
                missing = [key for key in settings.instruments() if key not in specs]
                if missing:
                    raise InputError(
                        f"the deal desk needs {', '.join(missing)} in the replay input "
                        f"(it has {', '.join(self.replay.instruments)})"
                    )
                self.deal = build_deal(
                    settings, specs, {t.engine.name: t for t in built}, self.out, replay=self.resume
                )
        except BaseException:
            for trading in built:
                if trading.journal is not None:
                    trading.journal.close()
            raise
        self.trading, self.others = built[0], built[1:]
        self.name, self.engine_settings = names[0], settings.engines[names[0]]

    @property
    def engines(self) -> list[Engine]:
        """Every engine this run drives (quoting engines, then the deal desk's)."""
        engines = [self.trading.engine, *(t.engine for t in self.others)]
        if self.deal is not None:
            engines.append(self.deal.engine)
        return engines

    def total_pnl(self) -> Decimal:
        """PnL of every paper account (the deal's statement total when a deal runs)."""
        if self.deal is not None:
            return self.deal.desk.pnl()
        total = Decimal(0)
        for trading in (self.trading, *self.others):
            if trading.exchange is not None:
                total += trading.exchange.ledger.attribution().total
        return total

    # ---- the loop ----------------------------------------------------------------------

    def run(
        self, progress: Callable[[ReplayRun, float], None] | None = None, progress_every: int = 1 << 16
    ) -> ReplayResult:
        if len(self.engines) > 1:
            return self._run_many(progress, progress_every)
        engine = self.trading.engine
        on_event = engine.on_event
        timer_ns = self.timer_ns
        next_timer = 0
        events = 0
        status = "complete"
        error: str | None = None
        failure: type[MmbotError] = MmbotError
        start = time.perf_counter()
        iterator = iter(self.replay)
        next_progress = progress_every
        try:
            while True:
                chunk_end = events + min(progress_every, _FAULT_CHECK_EVERY)
                for event in iterator:
                    ts = event.local_ts
                    if ts >= next_timer:
                        if next_timer:
                            while ts >= next_timer:
                                on_event(Timer(local_ts=next_timer))
                                next_timer += timer_ns
                        else:
                            next_timer = ts + timer_ns
                            self.first_ts = ts
                    on_event(event)
                    events += 1
                    if events >= chunk_end:
                        break
                else:
                    self._check_journals()
                    break
                self.events = events
                self._check_journals()
                if progress is not None and events >= next_progress:
                    next_progress += progress_every
                    progress(self, time.perf_counter() - start)
        except (KeyboardInterrupt, MmbotError) as exc:
            status, error, failure = _stopped_by(exc)
        return self._end(status, error, failure, start, events)

    def _end(
        self, status: str, error: str | None, failure: type[MmbotError], start: float, events: int
    ) -> ReplayResult:
        loop_s = time.perf_counter() - start
        self.events = events
        summary = self._finish(status, loop_s, error)
        if status == "failed":
            raise failure(error or "replay failed")
        return ReplayResult(status, events, loop_s, summary)

    def _check_journals(self) -> None:
        """A replay does not wait for the disk: a fault in any of its journals (each engine's
        and, with a deal, each deal account's) stops it at the last committed boundary, from
        which ``--resume`` continues."""
        journals = [trading.journal for trading in (self.trading, *self.others)]
        if self.deal is not None:
            journals += [account.journal for account in self.deal.accounts]
        for journal in journals:
            if journal is not None and journal.fault is not None:
                raise JournalError(journal.fault)

    def _run_many(
        self, progress: Callable[[ReplayRun, float], None] | None, progress_every: int
    ) -> ReplayResult:
        """The loop of a multi-market run: each event to the engines trading its market,
        every timer to all of them, one clock."""
        engines = self.engines
        routes: dict[str, list[Engine]] = {}
        for engine in engines:
            for key in engine.instruments:
                routes.setdefault(key, []).append(engine)
        timer_ns = self.timer_ns
        next_timer = 0
        events = 0
        status = "complete"
        error: str | None = None
        failure: type[MmbotError] = MmbotError
        start = time.perf_counter()
        iterator = iter(self.replay)
        empty: list[Engine] = []
        next_progress = progress_every
        try:
            while True:
                chunk_end = events + min(progress_every, _FAULT_CHECK_EVERY)
                for event in iterator:
                    ts = event.local_ts
                    if ts >= next_timer:
                        if next_timer:
                            while ts >= next_timer:
                                tick = Timer(local_ts=next_timer)
                                for engine in engines:
                                    engine.on_event(tick)
                                next_timer += timer_ns
                        else:
                            next_timer = ts + timer_ns
                            self.first_ts = ts
                    for engine in routes.get(event.instrument, empty):
                        engine.on_event(event)
                    events += 1
                    if events >= chunk_end:
                        break
                else:
                    self._check_journals()
                    break
                self.events = events
                self._check_journals()
                if progress is not None and events >= next_progress:
                    next_progress += progress_every
                    progress(self, time.perf_counter() - start)
        except (KeyboardInterrupt, MmbotError) as exc:
            status, error, failure = _stopped_by(exc)
        return self._end(status, error, failure, start, events)

    # ---- the run directory --------------------------------------------------------------

    def write_config(self, extra: dict[str, Any]) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        data = {
            "settings": self.settings.model_dump(mode="json"),
            "engine": {"name": self.name, **self.engine_settings.model_dump(mode="json")},
            "strategy": self.profile.model_dump(mode="json") if self.profile is not None else None,
            "minimal": {k: str(v) for k, v in vars(self.minimal).items()} if self.minimal else None,
            **extra,
        }
        _write_json(self.out / CONFIG, data)
        _write_json(self.out / SUMMARY, {"status": "running", "complete": False})

    def _finish(self, status: str, loop_s: float, error: str | None) -> dict[str, Any]:
        trading = self.trading
        exchange = trading.exchange
        engine = trading.engine
        summary: dict[str, Any] = {
            "status": status,
            "complete": status == "complete",
            "error": error,
            "input": [str(p) for p in self.replay.paths] or [self.replay.description],
            "format": self.replay.fmt,
            "position": self.replay.location() if status != "complete" else None,
            "engine": self.name,
            "instrument": self.quote_key,
            "strategy": "minimal" if self.minimal else (self.profile.name if self.profile else None),
            "seed": self.settings.paper.seed,
            "events": self.events,
            "loop_s": round(loop_s, 6),
            "events_per_s": round(self.events / loop_s) if loop_s > 0 else None,
            "sim_start_ns": self.first_ts,
            "sim_end_ns": engine.clock.now,
        }
        if exchange is not None:
            ledger = exchange.ledger
            pnl = ledger.attribution()
            summary.update(
                orders=exchange.commands,
                fills=ledger.snapshot().fills,
                open_orders=len(exchange.orders),
                pnl={
                    k: exact_text(getattr(pnl, k))
                    for k in ("spread_capture", "rebates", "fees", "inventory", "funding", "total")
                },
                equity=exact_text(ledger.equity()),
                starting_balances={
                    asset: exact_text(v) for asset, v in sorted(ledger.starting_balances.items())
                },
                balances={asset: exact_text(v) for asset, v in sorted(ledger.balances.items())},
            )
            pipeline = trading.pipeline
            if pipeline is not None:
                summary["order_manager"] = pipeline.order_manager.stats.as_dict()
                summary["orders_sent"] = dict(pipeline.sent)
                summary["rejects"] = dict(sorted(pipeline.rejects.items(), key=lambda item: -item[1]))
                summary["time_to_first_quote_s"] = (
                    round((pipeline.first_quote_ts - self.first_ts) / NS_PER_S, 3)
                    if pipeline.first_quote_ts is not None and self.first_ts is not None
                    else None
                )
                summary["regime"] = pipeline.decision.regime.value
                summary["markouts"] = pipeline.markout_summary()
                if pipeline.decide_on_change:
                    summary["decide"] = {"mode": "on-change", "book_changes_skipped": pipeline.skipped}
            if trading.obligation is not None:
                trading.obligation.close(engine.clock.now)
                summary["obligation"] = trading.obligation.summary()
            exchange.flush()
        first = self._engine_summary(trading, engine.clock.now, close=False) if self.others else None
        if trading.journal is not None:
            trading.journal.close()
            trading.journal = None
        if first is not None:
            if "obligation" in summary:
                first["obligation"] = summary["obligation"]
            summary["engines"] = [first]
            for other in self.others:
                summary["engines"].append(self._engine_summary(other, other.engine.clock.now))
                if other.journal is not None:
                    other.journal.close()
                    other.journal = None
        if self.others or self.deal is not None:
            summary["pnl_total"] = str(self.total_pnl())
        if self.deal is not None:
            summary["deal"] = self.deal.desk.summary()
            for account in self.deal.accounts:
                account.exchange.flush()
            self.deal.close()
        _write_json(self.out / SUMMARY, summary)
        return summary

    def _engine_summary(self, trading: TradingEngine, now: int, *, close: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"engine": trading.engine.name, "events": trading.engine.events}
        exchange = trading.exchange
        if exchange is None:
            return out
        pnl = exchange.ledger.attribution()
        out.update(
            orders=exchange.commands,
            fills=exchange.ledger.snapshot().fills,
            pnl={
                k: str(getattr(pnl, k))
                for k in ("spread_capture", "rebates", "fees", "inventory", "funding", "total")
            },
        )
        if trading.obligation is not None and close:
            trading.obligation.close(now)
            out["obligation"] = trading.obligation.summary()
            exchange.flush()
        return out


def _stopped_by(exc: BaseException) -> tuple[str, str | None, type[MmbotError]]:
    """How a replay loop ends after ``exc``: its status, error text and the error it raises."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", None, MmbotError
    if isinstance(exc, InputError):
        return "failed", str(exc), InputError
    # a journal fault, or an account refusing to act during one: a runtime failure (exit 1)
    return "failed", f"{exc} (the run can be continued with --resume once it can write)", MmbotError


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    os.replace(tmp, path)
