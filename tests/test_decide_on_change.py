"""``[quoting] decide = "on-change"`` (``mmbot replay --decide on-change``): a book change is
decided on only when an input of the decision changed; the estimators still see every event.

On the bundled real Binance spot recording: every book change that moved the best bid or ask
(or quotability, or the volatility estimates) is decided on at once, every skipped one left them
as the last decision saw them, a fill makes the next event decide, and the default
(``every-event``) decides on every book change (its outputs are the golden ones,
tests/test_golden_replays.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.core.events import BookDelta, BookSnapshot
from bot.engine.assemble import build_engine, load_strategy
from tests.specs import SPOT_BTC
from tests.trading_kit import FAST_AS, fast_settings, recorded_events, write_profile

REPO = Path(__file__).resolve().parents[1]


def _run(tmp_path: Path, decide: str) -> dict[str, Any]:
    write_profile(tmp_path / "s", "fast_as", FAST_AS)
    settings = fast_settings(tmp_path / decide, quoting={"decide": decide})
    trading = build_engine(
        "btc",
        settings.engines["btc"],
        settings,
        {SPOT_BTC.key: SPOT_BTC},
        profile=load_strategy(tmp_path / "s", "fast_as"),
        data_dir=tmp_path / decide,
    )
    engine, pipeline = trading.engine, trading.pipeline
    assert pipeline is not None
    book = pipeline.book
    last_top: tuple[int | None, int | None] | None = None
    book_changes = skipped = stale_skips = fills_then_skipped = 0
    fills_before = 0
    for event in recorded_events(seconds=300):
        before = pipeline.decisions
        fills_pending = pipeline.fills != fills_before
        engine.on_event(event)
        fills_before = pipeline.fills
        top = (book.best_bid, book.best_ask)
        if type(event) in (BookDelta, BookSnapshot):
            book_changes += 1
            if pipeline.decisions == before:
                skipped += 1
                stale_skips += top != last_top
                fills_then_skipped += fills_pending
        if pipeline.decisions > before:
            last_top = top
    trading.close()
    return {
        "book_changes": book_changes,
        "skipped": skipped,
        "pipeline_skipped": pipeline.skipped,
        "stale_skips": stale_skips,
        "fills_then_skipped": fills_then_skipped,
        "decisions": pipeline.decisions,
        "fills": pipeline.fills,
        "orders": trading.exchange.commands if trading.exchange is not None else 0,
    }


def test_on_change_skips_only_book_changes_that_change_no_input(tmp_path: Path) -> None:
    every = _run(tmp_path, "every-event")
    change = _run(tmp_path, "on-change")
    assert every["skipped"] == 0 and every["pipeline_skipped"] == 0
    assert change["skipped"] == change["pipeline_skipped"] > change["book_changes"] // 50
    assert change["decisions"] < every["decisions"]
    # a skipped book change never left the best prices where the last decision did not see them
    assert change["stale_skips"] == 0
    # a fill is decided on at the next event, never skipped
    assert change["fills_then_skipped"] == 0
    assert change["fills"] > 0 and change["orders"] > 0


def test_decide_is_a_config_key_and_a_replay_option(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="decide"):
        Settings(quoting={"decide": "sometimes"})
    assert Settings().quoting.decide == "every-event"
    bad = subprocess.run(
        [sys.executable, "-m", "bot", "replay", "x.gz", "--decide", "sometimes"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "--decide" in bad.stderr
    out = tmp_path / "run"
    usdm = [str(REPO / "tests" / "data" / f"binance_usdm_btcusdt_2023040{d}.dat.gz") for d in (4, 5)]
    done = subprocess.run(
        [
            *(sys.executable, "-m", "bot", "replay", *usdm, "--strategy", "as_default"),
            *("--decide", "on-change", "--out", str(out), "--progress", "off", "--no-journal"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["decide"]["mode"] == "on-change"
    assert summary["decide"]["book_changes_skipped"] > 0
    config = json.loads((out / "config.json").read_text())
    assert config["settings"]["quoting"]["decide"] == "on-change"
