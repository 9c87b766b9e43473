"""``mmbot config check [FILE]`` and ``mmbot config init [DIR]``.

``check`` loads the config ``mmbot run`` would use (``FILE``, else ``./config/default.toml``
if present, else the packaged defaults; see :mod:`bot.defaults`), applies the
``MMBOT_*`` overrides and checks what ``mmbot run`` would check before it starts: each
quoting engine's profile (or ``--strategy``'s) -- the file, its sigma horizon against the
estimator horizons, and its ladder sizes against the engine's instrument where the
instrument's metadata is cached locally (no network) --, every other profile on the
profile search path a runtime switch (SIGHUP, ``POST /control/strategy``) could load (its
file must be valid; one that reads sigma at a horizon this config's estimators lack is
listed as not switchable: a note, not an error, since profiles are shared by several
configs), and the deal file of every hedged engine (``hedge.deal``). It prints which files
were used and the effective configuration; any problem is exit 2 naming the file, the
field and the problem. ``init`` writes an editable copy of the packaged defaults
(``default.toml``, ``hedged.toml``, ``strategies/``, ``deals/``, ``sweeps/``) into a directory."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.buildinfo import PURE_ENV
from bot.config import ENV_PREFIX, ConfigError, Settings, config_source, load_settings
from bot.core.instrument import InstrumentSpec
from bot.defaults import LOCAL_DIR, write_defaults
from bot.errors import MmbotError

if TYPE_CHECKING:
    from bot.engine.assemble import StrategySearch


def register(subparsers: Any) -> None:
    config = subparsers.add_parser(
        "config", help="Check the configuration a run would use, or write an editable copy of the defaults."
    )
    actions = config.add_subparsers(dest="config_command", metavar="ACTION")
    actions.required = True
    check = actions.add_parser(
        "check",
        help="Show which config and strategy files a run would use, validate them, print the effective config.",
        description="Find the config file `mmbot run` would use (FILE, else ./config/default.toml if "
        "present, else the defaults shipped with mmbot), apply MMBOT_* environment overrides, load "
        "and validate every strategy profile the run would load (and every other profile on the search "
        "path a runtime switch could load) and the deal file of every hedged engine, and print the files "
        "used and the effective configuration. Exit code 2 names the file, field and problem on bad input.",
    )
    check.add_argument(
        "file",
        type=Path,
        nargs="?",
        default=None,
        metavar="FILE",
        help="TOML config file (default: the one `mmbot run` would use without --config).",
    )
    check.add_argument(
        "--strategy",
        default=None,
        metavar="NAME",
        help="Check profile NAME for every quoting engine, as `mmbot run --strategy NAME` would.",
    )
    check.add_argument(
        "--json",
        action="store_true",
        help="Print JSON only: files used, profiles and the effective settings.",
    )
    check.set_defaults(func=start_config_check)
    init = actions.add_parser(
        "init",
        help="Write an editable copy of the default config and strategy profiles into DIR.",
        description="Copy the defaults shipped with mmbot -- default.toml, hedged.toml, strategies/*.toml, "
        "deals/*.toml and sweeps/*.toml -- into DIR (default ./config, which `mmbot run` then uses without "
        "--config). Existing files are never overwritten unless --force.",
    )
    init.add_argument(
        "dir",
        type=Path,
        nargs="?",
        default=LOCAL_DIR,
        metavar="DIR",
        help="Target directory (default: ./config).",
    )
    init.add_argument("--force", action="store_true", help="Overwrite files that already exist.")
    init.set_defaults(func=start_config_init)


def start_config_check(args: argparse.Namespace) -> int:
    from bot.engine.assemble import strategy_search

    source = config_source(args.file)
    settings = load_settings(source.path)
    search = strategy_search(settings, source)
    profiles, notes = check_profiles(settings, search, args.strategy)
    check_deals(settings)
    # MMBOT_PURE picks the build (bot/buildinfo.py), it is not a setting
    overrides = sorted(key for key in os.environ if key.startswith(ENV_PREFIX) and key != PURE_ENV)
    effective = settings.model_dump(mode="json")
    if args.json:
        out = {
            "config": {"path": str(source.path), "origin": source.origin},
            "strategy_search_path": [{"path": str(s.path), "origin": s.origin} for s in search],
            "profiles": profiles,
            "notes": notes,
            "environment": overrides,
            "settings": effective,
        }
        print(json.dumps(out, indent=2))
        return 0
    print(f"config: {source.describe()}")
    print("strategy profiles are looked up in, first match wins:")
    for index, folder in enumerate(search, 1):
        print(f"  {index}. {folder.describe()}")
    for name, entry in profiles.items():
        print(f"engine {name}: strategy {entry['strategy']} ({entry['quoter']}) from {entry['file']}")
    for note in notes:
        print(f"note: {note}")
    if overrides:
        print("environment overrides: " + ", ".join(overrides))
    print(f"OK: the config and {len(profiles)} strategy profile(s) are valid. Effective configuration:")
    print(json.dumps(effective, indent=2))
    return 0


def start_config_init(args: argparse.Namespace) -> int:
    written = write_defaults(args.dir, force=args.force)
    print(f"wrote {len(written)} files to {args.dir}:")
    for path in written:
        print(f"  {path}")
    if args.dir.resolve() == LOCAL_DIR.resolve():
        print("`mmbot run` in this directory now uses them (check with `mmbot config check`).")
    else:
        print(
            f"use them with `mmbot run --config {args.dir / 'default.toml'}` (check with `mmbot config check`)."
        )
    return 0


def check_profiles(
    settings: Settings, search: StrategySearch, override: str | None = None
) -> tuple[dict[str, dict[str, str]], list[str]]:
    """Validate every profile ``mmbot run`` could load from ``search``; ConfigError listing
    every problem. Returns each quoting engine's profile (name, file, quoter) and notes on
    the profiles this config cannot switch to."""
    from bot.engine.assemble import find_strategy, profile_names
    from bot.risk.settings import check_horizons as check_risk_horizons
    from bot.strategy.profile import build_quoter, check_horizons, load_profile

    horizons = settings.estimators.vol_horizons_s
    problems: list[str] = []
    quoting = {name: engine for name, engine in settings.engines.items() if engine.quote}
    if quoting:
        try:
            check_risk_horizons(settings.risk, horizons)
        except ConfigError as exc:
            problems.append(str(exc))
    specs = _cached_specs([engine.key for engine in quoting.values()], settings)
    wanted = {name: override or engine.strategy for name, engine in quoting.items()}
    profiles: dict[str, dict[str, str]] = {}
    notes: list[str] = []
    for name in sorted(set(wanted.values()) | set(profile_names(search))):
        users = sorted(engine for engine, profile_name in wanted.items() if profile_name == name)
        try:
            path = find_strategy(search, name)
            profile = load_profile(path)
        except ConfigError as exc:
            problems.append(str(exc) + (f" (used by engines {users})" if users else ""))
            continue
        try:
            check_horizons(profile, horizons, str(path))
        except ConfigError as exc:
            if users:
                problems.append(f"{exc} (used by engines {users})")
            else:
                notes.append(f"not switchable under this config: {exc}")
            continue
        for engine_name in users:
            profiles[engine_name] = {"strategy": name, "file": str(path), "quoter": profile.quoter}
            key = quoting[engine_name].key
            spec = specs.get(key)
            if spec is None:
                continue
            try:
                build_quoter(profile, spec)
            except ConfigError as exc:
                problems.append(f"{path}: engine {engine_name} ({key}): {exc}")
    if problems:
        raise ConfigError("\n".join(problems))
    return {name: profiles[name] for name in quoting if name in profiles}, notes


def check_deals(settings: Settings) -> None:
    """The deal file of every hedged engine, as ``mmbot run`` loads it (schema and cross-checks;
    its token against the engine's market where that market's metadata is cached)."""
    from bot.hedge.deal import load_deal

    problems: list[str] = []
    hedged = {name: engine for name, engine in settings.engines.items() if engine.hedge is not None}
    specs = _cached_specs([engine.key for engine in hedged.values()], settings)
    for name, engine in hedged.items():
        path = settings.hedge.resolve(name).deal
        if path is None:
            continue
        try:
            deal = load_deal(path, dt.date.min)  # as run: expiry is checked against event time later
        except ConfigError as exc:
            problems.append(f"{exc} (deal of engine {name})")
            continue
        spec = specs.get(engine.key)
        if spec is not None and (deal.token, deal.quote) != (spec.base, spec.quote):
            problems.append(
                f"hedge.deal: {path} is a {deal.token}/{deal.quote} deal, engine {name} trades "
                f"{spec.base}/{spec.quote}"
            )
    if problems:
        raise ConfigError("\n".join(dict.fromkeys(problems)))


def _cached_specs(keys: list[str], settings: Settings) -> dict[str, InstrumentSpec]:
    """Specs from the local metadata caches only (shipped + data_dir); unknown keys are skipped."""
    from bot.venues.metadata import cache_dir_for, resolve_instruments

    specs: dict[str, InstrumentSpec] = {}
    cache = cache_dir_for(Path(settings.data_dir))
    for key in dict.fromkeys(keys):
        try:
            resolved = asyncio.run(
                resolve_instruments(
                    [key], cache_dir=cache if cache.is_dir() else None, offline=True, fallback=True
                )
            )
        except MmbotError:
            continue
        specs[key] = resolved[key].spec
    return specs
