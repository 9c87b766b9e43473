"""``mmbot kill`` / ``mmbot resume``: the manual kill switch of a running bot.

Delivers the command to the bot running on the data directory (SIGUSR1 / SIGUSR2 to the
process holding the instance lock of ``<data_dir>/mmbot.pid``, never to a stale pid; the
reason in ``<data_dir>/control/``). If no bot runs
there, the command stays pending and is applied — and journaled — at the next start, so
a killed bot comes back HALTED. The same actions are available over HTTP
(``POST /control/kill`` / ``/control/resume`` with the bearer token).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bot.config import load_settings
from bot.ops.control import send_request


def register(subparsers: Any) -> None:
    for command, text in (
        ("kill", "Pull every quote now and stay HALTED until `mmbot resume` (survives restarts)."),
        ("resume", "Release the kill switch; quoting restarts through the CRISIS regime."),
    ):
        parser = subparsers.add_parser(command, help=text, description=text)
        parser.add_argument(
            "--data-dir",
            type=Path,
            default=None,
            metavar="DIR",
            help="Data directory of the bot (default: data_dir of the config `mmbot run` would use).",
        )
        parser.add_argument(
            "--config", type=Path, default=None, metavar="FILE", help="Config file to read data_dir from."
        )
        parser.add_argument(
            "--reason",
            default=None,
            metavar="TEXT",
            help="Free text journaled with the command (source: cli; at most 200 characters).",
        )
        parser.set_defaults(func=start_control, control=command)


def start_control(args: argparse.Namespace) -> int:
    data_dir = args.data_dir if args.data_dir is not None else load_settings(args.config).data_dir
    reason = args.reason or f"mmbot {args.control}"
    print(send_request(Path(data_dir), args.control, reason))
    return 0
