"""``mmbot ledger show``: balances, positions, PnL attribution and recent fills.

Reads every paper journal under ``<data dir>/journal/`` read-only (safe while the bot
runs: SQLite WAL readers never block the writer) and rebuilds each ledger with the
instrument specs and settings stored in the journal itself.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec

from bot.commands import argtypes
from bot.config import load_settings
from bot.core.instrument import InstrumentSpec
from bot.core.units import (
    base_text,
    exact_text,
    money_text,
    price_text,
    price_value_text,
    size_text,
    tidy,
)
from bot.errors import InputError
from bot.paper.settings import PaperSettings
from bot.store.journal import SUFFIX
from bot.store.recovery import journal_directory, load_ledger


def register(subparsers: Any) -> None:
    ledger = subparsers.add_parser("ledger", help="Inspect the paper ledger.")
    actions = ledger.add_subparsers(dest="ledger_command", metavar="ACTION")
    actions.required = True
    show = actions.add_parser(
        "show",
        help="Print balances, positions, PnL attribution and recent fills.",
        description="Rebuild each paper ledger from its journal (read-only) and print balances, "
        "positions, the PnL attribution (spread capture, rebates, fees, funding, inventory) and "
        "the most recent fills.",
    )
    show.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="Data directory or replay run directory (default: data_dir of the config `mmbot run` would use).",
    )
    show.add_argument(
        "--fills",
        type=argtypes.integer(0, 100_000),
        default=10,
        metavar="N",
        help="Recent fills to list (default 10).",
    )
    show.add_argument("--json", action="store_true", help="Print JSON.")
    show.set_defaults(func=start_ledger_show)


def _journals(data_dir: Path) -> list[Path]:
    if not data_dir.is_dir():
        raise InputError(f"{data_dir}: data directory not found")
    settings = load_settings(None)
    paper = getattr(settings, "paper", None)
    directory = journal_directory(paper if isinstance(paper, PaperSettings) else PaperSettings(), data_dir)
    paths = sorted(directory.glob(f"*{SUFFIX}")) if directory.is_dir() else []
    if not paths:
        raise InputError(f"{directory}: no paper journals found")
    return paths


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts / 1e9, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def collect(path: Path, fills: int) -> tuple[dict[str, Any], dict[str, InstrumentSpec]]:
    """One journal's ledger as JSON-able data (exact decimals, fixed-point) and its specs."""
    exchange, journal = load_ledger(path)
    try:
        state = journal.state()
        recent = journal.recent_fills(fills)
        records = journal.seq
    finally:
        journal.close()
    specs = {spec.key: spec for spec in exchange.specs}
    for fill in recent:
        spec = specs.get(fill["instrument"])
        if spec is not None:
            fill["price"] = price_text(spec, fill["price"])
            fill["size"] = size_text(spec, fill["size"])
        fill["side"] = "buy" if fill["side"] > 0 else "sell"
        fill["time"] = _iso(fill["ts"])
    orders = []
    for order in exchange.orders.values():
        spec = specs[order.order.instrument]
        orders.append(
            {
                "client_id": order.client_id,
                "instrument": order.order.instrument,
                "side": "buy" if order.side > 0 else "sell",
                "price": price_text(spec, order.price),
                "remaining": size_text(spec, order.remaining),
                "queue_ahead": size_text(spec, order.ahead),
            }
        )
    ledger = exchange.ledger
    snapshot = tidy(msgspec.to_builtins(ledger.snapshot(), builtin_types=(Decimal,)))
    snapshot["starting_balances"] = {a: exact_text(v) for a, v in sorted(ledger.starting_balances.items())}
    report = {
        "name": path.name.removesuffix(SUFFIX),
        "journal": str(path),
        "records": records,
        "last_input_position": None if state is None else state.position,
        "last_ts": None if state is None or not state.now else _iso(state.now),
        "ledger": snapshot,
        "open_orders": orders,
        "in_flight": len(exchange.inflight),
        "recent_fills": tidy(recent),
    }
    return report, specs


