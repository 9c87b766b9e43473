"""``mmbot emulator``: run the loopback exchange on 127.0.0.1.

Serves Binance spot and USD-M websocket streams and REST depth snapshots, Bybit v5
(``/v5/public/spot``, ``/v5/public/linear``), OKX (``/ws/v5/public``) and Bitget v2
(``/v2/ws/public``) websocket protocols, from real recordings (default: the Binance recordings bundled with mmbot)
or a synthetic scenario, with optional scheduled faults. When ready it prints exactly one line to stdout -- the base URL,
e.g. ``http://127.0.0.1:40123`` -- and logs to stderr. SIGINT/SIGTERM stop it
cleanly (exit 0).

Point a client at it with ``ws_url``/``rest_url`` overrides: spot ``ws://HOST:PORT``,
USD-M ``ws://HOST:PORT/public`` (+ ``ws_market_url`` ``ws://HOST:PORT/market``), REST
``http://HOST:PORT`` for both.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import structlog

from bot.commands import argtypes
from bot.config import bundled_replay_files
from bot.core.instrument import InstrumentSpec
from bot.emulator.faults import GRAMMAR, ScheduledFault, parse_fault_spec
from bot.emulator.server import EmulatorServer
from bot.emulator.source import MarketSource
from bot.emulator.sources import load_replay
from bot.emulator.synthetic_source import FALLBACK_SPECS, SyntheticSource, scenario_names
from bot.errors import InputError

DEFAULT_INSTRUMENTS = ("binance_spot:BTCUSDT", "binance_usdm:BTCUSDT")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "emulator",
        help="Run the loopback exchange (Binance, Bybit, OKX; replay or synthetic) on 127.0.0.1.",
        description="Serve Binance spot / USD-M websocket streams and REST depth snapshots and the "
        "Bybit v5 and OKX websocket protocols (one port, the venues' own paths) from a replay of "
        "real recordings (default: the bundled Binance ones) or a synthetic "
        "scenario, with optional fault injection. Prints the base URL on one stdout line when ready.",
        epilog=f"Fault grammar: {GRAMMAR}; kinds: gap, drop, stall, stall_depth (the book stream "
        "stops, trades and bookTicker go on), malformed, out_of_order, checksum (OKX). "
        "SECONDS count replay time from the start, e.g. --fault gap@30 --fault "
        "stall@60,duration=8,venue=binance_usdm --fault drop@10,every=120,duration=3.",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--replay",
        metavar="FILE",
        type=Path,
        nargs="+",
        action="extend",
        help="Recordings to replay: Binance stream files (<ts> <json> lines, .gz ok; day files "
        "of one session in any order), Bybit history files (.data.zip) or cryptofeed OKX / Bitget logs; "
        "any mix. Default: the bundled Binance recordings.",
    )
    source.add_argument("--scenario", metavar="NAME", help="Synthetic market scenario instead of a replay.")
    parser.add_argument(
        "--seed",
        type=argtypes.integer(0, 2**63 - 1),
        default=1,
        help="Seed of the synthetic market (default 1).",
    )
    parser.add_argument(
        "--instrument",
        metavar="VENUE:SYMBOL",
        action="append",
        help="Synthetic markets to serve (repeatable; default binance_spot:BTCUSDT and "
        "binance_usdm:BTCUSDT; also bybit_spot:BTCUSDT, bybit_linear:BTCUSDT, okx_spot:BTC-USDT, "
        "okx_swap:BTC-USDT-SWAP, bitget_spot:BTCUSDT, bitget_usdtm:BTCUSDT, and the ABC token: "
        "binance_spot:ABCUSDT, bybit_spot:ABCUSDT, bitget_spot:ABCUSDT, binance_usdm:ABCUSDT -- one "
        "price path on every venue, e.g. --scenario abc_launch).",
    )
    parser.add_argument(
        "--start-price",
        default=None,
        help="Synthetic start price (default: 60000; token markets such as ABCUSDT start at the "
        "token's own price, 1.0 for ABC).",
    )
    parser.add_argument(
        "--speed",
        default="1",
        help="Playback speed: multiple of the recorded pace, or 'max' (= 0) for as fast as "
        "clients read (default 1).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="Bind address (default 127.0.0.1).")
    parser.add_argument("--port", type=int, default=8765, help="Port; 0 = any free port (default 8765).")
    parser.add_argument(
        "--fault", metavar="SPEC", action="append", default=[], help=f"Scheduled fault: {GRAMMAR}."
    )
    parser.add_argument(
        "--no-loop", action="store_true", help="Stay idle at the end instead of restarting the replay."
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help="Replay every market to its own end. By default a multi-market replay stops (and "
        "loops) at the earliest end among its markets, so no venue goes silent while another plays.",
    )
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"], help="Log level."
    )
    parser.set_defaults(func=start_emulator)


def parse_speed(text: str) -> float:
    if text.strip().lower() in ("max", "0"):
        return 0.0
    try:
        speed = float(text)
    except ValueError:
        raise InputError(f"--speed {text!r}: expected a positive number or 'max'") from None
    if not speed > 0 or speed == float("inf"):
        raise InputError(f"--speed {text!r}: expected a positive number or 'max'")
    return speed


def _spec(key: str) -> InstrumentSpec:
    venue, colon, symbol = key.partition(":")
    if not colon:
        raise InputError(f"--instrument {key!r}: expected VENUE:SYMBOL, e.g. binance_spot:BTCUSDT")
    spec = FALLBACK_SPECS.get((venue, symbol.upper()))
    if spec is None:
        known = ", ".join(f"{v}:{s}" for v, s in FALLBACK_SPECS)
        raise InputError(f"--instrument {key!r}: no instrument spec known (known: {known})")
    return spec


def build_source(args: argparse.Namespace) -> MarketSource:
    if args.scenario is not None:
        names = scenario_names()
        if names and args.scenario not in names:
            raise InputError(f"--scenario {args.scenario!r}: unknown; scenarios: {', '.join(names)}")
        start_price = None
        if args.start_price is not None:
            try:
                start_price = Decimal(args.start_price)
            except InvalidOperation:
                raise InputError(f"--start-price {args.start_price!r}: not a number") from None
            if not start_price.is_finite() or not start_price > 0:
                raise InputError(f"--start-price {args.start_price!r}: must be positive")
        specs = [_spec(key) for key in (args.instrument or DEFAULT_INSTRUMENTS)]
        return SyntheticSource(args.scenario, seed=args.seed, specs=specs, start_price=start_price)
    if args.instrument:
        raise InputError("--instrument applies to --scenario only")
    files = args.replay or bundled_replay_files()
    if not files:
        raise InputError("no --replay files given and no bundled recordings found")
    source = load_replay(files)
    return source if args.full else source.common_window()


def _configure_logging(level: str) -> None:
    """Logs to stderr: stdout carries only the URL line."""
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer()
            if not sys.stderr.isatty()
            else structlog.dev.ConsoleRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )


def start_emulator(args: argparse.Namespace) -> int:
    _configure_logging(args.log_level)
    speed = parse_speed(args.speed)
    if not 0 <= args.port <= 65535:
        raise InputError(f"--port {args.port}: expected 0..65535")
    faults = [parse_fault_spec(spec) for spec in args.fault]
    source = build_source(args)
    return asyncio.run(_serve(source, args.host, args.port, speed, not args.no_loop, faults))


async def _serve(
    source: MarketSource, host: str, port: int, speed: float, loop: bool, faults: list[ScheduledFault]
) -> int:
    stop = asyncio.Event()
    running = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            running.add_signal_handler(sig, stop.set)
    server = EmulatorServer(source, host=host, port=port, speed=speed, loop=loop, faults=faults)
    try:
        await server.start()
    except OSError as exc:
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    try:
        print(server.url, flush=True)
        await stop.wait()
    finally:
        await server.stop()
    return 0
