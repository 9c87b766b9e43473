"""File locks that cannot go stale: ``flock`` held for the life of an open descriptor.

One mechanism for every lock mmbot takes: the journal lock (one writer per journal
file) and the instance lock (one ``mmbot run`` per data directory). A lock is an
exclusive ``flock`` on a file; the kernel drops it when the process dies, however it
dies, so a lock can never outlive its holder.

The instance lock is ``<data_dir>/mmbot.pid``: the running bot holds the ``flock`` on it
for its whole life and writes, under the lock, its pid, the start time of its process
(``/proc/<pid>/stat`` field 22, clock ticks since boot) and its command line. A pidfile
whose lock nobody holds is stale -- whatever pid it names -- and is ignored (logged).
:func:`running_instance` only names a process that holds the lock *and* is the process
that wrote the file (same start time and command line), so a reused pid (``kill -9``,
then the pid recycled by an unrelated process) is never signalled. On a clean exit the
file is emptied, not removed: removing a locked file would let two processes lock two
different files of the same name.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from bot.errors import InputError, MmbotError

log = structlog.get_logger("bot.store.locks")

PIDFILE = "mmbot.pid"
_ACQUIRE_TRIES = 20
_ACQUIRE_PAUSE_S = 0.05


class LockBusy(MmbotError):
    """Another process holds the lock."""


def acquire_lock(path: Path, *, what: str, busy: str) -> int:
    """An exclusive ``flock`` on ``path`` (created if missing); returns the descriptor.

    InputError if the file cannot be created; :class:`LockBusy` (``busy``) if another
    process holds it. Contention with a mere probe (a shared lock taken for an instant by
    :func:`is_locked`) is retried for ~1 s."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise InputError(f"{path}: cannot create the {what}: {exc.strerror or exc}") from None
    for attempt in range(_ACQUIRE_TRIES):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if attempt + 1 < _ACQUIRE_TRIES and not _held_exclusively(path):
                time.sleep(_ACQUIRE_PAUSE_S)
                continue
            os.close(fd)
            raise LockBusy(busy) from None
    raise AssertionError("unreachable")  # pragma: no cover


def release_lock(fd: int | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)  # closing the descriptor releases the flock


