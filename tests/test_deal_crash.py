"""kill -9 in the middle of the deal loses nothing.

A real `mmbot replay` process runs the whole deal (Binance + Bybit spot, the perp, the pool,
the calls in the money, the dollar debt) with a journal commit per event; it is SIGKILLed at
two moments -- while the initial sale and the pool's swaps are running, and once expiry has
been decided -- and `--resume` finishes it. Then:

- every record committed before the kill is still there, unchanged, in every journal (the
  quoting engines', the deal accounts' and the desk's);
- the deal closes with its statement equal to its state's PnL, exactly;
- each step happened once: one strike payment of 110,000 USDT, 200,000 tokens delivered, the
  debt (the loan x 1.00 USDT) paid once, the sale never above its allotment, every transfer ``ref``
  unique in its account;
- the pool's swaps, replayed from its notes through a fresh pair, reproduce every reserve across
  the restart (no swap lost, none run twice);
- a participation-rate sale resumed after the kill counts exactly the volume the uninterrupted run
  counted (the trades between its last checkpoint and the kill are counted again, once).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from bot.cli import main
from bot.dex.pair import PancakePair
from tests.deal_kit import LOAN, POOL, REPO, notes, transfers, write_config, write_deal

SCENARIO = "synthetic:abc_crash?duration=200&seed=3"


def _rows(path: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return list(conn.execute("SELECT seq, unit, position, ts, kind, payload FROM records ORDER BY seq"))


def _note_count(run: Path, kind: str) -> int:
    path = run / "deal" / "deal-hedge.sqlite"
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            row = conn.execute(
                "SELECT COUNT(*) FROM records WHERE kind = 'note' AND payload LIKE ?", (f'%"kind":"{kind}"%',)
            ).fetchone()
            return int(row[0])
    except sqlite3.Error:
        return 0


def _kill_when(config: Path, out: Path, ready: object, timeout_s: float = 120) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "MMBOT_LOGGING__LEVEL": "warning"}
    command = [sys.executable, "-m", "bot", "replay", SCENARIO, "--config", str(config), "--out", str(out)]
    proc = subprocess.Popen(
        [*command, "--progress", "off", "--commit-every", "1"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + timeout_s
    try:
        while not ready(out):  # type: ignore[operator]
            assert proc.poll() is None, "the replay finished before the kill point"
            assert time.monotonic() < deadline, "kill point not reached"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.parametrize(
    "moment",
    [
        ("sale", lambda run: _note_count(run, "pool_swap") >= 12),
        ("expiry", lambda run: _note_count(run, "deal_step") >= 2 and "exercise" in _steps(run)),
        ("settle", lambda run: any(step.startswith("sweep:") for step in _steps(run))),
    ],
    ids=["during-the-sale", "at-expiry", "while-settling"],
)
def test_sigkill_in_the_middle_of_the_deal_loses_nothing(tmp_path: Path, moment: tuple[str, object]) -> None:
    deal = write_deal(tmp_path, strikes=("0.50", "0.60", "2.00"))
    config = write_config(tmp_path, deal)
    out = tmp_path / "run"
    _kill_when(config, out, moment[1])
    snapshot = tmp_path / "at-kill"
    shutil.copytree(out, snapshot)
    journals = sorted(p.relative_to(snapshot) for p in snapshot.rglob("*.sqlite"))
    assert journals and any(str(p).startswith("deal") for p in journals)
    before = {path: _rows(snapshot / path) for path in journals}
    killed = notes(snapshot)
    assert not [n for n in killed if n["_note"] == "deal_closed"]
    if moment[0] == "sale":  # killed with the sale running and the pool trading
        assert [n for n in killed if n["_note"] == "deal_program" and n["definition"]["name"] == "sale"]
        assert not [n for n in killed if n["_note"] == "deal_program_end"]
    else:  # killed after expiry (or the settlement's first transfers) was decided, before the return
        first = "exercise" if moment[0] == "expiry" else "sweep:"
        assert [n for n in killed if n["_note"] == "deal_step" and n["id"].startswith(first)]
        assert not [n for n in killed if n["_note"] == "deal_step" and n["id"] == "loan_return"]

    assert (
        main(
            ["replay", SCENARIO, "--config", str(config), "--out", str(out), "--progress", "off", "--resume"]
        )
        == 0
    )

    for path, rows in before.items():  # nothing committed before the kill changed or vanished
        after = _rows(out / path)
        assert after[: len(rows)] == rows, path
    summary = json.loads((out / "summary.json").read_text())["deal"]
    assert summary["phase"] == "closed"
    assert Decimal(summary["statement"]["difference"]) == 0
    every = {p.stem: transfers(p) for p in (out / "deal").glob("*.sqlite")}
    every.update({p.stem: transfers(p) for p in (out / "journal").glob("*.sqlite")})
    for account, records in every.items():
        assert max(Counter(r.ref for r in records).values(), default=1) == 1, account
    flat = [r for records in every.values() for r in records]
    assert [r.amount for r in flat if r.reason == "exercise" and r.asset == "USDT"] == [Decimal(-110_000)]
    assert sum(r.amount for r in flat if r.reason == "exercise" and r.asset == "ABC") == 200_000
    assert sum(r.amount for r in flat if r.reason == "loan_return") == -LOAN
    sale = summary["programs"]["sale"]
    filled = sum(Decimal(v) for v in sale["filled"].values())
    sold = LOAN - 150_000 - 80_000 - POOL // 2
    assert Decimal(sold) - Decimal("0.2") < filled <= Decimal(sold)
    pool = [n for n in notes(out) if n["_note"] in ("pool_swap", "pool_liquidity")]
    pair = PancakePair()
    pair.restore(pool[0]["pair"])
    for note in pool[1:]:
        if note["_note"] == "pool_liquidity":
            break
        pair.swap_exact_in(note["zero_for_one"], int(note["amount_in"]))
        assert pair.state() == note["pair"]


def _steps(run: Path) -> set[str]:
    path = run / "deal" / "deal-hedge.sqlite"
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            rows = conn.execute(
                "SELECT payload FROM records WHERE kind = 'note' AND payload LIKE '%deal_step%'"
            )
            return {json.loads(r[0])["payload"]["id"] for r in rows}
    except sqlite3.Error:
        return set()


def test_a_participation_sale_resumed_after_sigkill_counts_the_same_volume(tmp_path: Path) -> None:
    """The participation sale's volume is restored from the desk's last checkpoint, and the trades
    after it are counted again while the restarted accounts catch up: the resumed run's sale sees
    the volume the uninterrupted run saw (never more), and never sells more than its share."""
    deal = write_deal(tmp_path)
    config = write_config(tmp_path, deal)
    text = config.read_text().replace('mode = "twap"', 'mode = "participation"\nparticipation = 0.25', 1)
    config.write_text(text)
    reference = tmp_path / "reference"
    argv = ["replay", SCENARIO, "--config", str(config), "--progress", "off"]
    assert main([*argv, "--out", str(reference)]) == 0
    out = tmp_path / "run"
    _kill_when(config, out, _sale_fills_after_the_last_checkpoint)
    assert not [n for n in notes(out) if n["_note"] == "deal_program_end"]  # killed during the sale
    assert main([*argv, "--out", str(out), "--resume"]) == 0

    def volumes(run: Path) -> dict[int, dict[str, str]]:
        return {s["ts"]: s["volume"]["sale"] for s in notes(run, "deal_sample") if s["volume"].get("sale")}

    expected, resumed = volumes(reference), volumes(out)
    (program,) = [n for n in notes(out, "deal_program") if n["definition"]["name"] == "sale"]
    deadline = program["definition"]["start_ns"] + program["definition"]["window_ns"]
    common = sorted(ts for ts in set(expected) & set(resumed) if ts < deadline)
    assert len(common) > 20
    for ts in common:
        assert resumed[ts] == expected[ts], ts
    for sample in notes(out, "deal_sample"):
        if sample["ts"] < deadline and sample["programs"].get("sale"):
            for account, sold in sample["programs"]["sale"]["filled"].items():
                assert Decimal(sold) <= Decimal("0.25") * Decimal(sample["volume"]["sale"][account])


def _last_position(path: Path) -> int:
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            row = conn.execute("SELECT MAX(position) FROM records").fetchone()
            return -1 if row is None or row[0] is None else int(row[0])
    except sqlite3.Error:
        return -1


def _sale_fills_after_the_last_checkpoint(run: Path) -> bool:
    """A kill point where a deal account has committed input past the desk's last checkpoint:
    the trades in between are what the restarted desk must count again."""
    if _note_count(run, "deal_sample") < 8:
        return False
    desk = _last_position(run / "deal" / "deal-hedge.sqlite")
    return any(_last_position(path) > desk + 5 for path in (run / "deal").glob("deal-abc_*.sqlite"))
