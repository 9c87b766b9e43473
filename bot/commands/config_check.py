"""``mmbot config check FILE``: validate a config file and print the effective values."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from bot.config import load_settings


def register(subparsers: Any) -> None:
    config = subparsers.add_parser("config", help="Inspect configuration.")
    actions = config.add_subparsers(dest="config_command", metavar="ACTION")
    actions.required = True
    check = actions.add_parser(
        "check",
        help="Validate FILE (with MMBOT_* overrides) and print the effective config.",
        description="Validate a TOML config file, apply MMBOT_* environment overrides and print "
        "the effective configuration. Exit code 2 names the file, field and problem on bad input.",
    )
    check.add_argument("file", type=Path, help="TOML config file, e.g. config/default.toml")
    check.add_argument("--json", action="store_true", help="Print JSON only (no header line).")
    check.set_defaults(func=start_config_check)


def start_config_check(args: argparse.Namespace) -> int:
    settings = load_settings(args.file)
    effective = settings.model_dump(mode="json")
    if args.json:
        print(json.dumps(effective, indent=2))
    else:
        print(f"{args.file}: OK")
        print(json.dumps(effective, indent=2))
    return 0
