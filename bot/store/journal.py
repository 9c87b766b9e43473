"""The SQLite journal (WAL mode): durable record of everything the paper account did.

One file per paper exchange, ``<data_dir>/<journal dir>/<name>.sqlite``. The paper
exchange appends records to the open unit of work and commits each unit -- its records
plus the exchange state -- in one transaction (:class:`bot.paper.records.RecordSink`).
Other components write typed records with :meth:`Journal.append_event`.

Opening is careful with files that are not ours: an existing file is first checked
from its raw 100-byte SQLite header (no SQLite connection, so nothing can be written):
not SQLite, not an mmbot journal (application id), or a schema newer than this mmbot
-> :class:`~bot.errors.InputError`, file untouched. Only then is it opened, integrity
checked, and migrated forward if older. New journals are built in a temporary file and
renamed into place, so a crash during creation never leaves a half-made journal.

**Write faults.** A failed write (disk full, read-only file, I/O error) rolls its
transaction back -- committed content is never changed -- and puts the journal in a
*fault*: :attr:`Journal.fault` names the reason (logged once, as an error), and nothing
that was to be written is dropped. The exchange's unit of work stays buffered and
:meth:`Journal.append_event` queues typed records in memory, in order. Writes are
retried with exponential backoff (``retry_initial_s`` doubling up to ``retry_max_s``,
on the wall clock) whenever the exchange commits; the first write that succeeds writes
the whole backlog in one transaction, clears the fault and logs that once. The engine
reads :attr:`Journal.fault` to halt trading meanwhile (``bot.engine.trading``). What is
still unwritten when the journal is closed is counted in :attr:`Journal.lost` (and
logged): only that can be lost, never anything committed.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import msgspec
import structlog

from bot.errors import InputError, MmbotError
from bot.paper.records import ExchangeState, FillRecord, JournalRecord
from bot.store.locks import acquire_lock, release_lock
from bot.store.migrations import APPLICATION_ID, SCHEMA_VERSION, migrate

log = structlog.get_logger("bot.store.journal")

SQLITE_MAGIC = b"SQLite format 3\x00"
WAL_CHECKPOINT_PAGES = 10_000
SUFFIX = ".sqlite"

_encoder = msgspec.json.Encoder(decimal_format="string")
_record_decoder = msgspec.json.Decoder(JournalRecord)
_state_decoder = msgspec.json.Decoder(ExchangeState)

Synchronous = Literal["off", "normal", "full"]

_TAGS: dict[type, str] = {kind: str(kind.__struct_config__.tag) for kind in get_args(JournalRecord)}


class JournalError(MmbotError):
    """The journal could not be written; nothing of the failed transaction was kept."""


def journal_path(directory: Path, name: str) -> Path:
    return directory / f"{name}{SUFFIX}"


def read_header(path: Path) -> tuple[int, int]:
    """(application_id, user_version) from the file header, or raise InputError."""
    try:
        with path.open("rb") as handle:
            header = handle.read(100)
    except OSError as exc:
        raise InputError(f"{path}: cannot read journal: {exc.strerror or exc}") from None
    if len(header) < 100 or not header.startswith(SQLITE_MAGIC):
        raise InputError(f"{path}: not an mmbot journal (not a SQLite database: corrupt or foreign file)")
    user_version = int.from_bytes(header[60:64], "big")
    application_id = int.from_bytes(header[68:72], "big")
    return application_id, user_version


def check_header(path: Path) -> int:
    """Validate an existing journal's header; returns its schema version."""
    application_id, version = read_header(path)
    if application_id != APPLICATION_ID:
        raise InputError(
            f"{path}: a SQLite database but not an mmbot journal (application id {application_id:#x}); "
            "refusing to touch it"
        )
    if version > SCHEMA_VERSION:
        raise InputError(
            f"{path}: journal schema v{version} is newer than this mmbot supports (v{SCHEMA_VERSION}); "
            "upgrade mmbot to read it"
        )
    if version < 1:
        raise InputError(f"{path}: journal has no schema (version {version}); corrupt file")
    return version


def _connect(path: Path, synchronous: Synchronous, readonly: bool = False) -> sqlite3.Connection:
    if readonly:
        conn = sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
        )
    else:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
        # Checkpoint the WAL every ~10 MB (1 KiB pages) instead of SQLite's ~1 MB: with
        # synchronous=normal each checkpoint is an fsync, and at the default cadence they
        # cost more than the commits themselves (measured: 12k -> 27k single-fill commits/s).
        conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def _acquire_lock(path: Path) -> int:
    return acquire_lock(
        path.with_name(f".{path.name}.lock"),
        what="journal lock",
        busy=f"{path}: journal is in use by another mmbot process (or another engine)",
    )


