"""``mmbot run``: stream the configured markets and keep their books valid.

Wiring only: settings → logging → (offline: the in-process emulator) → instrument
metadata → engines → venue adapters → :class:`bot.ops.live.LiveRunner`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import structlog

from bot.config import Settings, VenuesSettings, load_settings
from bot.core.engine import Engine
from bot.core.events import NS_PER_S
from bot.core.instrument import InstrumentSpec
from bot.errors import InputError
from bot.ops.http import OpsServer
from bot.ops.live import LiveRunner
from bot.ops.logging import configure_logging
from bot.ops.metrics import adapter_stats, build_registry

log = structlog.get_logger("bot.run")


def register(subparsers: Any) -> None:
    run = subparsers.add_parser(
        "run",
        help="Stream the configured markets (live public data, or --offline against the emulator).",
        description="Stream order books for every configured engine, keep them valid (resync on "
        "gaps, reconnect on drops) and log their state. --offline starts the loopback emulator "
        "in-process with the bundled real Binance recordings (or the offline.replay files: Binance, "
        "Bybit and OKX recordings) and connects to it through the real adapters over a real "
        "websocket: no internet needed.",
    )
    run.add_argument(
        "--config", type=Path, default=None, help="TOML config file (default: config/default.toml)."
    )
    run.add_argument("--offline", action="store_true", help="Run against the in-process loopback emulator.")
    run.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="SECONDS",
        help="Stop cleanly after SECONDS and print a summary (default: run until SIGINT/SIGTERM).",
    )
    run.add_argument("--data-dir", type=Path, default=None, help="Override data_dir from the config.")
    run.add_argument(
        "--http",
        default=None,
        metavar="HOST:PORT",
        help="Ops HTTP server address (/healthz /metrics /status); default from config "
        "(127.0.0.1:8080); port 0 = any free port; 'off' disables it.",
    )
    run.add_argument("--json", action="store_true", help="Print the final summary as JSON.")
    run.set_defaults(func=start_run)


def start_run(args: argparse.Namespace) -> int:
    if args.duration is not None and args.duration <= 0:
        raise InputError(f"--duration must be positive, got {args.duration}")
    overrides: dict[str, Any] = {}
    if args.data_dir is not None:
        overrides["data_dir"] = str(args.data_dir)
    if args.http == "off":
        overrides["http"] = {"enabled": False}
    elif args.http is not None:
        overrides["http"] = {"listen": args.http}
    settings = load_settings(args.config, **overrides)
    configure_logging(settings.logging)
    summary = asyncio.run(run_bot(settings, offline=args.offline, duration_s=args.duration))
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(format_summary(summary))
    return 0


async def run_bot(settings: Settings, *, offline: bool, duration_s: float | None) -> dict[str, Any]:
    """Run until the duration elapses or a stop signal arrives; return a summary."""
    from bot.venues.registry import create_adapter

    async with contextlib.AsyncExitStack() as stack:
        if offline:
            settings = await stack.enter_async_context(_offline_emulator(settings))
        keys = settings.instruments()
        specs = await load_specs(settings, keys, offline=offline)
        engines = [
            Engine(
                name,
                [specs[key] for key in engine.instruments()],
                stale_after_s=settings.market.stale_after_s,
                max_buffer=settings.market.max_buffer,
            )
            for name, engine in settings.engines.items()
        ]
        runner = LiveRunner(engines, status_interval_s=settings.market.status_interval_s)
        venues: dict[str, list[str]] = {}
        for key in keys:
            venues.setdefault(key.split(":", 1)[0], []).append(key)
        for venue, venue_keys in venues.items():
            adapter = create_adapter(
                venue, settings.venues.for_venue(venue), [specs[k] for k in venue_keys], runner.sink
            )
            runner.add_adapter(adapter, venue_keys)
        if settings.http.enabled:
            ops = _ops_server(settings, runner)
            await ops.start()
            stack.push_async_callback(ops.stop)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, runner.stop)
        log.info(
            "mmbot running",
            engines=list(settings.engines),
            instruments=keys,
            offline=offline,
            duration_s=duration_s,
        )
        try:
            await runner.run(duration_s)
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
        return {
            "instruments": runner.status_lines(),
            "adapters": {venue: adapter_stats(adapter) for venue, adapter in runner.adapters.items()},
            "task_restarts": runner.task_restarts,
        }


async def load_specs(settings: Settings, keys: list[str], *, offline: bool) -> dict[str, InstrumentSpec]:
    """Instrument specs per the ``[metadata]`` settings, with per-venue fee overrides.

    Offline runs use the shipped cache only: the bundled recordings were made under
    those tick/lot sizes, whatever a newer user cache says.
    """
    from bot.venues.metadata import cache_dir_for, resolve_instruments

    venues = {key.split(":", 1)[0] for key in keys}
    rest_urls = {v: url for v in venues if (url := settings.venues.for_venue(v).rest_url)}
    fees = {
        v: (vs.maker_fee, vs.taker_fee)
        for v in venues
        if (vs := settings.venues.for_venue(v)).maker_fee is not None and vs.taker_fee is not None
    }
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


def _ops_server(settings: Settings, runner: LiveRunner) -> OpsServer:
    host, port = settings.http.host_port
    ops = OpsServer(
        registry=build_registry(runner, time.time_ns),
        status=lambda: {
            "instruments": runner.status_lines(),
            "adapters": {v: adapter_stats(a) for v, a in runner.adapters.items()},
        },
        host=host,
        port=port,
        token=settings.http.control_token(),
    )
    stale_after_ns = int(settings.market.stale_after_s * NS_PER_S)

    def books_valid() -> str | None:
        bad = [
            f"{line['instrument']}: {line['reason'] or line['state']}"
            for line in runner.status_lines()
            if not line["valid"]
        ]
        return "; ".join(bad) or None

    def feeds_fresh() -> str | None:
        now = time.time_ns()
        stale = [
            f"{key}: {'no data yet' if not state.last_event_ts else f'silent {(now - state.last_event_ts) / NS_PER_S:.1f}s'}"
            for engine in runner.engines
            for key, state in engine.instruments.items()
            if not state.last_event_ts or now - state.last_event_ts > stale_after_ns
        ]
        return "; ".join(stale) or None

    ops.add_check("feeds_fresh", feeds_fresh)
    ops.add_check("books_valid", books_valid)
    return ops


@contextlib.asynccontextmanager
async def _offline_emulator(settings: Settings) -> AsyncIterator[Settings]:
    """Start the emulator in-process and point every venue at it."""
    from bot.emulator.offline import offline_emulator
    from bot.emulator.protocol import EMULATED_VENUES

    emulator = offline_emulator(settings.offline)
    served = {f"{venue}:{symbol}" for venue, symbol in emulator.source.markets()}
    missing = [key for key in settings.instruments() if key not in served]
    if missing:
        raise InputError(
            f"offline mode: the replay has no data for {', '.join(missing)}; add recordings of them to "
            f"offline.replay (it serves {', '.join(sorted(served))})"
        )
    async with emulator:
        # model_copy, not re-validation: MMBOT_* env must not point an offline run elsewhere
        venues = settings.venues.model_copy(
            update={
                venue: settings.venues.for_venue(venue).model_copy(update=emulator.overrides(venue))
                for venue in VenuesSettings.model_fields
                if venue in EMULATED_VENUES
            }
        )
        log.info("offline: emulator started", url=emulator.url)
        yield settings.model_copy(update={"venues": venues})


def format_summary(summary: dict[str, Any]) -> str:
    lines = ["mmbot run summary"]
    for row in summary["instruments"]:
        lines.append(
            f"  {row['engine']} {row['instrument']}: {'VALID' if row['valid'] else 'INVALID'}"
            f" bid {row['best_bid']} x {row['bid_size']} / ask {row['best_ask']} x {row['ask_size']}"
            f", {row['levels']} levels, diffs applied {row['applied']}, gaps {row['gaps']},"
            f" resyncs {row['resyncs']}, dropped {row['dropped']}"
            + (f" ({row['reason']})" if row["reason"] else "")
        )
    for venue, stats in summary["adapters"].items():
        lines.append(f"  {venue}: " + ", ".join(f"{k} {v}" for k, v in stats.items()))
    return "\n".join(lines)