def is_locked(path: Path) -> bool:
    """True if some process holds a lock on ``path`` (probed without blocking)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also releases the probe's shared lock at once
    return False


def lock_holders(path: Path, *, exclusive: bool = True) -> set[int] | None:
    """Pids holding an ``flock`` on ``path`` per ``/proc/locks`` (only exclusive holders
    unless ``exclusive=False``); None where that is not readable."""
    try:
        stat = path.stat()
        text = Path("/proc/locks").read_text()
    except OSError:
        return None
    inode = f"{os.major(stat.st_dev):02x}:{os.minor(stat.st_dev):02x}:{stat.st_ino}"
    holders = set()
    for line in text.splitlines():
        fields = line.split()
        if "->" in fields:  # a waiter, not a holder
            continue
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == inode:
            if exclusive and fields[3] != "WRITE":
                continue
            with contextlib.suppress(ValueError):
                holders.add(int(fields[4]))
    return holders


def _held_exclusively(path: Path) -> bool:
    """True if /proc/locks shows an exclusive holder of ``path`` (False if it cannot tell)."""
    return bool(lock_holders(path))


# ---- processes ----------------------------------------------------------------------


def process_start_ticks(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot (``/proc/<pid>/stat`` field 22)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    try:
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (IndexError, ValueError):
        return None


def process_cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _started_at(ticks: int | None) -> float | None:
    """Wall-clock start time from boot time + start ticks (display only)."""
    if ticks is None:
        return None
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return int(line.split()[1]) + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return None
    return None


@dataclass(frozen=True)
class PidRecord:
    """What the bot writes into its pidfile under the lock."""

    pid: int
    start_ticks: int | None
    cmdline: list[str] | None
    started_at: float | None = None

    def to_json(self) -> str:
        return json.dumps(
            {
                "pid": self.pid,
                "start_ticks": self.start_ticks,
                "started_at": self.started_at,
                "cmdline": self.cmdline,
            }
        )

    @classmethod
    def parse(cls, text: str) -> PidRecord | None:
        text = text.strip()
        if not text:
            return None
        try:
            data: Any = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, int):  # an old plain-pid file
            return cls(data, None, None)
        if not isinstance(data, dict) or not isinstance(data.get("pid"), int):
            return None
        ticks = data.get("start_ticks")
        cmdline = data.get("cmdline")
        started = data.get("started_at")
        return cls(
            data["pid"],
            ticks if isinstance(ticks, int) else None,
            [str(part) for part in cmdline] if isinstance(cmdline, list) else None,
            float(started) if isinstance(started, int | float) else None,
        )

    @classmethod
    def current(cls) -> PidRecord:
        pid = os.getpid()
        ticks = process_start_ticks(pid)
        return cls(pid, ticks, process_cmdline(pid) or list(sys.argv), _started_at(ticks))

    def describe(self) -> str:
        when = (
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started_at))
            if self.started_at is not None
            else "unknown time"
        )
        return f"pid {self.pid}, started {when}"


def pid_path(data_dir: Path) -> Path:
    return Path(data_dir) / PIDFILE


def _read(path: Path) -> PidRecord | None:
    try:
        return PidRecord.parse(path.read_text())
    except (OSError, UnicodeDecodeError):
        return None


class InstanceLock:
    """The instance lock of one data directory, held by the running ``mmbot run``."""

    def __init__(self, path: Path, fd: int, record: PidRecord) -> None:
        self.path = path
        self._fd: int | None = fd
        self.record = record

    @classmethod
    def acquire(cls, data_dir: Path) -> InstanceLock:
        path = pid_path(data_dir)
        try:
            fd = acquire_lock(path, what="pidfile", busy="")
        except LockBusy:
            other = _read(path)
            who = other.describe() if other is not None else "pid unknown"
            raise MmbotError(f"another mmbot ({who}) is running on {data_dir}") from None
        try:
            old = PidRecord.parse(os.pread(fd, 4096, 0).decode(errors="replace"))
            record = PidRecord.current()
            if old is not None and old.pid != record.pid:
                log.info(
                    "stale pidfile ignored: its process is gone (nobody held the lock)",
                    path=str(path),
                    stale_pid=old.pid,
                )
            data = (record.to_json() + "\n").encode()
            os.ftruncate(fd, 0)
            os.pwrite(fd, data, 0)
            os.fsync(fd)
        except OSError as exc:
            release_lock(fd)
            raise InputError(f"{path}: cannot write the pidfile: {exc.strerror or exc}") from None
        return cls(path, fd, record)

    def release(self) -> None:
        """Empty the pidfile and drop the lock (clean exit)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        release_lock(fd)

    def __enter__(self) -> InstanceLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def running_instance(data_dir: Path) -> PidRecord | None:
    """The mmbot running on ``data_dir``, or None.

    None -- with a log line saying why -- when the pidfile is missing or empty, when
    nobody holds its lock (stale: the process died), or when the pid it names is not
    the process that holds the lock (pid reused, or not mmbot)."""
    path = pid_path(data_dir)
    record = _read(path)
    if not is_locked(path):
        if record is not None:
            log.info(
                "stale pidfile ignored: nobody holds its lock (the bot is not running)",
                path=str(path),
                stale_pid=record.pid,
            )
        return None
    if record is None:
        log.warning("pidfile is locked but unreadable; not signalling anything", path=str(path))
        return None
    holders = lock_holders(path)
    if holders is not None and record.pid not in holders:
        log.warning(
            "pidfile names a process that does not hold its lock; not signalling it",
            path=str(path),
            pid=record.pid,
            holders=sorted(holders),
        )
        return None
    if record.start_ticks is not None and process_start_ticks(record.pid) != record.start_ticks:
        log.warning(
            "pidfile names a process started at another time (pid reused); not signalling it",
            path=str(path),
            pid=record.pid,
        )
        return None
    if record.cmdline is not None:
        now = process_cmdline(record.pid)
        if now is not None and now != record.cmdline:
            log.warning(
                "pidfile names a process that is not the mmbot that wrote it; not signalling it",
                path=str(path),
                pid=record.pid,
            )
            return None
    return record
