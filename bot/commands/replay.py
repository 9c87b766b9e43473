"""``mmbot replay FILE ...``: the live engine core at full speed over a recorded input."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec

from bot.commands import argtypes
from bot.config import config_source, load_settings
from bot.core.instrument import InstrumentSpec
from bot.core.units import money_text
from bot.engine.assemble import load_strategy, strategy_search
from bot.errors import EXIT_INTERRUPTED, InputError
from bot.ops.logging import configure_logging
from bot.replay import open_replay
from bot.replay.readers import shipped_spec
from bot.replay.run import MinimalMM, ReplayRun, check_run_dir


def register(subparsers: Any) -> None:
    replay = subparsers.add_parser(
        "replay",
        help="Run the engine core at full speed over a recorded file (no sockets).",
        description="Replay a recorded input through the same engine core as `mmbot run` (book sync, "
        "paper exchange, estimators, risk, quoter, order manager, hedger) at full speed, with event "
        "time as the clock. Inputs: raw Binance recordings (gzip, several day files chain), Tardis "
        "incremental_book_L2 + trades CSV, the reference NPZ stream of benchmarks/reference/gen_l2.py, or "
        "synthetic:<scenario>[?seed=N&duration=S&start=UNIX_SECONDS] (start: the first event's time, "
        "default 1700000000; perp funding settles on 8-hour boundaries). With a config of several engines and no --instrument, a "
        "synthetic scenario is rendered for every configured market and every engine runs on one clock; "
        "a [deal] section adds the deal desk (its accounts, the PancakeSwap pool, the whole-book hedge and "
        "the deal's lifecycle: `mmbot replay synthetic:abc_launch --config config/abc.toml`). Writes RUN_DIR "
        "with the journals, config.json and summary.json; `mmbot report RUN_DIR` renders it. Same input + "
        "config + seed = identical journal.",
    )
    replay.add_argument("files", nargs="+", help="Input file(s) or synthetic:<scenario>.")
    replay.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="FILE",
        help="TOML config (default: ./config/default.toml if present, else the packaged defaults).",
    )
    replay.add_argument(
        "--strategy",
        default=None,
        metavar="NAME|minimal",
        help="Strategy profile NAME.toml on the profile search path (quoting.strategies_dir, strategies/ "
        "next to the config, ./config/strategies, packaged), or 'minimal' for the shared "
        "benchmark's minimal market maker (throughput comparisons).",
    )
    replay.add_argument(
        "--instrument",
        default=None,
        metavar="VENUE:SYMBOL",
        help="Instrument to quote (one engine). Default: the config's engines whose markets are in the input.",
    )
    replay.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="RUN_DIR",
        help="Run directory (must not exist; default runs/<input>-<strategy>-<time>).",
    )
    replay.add_argument("--resume", action="store_true", help="Continue an interrupted run in --out.")
    replay.add_argument(
        "--tick-size",
        type=Decimal,
        default=None,
        metavar="D",
        help="Override the instruments' tick size (e.g. historical data recorded under an "
        "older tick: Binance BTCUSDT perp was 0.01 in 2020).",
    )
    replay.add_argument(
        "--lot-size",
        type=Decimal,
        default=None,
        metavar="D",
        help="Override the instruments' size resolution (and order step, if coarser).",
    )
    replay.add_argument(
        "--seed",
        type=argtypes.integer(0, 2**63 - 1),
        default=None,
        help="Paper-exchange seed (latency draws).",
    )
    replay.add_argument(
        "--commit-every",
        type=argtypes.integer(1, 100_000),
        default=1000,
        metavar="N",
        help="Journal commit every N events (default 1000; 1 = every event).",
    )
    replay.add_argument("--no-journal", action="store_true", help="Do not write a journal (benchmarks).")
    replay.add_argument(
        "--decide",
        choices=["every-event", "on-change"],
        default=None,
        help="When book changes make the strategy decide (overrides [quoting] decide; default from the "
        "config: every-event).",
    )
    replay.add_argument(
        "--progress",
        choices=["auto", "on", "off"],
        default="auto",
        help="Progress bar on stderr: auto = only on a terminal.",
    )
    replay.add_argument("--json", action="store_true", help="Print the summary as JSON.")
    replay.set_defaults(func=start_replay)


def start_replay(args: argparse.Namespace) -> int:
    if args.commit_every < 1:
        raise InputError(f"--commit-every must be >= 1, got {args.commit_every}")
    overrides: dict[str, Any] = {"http": {"enabled": False}}
    paper: dict[str, Any] = {"journal": {"commit_every": args.commit_every}}
    if args.no_journal:
        paper["journal"]["enabled"] = False
    if args.seed is not None:
        paper["seed"] = args.seed
    minimal = args.strategy == "minimal"
    if minimal:  # the shared benchmark's latencies: 200 us order entry and cancel
        paper["latency"] = {"order_entry": {"ms": 0.2}, "cancel": {"ms": 0.2}, "market_data": {"ms": 0.0}}
    overrides["paper"] = paper
    if args.decide is not None:
        overrides["quoting"] = {"decide": args.decide}
    source = config_source(args.config)
    settings = load_settings(source.path, **overrides)
    configure_logging(settings.logging)
    inputs: list[str] | str = args.files if len(args.files) > 1 else args.files[0]
    # synthetic input without instrument=: render every configured market (one clock) when the
    # config has several engines (a multi-venue market, a deal) and no --instrument picks one
    instruments = settings.instruments() if len(settings.engines) > 1 and args.instrument is None else None
    replay = open_replay(
        inputs, specs=_spec_overrides(args.tick_size, args.lot_size), instruments=instruments
    )
    name = args.strategy or next(iter(settings.engines.values())).strategy
    profile = None if minimal else load_strategy(strategy_search(settings, source), name)
    out = args.out or Path("runs") / f"{_stem(args.files[0])}-{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    check_run_dir(out, resume=args.resume)
    run = ReplayRun(
        settings.model_copy(update={"data_dir": out}),
        replay,
        out=out,
        profile=profile,
        instrument=args.instrument,
        minimal=MinimalMM() if minimal else None,
        resume=args.resume,
        strategies=None if args.strategy else strategy_search(settings, source),
    )
    run.write_config(
        {
            "input": args.files,
            "argv": sys.argv[1:],
            "config_file": str(source.path),
            "config_origin": source.origin,
        }
    )
    show = args.progress == "on" or (args.progress == "auto" and sys.stderr.isatty())
    try:
        result = run.run(progress=_progress if show else None)
    finally:
        replay.close()
        if show:
            sys.stderr.write("\n")
    summary = result.summary
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        print(format_replay_summary(out, summary, run.trading.engine.instruments))
    return EXIT_INTERRUPTED if result.status == "interrupted" else 0


def format_replay_summary(out: Path, summary: dict[str, Any], instruments: dict[str, Any]) -> str:
    """The replay's summary for a person: counts, first quote, rejects, PnL in the quote's precision."""
    lines = [
        f"{out}: {summary['status']}, {summary['events']:,} events in {summary['loop_s']:.2f}s "
        f"({summary['events_per_s'] or 0:,} events/s)"
    ]
    state = instruments.get(summary.get("instrument", ""))
    if "pnl" not in summary or state is None:
        return "\n".join(lines + _book_lines(out, summary))
    spec = state.spec
    sent = summary.get("orders_sent") or {}
    manager = summary.get("order_manager") or {}
    if sent:
        lines.append(
            f"  quote orders {sum(sent.values()):,} ({sent.get('buy', 0):,} buy / {sent.get('sell', 0):,} sell), "
            f"cancels {manager.get('cancels', 0):,}, fills {summary.get('fills', 0):,}, "
            f"regime at the end {summary.get('regime', '-')}"
        )
    else:  # the minimal market maker: no quoting pipeline, only the exchange's command count
        lines.append(f"  orders and cancels {summary.get('orders', 0):,}, fills {summary.get('fills', 0):,}")
    first = summary.get("time_to_first_quote_s")
    lines.append(
        f"  first quote {first:.1f} s of market time after the first event"
        if first is not None
        else "  no quote sent"
    )
    rejects = summary.get("rejects") or {}
    lines.append(
        "  rejects "
        + (
            f"{sum(rejects.values())}: " + ", ".join(f"{r} {n}" for r, n in rejects.items())
            if rejects
            else "0"
        )
    )
    pnl = summary["pnl"]
    lines.append(
        f"  PnL {money_text(spec, pnl['total'], signed=True)} {spec.quote}: spread capture "
        f"{money_text(spec, pnl['spread_capture'], signed=True)}, rebates {money_text(spec, pnl['rebates'], signed=True)}, "
        f"fees {money_text(spec, pnl['fees'], signed=True)}, inventory {money_text(spec, pnl['inventory'], signed=True)}, "
        f"funding {money_text(spec, pnl['funding'], signed=True)}"
    )
    start = summary.get("starting_balances") or {}
    lines.append("  starting balances " + ", ".join(f"{a} {v}" for a, v in start.items()))
    return "\n".join(lines + _book_lines(out, summary))


def _book_lines(out: Path, summary: dict[str, Any]) -> list[str]:
    """With several engines (the lines above are the first one's): every engine's orders and fills
    and the PnL of every account -- the whole book's, the deal statement's, when a deal ran."""
    engines = summary.get("engines")
    if not engines:
        return []
    orders = sum(int(e.get("orders", 0)) for e in engines)
    fills = sum(int(e.get("fills", 0)) for e in engines)
    line = f"  {len(engines)} engines: orders {orders:,}, fills {fills:,}"
    deal = summary.get("deal")
    if deal is None:
        return [f"{line}, PnL {Decimal(summary['pnl_total']):,.2f} (every account)"]
    statement = deal["statement"]
    return [
        f"{line}; deal {deal['deal']} {deal['phase']}, PnL {Decimal(statement['total']):,.2f} "
        f"(the whole book; statement - ledger = {statement['difference']}; `mmbot report {out}`)"
    ]


def _progress(run: ReplayRun, elapsed: float) -> None:
    pnl = run.total_pnl()
    sim = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(run.trading.engine.clock.now / 1e9))
    rate = run.events / elapsed if elapsed > 0 else 0.0
    done = run.replay.fraction_done() * 100
    sys.stderr.write(
        f"\r{done:5.1f}%  {run.events:>12,} events  {rate:>10,.0f} ev/s  sim {sim}  PnL {pnl:+.4f}   "
    )
    sys.stderr.flush()


def _spec_overrides(tick: Decimal | None, lot: Decimal | None) -> Callable[[str], InstrumentSpec] | None:
    """Specs from the shipped cache with the command line's tick/lot sizes applied."""
    if tick is None and lot is None:
        return None
    for name, value in (("--tick-size", tick), ("--lot-size", lot)):
        if value is not None and value <= 0:
            raise InputError(f"{name} must be positive, got {value}")

    def lookup(key: str) -> InstrumentSpec:
        spec = shipped_spec(key)
        changes: dict[str, Decimal] = {}
        if tick is not None:
            changes["tick_size"] = tick
        if lot is not None:
            changes["lot_size"] = lot
            if spec.qty_step % lot:
                changes["qty_step"] = lot
        try:
            return msgspec.structs.replace(spec, **changes)
        except ValueError as exc:
            raise InputError(f"{key}: {exc}") from None

    return lookup


def _stem(name: str) -> str:
    stem = Path(name.split("?")[0].replace(":", "_")).name
    for suffix in (".gz", ".npz", ".csv", ".dat"):
        stem = stem.removesuffix(suffix)
    return stem or "replay"