def _release_lock(fd: int | None) -> None:
    release_lock(fd)


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff of write retries while the journal is in a fault (wall-clock seconds)."""

    initial_s: float = 0.5
    max_s: float = 30.0


class Journal:
    """An open journal file. Implements :class:`bot.paper.records.RecordSink`."""

    def __init__(
        self,
        path: Path,
        conn: sqlite3.Connection,
        *,
        readonly: bool,
        lock: int | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self._conn = conn
        self._lock = lock
        self.readonly = readonly
        self._buffer: list[tuple[int, int, JournalRecord]] = []
        self._events: list[tuple[int, str, str, str]] = []
        """Typed records waiting for the disk (only while in a fault)."""
        row = conn.execute(
            "SELECT COALESCE(MAX(seq), 0), COALESCE((SELECT unit FROM state), 0) FROM records"
        ).fetchone()
        self.seq: int = row[0]
        self.unit: int = row[1]
        self.retry = retry or RetryPolicy()
        self.clock = clock
        """Monotonic seconds for the retry backoff (injectable for tests)."""
        self.fault: str | None = None
        """Why the journal cannot write now; None while writes succeed."""
        self.fault_since: float | None = None
        """Wall-clock time (epoch s) the current fault began."""
        self.faults = 0
        """Fault episodes since the journal was opened."""
        self.write_failures = 0
        """Failed write attempts (each fault's first one and every retry)."""
        self.lost = 0
        """Records still unwritten when the journal was closed (lost with the process)."""
        self._retry_at = 0.0
        self._delay = self.retry.initial_s

    # ---- opening ---------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        meta: Mapping[str, str] | None = None,
        synchronous: Synchronous = "normal",
        create: bool = True,
        readonly: bool = False,
        retry: RetryPolicy | None = None,
    ) -> Journal:
        """Open (or create, with ``meta``) the journal at ``path``.

        A writable journal is locked for the life of this object (``flock`` on a hidden
        ``.<name>.lock`` beside it): a second writer -- another mmbot on the same data
        dir -- gets a clear error instead of interleaving transactions."""
        path = Path(path)
        if path.exists():
            if path.is_dir():
                raise InputError(f"{path}: is a directory, expected a journal file")
            version = check_header(path)
            lock = None if readonly else _acquire_lock(path)
            try:
                probe = _connect(path, synchronous, readonly=True)  # nothing is written while checking
                try:
                    cls._verify(probe, path)
                finally:
                    probe.close()
                conn = _connect(path, synchronous, readonly)
                if version < SCHEMA_VERSION and not readonly:
                    cls._migrate(conn, path, version)
                return cls(path, conn, readonly=readonly, lock=lock, retry=retry)
            except sqlite3.DatabaseError as exc:
                _release_lock(lock)
                raise InputError(f"{path}: corrupt journal: {exc}") from None
            except BaseException:
                _release_lock(lock)
                raise
        if not create or readonly:
            raise InputError(f"{path}: journal not found")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(
                f"{path.parent}: cannot create the journal directory: {exc.strerror or exc}"
            ) from None
        lock = _acquire_lock(path)
        try:
            if not path.exists():  # another process may have created it while we waited
                cls._create(path, meta or {})
        finally:
            _release_lock(lock)
        return cls.open(path, synchronous=synchronous, create=False, retry=retry)

    @staticmethod
    def _verify(conn: sqlite3.Connection, path: Path) -> None:
        application_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if application_id != APPLICATION_ID or not 1 <= version <= SCHEMA_VERSION:
            raise InputError(
                f"{path}: not a usable mmbot journal (application id {application_id:#x}, v{version})"
            )
        problems = [row[0] for row in conn.execute("PRAGMA quick_check")]
        if problems != ["ok"]:
            raise InputError(f"{path}: corrupt journal: {'; '.join(problems[:3])}")
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        missing = {"meta", "records", "state"} - tables
        if missing:
            raise InputError(f"{path}: corrupt journal: missing tables {sorted(missing)}")

    @staticmethod
    def _migrate(conn: sqlite3.Connection, path: Path, version: int) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            applied = migrate(conn, version)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK")
            conn.close()
            raise MmbotError(f"{path}: migrating the journal from v{version} failed: {exc}") from None
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        for migration in applied:
            log.info(
                "journal migrated", path=str(path), version=migration.version, what=migration.description
            )

    @staticmethod
    def _create(path: Path, meta: Mapping[str, str]) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(
                f"{path.parent}: cannot create the journal directory: {exc.strerror or exc}"
            ) from None
        temporary = path.with_name(f".{path.name}.creating-{os.getpid()}")
        for leftover in (temporary, Path(f"{temporary}-wal"), Path(f"{temporary}-shm")):
            leftover.unlink(missing_ok=True)
        try:
            conn = sqlite3.connect(temporary, isolation_level=None)
            try:
                conn.execute("PRAGMA page_size = 1024")
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("BEGIN")
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                migrate(conn, 0)
                conn.executemany("INSERT INTO meta(key, value) VALUES (?, ?)", sorted(meta.items()))
                conn.execute("COMMIT")
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                conn.close()
            os.replace(temporary, path)
        except (sqlite3.Error, OSError) as exc:
            temporary.unlink(missing_ok=True)
            raise MmbotError(f"{path}: cannot create the journal: {exc}") from None

    # ---- RecordSink ------------------------------------------------------------------

    def append(self, position: int, ts: int, record: JournalRecord) -> None:
        self._buffer.append((position, ts, record))

    @property
    def retry_due(self) -> bool:
        """True unless a fault's backoff says not to try writing yet."""
        return self.fault is None or self.clock() >= self._retry_at

    def commit(self, state: ExchangeState, *, force: bool = False) -> bool:
        """Write the buffered unit(s), the queued typed records and ``state`` in one
        transaction. False (everything kept for a retry) if it failed now or if a fault's
        backoff says not to try yet (``force`` tries anyway)."""
        if not force and not self.retry_due:
            return False
        return self._write_backlog(state)

    def _write_backlog(self, state: ExchangeState | None) -> bool:
        buffer = self._buffer if state is not None else []
        seq = self.seq
        unit = self.unit + 1
        rows = []
        encode = _encoder.encode
        for position, ts, record in buffer:
            seq += 1
            kind = type(record)
            inner: Any = record.fill if isinstance(record, FillRecord) else record
            rows.append(
                (
                    seq,
                    unit,
                    position,
                    ts,
                    _TAGS[kind],
                    getattr(inner, "instrument", None),
                    getattr(inner, "client_id", None),
                    encode(record).decode(),
                )
            )
        events = self._events
        conn = self._conn
        try:
            conn.execute("BEGIN")
            if events:
                conn.executemany("INSERT INTO events(ts, type, source, payload) VALUES (?, ?, ?, ?)", events)
            if state is not None:
                if rows:
                    conn.executemany("INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
                conn.execute(
                    "INSERT OR REPLACE INTO state(id, seq, unit, position, payload) VALUES (1, ?, ?, ?, ?)",
                    (seq, unit, state.position, _encoder.encode(state).decode()),
                )
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            self._failed(exc)
            return False
        if state is not None:
            self.seq = seq
            self.unit = unit
            self._buffer = []
        written = len(rows) + len(events)
        self._events = []
        if self.fault is not None and (state is not None or not self._buffer):
            self._recovered(written)
        return True

    def _failed(self, exc: sqlite3.Error) -> None:
        self.write_failures += 1
        if self.fault is None:
            self.fault = f"{self.path}: journal write failed: {exc}"
            self.fault_since = time.time()
            self.faults += 1
            self._delay = self.retry.initial_s
            log.error(
                "journal write failed: trading halts; nothing is dropped, writes are retried",
                path=str(self.path),
                error=str(exc),
                retry_in_s=self._delay,
            )
        else:
            self._delay = min(self._delay * 2, self.retry.max_s)
            log.debug(
                "journal still not writable", path=str(self.path), error=str(exc), retry_in_s=self._delay
            )
        self._retry_at = self.clock() + self._delay

    def _recovered(self, written: int) -> None:
        down_s = time.time() - self.fault_since if self.fault_since is not None else None
        log.info(
            "journal writable again: backlog written",
            path=str(self.path),
            records=written,
            down_s=round(down_s, 3) if down_s is not None else None,
            failed_attempts=self.write_failures,
        )
        self.fault = None
        self.fault_since = None
        self._delay = self.retry.initial_s

    @property
    def backlog(self) -> int:
        """Records and typed records not yet written."""
        return len(self._buffer) + len(self._events)

    def health(self) -> dict[str, Any]:
        """For /status: writable or the fault, since when, the backlog and the counters."""
        return {
            "writable": self.fault is None,
            "fault": self.fault,
            "fault_since": self.fault_since,
            "faults": self.faults,
            "write_failures": self.write_failures,
            "backlog": self.backlog,
            "lost": self.lost,
        }

    def discard(self) -> None:
        """Drop the uncommitted unit."""
        self._buffer = []

    def committed(self) -> tuple[list[JournalRecord], ExchangeState | None]:
        records = [record for _, _, _, record in self.records()]
        return records, self.state()

    # ---- reads -----------------------------------------------------------------------

    def records(self, after_seq: int = 0) -> Iterator[tuple[int, int, int, JournalRecord]]:
        """(seq, position, ts, record) in commit order."""
        try:
            cursor = self._conn.execute(
                "SELECT seq, position, ts, payload FROM records WHERE seq > ? ORDER BY seq", (after_seq,)
            )
            for seq, position, ts, payload in cursor:
                yield seq, position, ts, _record_decoder.decode(payload)
        except (sqlite3.DatabaseError, msgspec.DecodeError) as exc:
            raise InputError(f"{self.path}: corrupt journal record: {exc}") from None

    def state(self) -> ExchangeState | None:
        try:
            row = self._conn.execute("SELECT seq, payload FROM state WHERE id = 1").fetchone()
            if row is None:
                return None
            if row[0] != self.seq:
                raise InputError(
                    f"{self.path}: corrupt journal: state written at seq {row[0]}, last record {self.seq}"
                )
            return _state_decoder.decode(row[1])
        except (sqlite3.DatabaseError, msgspec.DecodeError) as exc:
            raise InputError(f"{self.path}: corrupt journal state: {exc}") from None

    @property
    def meta(self) -> dict[str, str]:
        return dict(self._conn.execute("SELECT key, value FROM meta").fetchall())

    def set_meta(self, key: str, value: str) -> None:
        self._write("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def recent_fills(self, limit: int = 20) -> list[dict[str, Any]]:
        cursor = self._conn.execute("SELECT * FROM fills ORDER BY seq DESC LIMIT ?", (limit,))
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    # ---- typed events of other components --------------------------------------------

    def append_event(self, type_: str, payload: Mapping[str, Any], ts: int, source: str = "") -> int:
        """Durably write one typed record (own transaction); returns its id.

        In a fault the record is queued instead (returns 0) and written, in order, with
        the next write that succeeds."""
        text = _encoder.encode(dict(payload)).decode()
        if self.fault is not None or self._events:
            self._events.append((ts, type_, source, text))
            if self.retry_due:
                self._write_backlog(None)
            return 0
        conn = self._conn
        try:
            conn.execute("BEGIN")
            cursor = conn.execute(
                "INSERT INTO events(ts, type, source, payload) VALUES (?, ?, ?, ?)", (ts, type_, source, text)
            )
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            self._events.append((ts, type_, source, text))
            self._failed(exc)
            return 0
        return int(cursor.lastrowid or 0)

    def events(self, type_: str | None = None) -> Iterator[tuple[int, int, str, str, Any]]:
        """(id, ts, type, source, payload) in write order."""
        query = "SELECT id, ts, type, source, payload FROM events"
        args: tuple[Any, ...] = ()
        if type_ is not None:
            query += " WHERE type = ?"
            args = (type_,)
        for row in self._conn.execute(query + " ORDER BY id", args):
            yield row[0], row[1], row[2], row[3], msgspec.json.decode(row[4])

    def last_events(self, type_: str, limit: int = 1) -> list[tuple[int, int, str, str, Any]]:
        """The ``limit`` most recent records of one type, oldest first (uses the type/ts index,
        so it stays fast on a journal with millions of records)."""
        rows = self._conn.execute(
            "SELECT id, ts, type, source, payload FROM events WHERE type = ? ORDER BY ts DESC, id DESC LIMIT ?",
            (type_, limit),
        ).fetchall()
        return [(r[0], r[1], r[2], r[3], msgspec.json.decode(r[4])) for r in reversed(rows)]

    def _write(self, sql: str, args: tuple[Any, ...]) -> int:
        conn = self._conn
        try:
            conn.execute("BEGIN")
            cursor = conn.execute(sql, args)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise JournalError(f"{self.path}: journal write failed: {exc}") from None
        return int(cursor.lastrowid or 0)

    # ---- lifecycle -------------------------------------------------------------------

    @property
    def connection(self) -> sqlite3.Connection:
        """The SQLite connection (diagnostics and tests, e.g. simulating a full disk)."""
        return self._conn

    def close(self) -> None:
        """Write what is queued (one last try, whatever the backoff), close, unlock.

        The exchange flushes its unit first; anything still unwritten is counted in
        :attr:`lost` and logged."""
        if self._events and not self.readonly:
            self._write_backlog(None)
        self.lost = self.backlog
        if self.lost:
            log.error(
                "journal closed with records it could not write: they are lost",
                path=str(self.path),
                lost=self.lost,
                fault=self.fault,
            )
        self._buffer = []
        self._events = []
        self._conn.close()
        _release_lock(self._lock)
        self._lock = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
