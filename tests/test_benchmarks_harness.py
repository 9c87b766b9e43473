"""benchmarks/run_all.py without the shared bench folder (a fresh clone): the anchors are skipped
with a note, the mmbot cases run on mmbot's own synthetic stream, and each case is a
real measured process (wall time, peak RSS, the engine's JSON line)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from benchmarks import run_all


def test_run_all_skips_the_anchors_cleanly_without_shared_bench(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(run_all.SHARED_ENV, str(tmp_path / "no-shared-bench"))
    monkeypatch.setattr(run_all, "CACHE", tmp_path / "cache")
    results = tmp_path / "RESULTS.md"
    results.write_text("# Benchmark results\n")
    monkeypatch.setattr(run_all, "RESULTS", results)
    assert run_all.main(["--sizes", "3000", "--runs", "1", "--only", "anchors,reader,mmbot"]) == 0
    text = results.read_text()
    assert text.startswith("# Benchmark results\n\n## run_all.py: replay throughput and anchors (")
    assert "benchmarks/reference not found" in text and "anchors skipped" in text
    assert "mmbot synthetic 'regimes' seed 42, 3000 rows" in text
    assert "hftbacktest" not in text.split("| engine |", 1)[1]  # no anchor rows
    (row,) = [line for line in text.splitlines() if line.startswith("| mmbot replay reader only")]
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[2] == "3,000" and cells[3] == "1"
    assert float(cells[4].replace(",", "")) > 0 and float(cells[6].replace(",", "")) > 0  # events/s, RSS
    if run_all.replay_available():
        assert "| mmbot replay --strategy minimal" in text
    else:
        assert "mmbot replay: skipped (bot.commands.replay does not exist yet)" in text
    assert "appended to" in capsys.readouterr().err


def test_measure_reports_failures_and_peak_rss(tmp_path: Path) -> None:
    grow = "x = bytearray(80 * 1024 * 1024); print('{\"events_per_s\": 5}')"
    measured = run_all.measure([sys.executable, "-c", grow])
    assert measured.rc == 0 and measured.result == {"events_per_s": 5}
    assert measured.peak_rss_mb is not None and measured.peak_rss_mb > 80
    failed = run_all.measure([sys.executable, "-c", "import sys; sys.exit(3)"])
    assert failed.rc == 3 and failed.result is None
    case = run_all.Case("x", "1", 10, [failed])
    assert case.row()[4].startswith("failed")
