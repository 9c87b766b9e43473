"""``mmbot obligations show``: market-making obligations and their compliance, per venue.

Reads every engine journal under ``<data dir>/journal/`` (read-only; safe while the bot
runs) and prints, per engine with an obligation: the terms, the last measurement (spread,
depth per side, met or not and why), uptime this UTC day and over the deal against the
minimum, the breaches (start, end, duration, causes), closed days and the funding alerts
still open. ``--json`` prints the same as a JSON array.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bot.errors import InputError


def register(subparsers: Any) -> None:
    obligations = subparsers.add_parser(
        "obligations", help="Market-making obligations: spread, depth and uptime per venue."
    )
    actions = obligations.add_subparsers(dest="obligations_command", metavar="ACTION")
    actions.required = True
    show = actions.add_parser(
        "show",
        help="Compliance with each venue's obligation, from the journal.",
        description="Per engine with an [obligations.engines.NAME] entry: the terms, the last measured "
        "spread and depth per side, uptime this UTC day and over the deal against the minimum, the "
        "breaches with their start, end, duration and causes, closed days, and funding alerts. "
        "Read-only: works while the bot runs.",
    )
    show.add_argument(
        "--data-dir", type=Path, help="Data directory (default: data_dir of the default config)."
    )
    show.add_argument("--engine", metavar="NAME", help="Only this engine (journal name).")
    show.add_argument(
        "--breaches",
        type=int,
        default=10,
        metavar="N",
        help="List the N most recent breaches per engine (default 10; 0 = none).",
    )
    show.add_argument("--json", action="store_true", help="Print a JSON array, one object per engine.")
    show.set_defaults(func=start_obligations_show)


def start_obligations_show(args: argparse.Namespace) -> int:
    from bot.report.obligations import describe, dumps, load_data_dir

    data_dir = args.data_dir
    if data_dir is None:
        from bot.config import load_settings

        data_dir = load_settings(None).data_dir
    if args.breaches < 0:
        raise InputError(f"--breaches must be >= 0, got {args.breaches}")
    histories = load_data_dir(Path(data_dir), breaches=max(args.breaches, 1))
    if args.engine is not None:
        known = [h.engine for h in histories]
        histories = [h for h in histories if h.engine == args.engine]
        if not histories:
            raise InputError(
                f"--engine {args.engine}: no obligation records for it in {data_dir}; found {known}"
            )
    if args.json:
        print(dumps(histories, breaches=args.breaches))
        return 0
    if not histories:
        print(f"{data_dir}: no obligation records (no engine has an [obligations.engines.NAME] entry yet)")
        return 0
    print("\n\n".join(describe(h, breaches=args.breaches) for h in histories))
    return 0
