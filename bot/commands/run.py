"""``mmbot run``: stream the configured markets and keep their books valid.

Wiring only: settings → logging → (offline: the in-process emulator) → instrument
metadata → engines → venue adapters → :class:`bot.ops.live.LiveRunner`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TextIO, cast

import structlog

from bot.commands import argtypes
from bot.config import Settings, VenuesSettings, config_source, load_settings
from bot.core.instrument import InstrumentSpec
from bot.defaults import Source
from bot.engine.assemble import StrategySearch, TradingEngine, build_engine, load_strategy, strategy_search
from bot.engine.deal_setup import DealRun, build_deal, deal_engines, read_deal
from bot.errors import EXIT_FAILURE, EXIT_INTERRUPTED, InputError
from bot.ops.ccxt_venues import ccxt_adapters, ccxt_specs, is_ccxt_key
from bot.ops.ccxt_venues import offline_settings as ccxt_offline_settings
from bot.ops.control import Controller, take_request
from bot.ops.execution import TestnetExecution, plan_execution
from bot.ops.feeds import for_replay_speed
from bot.ops.listen import check_listen, describe_bind_error, parse_listen
from bot.ops.live import LiveRunner
from bot.ops.logging import configure_logging
from bot.ops.metrics import adapter_stats
from bot.ops.progress import Progress, ProgressMode, StatusLineStream, choose_mode
from bot.ops.server_setup import build_ops_server
from bot.ops.summary import format_summary
from bot.store.locks import InstanceLock
from bot.strategy.profile import StrategyProfile, check_horizons

log = structlog.get_logger("bot.run")


def register(subparsers: Any) -> None:
    run = subparsers.add_parser(
        "run",
        help="Stream the configured markets (live public data, or --offline against the emulator).",
        description="Stream order books for every configured engine, keep them valid (resync on "
        "gaps, reconnect on drops) and paper-trade them with each engine's strategy profile. "
        "--offline starts the loopback emulator in-process with the bundled real Binance recordings "
        "(or the offline.replay files: Binance, Bybit and OKX recordings) and connects to it through "
        "the real adapters over a real websocket: no internet needed. A config with a [deal] section "
        "(config/abc.toml) also runs the deal desk: its accounts on every venue of the deal's token, the "
        "PancakeSwap pool, the whole book's perp hedge and the deal's lifecycle (/status \"deals\", "
        "mmbot_deal_* metrics). Config: --config FILE, else ./config/default.toml if present, else the "
        "defaults shipped with mmbot (`mmbot config check` shows which files a run would use).",
        epilog="One run per data directory (an flock on DATA_DIR/mmbot.pid held for the process "
        "lifetime; a pidfile left by kill -9 is ignored). If the journal cannot write (disk full, "
        "I/O error) quoting halts at once and the write is retried (paper.journal). Exit codes: 0 "
        "clean stop; 1 the run ended on a failure (the journal could not write everything, "
        "paper.journal.give_up_after_s reached) or another mmbot holds the data directory; 2 bad "
        "input (config, profile or argument, named in the message).",
    )
    run.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="FILE",
        help="TOML config file (default: ./config/default.toml if present, else the packaged defaults).",
    )
    run.add_argument(
        "--strategy",
        default=None,
        metavar="NAME",
        help="Strategy profile NAME.toml for every quoting engine, found on the profile search path "
        "(quoting.strategies_dir, strategies/ next to the config, ./config/strategies, packaged); "
        "default: each engine's `strategy` setting.",
    )
    run.add_argument("--offline", action="store_true", help="Run against the in-process loopback emulator.")
    run.add_argument(
        "--duration",
        type=argtypes.seconds,
        default=None,
        metavar="SECONDS",
        help="Stop cleanly after SECONDS (positive, finite) and print a summary (default: run until "
        "SIGINT/SIGTERM).",
    )
    run.add_argument(
        "--data-dir", type=Path, default=None, metavar="DIR", help="Override data_dir from the config."
    )
    run.add_argument(
        "--http",
        default=None,
        metavar="HOST:PORT|off",
        help="Ops HTTP server address (/healthz /metrics /status, and the live dashboard at "
        "http://HOST:PORT/); default from config (http.listen, 127.0.0.1:8080); port 0 = any free "
        "port; 'off' disables it. Checked before anything starts: a port in use is exit 2.",
    )
    run.add_argument(
        "--progress",
        choices=["auto", "on", "off"],
        default="auto",
        help="Progress on stderr: a status line (regime, warm-up left, quotes, fills, position, PnL) "
        "redrawn every second on a terminal, a 'progress' JSON log record every "
        "market.status_interval_s otherwise (auto); on = always the line; off = neither.",
    )
    run.add_argument("--json", action="store_true", help="Print the final summary as JSON.")
    run.set_defaults(func=start_run)


def start_run(args: argparse.Namespace) -> int:
    start_ns = time.time_ns()
    overrides: dict[str, Any] = {}
    if args.data_dir is not None:
        overrides["data_dir"] = str(args.data_dir)
    if args.http == "off":
        overrides["http"] = {"enabled": False}
    elif args.http is not None:
        parse_listen(args.http, "--http")
        overrides["http"] = {"listen": args.http}
    source = config_source(args.config)
    settings = load_settings(source.path, **overrides)
    mode = choose_mode(args.progress, sys.stderr)
    line = StatusLineStream(sys.stderr) if mode == "line" else None
    configure_logging(settings.logging, stream=cast(TextIO, line))  # a TextIO look-alike
    if settings.http.enabled:  # before anything slow: a port in use is exit 2 at once
        where = _listen_origin(args.http, source)
        check_listen(*parse_listen(settings.http.listen, where), where)
    search = strategy_search(settings, source)
    profiles = load_profiles(settings, search, args.strategy)
    log.info(
        "configuration",
        config=str(source.path),
        origin=source.origin,
        strategies=[str(s.path) for s in search],
    )

    def configured() -> dict[str, str]:
        """Each engine's profile name as the config says now (SIGHUP re-reads it)."""
        if args.strategy:
            return {name: args.strategy for name in settings.engines}
        fresh = load_settings(source.path, **overrides)
        return {name: engine.strategy for name, engine in fresh.engines.items()}

    summary = asyncio.run(
        run_bot(
            settings,
            offline=args.offline,
            duration_s=args.duration,
            profiles=profiles,
            strategies=search,
            configured=configured,
            start_ns=start_ns,
            progress=mode,
            line=line,
        )
    )
    summary["config"] = {"path": str(source.path), "origin": source.origin}
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        print(format_summary(summary))
    failure = summary.get("failure")
    if failure:
        log.error("run ended on a failure", failure=failure)
        return EXIT_FAILURE
    return 0


