"""``mmbot config check [FILE]`` and ``mmbot config init [DIR]``.

``check`` loads the config ``mmbot run`` would use (``FILE``, else ``./config/default.toml``
if present, else the packaged defaults; see :mod:`bot.defaults`), applies the
``MMBOT_*`` overrides, loads and validates every strategy profile the run would load
(each quoting engine's, or ``--strategy``'s) and prints which files were used and the
effective configuration. ``init`` writes an editable copy of the packaged defaults
(``default.toml``, ``hedged.toml``, ``strategies/``, ``deals/``, ``sweeps/``) into a directory.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from bot.config import ENV_PREFIX, config_source, load_settings
from bot.defaults import LOCAL_DIR, write_defaults


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
        "and validate every strategy profile the run would load, and print the files used and the "
        "effective configuration. Exit code 2 names the file, field and problem on bad input.",
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
    from bot.engine.assemble import find_strategy, strategy_search
    from bot.strategy.profile import check_horizons, load_profile

    source = config_source(args.file)
    settings = load_settings(source.path)
    search = strategy_search(settings, source)
    profiles: dict[str, dict[str, str]] = {}
    horizons = settings.estimators.vol_horizons_s
    for name, engine in settings.engines.items():
        if not engine.quote:
            continue
        wanted = args.strategy or engine.strategy
        path = find_strategy(search, wanted)
        profile = load_profile(path)
        check_horizons(profile, horizons, f"{path} (engine {name})")
        profiles[name] = {"strategy": wanted, "file": str(path), "quoter": profile.quoter}
    overrides = sorted(key for key in os.environ if key.startswith(ENV_PREFIX))
    effective = settings.model_dump(mode="json")
    if args.json:
        out = {
            "config": {"path": str(source.path), "origin": source.origin},
            "strategy_search_path": [{"path": str(s.path), "origin": s.origin} for s in search],
            "profiles": profiles,
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
