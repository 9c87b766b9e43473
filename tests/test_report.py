"""``mmbot report``: renders from real run directories (real SQLite journals written by a
paper exchange), embeds every plot, and its summary numbers equal the numbers recomputed
here from the journal with plain Python (no bot.report code)."""

from __future__ import annotations

import base64
import bisect
import contextlib
import io
import itertools
import json
import math
import re
import sqlite3
import statistics
from pathlib import Path

import numpy as np
import pytest

from bot import cli
from bot.core.orders import NewOrder
from bot.errors import InputError
from bot.paper.records import FillRecord
from bot.report import metrics, plots
from bot.report.html import build_report, embedded_summary
from bot.report.load import EngineRun, Samples
from bot.store.journal import Journal
from tests.report_helpers import build_run
from tests.specs import SPOT_BTC

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
NS = 1_000_000_000


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("runs")
    return build_run(base / "tight"), build_run(base / "wide", half_spread=200)


def _recompute(run_dir: Path) -> dict:
    """The summary numbers, straight from the journal (independent of bot.report)."""
    with Journal.open(run_dir / "journal" / "engine.sqlite", readonly=True) as journal:
        records = [record for _, _, _, record in journal.records()]
        samples = [(ts, payload) for _, ts, _, _, payload in journal.events("sample")]
        transitions = [payload for *_, payload in journal.events("regime_transition")]
        state = journal.state()
    # the final state: what `mmbot ledger show` prints for this journal
    shown = json.loads(_cli_out(["ledger", "show", "--data-dir", str(run_dir), "--json"]))
    (ledger,) = [j["ledger"] for j in shown["journals"]]
    final_pnl = {k: float(v) for k, v in ledger["attribution"].items()}
    orders = sum(1 for r in records if isinstance(r, NewOrder))
    fills = [r.fill for r in records if isinstance(r, FillRecord)]
    times = [ts for ts, _ in samples]
    totals = [p["pnl"]["total"] for _, p in samples]
    end = max(times[-1], state.now, ledger["last_ts"])
    duration = (end - times[0]) / NS
    # drawdown over the samples, then the final ledger total
    peak, worst, worst_peak_equity = -math.inf, 0.0, None
    points = [(total, payload["equity"]) for (_, payload), total in zip(samples, totals, strict=True)]
    for total, equity in [*points, (final_pnl["total"], float(ledger["equity"]))]:
        if total > peak:
            peak, peak_equity = total, equity
        if peak - total > worst:
            worst, worst_peak_equity = peak - total, peak_equity
    # regimes: the first sample's regime, then each transition
    spent: dict[str, float] = {}
    current, cursor = samples[0][1]["regime"], times[0]
    for transition in sorted(transitions, key=lambda x: x["ts"]):
        spent[current] = spent.get(current, 0.0) + (transition["ts"] - cursor) / NS
        current, cursor = transition["to_state"], transition["ts"]
    spent[current] = spent.get(current, 0.0) + (times[-1] - cursor) / NS
    # markouts: first sample at or after fill time + h
    markouts = {}
    for horizon in (1, 10, 60):
        bps, total = [], 0.0
        for fill in fills:
            i = bisect.bisect_left(times, fill.ts + horizon * NS)
            if i == len(times):
                continue
            price = float(SPOT_BTC.price(fill.price))
            move = int(fill.side) * (samples[i][1]["mid"] - price)
            bps.append(move / price * 1e4)
            total += move * float(SPOT_BTC.size(fill.size))
        markouts[f"{horizon}s"] = {"n": len(bps), "mean_bps": statistics.mean(bps), "total": total}
    inventories = [p["inventory"] for _, p in samples]
    last = samples[-1][1]
    return {
        "pnl": {**final_pnl, "hedge": last["pnl"]["hedge"]},
        "pnl_per_hour": final_pnl["total"] / (duration / 3600),
        "sharpe": None,  # a 7-minute run: too short for an annualised Sharpe
        "max_drawdown": worst,
        "max_drawdown_pct": worst / worst_peak_equity * 100,
        "orders": orders,
        "fills": len(fills),
        "fill_rate": len(fills) / orders,
        "inventory_std": statistics.pstdev(inventories),
        "time_in_regime_s": spent,
        "regime_transitions": len(transitions),
        "markouts": markouts,
        "duration_s": duration,
        "final_equity": float(ledger["equity"]),
    }


