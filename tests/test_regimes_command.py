"""``mmbot regimes show``: listing journaled regime transitions and kill records."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from bot.commands import regimes as command
from bot.errors import InputError
from bot.risk import KillRecord, record_type, to_payload
from bot.risk.explain import RiskRecord
from tests.risk_helpers import ABSOLUTE, StateFeed, feed_for
from tests.specs import SPOT_BTC, USDM_BTC


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="mmbot")
    command.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def produce_records() -> list[RiskRecord]:
    """A real history: warm-up, calm, a vol spike into CRISIS, a kill and a resume."""
    from bot.risk import RiskManager

    records: list[RiskRecord] = []
    risk = RiskManager(ABSOLUTE, SPOT_BTC, sink=records.append)  # thresholds read as bps/sqrt(s)
    feed = StateFeed()
    feed_for(risk, feed, 25.0)
    feed.short, feed.medium = 4.0, 3.0
    feed_for(risk, feed, 1.0)
    risk.kill("maintenance", "cli", feed.ts)
    risk.resume("done", "http", feed.ts + 1)
    return records


def reader_for(records: list[RiskRecord], extra: list[tuple[str, Any]] | None = None) -> command.RecordReader:
    stored = [(record_type(r), to_payload(r)) for r in records] + (extra or [])
    return lambda data_dir: list(stored)  # journal (write) order


def test_show_lists_transitions_in_time_order_with_their_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = produce_records()
    args = parse(["regimes", "show", "--data-dir", str(tmp_path)])
    assert command.start_regimes_show(args, reader_for(records)) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    heads = [line for line in lines if not line.startswith("    ")]
    assert [h.split("  ")[2] for h in heads] == [
        "HALTED -> CRISIS",
        "CRISIS -> CALM",
        "CALM -> CRISIS",
        "KILL by cli: maintenance",  # the cause, then its effect
        "CRISIS -> HALTED",
        "RESUME by http: done",
        "HALTED -> CRISIS",
    ]
    assert "    crisis.enter: short_ratio 4 >= 3 x baseline vol" in lines
    assert "    trigger.manual_kill: cli: maintenance" in lines
    assert heads[0].startswith("2023-11-14T22:13:") and SPOT_BTC.key in heads[0]


def test_show_json_filters_and_skips_unreadable_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = produce_records()
    other = KillRecord(ts=records[0].ts - 1, action="kill", reason="x", source="cli", instrument=USDM_BTC.key)
    late = KillRecord(
        ts=records[-1].ts + 5, action="kill", reason="late", source="cli", instrument=SPOT_BTC.key
    )
    # two journals' records concatenated: not in time order
    reader = reader_for([late, *records, other], extra=[("regime_transition", {"garbage": True})])
    args = parse(["regimes", "show", "--data-dir", str(tmp_path), "--json", "--instrument", SPOT_BTC.key])
    command.start_regimes_show(args, reader)
    shown = json.loads(capsys.readouterr().out)
    assert len(shown) == len(records) + 1 and shown[-1]["reason"] == "late"
    assert {r["instrument"] for r in shown} == {SPOT_BTC.key}
    assert [r["ts"] for r in shown] == sorted(r["ts"] for r in shown)
    assert shown[2]["type"] == "regime_transition" and shown[2]["to_state"] == "crisis"
    assert shown[2]["reasons"][0] == {
        "rule": "crisis.enter",
        "metric": "short_ratio",
        "observed": pytest.approx(4.0),
        "op": ">=",
        "threshold": 3.0,
        "unit": "x baseline vol",
        "note": "",
    }
    assert any(r["type"] == "risk_kill" and r["reason"] == "maintenance" for r in shown)
    # --last N keeps the newest N; the text view reports the unreadable record
    args = parse(["regimes", "show", "--data-dir", str(tmp_path), "--last", "2"])
    command.start_regimes_show(args, reader)
    out = capsys.readouterr().out
    assert "RESUME by http" not in out and "HALTED -> CRISIS" in out and "KILL by cli: late" in out
    assert "(1 unreadable risk records skipped)" in out


def test_bad_arguments_and_missing_data_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="--last must be >= 1"):
        command.start_regimes_show(parse(["regimes", "show", "--data-dir", str(tmp_path), "--last", "0"]))
    with pytest.raises(InputError, match="data directory not found"):
        command.start_regimes_show(parse(["regimes", "show", "--data-dir", str(tmp_path / "nope")]))
    with pytest.raises(InputError, match="no journals found"):
        command.start_regimes_show(parse(["regimes", "show", "--data-dir", str(tmp_path)]))


def test_show_reads_the_real_journal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Through bot.store.journal's typed-record table (skipped in builds without it)."""
    journal_module = pytest.importorskip("bot.store.journal")
    records = produce_records()
    path = tmp_path / command.JOURNAL_DIR / "paper.sqlite"
    with journal_module.Journal.open(path, meta={"name": "paper"}) as journal:
        for record in records:
            journal.append_event(record_type(record), to_payload(record), ts=record.ts, source="risk")
        journal.append_event("strategy_switch", {"to": "glft"}, ts=1, source="engine")
    command.start_regimes_show(parse(["regimes", "show", "--data-dir", str(tmp_path), "--json"]))
    shown = json.loads(capsys.readouterr().out)
    assert len(shown) == len(records)
    assert {r["type"] for r in shown} == {"regime_transition", "risk_kill"}
