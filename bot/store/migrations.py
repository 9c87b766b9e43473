"""Journal schema and its forward migrations.

The schema version lives in ``PRAGMA user_version``; ``PRAGMA application_id`` marks
the file as an mmbot journal. Each migration moves the schema from ``version - 1`` to
``version`` and runs inside the caller's transaction together with the version bump,
so a failed migration leaves the file at its old version. Never edit a released
migration: add a new one.

- v1: ``meta`` (key/value), ``records`` (every journaled record, JSON payload, in
  commit order), ``state`` (the exchange state of the last commit), views ``fills``
  and ``funding`` (typed columns over ``records``).
- v2: ``events``: typed records of other components (regime transitions, strategy
  switches, kill commands, ...) with a JSON payload. (Records deliberately have no
  secondary index: every index page is one more page written per commit.)
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import NamedTuple

APPLICATION_ID = 0x6D6D626A  # "mmbj"


class Migration(NamedTuple):
    version: int
    description: str
    apply: Callable[[sqlite3.Connection], None]


def _v1(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID")
    conn.execute(
        """CREATE TABLE records (
            seq INTEGER PRIMARY KEY,          -- commit order, 1, 2, 3, ... with no gaps
            unit INTEGER NOT NULL,            -- transaction number (records committed together)
            position INTEGER NOT NULL,        -- index of the input event being handled
            ts INTEGER NOT NULL,              -- venue time, ns
            kind TEXT NOT NULL,               -- record tag: new, cancel, accepted, fill, ...
            instrument TEXT,
            client_id TEXT,
            payload TEXT NOT NULL             -- the record as JSON
        )"""
    )
    conn.execute(
        """CREATE TABLE state (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            seq INTEGER NOT NULL,             -- last record seq of the commit that wrote it
            unit INTEGER NOT NULL,
            position INTEGER NOT NULL,
            payload TEXT NOT NULL
        )"""
    )
    conn.execute(
        """CREATE VIEW fills AS SELECT
            seq, ts, instrument, client_id,
            json_extract(payload, '$.fill.fill_id') AS fill_id,
            json_extract(payload, '$.fill.side') AS side,
            json_extract(payload, '$.fill.price') AS price,
            json_extract(payload, '$.fill.size') AS size,
            json_extract(payload, '$.fill.liquidity') AS liquidity,
            json_extract(payload, '$.fill.fee') AS fee,
            json_extract(payload, '$.fill.fee_asset') AS fee_asset,
            json_extract(payload, '$.fill.remaining') AS remaining,
            json_extract(payload, '$.mid') AS mid,
            json_extract(payload, '$.mark') AS mark
        FROM records WHERE kind = 'fill'"""
    )
    conn.execute(
        """CREATE VIEW funding AS SELECT
            seq, json_extract(payload, '$.ts') AS ts, instrument,
            json_extract(payload, '$.rate') AS rate,
            json_extract(payload, '$.mark_price') AS mark_price,
            json_extract(payload, '$.position') AS position,
            json_extract(payload, '$.amount') AS amount,
            json_extract(payload, '$.asset') AS asset
        FROM records WHERE kind = 'funding'"""
    )


def _v2(conn: sqlite3.Connection) -> None:
    conn.execute(
        """CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            ts INTEGER NOT NULL,              -- event time, ns
            type TEXT NOT NULL,               -- e.g. regime_transition, strategy_switch, kill
            source TEXT NOT NULL DEFAULT '',  -- component / engine that wrote it
            payload TEXT NOT NULL CHECK (json_valid(payload))
        )"""
    )
    conn.execute("CREATE INDEX events_type_ts ON events(type, ts)")


MIGRATIONS: list[Migration] = [
    Migration(1, "records, state, meta; fills and funding views", _v1),
    Migration(2, "events table for typed records of other components", _v2),
]

SCHEMA_VERSION = MIGRATIONS[-1].version


def migrate(conn: sqlite3.Connection, current: int, target: int | None = None) -> list[Migration]:
    """Apply migrations ``current+1 .. target`` (default: latest) in the open transaction."""
    if target is None:
        target = MIGRATIONS[-1].version
    applied = []
    for migration in MIGRATIONS:
        if current < migration.version <= target:
            migration.apply(conn)
            conn.execute(f"PRAGMA user_version = {migration.version}")
            applied.append(migration)
    return applied
