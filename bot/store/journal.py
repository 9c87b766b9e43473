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

A failed write (disk full, read-only file, I/O error) rolls the transaction back and
raises :class:`JournalError`; committed content is never changed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal, get_args

import msgspec
import structlog

from bot.errors import InputError, MmbotError
from bot.paper.records import ExchangeState, FillRecord, JournalRecord
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
    lock_path = path.with_name(f".{path.name}.lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise InputError(f"{lock_path}: cannot create the journal lock: {exc.strerror or exc}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise MmbotError(f"{path}: journal is in use by another mmbot process (or another engine)") from None
    return fd


def _release_lock(fd: int | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)  # closing the descriptor releases the flock


class Journal:
    """An open journal file. Implements :class:`bot.paper.records.RecordSink`."""

    def __init__(
        self, path: Path, conn: sqlite3.Connection, *, readonly: bool, lock: int | None = None
    ) -> None:
        self.path = path
        self._conn = conn
        self._lock = lock
        self.readonly = readonly
        self._buffer: list[tuple[int, int, JournalRecord]] = []
        row = conn.execute(
            "SELECT COALESCE(MAX(seq), 0), COALESCE((SELECT unit FROM state), 0) FROM records"
        ).fetchone()
        self.seq: int = row[0]
        self.unit: int = row[1]

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
                return cls(path, conn, readonly=readonly, lock=lock)
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
        return cls.open(path, synchronous=synchronous, create=False)

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

    def commit(self, state: ExchangeState) -> None:
        buffer = self._buffer
        self._buffer = []
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
        conn = self._conn
        try:
            conn.execute("BEGIN")
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
            raise JournalError(f"{self.path}: journal write failed: {exc}") from None
        self.seq = seq
        self.unit = unit

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
        """Durably write one typed record (own transaction); returns its id."""
        text = _encoder.encode(dict(payload)).decode()
        return self._write(
            "INSERT INTO events(ts, type, source, payload) VALUES (?, ?, ?, ?)", (ts, type_, source, text)
        )

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
        self._conn.close()
        _release_lock(self._lock)
        self._lock = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
