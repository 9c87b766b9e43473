"""Golden replays: what the engine core writes for a fixed set of inputs, as digests.

Each case is one ``mmbot replay`` (reference stream, real recordings, the ABC market with its
obligation, a hedged engine); its digest covers every row of every journal table (SQLite
``iterdump``: schema and rows, in order) and the run summary without its timings. The digests in
``tests/data/golden_replays.json`` were written by the code *before* the replay speed-up of issue
19 (``python -m tests.golden_kit --write`` on a checkout of main without the speed-up; see
``produced_by`` in the file): ``tests/test_golden_replays.py`` asserts that today's code still writes exactly those journals, so every change to the hot path
(compiled or pure) must keep outputs byte-identical.

    python -m tests.golden_kit [--write] [CASE ...]     # print (or rewrite) the digests
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
GOLDEN = DATA / "golden_replays.json"
SPOT = [str(REPO / "bot" / "emulator" / "data" / f"binance_spot_btcusdt_2024080{d}.gz") for d in (8, 9)]
USDM_2023 = [str(DATA / f"binance_usdm_btcusdt_2023040{d}.dat.gz") for d in (4, 5)]
USDM_2024 = str(REPO / "bot" / "emulator" / "data" / "binance_usdm_btcusdt_20240808.gz")
REFERENCE_EVENTS = 60_000
"""Size of the reference stream the reference cases replay (gen_l2.py --seed 42)."""

TIMINGS = ("loop_s", "events_per_s", "input")
"""Summary keys that depend on the machine or the paths, not on what the engine did."""


@dataclass(frozen=True)
class Case:
    inputs: tuple[str, ...]
    args: tuple[str, ...] = ()
    fast: bool = True
    """False: covered by the slow marker only (the fast cases exercise the same code)."""


REF = "REFERENCE"
"""Placeholder for the generated reference stream."""

CASES: dict[str, Case] = {
    "reference-minimal": Case((REF,), ("--strategy", "minimal")),
    "reference-minimal-no-journal": Case((REF,), ("--strategy", "minimal", "--no-journal")),
    "reference-bench_as": Case((REF,), ("--strategy", "bench_as")),
    "spot-as_default": Case(tuple(SPOT), ("--strategy", "as_default")),
    "spot-glft-seed3": Case(tuple(SPOT), ("--strategy", "glft", "--seed", "3"), fast=False),
    "spot-fixed": Case(tuple(SPOT), ("--strategy", "fixed"), fast=False),
    "usdm2023-as_default": Case(tuple(USDM_2023), ("--strategy", "as_default"), fast=False),
    "usdm2023-minimal": Case(tuple(USDM_2023), ("--strategy", "minimal")),
    "usdm2023-spread_optimizer": Case(tuple(USDM_2023), ("--strategy", "spread_optimizer"), fast=False),
    "usdm2024-minimal": Case((USDM_2024,), ("--strategy", "minimal"), fast=False),
    "hedged-spot+perp": Case(
        (*SPOT, USDM_2024), ("--config", str(REPO / "config" / "hedged.toml"), "--commit-every", "1")
    ),
    "abc-calm-obligation": Case(
        ("synthetic:abc_calm?instrument=binance_spot:ABCUSDT&seed=1&duration=300",),
        ("--config", str(REPO / "config" / "abc.toml")),
    ),
    "abc-crash-obligation": Case(
        ("synthetic:abc_crash?instrument=binance_spot:ABCUSDT&seed=2",),
        ("--config", str(REPO / "config" / "abc.toml")),
        fast=False,
    ),
}


def reference_stream(directory: Path) -> Path:
    """The reference stream of ``REFERENCE_EVENTS`` events (generated once per directory)."""
    path = directory / f"l2_{REFERENCE_EVENTS}_s42.npz"
    if not path.exists():
        subprocess.run(
            [
                sys.executable,
                str(REPO / "benchmarks" / "reference" / "gen_l2.py"),
                "--n",
                str(REFERENCE_EVENTS),
                "--seed",
                "42",
                "--out",
                str(path),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return path


def digest(run: Path) -> str:
    """sha256 over every journal's dump and the summary without timings."""
    hasher = hashlib.sha256()
    for journal in sorted((run / "journal").glob("*.sqlite")):
        hasher.update(journal.name.encode() + b"\n")
        conn = sqlite3.connect(f"file:{journal}?mode=ro", uri=True)
        try:
            for line in conn.iterdump():
                hasher.update(line.encode() + b"\n")
        finally:
            conn.close()
    summary = json.loads((run / "summary.json").read_text())
    for key in TIMINGS:
        summary.pop(key, None)
    hasher.update(json.dumps(summary, sort_keys=True).encode())
    return hasher.hexdigest()


def replay_args(case: Case, work: Path, out: Path) -> list[str]:
    inputs = [str(reference_stream(work)) if item == REF else item for item in case.inputs]
    return ["replay", *inputs, *case.args, "--out", str(out), "--progress", "off"]


def run_case(name: str, work: Path, extra: tuple[str, ...] = ()) -> str:
    """Replay ``name`` in-process into ``work`` and return its digest."""
    from bot.cli import main

    out = work / name
    code = main([*replay_args(CASES[name], work, out), *extra])
    if code != 0:
        raise RuntimeError(f"{name}: mmbot replay exited with {code}")
    return digest(out)


def load_golden() -> dict[str, str]:
    return dict(json.loads(GOLDEN.read_text())["digests"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Golden replay digests.")
    parser.add_argument("cases", nargs="*", default=list(CASES))
    parser.add_argument("--write", action="store_true", help=f"rewrite {GOLDEN.relative_to(REPO)}")
    args = parser.parse_args(argv)
    results: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="golden-") as tmp:
        for name in args.cases:
            results[name] = run_case(name, Path(tmp))
            print(f"{name} {results[name]}", file=sys.stderr)
    if args.write:
        existing = json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {"digests": {}}
        existing["digests"].update(results)
        existing["digests"] = dict(sorted(existing["digests"].items()))
        GOLDEN.write_text(json.dumps(existing, indent=2) + "\n")
    else:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
