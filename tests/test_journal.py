"""The SQLite journal: bad files are refused untouched, write errors keep memory honest,
old schemas migrate forward."""

from __future__ import annotations

import hashlib
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

import bot.store.journal as journal_module
import bot.store.migrations as migrations
from bot.core.events import Side
from bot.core.orders import TimeInForce
from bot.errors import InputError, MmbotError
from bot.paper.exchange import PaperExchange
from bot.store.journal import Journal, JournalError
from bot.store.migrations import APPLICATION_ID, SCHEMA_VERSION
from bot.store.recovery import load_ledger, open_paper
from tests.helpers.paperkit import SPOT, Feed, limit, settings, spot_spec


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _siblings(path: Path) -> set[str]:
    return {p.name for p in path.parent.iterdir()}


def _active_exchange(tmp_path: Path) -> tuple[PaperExchange, Journal, Feed]:
    exchange, journal = open_paper([spot_spec()], settings(), tmp_path, "test")
    assert journal is not None
    feed = Feed()
    for event in feed.open([(10000, 500), (9999, 700)], [(10001, 400), (10002, 900)]):
        exchange.on_event(event)
    exchange.submit(limit("b1", Side.BUY, 10000, 100, feed.ts))
    exchange.on_event(feed.trade(Side.SELL, 10000, 700))  # fills b1 behind 500
    exchange.flush()
    return exchange, journal, feed


def _rows(journal: Journal) -> list[tuple[object, ...]]:
    return journal.connection.execute("SELECT * FROM records ORDER BY seq").fetchall()


# ---- files that are not (usable) journals -------------------------------------------


def test_garbage_file_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "test.sqlite"
    path.write_bytes(b"this is not a database\n" * 200)
    before, names = _digest(path), _siblings(path)
    with pytest.raises(InputError, match="not a SQLite database"):
        Journal.open(path)
    assert _digest(path) == before and _siblings(path) == names


def test_foreign_sqlite_database_is_refused_untouched(tmp_path: Path) -> None:
    (tmp_path / "journal").mkdir()
    path = tmp_path / "journal" / "test.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO customers(name) VALUES ('ada')")
    conn.commit()
    conn.close()
    before, names = _digest(path), _siblings(path)
    with pytest.raises(InputError, match="not an mmbot journal"):
        Journal.open(path)
    with pytest.raises(InputError, match="not an mmbot journal"):
        open_paper([spot_spec()], settings(), tmp_path, "test")
    assert _digest(path) == before and _siblings(path) == names


def test_journal_with_damaged_pages_is_refused_untouched(tmp_path: Path) -> None:
    _, journal, _ = _active_exchange(tmp_path)
    path = journal.path
    journal.close()
    data = bytearray(path.read_bytes())
    assert len(data) > 4 * 1024
    data[2 * 1024 : 3 * 1024] = b"\xa5" * 1024  # scribble over the third page
    path.write_bytes(bytes(data))
    before = _digest(path)
    with pytest.raises(InputError, match="corrupt journal"):
        Journal.open(path)
    assert _digest(path) == before


def test_journal_from_a_newer_schema_is_refused_untouched(tmp_path: Path) -> None:
    _, journal, _ = _active_exchange(tmp_path)
    path = journal.path
    journal.close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    before = _digest(path)
    with pytest.raises(InputError, match=f"schema v{SCHEMA_VERSION + 1} is newer"):
        Journal.open(path)
    with pytest.raises(InputError, match="newer"):
        load_ledger(path)
    assert _digest(path) == before


def test_empty_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "test.sqlite"
    path.write_bytes(b"")
    with pytest.raises(InputError, match="not a SQLite database"):
        Journal.open(path)
    assert path.read_bytes() == b""


# ---- write errors -------------------------------------------------------------------


def _events(journal: Journal) -> list[tuple[object, ...]]:
    return journal.connection.execute("SELECT type, payload FROM events ORDER BY id").fetchall()


