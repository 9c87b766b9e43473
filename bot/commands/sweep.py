"""``mmbot sweep SPEC.toml``: many replays over recordings, ranked by an objective."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from bot.errors import EXIT_FAILURE, EXIT_INTERRUPTED, InputError


def register(subparsers: Any) -> None:
    sweep = subparsers.add_parser(
        "sweep",
        help="Parameter sweep: replay many configurations over recordings and rank them.",
        description="Run a parameter sweep described by SPEC.toml (README: 'mmbot sweep'): every point "
        "(grid, random, or Optuna TPE) is replayed over every recording of the spec as an ordinary "
        "'mmbot replay' run directory under OUT/trials/ (open one with 'mmbot report'). Trials run on "
        "local worker processes (all cores by default) or on a Ray cluster (--ray). Each finished trial "
        "is stored at once; OUT/results.json, results.csv, points.csv and summary.html (best points, "
        "parameter-vs-objective plots, Pareto front of PnL vs inventory risk) are kept up to date. "
        "An interrupted sweep continues with --resume without re-running finished trials. The same "
        "spec gives the same results whatever the number of workers or the backend.",
    )
    sweep.add_argument("spec", type=Path, metavar="SPEC.toml", help="The sweep spec.")
    sweep.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="Sweep directory (default runs/sweep-<name>); must be new unless --resume.",
    )
    sweep.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="Trials run at once (default: all cores locally; all the cluster's CPUs with --ray).",
    )
    sweep.add_argument(
        "--ray",
        default=None,
        metavar="ADDRESS",
        help="Run trials on a Ray cluster: host:port (ray start --head), auto, ray://host:10001, or "
        "local (a private Ray instance on this machine). Needs pip install 'mmbot[ray]'.",
    )
    sweep.add_argument(
        "--ray-shared-fs",
        action="store_true",
        help="With --ray: every node reads the recordings at the driver's paths (shared file system) "
        "instead of receiving them through Ray's object store.",
    )
    sweep.add_argument("--resume", action="store_true", help="Continue the interrupted sweep in --out.")
    sweep.add_argument(
        "--dry-run", action="store_true", help="Check the spec and list the points; run nothing."
    )
    sweep.add_argument(
        "--progress",
        choices=["auto", "on", "off"],
        default="auto",
        help="Progress bar on stderr (auto = on a terminal; otherwise one log line per trial).",
    )
    sweep.add_argument("--json", action="store_true", help="Print the results document as JSON.")
    sweep.set_defaults(func=start_sweep)


def _cores() -> int:
    """The cores this process may use (a container's or taskset's limit, not the machine's)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def start_sweep(args: argparse.Namespace) -> int:
    from bot.config import LoggingSettings
    from bot.ops.logging import configure_logging
    from bot.sweep.driver import SweepOptions, plan, run_sweep
    from bot.sweep.spec import load_spec

    if args.workers is not None and args.workers < 1:
        raise InputError(f"--workers must be >= 1, got {args.workers}")
    if args.ray_shared_fs and args.ray is None:
        raise InputError("--ray-shared-fs: only with --ray")
    spec = load_spec(args.spec)
    if args.dry_run:
        from bot.sweep.build import TrialBuilder
        from bot.sweep.driver import check_points
        from bot.sweep.space import make_planner

        check_points(spec, TrialBuilder(spec), make_planner(spec))
        points = plan(spec)
        if points is None:
            print(
                f"{spec.name}: tpe, {spec.trials} points chosen as results arrive, x {len(spec.recordings)} recordings"
            )
        else:
            print(f"{spec.name}: {spec.method}, {len(points)} points x {len(spec.recordings)} recordings")
            for point in points:
                print("  " + ", ".join(f"{k}={v}" for k, v in point.items()))
        return 0
    configure_logging(LoggingSettings(level="info"))
    workers = args.workers if args.workers is not None else (0 if args.ray else _cores())
    options = SweepOptions(
        out=args.out or Path("runs") / f"sweep-{spec.name}",
        workers=workers,
        ray=args.ray,
        resume=args.resume,
        bar=args.progress == "on" or (args.progress == "auto" and sys.stderr.isatty()),
        shared_fs=args.ray_shared_fs,
    )
    outcome = run_sweep(spec, options)
    document = outcome.document
    if args.json:
        print(json.dumps(document, indent=2, default=str))
    else:
        best = document["best"]
        print(
            f"{outcome.out}: {outcome.status}, {document['runs_done']}/{document['runs_total']} trials "
            f"({outcome.ran} run now, {outcome.kept} kept from before), {len(outcome.failed)} failed"
        )
        if best is not None:
            params = ", ".join(f"{k}={v}" for k, v in best["params"].items())
            print(f"  best {best['label']}: {spec.objective.name} = {best['objective']:.6g} ({params})")
            print(f"  open a trial: mmbot report {outcome.out / 'trials' / best['trials'][0]}")
        print(f"  results: {outcome.out / 'results.csv'}, {outcome.html}")
    if outcome.status == "interrupted":
        sys.stderr.write(
            f"mmbot: sweep interrupted; finished trials are kept: mmbot sweep {args.spec} --out {outcome.out} --resume\n"
        )
        return EXIT_INTERRUPTED
    return EXIT_FAILURE if outcome.failed else 0