class _Units:
    """Text for one ledger: money in the quote's precision, base amounts in the lot's."""

    def __init__(self, specs: dict[str, InstrumentSpec]) -> None:
        self.specs = specs
        self.quote_spec = next(iter(specs.values()))
        self.base = {spec.base: spec for spec in specs.values() if spec.kind.value == "spot"}

    def money(self, value: str | None, signed: bool = False) -> str:
        return "-" if value is None else money_text(self.quote_spec, value, signed=signed)

    def asset(self, asset: str, value: str) -> str:
        spec = self.base.get(asset)
        if spec is not None:
            return base_text(spec, Decimal(value))
        if asset == self.quote_spec.quote:
            return self.money(value)
        return value

    def price(self, key: str, value: str | None) -> str:
        spec = self.specs.get(key)
        if value is None or spec is None:
            return value or "-"
        return price_value_text(spec, Decimal(value))

    def size(self, key: str, value: str) -> str:
        spec = self.specs.get(key)
        return base_text(spec, Decimal(value)) if spec is not None else value


def _print(report: dict[str, Any], specs: dict[str, InstrumentSpec]) -> None:
    units = _Units(specs)
    ledger = report["ledger"]
    quote = ledger["quote"]
    print(f"== {report['name']}  ({report['journal']})")
    print(
        f"   {report['records']} records, last input #{report['last_input_position']}, at {report['last_ts']}"
    )
    pnl = ledger["attribution"]["total"]
    print(
        f"Equity {units.money(ledger['equity'])} {quote}  (start {units.money(ledger['equity_start'])}, "
        f"PnL {units.money(pnl, signed=True)})"
    )
    print("Balances (start)")
    start = ledger.get("starting_balances", {})
    for asset, amount in ledger["balances"].items():
        began = f"  ({units.asset(asset, start[asset])})" if asset in start else ""
        print(f"  {asset:<8} {units.asset(asset, amount):>18}{began}")
    print("Positions")
    print(
        f"  {'instrument':<24} {'size':>12} {'avg entry':>14} {'eff. entry':>14} {'mark':>12} "
        f"{'unrealized':>12} {'realized':>12} {'fees':>10} {'rebates':>10} {'funding':>10} {'fills':>6}"
    )
    for key, pos in ledger["positions"].items():
        cells = [
            f"{units.size(key, pos['size']):>12}",
            f"{units.price(key, pos['avg_entry']):>14}",
            f"{units.price(key, pos['effective_entry']):>14}",
            f"{units.price(key, pos['mark']):>12}",
            f"{units.money(pos['unrealized']):>12}",
            f"{units.money(pos['realized']):>12}",
            f"{units.money(pos['fees_paid']):>10}",
            f"{units.money(pos['rebates']):>10}",
            f"{units.money(pos['funding']):>10}",
            f"{pos['fills']:>6}",
        ]
        print(f"  {key:<24} " + " ".join(cells))
    print(f"PnL attribution ({quote})")
    attribution = ledger["attribution"]
    for name in ("spread_capture", "rebates", "fees", "funding", "inventory", "total"):
        print(f"  {name.replace('_', ' '):<16} {units.money(attribution[name], signed=True):>14}")
    if report["open_orders"] or report["in_flight"]:
        print(f"Open orders ({len(report['open_orders'])} live, {report['in_flight']} in flight)")
        for order in report["open_orders"]:
            print(
                f"  {order['client_id']:<16} {order['instrument']:<24} {order['side']:<4} "
                f"{order['remaining']:>12} @ {order['price']:<12} queue ahead {order['queue_ahead']}"
            )
    fills = report["recent_fills"]
    print(f"Recent fills ({len(fills)})")
    for fill in fills:
        print(
            f"  {fill['time']}  #{fill['fill_id']:<6} {fill['client_id']:<16} {fill['side']:<4} "
            f"{fill['size']:>12} @ {fill['price']:<12} {fill['liquidity']:<5} "
            f"fee {units.money(fill['fee'])} {fill['fee_asset']}"
        )


def start_ledger_show(args: argparse.Namespace) -> int:
    if args.fills < 0:
        raise InputError(f"--fills must be >= 0, got {args.fills}")
    data_dir = args.data_dir if args.data_dir is not None else load_settings(None).data_dir
    collected = [collect(path, args.fills) for path in _journals(Path(data_dir))]
    if args.json:
        print(json.dumps({"journals": [report for report, _specs in collected]}, indent=2, default=str))
    else:
        for index, (report, specs) in enumerate(collected):
            if index:
                print()
            _print(report, specs)
    return 0
