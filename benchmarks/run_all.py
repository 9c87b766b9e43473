#!/usr/bin/env python3
"""Run every benchmark and append one dated section to ``benchmarks/RESULTS.md``.

    python benchmarks/run_all.py [--sizes 1000000 5000000] [--runs 3]
                                 [--only anchors,mmbot,reader,components] [--no-append]

What runs (each measured case is a separate process, ``--runs`` times; the table gives
medians, and the largest peak RSS):

- **Reference streams**: ``benchmarks/reference/gen_l2.py --n N --seed 42`` (cached in
  ``benchmarks/.cache/``). Where ``benchmarks/reference`` is absent (a fresh clone) the anchors are
  skipped, saying so, and the mmbot cases run on an NPZ written from mmbot's own
  synthetic generator (labelled as such).
- **Anchors** (``benchmarks/reference``): ``baseline_pydict.py --bbo`` (plain Python floor, this
  interpreter), ``anchor_hftbacktest.py`` and ``anchor_nautilus.py``, each in its own
  virtualenv created here on first use (``benchmarks/.cache/venv_hbt``: ``pip install
  "hftbacktest>=2,<3"``; ``venv_nt``: ``pip install nautilus_trader``). Reported:
  steady-state events/s (the anchor's own timed loop), whole-process wall time
  (hftbacktest's numba JIT included) and peak RSS.
- **mmbot**: the replay reader alone (``bench_replay_reader.py``) and -- once the
  ``mmbot replay`` command exists -- the full minimal-MM replay (``python -m bot replay
  FILE.npz --strategy minimal``) and the full pipeline (``--strategy`` of ``--full-strategy``).
  See ``MMBOT_REPLAY_HOOK`` below.
- **Components**: ``bench_book.py``, ``bench_paper.py``, ``bench_risk.py``, ``bench_obligations.py``,
  ``bench_synthetic.py`` with ``--runs``; their markdown rows are copied into the section.

Peak RSS and wall time come from ``/usr/bin/time -v`` when it exists, else from a small
launcher process that reads ``getrusage(RUSAGE_CHILDREN)`` after its only child exits.
The reference scripts are ``benchmarks/reference/`` (copied from the team's shared bench) unless ``MMBOT_REFERENCE_BENCH`` names
another directory. The machine may be shared with other jobs: the load average at the
start and end is recorded; compare ratios measured in the same run, not absolutes.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "benchmarks"
CACHE = BENCH / ".cache"
RESULTS = BENCH / "RESULTS.md"
SHARED_ENV = "MMBOT_REFERENCE_BENCH"
TIME = Path("/usr/bin/time")
SEED = 42

VENVS = {
    "hftbacktest": ("venv_hbt", "hftbacktest>=2,<3", "anchor_hftbacktest.py"),
    "nautilus_trader": ("venv_nt", "nautilus_trader", "anchor_nautilus.py"),
}

_LAUNCHER = (
    "import resource, subprocess, sys, time\n"
    "t = time.perf_counter()\n"
    "rc = subprocess.call(sys.argv[1:])\n"
    "wall = time.perf_counter() - t\n"
    "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
    "sys.stderr.write(f'\\nMaximum resident set size (kbytes): {rss}\\nmmbot-launcher-wall-s: {wall}\\n')\n"
    "sys.exit(rc)\n"
)


def shared_bench() -> Path | None:
    path = Path(os.environ.get(SHARED_ENV) or BENCH / "reference")
    return path if (path / "gen_l2.py").is_file() else None


# ---- measuring one process -----------------------------------------------------------------


@dataclass
class Measured:
    rc: int
    wall_s: float
    peak_rss_mb: float | None
    result: dict[str, Any] | None
    output: str
    """stdout + stderr (stderr includes the /usr/bin/time report)."""
    stdout: str = ""


def measure(cmd: Sequence[str], *, timeout: float | None = None) -> Measured:
    """Run ``cmd`` once; wall time, peak RSS and its last JSON stdout line."""
    full = [str(TIME), "-v", *cmd] if TIME.exists() else [sys.executable, "-c", _LAUNCHER, *cmd]
    start = time.perf_counter()
    try:
        done = subprocess.run(full, cwd=REPO, capture_output=True, text=True, timeout=timeout)
        rc, stdout, stderr = done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired as exc:
        rc, stdout, stderr = -9, str(exc.stdout or ""), f"timeout after {timeout} s"
    wall = time.perf_counter() - start
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr)
    elapsed = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", stderr)
    if elapsed:
        parts = [float(x) for x in elapsed.group(1).split(":")]
        wall = sum(value * 60**i for i, value in enumerate(reversed(parts)))
    result = None
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith("{"):
            try:
                result = json.loads(line)
            except json.JSONDecodeError:
                continue
            break
    return Measured(rc, wall, int(rss.group(1)) / 1024 if rss else None, result, stdout + stderr, stdout)


@dataclass
class Case:
    engine: str
    version: str
    size: int
    runs: list[Measured] = field(default_factory=list)
    note: str = ""

    def row(self) -> list[str]:
        ok = [r for r in self.runs if r.rc == 0]
        if not ok:
            tail = self.runs[-1].output.strip().splitlines()[-1:] if self.runs else []
            return [
                self.engine,
                self.version,
                f"{self.size:,}",
                "0",
                "failed: " + " ".join(tail)[:120],
                "",
                "",
                "",
                "",
            ]
        rates = [r.result["events_per_s"] for r in ok if r.result and "events_per_s" in r.result]
        rss = [r.peak_rss_mb for r in ok if r.peak_rss_mb is not None]
        median_run = sorted(ok, key=lambda r: r.wall_s)[len(ok) // 2].result or {}
        return [
            self.engine,
            self.version,
            f"{self.size:,}",
            str(len(ok)),
            f"{statistics.median(rates):,.0f}" if rates else "-",
            f"{statistics.median(r.wall_s for r in ok):.1f}",
            f"{max(rss):,.0f}" if rss else "-",
            f"{median_run['orders']:,}" if "orders" in median_run else "-",
            f"{median_run['fills']:,}" if "fills" in median_run else "-",
        ]


# ---- inputs and environments ---------------------------------------------------------------


def reference_npz(size: int, shared: Path | None) -> tuple[Path, str]:
    CACHE.mkdir(parents=True, exist_ok=True)
    if shared is not None:
        path = CACHE / f"l2_{size}_s{SEED}.npz"
        if not path.exists():
            subprocess.run(
                [
                    sys.executable,
                    str(shared / "gen_l2.py"),
                    "--n",
                    str(size),
                    "--seed",
                    str(SEED),
                    "--out",
                    str(path),
                ],
                check=True,
                stdout=subprocess.DEVNULL,
            )
        return path, f"benchmarks/reference/gen_l2.py --n {size} --seed {SEED}"
    path = CACHE / f"mmbot_synthetic_{size}_s{SEED}.npz"
    if not path.exists():
        import numpy as np

        sys.path.insert(0, str(REPO))
        from benchmarks.streams import synthetic_columns

        ts, kind, side, price, qty = synthetic_columns(size, SEED)
        np.savez_compressed(
            path,
            ts=np.array(ts, dtype=np.int64),
            kind=np.array(kind, dtype=np.int8),
            side=np.array(side, dtype=np.int8),
            price=np.round(np.array(price) * 0.1, 1),
            qty=np.round(np.array(qty) * 0.001, 3),
            tick_size=np.float64(0.1),
            lot_size=np.float64(0.001),
            symbol=np.str_("BTCUSDT"),
        )
    return path, f"mmbot synthetic 'regimes' seed {SEED}, {size} rows (benchmarks/reference absent)"


def ensure_venv(name: str, log: list[str]) -> tuple[Path | None, str]:
    """(python of the engine's virtualenv, version) -- created and installed on first use."""
    directory, requirement, _script = VENVS[name]
    venv = CACHE / directory
    python = venv / "bin" / "python"
    probe = [str(python), "-c", f"import importlib.metadata as m; print(m.version({name!r}))"]
    if python.exists():
        done = subprocess.run(probe, capture_output=True, text=True)
        if done.returncode == 0:
            return python, done.stdout.strip()
    start = time.perf_counter()
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True, capture_output=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", requirement],
            check=True,
            capture_output=True,
            text=True,
        )
    except subprocess.CalledProcessError as exc:
        tail = (
            (exc.stderr or exc.stdout or "").strip().splitlines()[-1:] if isinstance(exc.stderr, str) else []
        )
        log.append(f"- {name}: install failed ({' '.join(tail)[:200]}); skipped")
        return None, ""
    done = subprocess.run(probe, capture_output=True, text=True)
    version = done.stdout.strip()
    log.append(
        f"- {name} {version}: virtualenv {_shown(venv)} installed in {time.perf_counter() - start:.0f} s"
    )
    return python, version


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