def _cli_out(argv: list[str]) -> str:
    """stdout of `mmbot ARGV` run in-process."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert cli.main(argv) == 0
    return buffer.getvalue()


def _images(html: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)]


def test_report_renders_embeds_every_plot_and_matches_the_journal(
    runs: tuple[Path, Path], tmp_path: Path
) -> None:
    run_dir = runs[0]
    out, pngs, _ = build_report([run_dir])
    assert out == run_dir / "report.html"
    html = out.read_text()
    images = _images(html)
    assert len(images) == 5 == len(pngs)
    assert all(image.startswith(PNG_MAGIC) for image in images)
    assert [p.read_bytes() for p in pngs] == images  # the PNGs beside it are the embedded ones
    for title in (
        "Mid price, our quotes and fills",
        "Regime timeline",
        "Inventory and net delta",
        "PnL split",
        "Spread vs volatility",
    ):
        assert title in html
    (summary,) = embedded_summary(html)
    expected = _recompute(run_dir)
    assert expected["fills"] > 100 and expected["regime_transitions"] == 4  # a run worth reporting on
    approx = lambda v: pytest.approx(v, rel=1e-9, abs=1e-9)  # noqa: E731
    for key in (
        "pnl_per_hour",
        "max_drawdown",
        "max_drawdown_pct",
        "fill_rate",
        "inventory_std",
        "duration_s",
        "final_equity",
    ):
        assert summary[key] == approx(expected[key]), key
    for key in ("orders", "fills", "regime_transitions"):
        assert summary[key] == expected[key], key
    assert summary["pnl"] == {k: approx(v) for k, v in expected["pnl"].items()}
    # the totals are the ledger's, exactly (to the cent and beyond)
    shown = json.loads(_cli_out(["ledger", "show", "--data-dir", str(run_dir), "--json"]))
    assert summary["pnl_exact"] == shown["journals"][0]["ledger"]["attribution"]
    assert summary["sharpe"] is None and summary["sharpe_note"] == "n/a (run too short)"
    assert "n/a (run too short)" in html
    assert summary["time_in_regime_s"] == {k: approx(v) for k, v in expected["time_in_regime_s"].items()}
    assert sum(summary["time_in_regime_s"].values()) == approx(expected["duration_s"])
    for horizon, values in expected["markouts"].items():
        got = summary["markouts"][horizon]
        assert got["n"] == values["n"] > 0
        assert got["mean_bps"] == approx(values["mean_bps"])
        assert got["total"] == approx(values["total"])
    # the table shows the same numbers
    assert f"{expected['fills']:,}" in html and f"{expected['orders']:,}" in html
    assert "calm" in html and "crisis" in html and "minimal-wide" in html  # transitions, switch


def test_report_compares_runs_side_by_side(runs: tuple[Path, Path], tmp_path: Path) -> None:
    out, pngs, summaries = build_report(list(runs), tmp_path / "cmp" / "compare.html")
    html = out.read_text()
    assert [s["label"] for s in summaries] == ["tight", "wide"]
    assert len(_images(html)) == 11 == len(pngs)  # overlaid PnL + 5 per run
    assert out.with_name("compare-compare-pnl.png").exists()
    header = re.search(r"<thead><tr><th>metric</th>(.*?)</tr></thead>", html)
    assert header is not None and header.group(1) == "<th>tight</th><th>wide</th>"
    assert summaries[0]["fills"] == _recompute(runs[0])["fills"]
    assert summaries[1]["fills"] == _recompute(runs[1])["fills"]
    assert summaries[0]["fills"] != summaries[1]["fills"]  # different strategies, different runs


def test_incomplete_run_is_flagged(runs: tuple[Path, Path], tmp_path: Path) -> None:
    summary = runs[1] / "summary.json"
    original = summary.read_text()
    try:
        summary.write_text(json.dumps({"complete": False}))
        out, _, _ = build_report([runs[1]], tmp_path / "r.html")
        assert "incomplete" in out.read_text()
    finally:
        summary.write_text(original)


def test_report_command_through_the_cli(
    runs: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "one.html"
    assert cli.main(["report", str(runs[0]), "--out", str(out), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["html"] == str(out) and len(printed["png"]) == 5
    assert printed["runs"] == embedded_summary(out.read_text())
    # bad input: exit code 2 and one line naming the problem
    missing = tmp_path / "nope"
    assert cli.main(["report", str(missing)]) == 2
    assert f"{missing}: run directory not found" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli.main(["report", str(empty)]) == 2
    assert "not an mmbot run directory" in capsys.readouterr().err
    assert cli.main(["report", str(runs[0]), "--out", str(tmp_path / "x.pdf")]) == 2
    assert "HTML file" in capsys.readouterr().err


def test_foreign_journal_and_bad_json_are_input_errors(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign"
    (foreign / "journal").mkdir(parents=True)
    sqlite3.connect(foreign / "journal" / "other.sqlite").execute("CREATE TABLE t(x)").connection.close()
    with pytest.raises(InputError, match="not an mmbot journal"):
        build_report([foreign])
    text = tmp_path / "text"
    (text / "journal").mkdir(parents=True)
    (text / "journal" / "engine.sqlite").write_text("hello")
    with pytest.raises(InputError, match="not an mmbot journal"):
        build_report([text])
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    with pytest.raises(InputError, match=r"config.json: not valid JSON"):
        build_report([broken])
    afile = tmp_path / "file.txt"
    afile.write_text("x")
    with pytest.raises(InputError, match="not a directory"):
        build_report([afile])


def test_journal_without_samples_is_refused(tmp_path: Path) -> None:
    from bot.paper.settings import PaperSettings
    from bot.store.recovery import open_paper

    _exchange, journal = open_paper([SPOT_BTC], PaperSettings(), tmp_path / "bare", "engine")
    assert journal is not None
    journal.close()
    with pytest.raises(InputError, match="no 'sample' events"):
        build_report([tmp_path / "bare"])


def _long_run(days: float, seed: int = 3) -> EngineRun:
    """A run of ``days`` of 1-minute samples (a PnL random walk with drift), as loaded."""
    rng = np.random.default_rng(seed)
    n = int(days * 1440) + 1
    ts = 1_700_000_000 * NS + np.arange(n, dtype=np.int64) * 60 * NS
    total = np.cumsum(rng.normal(0.02, 1.0, n))
    nan = np.full(n, np.nan)
    zeros = np.zeros(n)
    samples = Samples(
        instrument=SPOT_BTC.key,
        ts=ts,
        mid=np.full(n, 60_000.0),
        best_bid=nan,
        best_ask=nan,
        bid_quote=nan,
        ask_quote=nan,
        sigma=nan,
        inventory=zeros,
        net_delta=nan,
        equity=100_000 + total,
        pnl={
            **{name: zeros for name in ("spread_capture", "rebates", "fees", "hedge", "funding")},
            "inventory": total,
            "total": total,
        },
        regime=["calm"] * n,
    )
    return EngineRun(
        label="long",
        run_dir=Path("long"),
        journal=Path("long/journal/engine.sqlite"),
        specs={SPOT_BTC.key: SPOT_BTC},
        samples=samples,
        fills=[],
        orders=0,
        cancels=0,
        rejects=0,
        transitions=[],
        switches=[],
        config=None,
        summary=None,
    )


def test_sharpe_only_for_runs_of_a_day_or_more() -> None:
    day = _long_run(1.0)
    totals = list(day.samples.pnl["total"])
    changes = [b - a for a, b in itertools.pairwise(totals)]
    expected = statistics.mean(changes) / statistics.stdev(changes) * math.sqrt(525_600)
    summary = metrics.summarize(day)
    assert summary["duration_s"] == 86_400 and summary["sharpe_note"] is None
    assert summary["sharpe"] == pytest.approx(expected, rel=1e-9)
    short = metrics.summarize(_long_run(1.0 - 2 / 1440))  # one day less two minutes
    assert short["sharpe"] is None and short["sharpe_note"] == "n/a (run too short)"
    assert plots.inventory_title(day) == "Inventory (no hedge: no net delta)"
