"""`mmbot replay`: the live engine core over recorded inputs at full speed.

Determinism (byte-identical journals), each input format end to end, the report rendered from a
real run directory with its numbers recomputed from the journal, and bad input: truncated gzip,
malformed line, unknown format, an existing run directory, Ctrl-C leaving a valid, marked-incomplete
run directory that `--resume` continues."""

from __future__ import annotations

import gzip
import json
import signal
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from bot.cli import main

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
SPOT = [REPO / "bot" / "emulator" / "data" / f"binance_spot_btcusdt_2024080{d}.gz" for d in (8, 9)]


def replay(*args: str) -> int:
    return main(["replay", *args, "--progress", "off"])


def summary(run: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((run / "summary.json").read_text())


def test_two_runs_give_byte_identical_journals(tmp_path: Path) -> None:
    for name in ("a", "b"):
        assert replay(*map(str, SPOT), "--out", str(tmp_path / name), "--seed", "3") == 0
    a = (tmp_path / "a" / "journal" / "btcusdt.sqlite").read_bytes()
    b = (tmp_path / "b" / "journal" / "btcusdt.sqlite").read_bytes()
    assert a == b
    first = summary(tmp_path / "a")
    assert first["complete"] and first["events"] > 90_000 and first["fills"] > 0
    config = json.loads((tmp_path / "a" / "config.json").read_text())
    assert config["strategy"]["quoter"] == "avellaneda_stoikov" and config["settings"]["paper"]["seed"] == 3
    # a different seed changes the latency draws, hence the journal
    assert (
        replay(
            *map(str, SPOT),
            "--out",
            str(tmp_path / "c"),
            "--seed",
            "4",
            "--config",
            str(_config_with_random_latency(tmp_path)),
        )
        == 0
    )
    assert (
        replay(
            *map(str, SPOT),
            "--out",
            str(tmp_path / "d"),
            "--seed",
            "5",
            "--config",
            str(_config_with_random_latency(tmp_path)),
        )
        == 0
    )
    assert (tmp_path / "c" / "journal" / "btcusdt.sqlite").read_bytes() != (
        tmp_path / "d" / "journal" / "btcusdt.sqlite"
    ).read_bytes()


def _config_with_random_latency(tmp_path: Path) -> Path:
    path = tmp_path / "random_latency.toml"
    text = (REPO / "config" / "default.toml").read_text()
    path.write_text(text + '\n[paper.latency.order_entry]\nkind = "uniform"\nlow_ms = 0.5\nhigh_ms = 5.0\n')
    if not (tmp_path / "strategies").exists():
        (tmp_path / "strategies").symlink_to(REPO / "config" / "strategies")
    return path


@pytest.mark.parametrize(
    ("inputs", "args"),
    [
        (
            [
                str(DATA / "binance_usdm_btcusdt_20230404.dat.gz"),
                str(DATA / "binance_usdm_btcusdt_20230405.dat.gz"),
            ],
            ["--strategy", "fixed"],
        ),
        (["TARDIS"], ["--strategy", "fixed"]),
        ([str(DATA / "l2_3000_s42.npz")], ["--strategy", "minimal"]),
        (["synthetic:calm?seed=3&duration=60"], ["--strategy", "fixed"]),
    ],
    ids=["binance-usdm-raw", "tardis-csv", "reference-npz", "synthetic"],
)
def test_each_input_format_replays_to_a_complete_run(
    tmp_path: Path, inputs: list[str], args: list[str]
) -> None:
    if inputs == ["TARDIS"]:  # Tardis incremental_book_L2 + trades CSVs made from the real 2023 recording
        from tests.test_replay_readers import USDM_2023, _binance_to_tardis

        inputs = [str(tmp_path / "book.csv"), str(tmp_path / "trades.csv")]
        _binance_to_tardis(USDM_2023, Path(inputs[0]), Path(inputs[1]))
    out = tmp_path / "run"
    assert replay(*inputs, *args, "--out", str(out)) == 0
    result = summary(out)
    assert result["complete"] and result["events"] > 0 and result["orders"] > 0
    journal = next((out / "journal").glob("*.sqlite"))
    with sqlite3.connect(f"file:{journal}?mode=ro", uri=True) as db:
        assert db.execute("SELECT count(*) FROM state").fetchone()[0] == 1  # committed


def test_report_renders_from_a_real_replay_and_matches_the_journal(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert replay(*map(str, SPOT), "--out", str(out)) == 0
    assert main(["report", str(out)]) == 0
    html = (out / "report.html").read_text()
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert len(pngs) >= 5 and html.count("data:image/png;base64,") >= len(pngs)
    # the report's fill count equals the journal's
    journal = out / "journal" / "btcusdt.sqlite"
    with sqlite3.connect(f"file:{journal}?mode=ro", uri=True) as db:
        fills = db.execute("SELECT count(*) FROM fills").fetchone()[0]
    assert fills == summary(out)["fills"] > 0
    assert main(["report", str(out), "--json", "--out", str(tmp_path / "r.html")]) == 0


def test_tick_size_override_for_historical_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trades = str(DATA / "tardis_trades_binance-futures_BTCUSDT_head300.csv")  # 2020: perp tick was 0.01
    assert replay(trades, "--strategy", "fixed", "--out", str(tmp_path / "a")) == 2
    assert "has more precision than 0.1" in capsys.readouterr().err
    assert replay(trades, "--strategy", "fixed", "--out", str(tmp_path / "b"), "--tick-size", "0.01") == 0
    assert summary(tmp_path / "b")["events"] == 300


def test_bad_inputs_give_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    truncated = tmp_path / "truncated.gz"
    truncated.write_bytes(SPOT[0].read_bytes()[:200_000])
    malformed = tmp_path / "malformed.gz"
    with gzip.open(SPOT[0], "rt") as src:
        lines = [next(src) for _ in range(40)]
    lines[30] = "1723161254087085768 {not json\n"
    with gzip.open(malformed, "wt") as dst:
        dst.writelines(lines)
    unknown = tmp_path / "mystery.bin"
    unknown.write_bytes(b"\x00\x01garbage" * 100)
    cases = [(truncated, "truncated.gz"), (malformed, "malformed.gz:31"), (unknown, "mystery.bin")]
    for path, needle in cases:
        code = replay(str(path), "--out", str(tmp_path / f"run-{path.stem}"))
        err = capsys.readouterr().err
        assert code == 2, err
        assert needle in err and "Traceback" not in err
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "summary.json").write_text("{}")
    assert replay(str(SPOT[0]), "--out", str(existing)) == 2
    assert "already exists" in capsys.readouterr().err
    assert (existing / "summary.json").read_text() == "{}"  # untouched


def test_ctrl_c_leaves_a_marked_incomplete_run_that_resume_finishes(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bot",
            "replay",
            "synthetic:regimes?seed=2&duration=6000",
            "--strategy",
            "fixed",
            "--out",
            str(out),
            "--progress",
            "off",
            "--commit-every",
            "50",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list((out / "journal").glob("*.sqlite")):
        time.sleep(0.1)
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    partial = summary(out)
    assert partial["status"] == "interrupted" and partial["complete"] is False and partial["events"] > 0
    assert partial["position"]  # where it stopped, for the user
    fills_then = partial.get("fills", 0)
    assert main(["report", str(out)]) == 0  # a valid run directory
    assert "incomplete" in (out / "report.html").read_text().lower()
    assert (
        replay("synthetic:regimes?seed=2&duration=6000", "--strategy", "fixed", "--out", str(out), "--resume")
        == 0
    )
    final = summary(out)
    assert final["complete"] and final["fills"] >= fills_then
    assert Decimal(final["equity"]) > 0
