"""Shared pieces of the `mmbot sweep` tests: writing specs, running the real command,
reading results, and recomputing a trial's objective from its journal with plain Python."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bot.store.journal import Journal

REPO = Path(__file__).resolve().parents[1]
DAY = REPO / "bot" / "emulator" / "data" / "binance_spot_btcusdt_20240808.gz"


def write_spec(path: Path, body: str) -> Path:
    path.write_text(body)
    return path


def sweep(
    *args: str | Path, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """The real `mmbot sweep` (python -m bot) in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "bot", "sweep", *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def results(out: Path) -> dict[str, Any]:
    value: dict[str, Any] = json.loads((out / "results.json").read_text())
    return value


def trial(out: Path, trial_id: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads((out / "trials" / trial_id / "trial.json").read_text())
    return value


def deterministic(record: dict[str, Any]) -> dict[str, Any]:
    """A trial record without what legitimately differs between runs (wall-clock timing)."""
    record = json.loads(json.dumps(record))
    if record.get("row"):
        record["row"].pop("timing", None)
    return record


def journal(out: Path, trial_id: str) -> bytes:
    return (out / "trials" / trial_id / "journal" / "btcusdt.sqlite").read_bytes()


def recomputed_objective(run_dir: Path) -> float | None:
    """pnl_per_inventory_risk straight from summary.json and the journal's samples."""
    pnl = float(json.loads((run_dir / "summary.json").read_text())["pnl"]["total"])
    exposures = []
    with Journal.open(run_dir / "journal" / "btcusdt.sqlite", readonly=True) as store:
        for _id, _ts, _type, _source, payload in store.events("sample"):
            if payload.get("mid") is not None and payload.get("inventory") is not None:
                exposures.append(payload["inventory"] * payload["mid"])
    if not exposures:
        return None
    risk = math.sqrt(sum(x * x for x in exposures) / len(exposures))
    if risk == 0:
        return None
    return pnl / risk if pnl >= 0 else pnl * risk
