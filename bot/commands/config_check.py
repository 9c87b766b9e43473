"""``mmbot config check FILE``: validate a config file and the strategy profiles it would
load, and print the effective values.

Checked as ``mmbot run`` would check them before it starts: the settings (with ``MMBOT_*``
overrides), then each engine's profile -- the file, its sigma horizon against the
estimator horizons, and its ladder sizes against the engine's instrument where the
instrument's metadata is cached locally (no network) -- and every other profile in the
profiles directory a runtime switch (SIGHUP, ``POST /control/strategy``) could load: its
file must be valid; one that reads sigma at a horizon this config's estimators lack is
listed as not switchable (a note, not an error: profiles are shared by several configs).
The deal file of every hedged engine (``hedge.deal``) is loaded as ``mmbot run`` loads it.
Any problem is exit 2 naming the file, the field and the problem.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any

from bot.config import ConfigError, Settings, load_settings
from bot.core.instrument import InstrumentSpec
from bot.engine.assemble import load_strategy, profile_names, strategies_dir
from bot.errors import MmbotError
from bot.hedge.deal import load_deal
from bot.risk.settings import check_horizons as check_risk_horizons
from bot.strategy.profile import build_quoter, check_horizons


def register(subparsers: Any) -> None:
    config = subparsers.add_parser("config", help="Inspect configuration.")
    actions = config.add_subparsers(dest="config_command", metavar="ACTION")
    actions.required = True
    check = actions.add_parser(
        "check",
        help="Validate FILE (with MMBOT_* overrides) and its strategy profiles; print the effective config.",
        description="Validate a TOML config file, apply MMBOT_* environment overrides, validate every "
        "strategy profile the bot could load (each engine's, and every other profile in the profiles "
        "directory a runtime switch could load) and the deal file of every hedged engine, and print the "
        "effective configuration. Exit code 2 "
        "names the file, field and problem on bad input.",
    )
    check.add_argument("file", type=Path, help="TOML config file, e.g. config/default.toml")
    check.add_argument("--json", action="store_true", help="Print JSON only (no header line).")
    check.set_defaults(func=start_config_check)


def start_config_check(args: argparse.Namespace) -> int:
    settings = load_settings(args.file)
    directory = strategies_dir(settings, args.file)
    profiles, notes = check_profiles(settings, directory)
    check_deals(settings)
    effective = settings.model_dump(mode="json")
    if args.json:
        print(json.dumps(effective, indent=2))
    else:
        print(f"{args.file}: OK")
        print(f"strategy profiles in {directory}: " + (", ".join(profiles) or "(none)") + ": OK")
        for note in notes:
            print(f"note: {note}")
        print(json.dumps(effective, indent=2))
    return 0


def check_profiles(settings: Settings, directory: Path) -> tuple[list[str], list[str]]:
    """Validate every profile ``mmbot run`` could load; ConfigError listing every problem.

    Returns the valid profiles and notes on the ones this config cannot switch to."""
    horizons = settings.estimators.vol_horizons_s
    problems: list[str] = []
    quoting = {name: engine for name, engine in settings.engines.items() if engine.quote}
    if quoting:
        try:
            check_risk_horizons(settings.risk, horizons)
        except ConfigError as exc:
            problems.append(str(exc))
    specs = _cached_specs([engine.key for engine in quoting.values()], settings)
    names = profile_names(directory)
    wanted = {engine.strategy for engine in quoting.values()}
    notes: list[str] = []
    for name in sorted(wanted | set(names)):
        users = sorted(engine for engine, settings_ in quoting.items() if settings_.strategy == name)
        try:
            profile = load_strategy(directory, name)
        except ConfigError as exc:
            problems.append(str(exc) + (f" (used by engines {users})" if users else ""))
            continue
        try:
            check_horizons(profile, horizons, source=str(directory / f"{name}.toml"))
        except ConfigError as exc:
            if users:
                problems.append(f"{exc} (used by engines {users})")
            else:
                notes.append(f"not switchable under this config: {exc}")
                names = [n for n in names if n != name]
            continue
        for engine_name, engine in quoting.items():
            spec = specs.get(engine.key)
            if spec is None or engine.strategy != name:
                continue
            try:
                build_quoter(profile, spec)
            except ConfigError as exc:
                problems.append(f"{directory / f'{name}.toml'}: engine {engine_name} ({engine.key}): {exc}")
    if problems:
        raise ConfigError("\n".join(problems))
    return names, notes


def check_deals(settings: Settings) -> None:
    """The deal file of every hedged engine, as ``mmbot run`` loads it (schema and cross-checks;
    its token against the engine's market where that market's metadata is cached)."""
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