def _version(module: str) -> str:
    try:
        import importlib.metadata as metadata

        return metadata.version(module)
    except Exception:  # not installed
        return "?"


def machine() -> list[str]:
    cpu = "?"
    memory = "?"
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
        kb = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
        memory = f"{kb / 1024**2:.0f} GB"
    except (OSError, StopIteration, ValueError):
        pass
    return [
        f"{os.cpu_count()} cores ({cpu}), {memory} RAM, {platform.platform()}",
        f"CPython {platform.python_version()}, numpy {_version('numpy')}, msgspec {_version('msgspec')}",
    ]


# ---- the mmbot replay hook -----------------------------------------------------------------

MMBOT_REPLAY_HOOK = "bot.commands.replay"
"""HOOK (lead): when this module exists, the harness measures ``python -m bot replay FILE.npz
--strategy minimal --out RUN_DIR`` (and ``--strategy FULL``). Steady-state events/s is read
from ``RUN_DIR/summary.json`` keys ``events_per_s`` (or ``events`` / ``loop_s``) when the
command writes them; otherwise only wall time and peak RSS are reported. Adjust
``replay_command`` if the command's flags differ."""


def replay_available() -> bool:
    sys.path.insert(0, str(REPO))
    try:
        return importlib.util.find_spec(MMBOT_REPLAY_HOOK) is not None
    except ModuleNotFoundError:
        return False