def _listen_origin(option: str | None, source: Source) -> str:
    """Where the listen address came from, for the error message."""
    if option is not None:
        return f"--http {option}"
    if "MMBOT_HTTP__LISTEN" in os.environ:
        return "http.listen (from environment MMBOT_HTTP__LISTEN; or use --http)"
    return f"http.listen in {source.path} (or use --http)"


def load_profiles(
    settings: Settings, search: Path | StrategySearch, override: str | None
) -> dict[str, StrategyProfile]:
    """The strategy profile of every quoting engine, validated before anything starts."""
    profiles = {}
    horizons = settings.estimators.vol_horizons_s
    for name, engine in settings.engines.items():
        if not engine.quote:
            continue
        profile = load_strategy(search, override or engine.strategy)
        check_horizons(profile, horizons, f"strategy {profile.name!r} (engine {name})")
        profiles[name] = profile
    return profiles


async def run_bot(
    settings: Settings,
    *,
    offline: bool,
    duration_s: float | None,
    profiles: dict[str, StrategyProfile] | None = None,
    strategies: Path | StrategySearch | None = None,
    configured: Callable[[], dict[str, str]] | None = None,
    start_ns: int | None = None,
    progress: ProgressMode = "off",
    line: StatusLineStream | None = None,
) -> dict[str, Any]:
    """Run until the duration elapses or a stop signal arrives; return a summary."""
    from bot.venues.registry import create_adapter

    start_ns = time.time_ns() if start_ns is None else start_ns
    profiles = profiles or {}
    data_dir = prepare_data_dir(Path(settings.data_dir))
    async with contextlib.AsyncExitStack() as stack:
        stack.enter_context(InstanceLock.acquire(data_dir))  # held (flock) until the process ends
        plan = plan_execution(settings)  # refuses mainnet order endpoints and missing keys (exit 2)
        if plan is not None:
            stack.push_async_callback(plan.close)
        if offline:
            settings = await stack.enter_async_context(_offline_emulator(settings))
        keys = settings.instruments()
        native = [k for k in keys if not is_ccxt_key(k)]
        specs = await load_specs(settings, native, offline=offline) if native else {}
        specs.update(await ccxt_specs(settings, keys, offline=offline))
        trading: list[TradingEngine] = []
        deals: list[DealRun] = []
        stack.callback(lambda: [t.close() for t in trading])
        stack.callback(lambda: [d.close() for d in deals])
        deal = read_deal(settings)
        desk_markets = set(deal_engines(settings, specs, deal))
        for name, engine_settings in settings.engines.items():
            trading.append(
                build_engine(
                    name,
                    engine_settings,
                    settings,
                    specs,
                    profile=profiles.get(name),
                    data_dir=data_dir,
                    hedging=name not in desk_markets,
                )
            )
        desk = build_deal(settings, specs, {t.engine.name: t for t in trading}, data_dir)
        if desk is not None:
            deals.append(desk)
        runner = LiveRunner(
            [t.engine for t in trading] + [d.engine for d in deals],
            status_interval_s=settings.market.status_interval_s,
        )
        controller = Controller(
            trading,
            strategies_dir=strategies if strategies is not None else strategy_search(settings, None),
            data_dir=data_dir,
            configured=configured,
        )
        controller.apply_pending(source="cli")
        testnet = TestnetExecution.attach(plan, settings, trading, specs) if plan is not None else None
        if testnet is not None:
            stack.push_async_callback(testnet.stop)
            # reconcile with the testnet before any market data moves the restored paper orders
            await testnet.executor.start(timeout_s=3 * settings.testnet.timeout_s)
            runner.spawn("testnet", testnet.executor.run)
        venues: dict[str, list[str]] = {}
        for key in native:
            venues.setdefault(key.split(":", 1)[0], []).append(key)
        for adapter_ccxt, ccxt_keys in ccxt_adapters(settings, specs, keys, runner.sink):
            runner.add_adapter(adapter_ccxt, ccxt_keys)
        for venue, venue_keys in venues.items():
            adapter = create_adapter(
                venue, settings.venues.for_venue(venue), [specs[k] for k in venue_keys], runner.sink
            )
            runner.add_adapter(adapter, venue_keys)
        if settings.http.enabled:
            ops = build_ops_server(settings, runner, trading, controller, testnet, deals)
            try:
                await ops.start()
            except OSError as exc:  # taken since the check at start
                raise InputError(
                    f"http.listen {settings.http.listen}: cannot listen: {describe_bind_error(exc)}"
                ) from None
            stack.push_async_callback(ops.stop)
        runner.spawn("profile-watch", lambda: _watch_profiles(controller))
        watchdog = JournalWatchdog(trading, runner, settings.paper.journal.give_up_after_s)
        if watchdog.limit_s:
            runner.spawn("journal-watchdog", watchdog.run)
        reporter = Progress(
            trading,
            mode=progress,
            start_ns=start_ns,
            interval_s=settings.market.status_interval_s,
            line=line,
        )
        if progress != "off":
            runner.spawn("progress", reporter.run)
        stack.callback(reporter.close)
        _install_signals(runner, controller)
        stack.callback(_remove_signals)
        log.info(
            "mmbot running",
            engines=list(settings.engines),
            instruments=keys,
            offline=offline,
            duration_s=duration_s,
            strategies={n: p.name for n, p in profiles.items()},
        )
        await runner.run(duration_s)
        if testnet is not None:
            await testnet.stop()  # cancels testnet orders, journals final totals: before journals close
        summary_deals = [d.desk.summary() for d in deals]
        for t in trading:
            t.close()
        for d in deals:
            d.close()
        reporter.close()
        engines = [t.summary(start_ns) for t in trading]
        return {
            "instruments": runner.status_lines(),
            "engines": engines,
            "deals": summary_deals,
            "adapters": {venue: adapter_stats(adapter) for venue, adapter in runner.adapters.items()},
            "task_restarts": runner.task_restarts,
            "execution": testnet.status() if testnet is not None else {"mode": "paper"},
            "failure": run_failure(trading, watchdog.gave_up),
        }


