"""A journal that cannot write is a first-class fault of the engine (in process, real SQLite file,
real recorded Binance data): the event that meets the full disk halts quoting (HALTED, quotes
pulled, no new order), the fault is logged once, writes are retried with backoff while the engine
keeps working, and when the disk has room again the whole backlog is written -- nothing committed
or pending is lost -- and quoting re-enters through CRISIS (or, configured so, stays HALTED until
resume). The same behaviour in a real process on a real full filesystem: test_disk_full_daemon.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from bot.core.events import Event
from bot.engine.assemble import TradingEngine, build_engine, load_strategy
from bot.risk.explain import Regime
from bot.risk.triggers import Trigger
from bot.store.recovery import load_ledger
from tests.specs import SPOT_BTC
from tests.trading_kit import FAST_AS, fast_settings, recorded_events, write_profile


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def build(tmp_path: Path, **journal: Any) -> TradingEngine:
    strategies = tmp_path / "strategies"
    write_profile(strategies, "fast_as", FAST_AS)
    settings = fast_settings(
        tmp_path / "data",
        paper={
            "starting_balances": {"USDT": "100000", "BTC": "0.02"},
            "latency": {"order_entry": {"ms": 1.0}, "cancel": {"ms": 1.0}},
            "journal": {"retry_initial_s": 1.0, "retry_max_s": 4.0, **journal},
        },
    )
    return build_engine(
        "btc",
        settings.engines["btc"],
        settings,
        {SPOT_BTC.key: SPOT_BTC},
        profile=load_strategy(strategies, "fast_as"),
        data_dir=tmp_path / "data",
    )


def quoting(trading: TradingEngine, events: Iterator[Event]) -> None:
    pipeline = trading.pipeline
    assert pipeline is not None
    for event in events:
        trading.engine.on_event(event)
        if pipeline.order_manager.open_orders() and pipeline.decision.regime is not Regime.HALTED:
            return
    raise AssertionError("never quoted")


def fill_the_disk(trading: TradingEngine) -> None:
    assert trading.journal is not None
    conn = trading.journal.connection
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")


def free_the_disk(trading: TradingEngine) -> None:
    assert trading.journal is not None
    trading.journal.connection.execute("PRAGMA max_page_count = 1073741823")


def records(path: Path) -> list[tuple[Any, ...]]:
    import sqlite3

    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return db.execute("SELECT seq, kind, client_id, payload FROM records ORDER BY seq").fetchall()


def test_full_disk_halts_in_the_same_event_retries_and_resumes_through_crisis(tmp_path: Path) -> None:
    trading = build(tmp_path)
    journal, pipeline, exchange = trading.journal, trading.pipeline, trading.exchange
    assert journal is not None and pipeline is not None and exchange is not None
    clock = Clock()
    journal.clock = clock
    events = recorded_events(seconds=400)
    quoting(trading, events)
    committed = records(journal.path)
    new_orders = pipeline.order_manager.stats.new_orders
    fill_the_disk(trading)
    with capture_logs() as logs:
        for event in events:
            trading.engine.on_event(event)
            if journal.fault is not None:
                break
        # the very event that met the fault halted quoting and pulled every quote
        assert "full" in (journal.fault or "")
        assert pipeline.decision.regime is Regime.HALTED
        assert Trigger.JOURNAL_FAILED in pipeline.holds
        assert pipeline.risk.status()["active_triggers"]["journal_failed"].startswith(
            "trigger.journal_failed"
        )
        assert not pipeline.desired.bids and not pipeline.desired.asks
        assert "journal not writable" in pipeline.desired.note
        # ... and the engine keeps running: events flow, the venue answers the cancels, nothing raises
        for _ in range(3000):
            trading.engine.on_event(next(events))
        assert not exchange.open_orders() and not pipeline.order_manager.open_orders()
        assert pipeline.order_manager.stats.new_orders == new_orders  # nothing new was placed
        assert journal.write_failures == 1  # no retry before the backoff has passed
        for step in (1.0, 2.0, 4.0, 4.0):  # backoff 1 s doubling to the 4 s cap
            clock.t += step - 0.01
            trading.engine.on_event(next(events))
            before = journal.write_failures
            clock.t += 0.01
            trading.engine.on_event(next(events))
            assert journal.write_failures == before + 1
        assert journal.backlog > 0 and trading.status()["journal"]["writable"] is False
        assert records(journal.path) == committed  # nothing committed changed
        pending = journal.backlog
        free_the_disk(trading)
        clock.t += 4.0
        trading.engine.on_event(next(events))  # the unit boundary writes the whole backlog
        assert journal.fault is None and exchange.failed is None
        assert pending > 0 and len(records(journal.path)) > len(committed)
        assert Trigger.JOURNAL_FAILED not in pipeline.holds
        for event in events:  # re-entry through CRISIS, then quoting again
            trading.engine.on_event(event)
            if pipeline.order_manager.stats.new_orders > new_orders:
                break
        else:
            raise AssertionError("never quoted again")
    failed = [entry for entry in logs if entry["event"].startswith("journal write failed")]
    assert len(failed) == 1 and failed[0]["log_level"] == "error"
    assert [e["event"] for e in logs].count("journal writable again: backlog written") == 1
    transitions = [
        (e["from_state"], e["to_state"], e["rule"]) for e in logs if e["event"] == "regime transition"
    ]
    assert transitions[0][1:] == ("halted", "trigger.journal_failed")
    assert ("halted", "crisis", "halt.cleared") in transitions
    # nothing committed lost, nothing of the halt lost: the journal is the whole story
    after = records(journal.path)
    assert after[: len(committed)] == committed
    events_journaled = [row for row in journal.events() if row[2] == "regime_transition"]
    assert any(row[4]["rule"] == "trigger.journal_failed" for row in events_journaled)
    memory = exchange.ledger.snapshot()
    trading.close()
    assert trading.lost == 0
    recovered, again = load_ledger(journal.path)
    again.close()
    assert recovered.ledger.snapshot() == memory


def test_stay_halted_after_recovery_until_resume(tmp_path: Path) -> None:
    trading = build(tmp_path, on_recovery="stay_halted")
    journal, pipeline = trading.journal, trading.pipeline
    assert journal is not None and pipeline is not None
    clock = Clock()
    journal.clock = clock
    events = recorded_events(seconds=400)
    quoting(trading, events)
    fill_the_disk(trading)
    for event in events:
        trading.engine.on_event(event)
        if journal.fault is not None:
            break
    free_the_disk(trading)
    clock.t += 1.0
    for _ in range(2000):
        trading.engine.on_event(next(events))
    assert journal.fault is None
    assert pipeline.decision.regime is Regime.HALTED and pipeline.risk.killed
    kills = [row[4] for row in journal.events("risk_kill")]
    assert kills[-1]["source"] == "journal" and "stay_halted" in kills[-1]["reason"]
    pipeline.resume("checked the disk", "cli", trading.engine.clock.now)
    for event in events:
        trading.engine.on_event(event)
        if pipeline.decision.regime is not Regime.HALTED:
            break
    assert pipeline.decision.regime is Regime.CRISIS
    trading.close()


def test_shutdown_on_a_full_disk_counts_what_is_lost(tmp_path: Path) -> None:
    trading = build(tmp_path)
    journal = trading.journal
    assert journal is not None
    events = recorded_events(seconds=400)
    quoting(trading, events)
    committed = records(journal.path)
    fill_the_disk(trading)
    for event in events:
        trading.engine.on_event(event)
        if journal.fault is not None:
            break
    trading.close()  # cancels the paper orders; the last write fails too
    assert trading.lost > 0 and "full" in (trading.fault or "")
    assert trading.status()["journal"]["lost"] == trading.lost
    assert records(journal.path) == committed  # committed content untouched


@pytest.mark.parametrize("retry", [{"retry_initial_s": 5.0, "retry_max_s": 1.0}])
def test_retry_settings_are_checked(tmp_path: Path, retry: dict[str, float]) -> None:
    from bot.config import ConfigError, load_settings

    cfg = tmp_path / "c.toml"
    cfg.write_text(
        "[paper.journal]\n" + "".join(f"{k} = {v}\n" for k, v in retry.items()),
    )
    with pytest.raises(ConfigError, match=r"paper\.journal: retry_max_s"):
        load_settings(cfg)


def test_a_replay_stops_failed_at_the_last_committed_boundary_and_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    import bot.store.recovery as recovery
    from bot.cli import main
    from bot.store.journal import Journal

    original = Journal.open.__func__  # type: ignore[attr-defined]

    def small_disk(cls: type[Journal], *args: Any, **kwargs: Any) -> Journal:
        journal = original(cls, *args, **kwargs)
        pages = journal.connection.execute("PRAGMA page_count").fetchone()[0]
        journal.connection.execute(f"PRAGMA max_page_count = {pages + 40}")  # fills up soon
        return journal

    from tests.trading_kit import BUNDLED_SPOT

    run = tmp_path / "run"
    monkeypatch.setattr(recovery.Journal, "open", classmethod(small_disk))
    code = main(["replay", str(BUNDLED_SPOT[0]), "--out", str(run), "--progress", "off"])
    assert code == 1
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "failed" and "journal write failed" in summary["error"]
    monkeypatch.undo()
    assert main(["replay", str(BUNDLED_SPOT[0]), "--out", str(run), "--resume", "--progress", "off"]) == 0
    assert json.loads((run / "summary.json").read_text())["complete"] is True


def test_no_new_hedge_while_the_journal_cannot_write(tmp_path: Path) -> None:
    from bot.core.events import Side
    from bot.core.orders import NewOrder, OrderType, TimeInForce
    from tests.test_hedging_pipeline import BAND, assemble, real_events

    trading = assemble(tmp_path)
    journal, hedger, exchange, pipeline = trading.journal, trading.hedger, trading.exchange, trading.pipeline
    assert journal is not None and hedger is not None and exchange is not None and pipeline is not None
    clock = Clock()
    journal.clock = clock
    events = real_events(400)
    for event in events:  # until the perp book is valid and the hedger has a delta
        trading.engine.on_event(event)
        if hedger.last is not None and trading.engine.instruments[hedger.hedge].sync.valid:
            break
    orders = hedger.orders
    fill_the_disk(trading)
    for event in events:
        trading.engine.on_event(event)
        if journal.fault is not None:
            break
    # a spot fill now pushes the net delta well out of the band: no hedge may start
    book = trading.engine.book(SPOT_BTC.key)
    assert book.best_ask is not None
    exchange.submit(
        NewOrder(
            client_id="manual-1",
            instrument=SPOT_BTC.key,
            side=Side.BUY,
            size=SPOT_BTC.sizes.to_int("0.01"),
            price=book.best_ask + 100,
            order_type=OrderType.LIMIT,
            tif=TimeInForce.IOC,
            ts=trading.engine.clock.now,
        )
    )
    for _ in range(500):
        trading.engine.on_event(next(events))
    assert hedger.last is not None and abs(hedger.last.net) > BAND
    assert hedger.orders == orders and not hedger.busy
    free_the_disk(trading)
    clock.t += 1.0
    for _ in range(500):
        trading.engine.on_event(next(events))
        if hedger.orders > orders:
            break
    assert hedger.orders == orders + 1  # once it can journal again, it hedges
    trading.close()


def test_a_multi_market_deal_replay_stops_failed_on_a_journal_fault_and_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole-deal replay (three quoting venues, the deal accounts' journals) stops on the
    first journal that cannot write, as the single-market replay does, and --resume finishes it."""
    import json

    import bot.store.recovery as recovery
    from bot.cli import main
    from bot.store.journal import Journal

    original = Journal.open.__func__  # type: ignore[attr-defined]

    def small_disk(cls: type[Journal], *args: Any, **kwargs: Any) -> Journal:
        journal = original(cls, *args, **kwargs)
        pages = journal.connection.execute("PRAGMA page_count").fetchone()[0]
        journal.connection.execute(f"PRAGMA max_page_count = {pages + 40}")
        return journal

    repo = Path(__file__).resolve().parents[1]
    argv = ["replay", "synthetic:abc_calm?duration=120&seed=3", "--config", str(repo / "config" / "abc.toml")]
    run = tmp_path / "run"
    monkeypatch.setattr(recovery.Journal, "open", classmethod(small_disk))
    assert main([*argv, "--out", str(run), "--progress", "off"]) == 1
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "failed" and "journal write failed" in summary["error"]
    assert summary["events"] < 120 * 50  # stopped early, not at the end of the input
    monkeypatch.undo()
    assert main([*argv, "--out", str(run), "--resume", "--progress", "off"]) == 0
    assert json.loads((run / "summary.json").read_text())["complete"] is True