def replay_command(npz: Path, strategy: str, out: Path) -> list[str]:
    """The minimal MM runs without a journal (like the anchors); the full pipeline journals
    every order and fill (commit every 1000 events, the replay default)."""
    command = [
        sys.executable,
        "-m",
        "bot",
        "replay",
        str(npz),
        "--strategy",
        strategy,
        "--out",
        str(out),
        "--progress",
        "off",
    ]
    if strategy == "minimal":
        command.append("--no-journal")
    return command


def measure_replay(npz: Path, strategy: str, timeout: float) -> Measured:
    with tempfile.TemporaryDirectory(prefix="mmbot-bench-") as tmp:
        out = Path(tmp) / "run"
        measured = measure(replay_command(npz, strategy, out), timeout=timeout)
        summary_path = out / "summary.json"
        if summary_path.exists():
            try:
                summary = json.loads(summary_path.read_text())
            except json.JSONDecodeError:
                summary = {}
            rate = summary.get("events_per_s")
            if rate is None and summary.get("events") and summary.get("loop_s"):
                rate = summary["events"] / summary["loop_s"]
            result = dict(measured.result or {})
            if rate is not None:
                result["events_per_s"] = float(rate)
            for key in ("orders", "fills"):
                if key in summary and key not in result:
                    result[key] = summary[key]
            measured.result = result
    return measured


# ---- components ----------------------------------------------------------------------------


def components(npz_1m: Path | None, runs: int, log: list[str]) -> list[str]:
    scripts: list[tuple[str, list[str]]] = [
        ("bench_book.py", ["--runs", str(runs)] + (["--data", str(npz_1m)] if npz_1m else [])),
        (
            "bench_paper.py",
            ["--runs", str(runs)] + (["--npz", str(npz_1m)] if npz_1m else ["--npz", "/nonexistent"]),
        ),
        ("bench_risk.py", ["--runs", str(runs)]),
        ("bench_obligations.py", ["--runs", str(runs)]),
        ("bench_synthetic.py", ["--runs", str(runs), "--json"]),
        ("bench_tick_to_quote.py", ["--runs", str(runs), "--n", "1000000"]),
        ("bench_feed_checks.py", ["--runs", str(runs)]),
        ("bench_loopback_latency.py", ["--runs", str(runs), "--seconds", "60"]),
    ]
    lines = []
    for script, args in scripts:
        cmd = [sys.executable, str(BENCH / script), *args]
        print(f"  running {script} ...", file=sys.stderr, flush=True)
        measured = measure(cmd)
        # rows may be printed to stdout and stderr both: keep each once, in order
        rows = list(dict.fromkeys(line for line in measured.output.splitlines() if line.startswith("|")))
        lines.append(
            f"`{shlex.join(['python', f'benchmarks/{script}', *args])}` (rc {measured.rc}, {measured.wall_s:.0f} s):"
        )
        lines.append("")
        if rows:
            lines.extend(rows)
        else:
            result = measured.result or {}
            lines.append("    " + (json.dumps(result) if result else measured.stdout.strip()[-300:]))
        lines.append("")
        if measured.rc != 0:
            log.append(f"- {script} exited with {measured.rc}")
    return lines


