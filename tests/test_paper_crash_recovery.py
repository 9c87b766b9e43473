"""Crash safety: a real child process is killed with SIGKILL at random moments.

The child (``tests/helpers/paper_soak.py``) runs Engine books + the reference market
maker + PaperExchange + the SQLite journal over a deterministic synthetic stream. An
uninterrupted reference run records the ledger digest at every committed boundary.
For each trial a fresh child is SIGKILLed at a random moment -- once its journal holds a
random share of the reference run's records (polled read-only, so the kill lands mid-run
however loaded the machine is) plus a random few milliseconds -- then:

1. the journal it left is a prefix of the reference journal (record for record), and
   the ledger rebuilt from it equals the reference run's in-memory ledger at the last
   committed input position;
2. a restarted child resumes from the journal and finishes with exactly the reference
   journal and ledger: no fill lost, none duplicated.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pytest

from bot.store.recovery import load_ledger
from tests.helpers.paper_soak import ENGINE, digest

REPO = Path(__file__).resolve().parents[1]
EVENTS = 6000
SEED = 11


def _child(data_dir: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.helpers.paper_soak",
            "--data-dir",
            str(data_dir),
            "--events",
            str(EVENTS),
            "--seed",
            str(SEED),
            *extra,
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )


def _finish(process: subprocess.Popen[str]) -> dict[str, object]:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    return dict(json.loads(out.strip().splitlines()[-1]))


def _journal(data_dir: Path) -> Path:
    return data_dir / "journal" / f"{ENGINE}.sqlite"


def _records(path: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(
            "SELECT seq, unit, position, ts, kind, payload FROM records ORDER BY seq"
        ).fetchall()
    finally:
        conn.close()


def _fill_ids(records: list[tuple[object, ...]]) -> list[int]:
    return [json.loads(str(r[5]))["fill"]["fill_id"] for r in records if r[4] == "fill"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    data_dir = tmp_path_factory.mktemp("reference")
    trace = data_dir / "trace.txt"
    summary = _finish(_child(data_dir, "--trace", str(trace)))
    calibration = _child(tmp_path_factory.mktemp("calibration"))  # how long a run takes after "ready"
    assert calibration.stdout is not None and calibration.stdout.readline().strip() == "ready"
    started = time.monotonic()
    assert _finish(calibration) == summary
    duration = time.monotonic() - started
    points = dict(line.split() for line in trace.read_text().splitlines())
    records = _records(_journal(data_dir))
    assert summary["fills"] and int(str(summary["fills"])) > 20, "the soak stream must produce fills"
    return {"summary": summary, "trace": points, "records": records, "duration": duration}


def test_sigkill_at_random_points_loses_and_duplicates_nothing(
    reference: dict[str, object], tmp_path: Path
) -> None:
    interrupted = _kill_and_resume(reference, tmp_path, trials=20, seed=20240808)
    assert interrupted >= 12, f"only {interrupted} of 20 kills landed mid-run"


@pytest.mark.slow
def test_sigkill_soak_long(reference: dict[str, object], tmp_path: Path) -> None:
    interrupted = _kill_and_resume(reference, tmp_path, trials=100, seed=7)
    assert interrupted >= 60


def _committed(path: Path) -> int:
    """Records the journal at ``path`` has committed so far (0 while it does not exist yet)."""
    if not path.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=0.05)
        try:
            row = conn.execute("SELECT count(*) FROM records").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:  # being created or locked for a moment: ask again
        return 0
    return int(row[0])


def _wait_for_progress(child: subprocess.Popen[str], path: Path, records: int) -> None:
    """Return once the child's journal holds ``records`` records (or the child has exited)."""
    deadline = time.monotonic() + 120
    while child.poll() is None and _committed(path) < records:
        assert time.monotonic() < deadline, "the child made no progress for 120 s"
        time.sleep(0.002)


def _kill_and_resume(reference: dict[str, object], tmp_path: Path, trials: int, seed: int) -> int:
    """SIGKILL ``trials`` children at random moments; check each journal and resume."""
    rng = random.Random(seed)
    ref_records = reference["records"]
    trace = reference["trace"]
    summary = reference["summary"]
    assert isinstance(ref_records, list) and isinstance(trace, dict) and isinstance(summary, dict)
    interrupted = 0
    for trial in range(trials):
        data_dir = tmp_path / f"trial{trial}"
        child = _child(data_dir)
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        _wait_for_progress(child, _journal(data_dir), int(rng.uniform(0.05, 0.95) * len(ref_records)))
        time.sleep(rng.uniform(0.0, 0.005))
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=60)
        path = _journal(data_dir)
        if not path.exists():
            continue  # killed before the journal was created: nothing to recover
        # 1. what the killed run committed is exactly a prefix of the reference run
        killed = _records(path)
        assert killed == ref_records[: len(killed)], f"trial {trial}: journal diverged from the reference"
        exchange, journal = load_ledger(path)
        state = journal.state()
        journal.close()
        position = -1 if state is None else state.position
        assert trace[str(position)] == digest(exchange), (
            f"trial {trial}: ledger differs at position {position}"
        )
        if len(killed) < len(ref_records):
            interrupted += 1
        # 2. resuming finishes exactly like the uninterrupted run
        resumed = _finish(_child(data_dir))
        assert resumed == summary, f"trial {trial}: resumed run ended differently"
        final = _records(path)
        assert final == ref_records
        fill_ids = _fill_ids(final)
        assert fill_ids == list(range(1, len(fill_ids) + 1))  # none lost, none duplicated
    return interrupted


def test_reference_trace_is_consistent(reference: dict[str, object]) -> None:
    """The digests the crash test compares against are distinct states, not one constant."""
    trace = reference["trace"]
    assert isinstance(trace, dict)
    assert len(set(trace.values())) > 10
    summary = reference["summary"]
    assert isinstance(summary, dict)
    assert msgspec.json.decode(json.dumps(summary))["records"] == len(reference["records"])  # type: ignore[arg-type]