def test_disk_full_keeps_everything_retries_with_backoff_and_writes_it_when_space_returns(
    tmp_path: Path,
) -> None:
    exchange, journal, feed = _active_exchange(tmp_path)
    clock = [1000.0]
    journal.clock = lambda: clock[0]
    rows_before = _rows(journal)
    assert exchange.ledger.snapshot().fills == 1
    pages = journal.connection.execute("PRAGMA page_count").fetchone()[0]
    journal.connection.execute(f"PRAGMA max_page_count = {pages}")  # the disk is now full
    for n in range(60):  # a unit big enough to need new pages: orders, acks and a fill
        exchange.submit(limit(f"s{n}", Side.SELL, 10010 + n, 1, feed.ts))
    exchange.submit(limit("b2", Side.BUY, 10001, 5, feed.ts, tif=TimeInForce.IOC))  # takes the ask
    exchange.on_event(feed.trade(Side.SELL, 9999, 50))  # the unit commits before this event: fails
    assert exchange.failed is not None and "full" in exchange.failed
    assert journal.fault is not None and "full" in journal.fault and journal.write_failures == 1
    # nothing committed changed, nothing in memory was dropped
    assert _rows(journal) == rows_before
    assert exchange.ledger.fill_count == 2 and len(exchange.orders) == 60
    # typed records queue behind the fault instead of raising
    assert journal.append_event("kill", {"by": "test"}, ts=feed.ts) == 0
    assert _events(journal) == []
    # the exchange keeps working as the venue; no write is tried until the backoff has passed
    exchange.on_event(feed.trade(Side.SELL, 9999, 50))
    assert journal.write_failures == 1
    clock[0] += 0.5  # retry_initial_s
    exchange.on_event(feed.trade(Side.SELL, 9999, 50))
    assert journal.write_failures == 2 and journal.fault is not None  # still full; backoff doubles
    clock[0] += 0.9
    exchange.on_event(feed.trade(Side.SELL, 9999, 50))
    assert journal.write_failures == 2
    journal.connection.execute("PRAGMA max_page_count = 1000000")  # space is back
    clock[0] += 0.2
    exchange.submit(limit("b3", Side.BUY, 9990, 5, feed.ts))
    exchange.on_event(feed.trade(Side.SELL, 9999, 50))
    assert journal.fault is None and exchange.failed is None
    assert journal.health()["writable"] is True and journal.health()["faults"] == 1
    rows_after = _rows(journal)
    assert rows_after[: len(rows_before)] == rows_before  # nothing committed lost
    written = {row[6] for row in rows_after[len(rows_before) :]}
    assert {f"s{n}" for n in range(60)} | {"b2", "b3"} <= written
    assert [t for t, _ in _events(journal)] == ["kill"]
    exchange.flush()
    memory = exchange.ledger.snapshot()
    journal.close()
    assert journal.lost == 0
    recovered, again = load_ledger(tmp_path / "journal" / "test.sqlite")
    again.close()
    assert recovered.ledger.snapshot() == memory
    assert set(recovered.orders) == set(exchange.orders)


def test_read_only_journal_write_fails_cleanly(tmp_path: Path) -> None:
    _, journal, _ = _active_exchange(tmp_path)
    path = journal.path
    journal.close()
    readonly = Journal.open(path, readonly=True)
    rows = _rows(readonly)
    exchange = PaperExchange([spot_spec()], settings(), journal=readonly)
    records, state = readonly.committed()
    exchange.restore(records, state, replay=False)
    exchange.submit(limit("x", Side.SELL, 10005, 1, 0))
    assert exchange.flush() is False
    assert exchange.failed is not None and "readonly" in exchange.failed
    assert _rows(readonly) == rows
    pending = readonly.backlog  # the command and the venue's answer, kept in memory
    assert pending >= 2
    assert readonly.append_event("kill", {"by": "test"}, ts=1) == 0
    readonly.close()
    assert readonly.lost == pending + 1  # never written: counted and logged
    with pytest.raises(JournalError, match="readonly"):
        reopened = Journal.open(path, readonly=True)
        try:
            reopened.set_meta("x", "y")
        finally:
            reopened.close()


# ---- schema versions ----------------------------------------------------------------


def _v1_journal(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("BEGIN")
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    migrations.migrate(conn, 0, target=1)
    conn.execute("INSERT INTO meta VALUES ('format', 'test')")
    conn.execute(
        "INSERT INTO records VALUES (1, 1, 0, 5, 'cancel', ?, 'c1', ?)",
        (SPOT, '{"type":"cancel","client_id":"c1","instrument":"' + SPOT + '","ts":5}'),
    )
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def test_v1_journal_migrates_forward_keeping_its_records(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    _v1_journal(path)
    with Journal.open(path) as journal:
        assert journal.connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        [(seq, position, ts, record)] = list(journal.records())
        assert (seq, position, ts, record.client_id) == (1, 0, 5, "c1")  # type: ignore[union-attr]
        event_id = journal.append_event(
            "regime_transition", {"from": "calm", "to": "crisis"}, ts=9, source="risk"
        )
        assert list(journal.events("regime_transition")) == [
            (event_id, 9, "regime_transition", "risk", {"from": "calm", "to": "crisis"})
        ]


def test_failed_migration_leaves_the_old_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "old.sqlite"
    _v1_journal(path)

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half_done (x)")
        raise sqlite3.OperationalError("simulated failure in migration 3")

    monkeypatch.setattr(
        migrations, "MIGRATIONS", [*migrations.MIGRATIONS, migrations.Migration(3, "x", broken)]
    )
    monkeypatch.setattr(journal_module, "SCHEMA_VERSION", 3)
    with pytest.raises(MmbotError, match="migrating the journal from v1 failed"):
        Journal.open(path)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert "half_done" not in tables and "events" not in tables
    conn.close()


def test_journal_refuses_other_instruments_or_balances(tmp_path: Path) -> None:
    _, journal, _ = _active_exchange(tmp_path)
    journal.close()
    with pytest.raises(InputError, match="tick_size"):
        open_paper([spot_spec(tick_size=Decimal("0.01"))], settings(), tmp_path, "test")
    changed = settings(starting_balances={"USDT": Decimal(5)})
    with pytest.raises(InputError, match="starting balances"):
        open_paper([spot_spec()], changed, tmp_path, "test")


def test_a_second_writer_is_refused_while_the_first_holds_the_journal(tmp_path: Path) -> None:
    _, journal, _ = _active_exchange(tmp_path)
    with pytest.raises(MmbotError, match="in use by another"):
        open_paper([spot_spec()], settings(), tmp_path, "test")
    with Journal.open(journal.path, readonly=True) as reader:  # readers are never blocked
        assert reader.seq == journal.seq
    journal.close()
    exchange, again = open_paper([spot_spec()], settings(), tmp_path, "test")
    assert again is not None and exchange.ledger.fill_count == 1
    again.close()
