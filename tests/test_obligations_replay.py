"""The obligations on the ABC market at full speed (the engine `mmbot run` builds, driven from the
synthetic market without sockets): met in a calm market on every venue of config/abc.toml, breaches
recorded with their cause in the crash, the uptime accounting kept across a restart, and the
report's obligations section, /metrics and `mmbot obligations show` reading the same journal."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from bot.cli import main
from bot.config import load_settings
from bot.core.events import BookDelta, BookSnapshot, Event, Timer
from bot.emulator.synthetic import SyntheticMarket, synthetic_events
from bot.emulator.token_markets import market_options
from bot.engine.assemble import build_engine, load_strategy
from bot.ops.obligations_metrics import ObligationCollector
from bot.replay.readers import shipped_spec
from bot.report.obligations import load_data_dir, load_journal

REPO = Path(__file__).resolve().parents[1]
ABC = REPO / "config" / "abc.toml"
SETTINGS = load_settings(ABC)
S = 1_000_000_000


def replay(tmp_path: Path, scenario: str, engine: str, *, duration: int | None = None, seed: int = 1) -> Path:
    venue = SETTINGS.engines[engine].venue
    query = f"instrument={venue}:ABCUSDT&seed={seed}" + (f"&duration={duration}" if duration else "")
    out = tmp_path / f"{scenario}-{engine}"
    code = main(
        [
            "replay",
            f"synthetic:{scenario}?{query}",
            "--config",
            str(ABC),
            "--out",
            str(out),
            "--progress",
            "off",
        ]
    )
    assert code == 0
    return out


@pytest.mark.parametrize("engine", sorted(SETTINGS.obligations.engines))
def test_calm_market_meets_the_obligation_on_every_venue(tmp_path: Path, engine: str) -> None:
    out = replay(tmp_path, "abc_calm", engine, duration=600)
    summary = json.loads((out / "summary.json").read_text())["obligation"]
    minimum = float(SETTINGS.obligations.engines[engine].min_uptime_pct) / 100
    assert summary["measured_s"] == pytest.approx(600, abs=1)
    assert summary["uptime_deal"] >= minimum, summary
    assert summary["met"] is True
    (history,) = load_data_dir(out)
    # the only long breach is the risk manager's warm-up at the start (HALTED, recorded as such)
    long = [b for b in history.breaches if b["duration_s"] > 2]
    assert len(long) == 1 and "HALTED: trigger.warmup" in " ".join(long[0]["causes"])
    assert long[0]["start"] == history.last["deal_start_ns"]  # type: ignore[index]
    # the rest are refill gaps after a sweep took our quotes: tens of milliseconds each
    short = [b for b in history.breaches if b["duration_s"] <= 2]
    assert sum(b["duration_s"] for b in short) < 0.02 * 600
    assert not [a for a in history.alerts if a["state"] == "short"]


def test_crash_breaches_are_recorded_with_their_cause(tmp_path: Path) -> None:
    out = replay(tmp_path, "abc_crash", "abc_binance")
    spec = shipped_spec("binance_spot:ABCUSDT")
    options = market_options(spec, 1)
    spans = {name: (a, b) for name, a, b in SyntheticMarket("abc_crash", spec=spec, **options).phase_spans()}
    (history,) = load_data_dir(out)
    crash_start, crash_end = spans["withdrawal"][0], spans["crash"][1]
    during = [
        b for b in history.breaches if b["start"] <= crash_end and (b["end"] or crash_end) >= crash_start
    ]
    assert during, "no breach recorded in the crash"
    causes = " ".join(c for b in during for c in b["causes"])
    assert "HALTED: trigger." in causes  # the risk manager pulled the quotes: a recorded breach, and why
    assert any(k in causes for k in ("bid depth", "ask depth", "spread"))  # which terms failed, with numbers
    assert history.uptime("deal") is not None and history.uptime("deal") < 1.0
    # the report shows the compliance timeline and the breaches
    assert main(["report", str(out), "--out", str(out / "r.html")]) == 0
    html = (out / "r.html").read_text()
    assert "<h3>Obligations</h3>" in html and "Longest breaches" in html and "HALTED: trigger." in html
    assert (out / "r-obligations.png").stat().st_size > 10_000
    from bot.report.html import embedded_summary

    (embedded,) = embedded_summary(html)
    assert embedded["obligation"]["breaches"] == history.breach_count
    assert embedded["obligation"]["uptime_deal"] == pytest.approx(history.uptime("deal"))


def timed(events: Iterator[Any], step: int = 100_000_000) -> Iterator[Event]:
    next_timer = None
    for event in events:
        if next_timer is None:
            next_timer = event.local_ts + step
        while event.local_ts >= next_timer:
            yield Timer(local_ts=next_timer)
            next_timer += step
        yield event


def resubscribed(events: list[Event], at: int) -> BookSnapshot:
    """The snapshot a fresh Bybit subscription delivers at ``at``: the book so far."""
    bids: dict[int, int] = {}
    asks: dict[int, int] = {}
    update_id = 0
    for event in events:
        if event.local_ts >= at:
            break
        if isinstance(event, BookSnapshot):
            bids, asks = dict(event.bids), dict(event.asks)
            update_id = event.update_id
        elif isinstance(event, BookDelta):
            for book, levels in ((bids, event.bids), (asks, event.asks)):
                for price, size in levels:
                    if size:
                        book[price] = size
                    else:
                        book.pop(price, None)
            update_id = event.last_id
    return BookSnapshot(
        instrument="bybit_spot:ABCUSDT",
        local_ts=at,
        exch_ts=at,
        update_id=update_id,
        bids=sorted(bids.items(), reverse=True),
        asks=sorted(asks.items()),
    )


def engine_for(data_dir: Path) -> Any:
    settings = load_settings(ABC, data_dir=str(data_dir))
    engine_settings = settings.engines["abc_bybit"].model_copy(update={"hedge": None})
    spec = shipped_spec("bybit_spot:ABCUSDT")
    profile = load_strategy(REPO / "config" / "strategies", "abc")
    return build_engine(
        "abc_bybit", engine_settings, settings, {spec.key: spec}, profile=profile, data_dir=data_dir
    )


def test_restart_keeps_the_uptime_accounting(tmp_path: Path) -> None:
    """Run 200 s, stop cleanly, stay down 30 s, restart on the same data directory and run on: the
    uptime totals continue, the downtime (and the warm-up after it) is one breach that says why."""
    spec = shipped_spec("bybit_spot:ABCUSDT")
    options = market_options(spec, 4)
    seed = options.pop("seed")
    events = list(timed(synthetic_events("abc_calm", seed=seed, spec=spec, **options)))
    start = events[0].local_ts
    first = [e for e in events if e.local_ts < start + 200 * S]
    second = [e for e in events if start + 230 * S <= e.local_ts < start + 400 * S]
    second.insert(0, resubscribed(events, start + 230 * S))

    trading = engine_for(tmp_path)
    for event in first:
        trading.engine.on_event(event)
    before = trading.obligation.summary()
    breaches_before = trading.obligation.meter.breaches
    stopped = trading.engine.clock.now
    registry = CollectorRegistry()
    registry.register(ObligationCollector([trading]))
    text = generate_latest(registry).decode()
    assert 'mmbot_obligation_depth_quote{side="bid",symbol="ABCUSDT",venue="bybit_spot"}' in text
    assert 'mmbot_obligation_uptime_ratio{symbol="ABCUSDT",venue="bybit_spot",window="deal"}' in text
    assert 'mmbot_obligation_met{symbol="ABCUSDT",venue="bybit_spot"} 1.0' in text
    trading.close()
    assert before["measured_s"] == pytest.approx(200, abs=0.5) and before["uptime_deal"] > 0.9

    again = engine_for(tmp_path)
    meter = again.obligation.meter
    assert meter.deal.measured == pytest.approx(200 * S, abs=0.2 * S)  # resumed from the journal
    # the shutdown's cancels opened a breach that is still open: it goes on through the downtime
    assert meter.breaches == breaches_before + 1 and meter.breach is not None
    for event in second:
        again.engine.on_event(event)
    resumed = again.engine.clock.now
    after = again.obligation.summary()
    again.close()
    assert after["measured_s"] == pytest.approx(before["measured_s"] + (resumed - stopped) / S, abs=0.01)
    # one breach from the shutdown's cancels, through the downtime and the warm-up after it
    (history,) = load_data_dir(tmp_path)
    (down,) = [b for b in history.breaches if b["start"] <= stopped + S and b["end"] >= stopped + 30 * S]
    assert down["start"] == stopped
    causes = down["causes"]
    assert "(mmbot stopping: quotes cancelled)" in causes[0]
    assert any("mmbot was not running" in c for c in causes)
    assert any("HALTED: trigger.warmup" in c for c in causes)  # the warm-up after the restart
    assert history.uptime("deal") == pytest.approx(after["uptime_deal"])
    assert load_journal(tmp_path / "journal" / "abc_bybit.sqlite") is not None


def test_obligations_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = replay(tmp_path, "abc_calm", "abc_binance", duration=60)
    assert main(["obligations", "show", "--data-dir", str(out), "--breaches", "3"]) == 0
    text = capsys.readouterr().out
    assert "abc_binance: binance_spot:ABCUSDT" in text
    assert "spread <= 0.1 % of our best ask; bids 100,000 / asks 100,000 USDT within +-2 % of mid" in text
    assert "uptime deal:" in text and "breaches:" in text
    assert main(["obligations", "show", "--data-dir", str(out), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["terms"]["bid_depth"] == "100000"
    assert row["uptime"]["deal"] == pytest.approx(row["now"]["deal_met_ns"] / row["now"]["deal_measured_ns"])
    assert len(row["recent_breaches"]) <= 10
    assert main(["obligations", "show", "--data-dir", str(out), "--engine", "nope"]) == 2
    assert "--engine nope: no obligation records" in capsys.readouterr().err
    assert main(["obligations", "show", "--data-dir", str(tmp_path / "missing")]) == 2
