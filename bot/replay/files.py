"""Reading replay files: opening (plain or gzip), line iteration with exact line numbers,
and format detection by content.

Everything a reader needs from the file system lives here, so that the readers are
plain functions of byte lines. Every failure is an :class:`~bot.errors.InputError`
that names the file (and the line reached): a missing or unreadable file, an empty
file, a gzip stream that ends early (``EOFError`` from :mod:`gzip`: a truncated
download) or is corrupt, a file whose content matches no supported format.

Format detection looks at the bytes, never only at the name: gzip is recognised by its
magic number (a ``.gz`` name on a plain file is fine, and vice versa), zip/NPZ by
``PK\\x03\\x04`` and the ``.npy`` members an NPZ holds, Tardis CSV by its header line,
the raw Binance recording by its first line (``<integer timestamp> {json``).
"""

from __future__ import annotations

import gzip
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Literal, cast

from bot.errors import InputError

Format = Literal["binance", "tardis_book", "tardis_trades", "npz"]

GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"
NPZ_COLUMNS = ("ts", "kind", "side", "price", "qty")

TARDIS_BOOK_COLUMNS = (
    "exchange",
    "symbol",
    "timestamp",
    "local_timestamp",
    "is_snapshot",
    "side",
    "price",
    "amount",
)
TARDIS_TRADE_COLUMNS = ("exchange", "symbol", "timestamp", "local_timestamp", "id", "side", "price", "amount")

_HEAD_BYTES = 4096


def check_file(path: Path) -> int:
    """The size of a readable regular file, or an InputError saying what is wrong."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise InputError(f"{path}: replay file not found") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a replay file")
    if stat.st_size == 0:
        raise InputError(f"{path}: empty file")
    return stat.st_size


def _raw_open(path: Path) -> IO[bytes]:
    try:
        return path.open("rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None


def is_gzip(path: Path) -> bool:
    with _raw_open(path) as handle:
        return handle.read(2) == GZIP_MAGIC


class LineFile:
    """Lines of a (possibly gzip-compressed) text file, numbered from 1.

    ``line`` is the number of the last line returned; ``fraction_done()`` is the share
    of the file's bytes consumed (compressed bytes for gzip), for progress display.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = check_file(path)
        self.line = 0
        self._raw = _raw_open(path)
        self.compressed = self._raw.read(2) == GZIP_MAGIC
        self._raw.seek(0)
        self._handle: IO[bytes] = (
            cast(IO[bytes], gzip.GzipFile(fileobj=self._raw, mode="rb")) if self.compressed else self._raw
        )

    def __iter__(self) -> Iterator[bytes]:
        """Lines without their line terminator (empty lines included)."""
        handle = self._handle
        path = self.path
        try:
            for line in handle:
                self.line += 1
                yield line.rstrip(b"\r\n")
        except EOFError:
            raise InputError(
                f"{path}:{self.line + 1}: truncated gzip file: the compressed stream ends before its "
                f"end-of-stream marker (after {self.line} complete lines); re-download or re-copy the file"
            ) from None
        except (gzip.BadGzipFile, zlib.error) as exc:
            raise InputError(f"{path}:{self.line + 1}: corrupt gzip data: {exc}") from None
        except OSError as exc:
            raise InputError(f"{path}:{self.line + 1}: read error: {exc.strerror or exc}") from None

    def fraction_done(self) -> float:
        try:
            return min(1.0, self._raw.tell() / self.size)
        except (OSError, ValueError):
            return 1.0

    def close(self) -> None:
        self._handle.close()
        self._raw.close()


def head_bytes(path: Path, limit: int = 65536) -> bytes:
    """Up to about ``limit`` bytes of the (decompressed) content, for sniffing.

    Lenient on purpose: a truncated gzip yields what decompresses, so that the reader
    reports the truncation with the exact line number when it gets there."""
    with _raw_open(path) as raw:
        if raw.read(2) != GZIP_MAGIC:
            raw.seek(0)
            return raw.read(limit)
        raw.seek(0)
        inflate = zlib.decompressobj(wbits=31)
        out = b""
        try:
            while len(out) < limit:
                chunk = raw.read(16384)
                if not chunk:
                    break
                out += inflate.decompress(chunk, limit - len(out))
                if inflate.eof:
                    break
        except zlib.error as exc:
            raise InputError(f"{path}:1: corrupt gzip data: {exc}") from None
        return out


def _zip_members(path: Path) -> list[str]:
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.namelist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"{path}: a zip file that cannot be read: {exc}") from None


def detect_format(path: Path) -> Format:
    """Which reader understands ``path``, judged from its content."""
    check_file(path)
    with _raw_open(path) as handle:
        magic = handle.read(4)
    if magic == ZIP_MAGIC:
        members = set(_zip_members(path))
        missing = [c for c in NPZ_COLUMNS if f"{c}.npy" not in members]
        if not missing:
            return "npz"
        raise InputError(
            f"{path}: unknown replay format: a zip archive but not a reference NPZ stream "
            f"(missing arrays {', '.join(missing)}; members: {', '.join(sorted(members)[:8])})"
        )
    head = head_bytes(path)
    lines = [line for line in head.splitlines() if line.strip()]
    if not lines:
        suffix = " after decompression" if magic[:2] == GZIP_MAGIC else ""
        raise InputError(f"{path}: empty file (no content{suffix})")
    first = lines[0].lstrip(b"\xef\xbb\xbf")
    header = tuple(cell.strip() for cell in first.decode("utf-8", "replace").split(","))
    if header == TARDIS_BOOK_COLUMNS:
        return "tardis_book"
    if header == TARDIS_TRADE_COLUMNS:
        return "tardis_trades"
    stamp, space, rest = first.partition(b" ")
    if space and stamp.isdigit() and rest.lstrip().startswith(b"{"):
        return "binance"
    shown = first[:80].decode("utf-8", "replace")
    raise InputError(
        f"{path}:1: unknown replay format (first line {shown!r}); expected a raw Binance recording "
        "('<timestamp> <json>' lines, optionally gzip), a Tardis incremental_book_L2 or trades CSV "
        "(header line), or a reference NPZ stream (gen_l2.py)"
    )
