"""``mmbot markets show``: print the instrument specs (tick, lot, minimums, fees) in use.

Shows, for every instrument the configured engines need, the spec ``mmbot run`` would
use and where it came from (the exchange, the on-disk cache, or the cache shipped with
mmbot). Modes:

* default: fetch from the exchange, fall back to the cache with a warning (as ``run``);
* ``--offline``: caches only, never touches the network;
* ``--refresh``: fetch and update the cache, and fail (exit 1) if the exchange cannot
  be reached instead of falling back.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import structlog

from bot.commands import argtypes
from bot.config import Settings, load_settings
from bot.errors import InputError
from bot.venues.metadata import ResolvedSpec, cache_dir_for, resolve_instruments
from bot.venues.metadata_cache import decimal_text

_COLUMNS = (
    ("instrument", None),
    ("kind", None),
    ("tick", "tick_size"),
    ("lot", "lot_size"),
    ("qty step", "qty_step"),
    ("min qty", "min_qty"),
    ("min notional", "min_notional"),
    ("maker", "maker_fee"),
    ("taker", "taker_fee"),
)


def register(subparsers: Any) -> None:
    markets = subparsers.add_parser("markets", help="Inspect market metadata (tick, lot, minimums, fees).")
    actions = markets.add_subparsers(dest="markets_command", metavar="ACTION")
    actions.required = True
    show = actions.add_parser(
        "show",
        help="Print the instrument specs in use for the configured engines.",
        description="Print tick size, lot size, order step, minimums and fees for every instrument "
        "the configured engines use, and where each came from (exchange, cache, shipped cache). "
        "By default the exchange is asked and the cache is the fallback.",
    )
    show.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="TOML config file (default: ./config/default.toml if present, else the packaged defaults).",
    )
    show.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="Data directory holding the cache (default: from config).",
    )
    mode = show.add_mutually_exclusive_group()
    mode.add_argument(
        "--offline", action="store_true", help="Never touch the network: on-disk and shipped caches only."
    )
    mode.add_argument(
        "--refresh",
        action="store_true",
        help="Fetch from the exchange and update the cache; fail instead of falling back to the cache.",
    )
    show.add_argument(
        "--timeout",
        type=argtypes.seconds,
        default=10.0,
        metavar="SECONDS",
        help="Per-venue fetch timeout (default 10).",
    )
    show.add_argument("--json", action="store_true", help="Print JSON only.")
    show.set_defaults(func=start_markets_show)


def _rest_urls(settings: Settings, venues: set[str]) -> dict[str, str]:
    urls: dict[str, str] = {}
    for venue in sorted(venues):
        rest_url = settings.venues.for_venue(venue).rest_url
        if rest_url:
            urls[venue] = rest_url
    return urls


def start_markets_show(args: argparse.Namespace) -> int:
    if args.timeout <= 0:
        raise InputError(f"--timeout must be positive, got {args.timeout}")
    if not structlog.is_configured():
        # Keep warnings off stdout so --json output stays parseable.
        structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=sys.stderr))
    settings = load_settings(args.config)
    keys = settings.instruments()
    data_dir = args.data_dir if args.data_dir is not None else settings.data_dir
    venues = {key.split(":", 1)[0] for key in keys}
    fees = {venue: rates for venue in venues if (rates := settings.venues.fee_rates(venue)) is not None}
    resolved = asyncio.run(
        resolve_instruments(
            keys,
            cache_dir=cache_dir_for(data_dir),
            offline=args.offline,
            timeout_s=args.timeout,
            rest_urls=_rest_urls(settings, venues),
            fallback=not args.refresh,
            fee_overrides=fees or None,
        )
    )
    fee_sources = {venue: _fee_source(settings, venue) for venue in venues}
    if args.json:
        rows = []
        for item in resolved.values():
            row = _as_json(item)
            row["fees_from"] = fee_sources[item.spec.venue] if item.fees_overridden else "metadata"
            rows.append(row)
        print(json.dumps({"instruments": rows}, indent=2))
    else:
        _print_table(list(resolved.values()), fee_sources)
    return 0


def _fee_source(settings: Settings, venue: str) -> str:
    """Where the configured fees of ``venue`` come from (a tier and its published source)."""
    section: Any = settings.venues.for_venue(venue) if not venue.startswith("ccxt_") else None
    if section is None or section.maker_fee is not None:
        return "maker_fee/taker_fee in the config"
    from bot.venues.fee_tiers import tier_rates

    tier = tier_rates(venue, section.fee_tier)
    return f"fee tier {section.fee_tier} ({tier.source})"


def _as_json(item: ResolvedSpec) -> dict[str, Any]:
    spec = item.spec
    row: dict[str, Any] = {
        "instrument": spec.key,
        "venue": spec.venue,
        "symbol": spec.symbol,
        "kind": spec.kind.value,
        "base": spec.base,
        "quote": spec.quote,
    }
    for _, name in _COLUMNS:
        if name is not None:
            row[name] = decimal_text(getattr(spec, name))
    row["contract_size"] = decimal_text(spec.contract_size)
    row["origin"] = item.origin
    row["location"] = item.location
    row["fetched_at"] = item.fetched_at
    return row


def _source_text(item: ResolvedSpec) -> str:
    when = f", fetched {item.fetched_at}" if item.fetched_at else ""
    return f"{item.origin}: {item.location}{when}"


def _print_table(items: list[ResolvedSpec], fee_sources: dict[str, str]) -> None:
    rows = []
    for item in items:
        spec = item.spec
        cells = [spec.key, spec.kind.value]
        cells += [decimal_text(getattr(spec, name)) for _, name in _COLUMNS if name is not None]
        rows.append(cells)
    headers = [title for title, _ in _COLUMNS]
    widths = [max(len(headers[i]), *(len(row[i]) for row in rows)) for i in range(len(headers))]
    print("  ".join(title.ljust(widths[i]) for i, title in enumerate(headers)).rstrip())
    for row in rows:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    print()
    for item in items:
        fees = fee_sources.get(item.spec.venue) if item.fees_overridden else "the metadata"
        print(f"{item.spec.key}: {_source_text(item)}; fees: {fees}")