# ---- main ----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument(
        "--runs", type=int, default=3, help="processes per case (median); >= 3 for RESULTS.md"
    )
    parser.add_argument(
        "--only",
        default="anchors,mmbot,reader,components",
        help="comma list of: anchors, mmbot, reader, components",
    )
    parser.add_argument("--engines", default="pydict,hftbacktest,nautilus_trader", help="anchors to run")
    parser.add_argument(
        "--full-strategy", default="bench_as", help="strategy profile of the full-pipeline replay"
    )
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per process")
    parser.add_argument("--no-append", action="store_true", help="print the section instead of appending it")
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    engines = set(args.engines.split(","))
    shared = shared_bench()
    log: list[str] = []
    load_start = os.getloadavg()
    started = datetime.now(UTC)
    if shared is None:
        log.append(
            f"- benchmarks/reference not found ({SHARED_ENV} or {REPO.parent / 'shared' / 'bench'}): anchors skipped; "
            "mmbot cases run on mmbot's own synthetic stream"
        )
    inputs = {size: reference_npz(size, shared) for size in args.sizes}
    for size, (path, origin) in inputs.items():
        log.append(f"- stream {size:,}: {origin} -> {_shown(path)}")
    cases: list[Case] = []

    def run_case(case: Case, make: Any) -> None:
        for index in range(args.runs):
            print(
                f"  {case.engine} N={case.size:,} run {index + 1}/{args.runs} ...",
                file=sys.stderr,
                flush=True,
            )
            measured = make()
            case.runs.append(measured)
            if measured.rc != 0:
                print(measured.output[-2000:], file=sys.stderr)
                break
        cases.append(case)

    pythons: dict[str, tuple[Path | None, str]] = {}
    if "anchors" in only and shared is not None:
        for name in VENVS:
            if name in engines:
                print(f"  preparing {name} virtualenv ...", file=sys.stderr, flush=True)
                pythons[name] = ensure_venv(name, log)
    for size, (npz, _origin) in inputs.items():
        if "anchors" in only and shared is not None:
            if "pydict" in engines:
                cmd = [sys.executable, str(shared / "baseline_pydict.py"), "--bbo", "--data", str(npz)]
                run_case(
                    Case("plain Python dict book + BBO", platform.python_version(), size),
                    lambda c=cmd: measure(c, timeout=args.timeout),
                )
            for name, (_dir, _req, script) in VENVS.items():
                python, version = pythons.get(name, (None, ""))
                if python is None:
                    continue
                cmd = [str(python), str(shared / script), "--data", str(npz)]
                run_case(Case(name, version, size), lambda c=cmd: measure(c, timeout=args.timeout))
        if "reader" in only:
            cmd = [sys.executable, str(BENCH / "bench_replay_reader.py"), "--data", str(npz), "--runs", "1"]
            run_case(
                Case(
                    "mmbot replay reader only (NPZ -> events)",
                    _version("mmbot") if _version("mmbot") != "?" else "worktree",
                    size,
                ),
                lambda c=cmd: measure(c, timeout=args.timeout),
            )
        if "mmbot" in only:
            if replay_available():
                for label, strategy in (("minimal", "minimal"), ("full pipeline", args.full_strategy)):
                    run_case(
                        Case(f"mmbot replay --strategy {strategy} ({label})", "worktree", size),
                        lambda s=strategy, f=npz: measure_replay(f, s, args.timeout),
                    )
            elif size == args.sizes[0]:
                log.append(f"- mmbot replay: skipped ({MMBOT_REPLAY_HOOK} does not exist yet)")
    component_lines = (
        components(inputs.get(1_000_000, (None, ""))[0] if 1_000_000 in inputs else None, args.runs, log)
        if "components" in only
        else []
    )
    load_end = os.getloadavg()
    command = shlex.join(["python", "benchmarks/run_all.py", *(argv if argv is not None else sys.argv[1:])])
    section = [
        "",
        f"## run_all.py: replay throughput and anchors ({started:%Y-%m-%d %H:%M} UTC)",
        "",
        f"- Machine: {machine()[0]}; {machine()[1]}.",
        f"- Load average (1/5/15 min) at start {load_start[0]:.2f}/{load_start[1]:.2f}/{load_start[2]:.2f}, "
        f"at end {load_end[0]:.2f}/{load_end[1]:.2f}/{load_end[2]:.2f}. The machine is shared with other jobs: "
        "figures are medians; compare engines measured in this same run, not absolutes across runs.",
        f"- Command: `{command}`; each case is a separate process, {args.runs} runs; events/s is the engine's "
        "own steady-state loop; wall = whole process (imports, loading, JIT); peak RSS = largest of the runs "
        f"({'/usr/bin/time -v' if TIME.exists() else 'getrusage(RUSAGE_CHILDREN) of a launcher'}).",
        *log,
        "",
        "| engine | version | events | runs | events/s (median) | process wall s (median) | peak RSS MB | orders | fills |",
        "|---|---|---|---|---|---|---|---|---|",
        *("| " + " | ".join(case.row()) + " |" for case in cases),
        "",
    ]
    if component_lines:
        section += ["Component benchmarks (same run):", "", *component_lines]
    text = "\n".join(section) + "\n"
    if args.no_append:
        print(text)
    else:
        with RESULTS.open("a") as handle:
            handle.write(text)
        print(text)
        print(f"appended to {RESULTS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
