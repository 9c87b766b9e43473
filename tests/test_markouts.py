"""Markouts of our fills (issue 16): computed in the core as fills age, by hand on a small
sequence; journaled as they complete so the report and the replay summary show the engine's
own numbers; restored after a restart; in /status and /metrics; feeding the quoter's optional
adverse-selection term."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.events import BookDelta, Timer
from bot.engine.assemble import build_engine, load_strategy
from bot.ops.metrics import TradingCollector
from bot.report.load import load_runs
from bot.report.metrics import summarize
from bot.strategy.markouts import MarkoutTracker
from tests.specs import SPOT_BTC
from tests.trading_kit import FAST_AS, fast_settings, recorded_events, write_profile

S = 1_000_000_000
T0 = 1_700_000_000 * S


def test_markouts_by_hand() -> None:
    """Buy 2 lots at 1000 ticks at T0, sell 1 lot at 1010 at T0 + 0.5 s. Mids: 1002 from
    T0 + 0.3 s, 1004 from T0 + 1.2 s, 1001 from T0 + 1.5 s (exactly the sell's 1 s due time).
    1 s markouts: the buy sees the mid prevailing at T0 + 1 s = 1002 -> +2/1000 = +20 bps;
    the sell's due time is an event time: the mid from that event, 1001 -> -1 * (1001 - 1010)
    / 1010 = +89.1089 bps."""
    tracker = MarkoutTracker(horizons_s=(1, 10), ewma_fills=4)
    tracker.on_fill(1, T0, 1, 1000, 2)
    assert tracker.advance(T0 + 3 * S // 10, 1002.0) == []
    tracker.on_fill(2, T0 + S // 2, -1, 1010, 1)
    assert tracker.advance(T0 + 12 * S // 10, 1004.0)[0].bps == pytest.approx(20.0)
    [sell] = tracker.advance(T0 + 15 * S // 10, 1001.0)
    assert (sell.fill_id, sell.horizon_s, sell.mid) == (2, 1, 1001.0)
    assert sell.bps == pytest.approx(-(1001 - 1010) / 1010 * 1e4)
    assert tracker.pending == 2  # both still wait for 10 s
    # 10 s: mid 995 prevailing at both due times
    tracker.advance(T0 + 5 * S, 995.0)
    done = tracker.advance(T0 + 11 * S, 990.0)
    assert [(m.fill_id, round(m.bps, 4)) for m in done] == [(1, -50.0), (2, round(15 / 1010 * 1e4, 4))]
    summary = tracker.summary(quote_per_tick_lot=0.5)
    assert summary["1s"]["buy"] == {
        "n": 1,
        "mean_bps": 20.0,
        "ewma_bps": 20.0,
        "total": 2.0,
    }  # 2 ticks x 2 lots x 0.5
    assert summary["10s"]["all"]["n"] == 2 and summary["pending"] == 0
    # EWMA with alpha 1/4: a second buy at 1000 at T0 + 20 s; the mid prevailing at T0 + 21 s
    # is still 990 (the next event comes at T0 + 22 s): -100 bps -> 20 + (-100 - 20) / 4 = -10
    tracker.on_fill(3, T0 + 20 * S, 1, 1000, 1)
    tracker.advance(T0 + 22 * S, 996.0)
    assert tracker.adverse(1).bid_bps == pytest.approx(-10.0)
    assert tracker.adverse(1).ask_bps == pytest.approx(sell.bps)


def _assemble(tmp_path: Path):  # type: ignore[no-untyped-def]
    write_profile(tmp_path / "s", "fast_as", FAST_AS)
    settings = fast_settings(tmp_path / "d")
    return build_engine(
        "btc",
        settings.engines["btc"],
        settings,
        {SPOT_BTC.key: SPOT_BTC},
        profile=load_strategy(tmp_path / "s", "fast_as"),
        data_dir=tmp_path / "d",
    )


def test_journaled_markouts_are_what_status_report_and_metrics_show(tmp_path: Path) -> None:
    trading = _assemble(tmp_path)
    engine, pipeline, journal = trading.engine, trading.pipeline, trading.journal
    assert pipeline is not None and journal is not None
    for event in recorded_events(seconds=240):
        engine.on_event(event)
    status = trading.status()["markouts"]
    assert status["10s"]["all"]["n"] > 20, "the recording must give fills to mark out"
    trading.exchange.flush()  # type: ignore[union-attr]
    journaled = [p for _i, _t, _ty, _s, p in journal.events("markout")]
    assert len(journaled) == sum(status[f"{h}s"]["all"]["n"] for h in (1, 10, 60))
    # /metrics: the same means and counts
    families = {f.name: f for f in TradingCollector([trading]).collect()}
    means = {tuple(s.labels.values()): s.value for s in families["mmbot_markout_bps"].samples}
    assert means[("btc", "10s", "buy")] == pytest.approx(status["10s"]["buy"]["mean_bps"], abs=1e-4)
    counts = {
        tuple(s.labels.values()): s.value
        for s in families["mmbot_markouts"].samples
        if s.name.endswith("_total")
    }
    assert counts[("btc", "1s", "sell")] == status["1s"]["sell"]["n"]
    trading.close()
    # the report reads the journaled markouts: identical numbers
    [run] = load_runs([tmp_path / "d"])
    report = summarize(run)["markouts"]
    for horizon in ("1s", "10s", "60s"):
        assert report[horizon]["source"] == "journal"
        assert report[horizon]["n"] == status[horizon]["all"]["n"]
        if report[horizon]["n"]:
            assert report[horizon]["mean_bps"] == pytest.approx(status[horizon]["all"]["mean_bps"], abs=1e-4)
            assert report[horizon]["total"] == pytest.approx(status[horizon]["all"]["total"], abs=1e-6)
            assert report[horizon]["buy"]["n"] == status[horizon]["buy"]["n"]


def test_a_restart_keeps_the_markout_statistics_and_the_fills_still_ageing(tmp_path: Path) -> None:
    trading = _assemble(tmp_path)
    engine, pipeline = trading.engine, trading.pipeline
    assert pipeline is not None
    events = list(recorded_events(seconds=240))
    cut = len(events) * 2 // 3
    for event in events[:cut]:
        engine.on_event(event)
    before = trading.status()["markouts"]
    waiting = pipeline.markouts.pending
    assert before["1s"]["all"]["n"] > 5 and waiting > 0
    trading.close()
    again = _assemble(tmp_path)
    assert again.pipeline is not None
    restored = again.status()["markouts"]
    for horizon in ("1s", "10s", "60s"):
        assert restored[horizon] == before[horizon]
    assert again.pipeline.markouts.pending == waiting
    again.close()


def test_the_adverse_selection_term_widens_the_live_quotes(tmp_path: Path) -> None:
    """A profile with [costs] adverse_selection_weight = 1 (10 s horizon): once buys have
    marked out badly, the pipeline's bid sits below what the same quoter gives without it."""
    write_profile(tmp_path / "s", "as_adverse", FAST_AS + "[costs]\nadverse_selection_weight = 1.0\n")
    settings = fast_settings(tmp_path / "d")
    trading = build_engine(
        "btc",
        settings.engines["btc"],
        settings,
        {SPOT_BTC.key: SPOT_BTC},
        profile=load_strategy(tmp_path / "s", "as_adverse"),
        data_dir=tmp_path / "d",
    )
    engine, pipeline = trading.engine, trading.pipeline
    assert pipeline is not None
    widened = 0
    for event in recorded_events(seconds=300):
        engine.on_event(event)
        adverse = pipeline.markouts.adverse(10)
        if adverse.bid_bps < -0.5 and pipeline.desired.bids and not pipeline.decision.pull_all:
            state = pipeline.estimators.snapshot()
            plain = pipeline.quoter.quote(state, pipeline.position, pipeline.decision.adjustments)
            live = pipeline.quoter.quote(state, pipeline.position, pipeline.decision.adjustments, adverse)
            if isinstance(event, Timer | BookDelta):  # the pipeline decided on this event
                assert live == pipeline.desired
            if plain.bids and live.bids:
                assert live.bids[0].price <= plain.bids[0].price
                widened += live.bids[0].price < plain.bids[0].price
    trading.close()
    assert widened > 0
