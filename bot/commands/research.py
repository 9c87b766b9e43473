"""``mmbot research as-table``: the Avellaneda-Stoikov (2008) simulation table."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

import msgspec

from bot.commands import argtypes
from bot.errors import InputError


def register(subparsers: Any) -> None:
    research = subparsers.add_parser("research", help="Offline model studies.")
    actions = research.add_subparsers(dest="research_command", metavar="STUDY")
    actions.required = True
    table = actions.add_parser(
        "as-table",
        help="Reproduce the Avellaneda-Stoikov (2008) simulation table.",
        description="Simulate the inventory and symmetric strategies of Avellaneda & Stoikov (2008) "
        "(s0=100, T=1, sigma=2, dt=0.005, q0=0, A=140, k=1.5; gamma 0.1, 0.01, 0.5) and print spread, "
        "mean and std of profit, mean and std of the final inventory, next to the paper's numbers.",
    )
    table.add_argument(
        "--paths",
        type=argtypes.integer(1, 10_000_000),
        default=1000,
        help="Simulated paths per gamma (default 1000).",
    )
    table.add_argument(
        "--seed", type=argtypes.integer(0, 2**63 - 1), default=1, help="Random seed (default 1)."
    )
    table.add_argument(
        "--spread",
        choices=("full", "constant"),
        default="full",
        help="full = the model's time-varying spread (default); constant = (2/gamma) ln(1+gamma/k) only.",
    )
    table.add_argument(
        "--fill-reference",
        choices=("end", "start"),
        default="end",
        help="Measure fill distances from the mid at the end of each step (default; matches the paper) "
        "or at its start (what most reproductions do).",
    )
    table.add_argument(
        "--gamma",
        type=float,
        action="append",
        dest="gammas",
        metavar="G",
        help="Risk aversion to simulate (repeatable; default 0.1, 0.01, 0.5).",
    )
    table.add_argument("--json", action="store_true", help="Print JSON rows instead of the table.")
    table.set_defaults(func=start_research_as_table)


def start_research_as_table(args: argparse.Namespace) -> int:
    from bot.research.as_table import StudyConfig, format_table, run_study

    if args.paths < 2 or args.paths > 1_000_000:
        raise InputError(f"--paths must be between 2 and 1000000, got {args.paths}")
    if args.seed < 0:
        raise InputError(f"--seed must be >= 0, got {args.seed}")
    gammas = tuple(args.gammas) if args.gammas else (0.1, 0.01, 0.5)
    for gamma in gammas:
        if not (math.isfinite(gamma) and gamma > 0):
            raise InputError(f"--gamma must be a positive, finite number, got {gamma}")
    config = StudyConfig(
        paths=args.paths,
        seed=args.seed,
        gammas=gammas,
        spread=args.spread,
        fill_reference=args.fill_reference,
    )
    rows = run_study(config)
    if args.json:
        print(
            json.dumps(
                {
                    "config": {
                        "s0": config.s0,
                        "T": config.horizon,
                        "sigma": config.sigma,
                        "dt": config.dt,
                        "A": config.a,
                        "k": config.k,
                        "q0": config.q0,
                        "paths": config.paths,
                        "seed": config.seed,
                        "spread": config.spread,
                        "price": config.price,
                        "fill_reference": config.fill_reference,
                    },
                    "rows": msgspec.to_builtins(rows),
                },
                indent=2,
            )
        )
    else:
        print(format_table(rows, config))
    return 0