def prepare_data_dir(path: Path) -> Path:
    """Create ``data_dir`` if needed and check it is writable (InputError naming the field)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise InputError(f"data_dir: {path}: not a writable directory: {exc.strerror or exc}") from None
    return path


def run_failure(trading: list[TradingEngine], gave_up: str | None) -> str | None:
    """Why this run failed (non-zero exit), or None: the watchdog gave up on a journal that
    could not write, or a journal closed with records it could not write."""
    reasons = [gave_up] if gave_up else []
    for t in trading:
        if t.lost:
            reasons.append(
                f"{t.engine.name}: the journal could not write {t.lost} record(s) before shutdown "
                f"(lost): {t.fault}"
            )
    return "; ".join(reasons) or None


class JournalWatchdog:
    """Stops the run when a journal has been unable to write for ``limit_s`` (0 = never)."""

    def __init__(self, trading: list[TradingEngine], runner: LiveRunner, limit_s: float) -> None:
        self.trading = trading
        self.runner = runner
        self.limit_s = limit_s
        self.gave_up: str | None = None

    async def run(self, interval_s: float = 0.5) -> None:
        while self.gave_up is None:
            await asyncio.sleep(interval_s)
            self.check(time.time())

    def check(self, now: float) -> None:
        for t in self.trading:
            journal = t.journal
            if journal is None or journal.fault is None or journal.fault_since is None:
                continue
            if now - journal.fault_since >= self.limit_s:
                self.gave_up = (
                    f"{t.engine.name}: the journal could not write for {now - journal.fault_since:.0f} s "
                    f"(paper.journal.give_up_after_s = {self.limit_s:g}): {journal.fault}"
                )
                log.error("giving up: stopping the run", reason=self.gave_up)
                self.runner.stop()
                return


_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)


def _install_signals(runner: LiveRunner, controller: Controller) -> None:
    loop = asyncio.get_running_loop()
    stops = {"count": 0}

    def stop(sig: signal.Signals) -> None:
        stops["count"] += 1
        if stops["count"] > 1:
            log.error("second stop signal: exiting immediately", signal=sig.name)
            os._exit(EXIT_INTERRUPTED)
        log.info("stopping: cancelling quotes, closing the journal", signal=sig.name)
        runner.stop()

    def kill() -> None:  # `mmbot kill` writes its request file before signalling: source cli
        request = take_request(controller.data_dir, "kill") or {}
        controller.kill(str(request.get("reason") or "SIGUSR1"), str(request.get("source") or "signal"))

    def resume() -> None:
        request = take_request(controller.data_dir, "resume") or {}
        controller.resume(str(request.get("reason") or "SIGUSR2"), str(request.get("source") or "signal"))

    loop.add_signal_handler(signal.SIGINT, stop, signal.SIGINT)
    loop.add_signal_handler(signal.SIGTERM, stop, signal.SIGTERM)
    loop.add_signal_handler(signal.SIGHUP, lambda: controller.reload_safely(None, "sighup"))
    loop.add_signal_handler(signal.SIGUSR1, kill)
    loop.add_signal_handler(signal.SIGUSR2, resume)


def _remove_signals() -> None:
    loop = asyncio.get_running_loop()
    for sig in _SIGNALS:
        loop.remove_signal_handler(sig)


async def _watch_profiles(controller: Controller, interval_s: float = 1.0) -> None:
    """Reload a running strategy profile when its file changes on disk."""
    while True:
        await asyncio.sleep(interval_s)
        if controller.changed_profiles():
            controller.reload_safely(None, "file_change")


async def load_specs(settings: Settings, keys: list[str], *, offline: bool) -> dict[str, InstrumentSpec]:
    """Instrument specs per the ``[metadata]`` settings, with per-venue fee overrides.

    Offline runs use the shipped cache only: the bundled recordings were made under
    those tick/lot sizes, whatever a newer user cache says.
    """
    from bot.venues.metadata import cache_dir_for, resolve_instruments

    venues = {key.split(":", 1)[0] for key in keys}
    rest_urls = {v: url for v in venues if (url := settings.venues.for_venue(v).rest_url)}
    fees = {v: rates for v in venues if (rates := settings.venues.fee_rates(v)) is not None}
    resolved = await resolve_instruments(
        keys,
        cache_dir=None if offline else cache_dir_for(settings.data_dir),
        offline=offline or settings.metadata.source == "cache",
        timeout_s=settings.metadata.timeout_s,
        rest_urls=rest_urls,
        fallback=settings.metadata.source != "exchange",
        fee_overrides=fees or None,
    )
    return {key: item.spec for key, item in resolved.items()}


@contextlib.asynccontextmanager
async def _offline_emulator(settings: Settings) -> AsyncIterator[Settings]:
    """Start the emulator in-process and point every venue at it."""
    from bot.emulator.offline import offline_emulator
    from bot.emulator.protocol import EMULATED_VENUES

    native = [key for key in settings.instruments() if not is_ccxt_key(key)]
    emulator = offline_emulator(settings.offline, native)
    served = {f"{venue}:{symbol}" for venue, symbol in emulator.source.markets()}
    missing = [key for key in settings.instruments() if key not in served and not is_ccxt_key(key)]
    if missing:
        raise InputError(
            f"offline mode: the replay has no data for {', '.join(missing)}; add recordings of them to "
            f"offline.replay (it serves {', '.join(sorted(served))})"
        )
    try:
        await emulator.start()
    except OSError as exc:  # offline.host not this machine's, offline.port in use
        await emulator.stop()
        where = settings.offline
        raise InputError(
            f"offline.host/offline.port: the emulator cannot listen on {where.host}:{where.port}: "
            f"{exc.strerror or exc}"
        ) from None
    try:
        # model_copy, not re-validation: MMBOT_* env must not point an offline run elsewhere
        venues = settings.venues.model_copy(
            update={
                venue: settings.venues.for_venue(venue).model_copy(update=emulator.overrides(venue))
                for venue in VenuesSettings.model_fields
                if venue in EMULATED_VENUES
            }
        )
        log.info("offline: emulator started", url=emulator.url)
        market = settings.market.model_copy(update=for_replay_speed(settings.market, settings.offline.speed))
        yield ccxt_offline_settings(
            settings.model_copy(update={"venues": venues, "market": market}), emulator.url
        )
    finally:
        await emulator.stop()
