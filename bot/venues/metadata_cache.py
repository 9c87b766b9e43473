"""On-disk cache of instrument specs (``markets.json``): format, strict reading, atomic writing.

Two files share one format: the user cache ``<cache_dir>/markets.json`` (rewritten
after every successful fetch) and the cache shipped with mmbot,
``bot/venues/data/markets.json``, so that an offline run has specs for the default
symbols. Every number is stored as a decimal *string* and read back as ``Decimal``;
floats never appear. Layout::

    {
      "format": 1,
      "written_at": "2025-01-01T00:00:00Z",
      "instruments": {
        "binance_spot:BTCUSDT": {
          "venue": "binance_spot", "symbol": "BTCUSDT", "kind": "spot",
          "base": "BTC", "quote": "USDT",
          "tick_size": "0.01", "lot_size": "0.00000001", "qty_step": "0.00001",
          "min_qty": "0.00001", "min_notional": "5",
          "maker_fee": "0.001", "taker_fee": "0.001", "contract_size": "1",
          "fetched_at": "2025-01-01T00:00:00Z", "source": "https://api.binance.com/api/v3/exchangeInfo"
        }
      }
    }

Reading is strict: a file that is not JSON, has the wrong shape, or holds a value
that is not an exact decimal raises :class:`CacheError`, whose message names the file
and the offending field. Entries are validated lazily (only the ones asked for), so
one bad entry does not hide the good ones.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from bot.core.instrument import InstrumentKind, InstrumentSpec
from bot.errors import InputError

CACHE_FORMAT = 1
CACHE_FILENAME = "markets.json"
SHIPPED_CACHE = Path(__file__).resolve().parent / "data" / CACHE_FILENAME

_DECIMAL_FIELDS = (
    "tick_size",
    "lot_size",
    "qty_step",
    "min_qty",
    "min_notional",
    "maker_fee",
    "taker_fee",
    "contract_size",
)
_TEXT_FIELDS = ("venue", "symbol", "kind", "base", "quote")


class CacheError(InputError):
    """A cache file exists but cannot be used; the message names the file and the problem."""


@dataclass(frozen=True, slots=True)
class CachedSpec:
    """One instrument spec plus where and when it was obtained."""

    spec: InstrumentSpec
    fetched_at: str | None
    source: str | None


class CacheFile:
    """A parsed ``markets.json``: top-level shape checked, entries checked on access."""

    def __init__(self, path: Path, raw_entries: dict[str, Any], written_at: str | None) -> None:
        self.path = path
        self.written_at = written_at
        self._raw = raw_entries

    @classmethod
    def read(cls, path: Path) -> CacheFile | None:
        """Parse ``path``; ``None`` if it does not exist; :class:`CacheError` if unusable."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except IsADirectoryError:
            raise CacheError(f"{path}: is a directory, expected a markets cache file") from None
        except PermissionError:
            raise CacheError(f"{path}: permission denied") from None
        except UnicodeDecodeError as exc:
            raise CacheError(f"{path}: not UTF-8 text ({exc})") from None
        except OSError as exc:
            raise CacheError(f"{path}: cannot read ({exc.strerror or exc})") from None
        try:
            data = json.loads(text, parse_float=Decimal)
        except json.JSONDecodeError as exc:
            raise CacheError(f"{path}: corrupt markets cache, not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise CacheError(f"{path}: corrupt markets cache, expected a JSON object at the top level")
        version = data.get("format")
        if version != CACHE_FORMAT:
            raise CacheError(
                f"{path}: unsupported markets cache format {version!r} (this mmbot reads format "
                f"{CACHE_FORMAT}); delete the file to rebuild it"
            )
        entries = data.get("instruments")
        if not isinstance(entries, dict):
            raise CacheError(f"{path}: corrupt markets cache, 'instruments' must be an object")
        written_at = data.get("written_at")
        return cls(path, entries, written_at if isinstance(written_at, str) else None)

    def keys(self) -> list[str]:
        return list(self._raw)

    def __contains__(self, key: object) -> bool:
        return key in self._raw

    def get(self, key: str) -> CachedSpec | None:
        """The entry for ``key`` (``venue:SYMBOL``), validated; ``None`` if absent."""
        raw = self._raw.get(key)
        if raw is None:
            return None
        return entry_to_cached(raw, where=f"{self.path}: instruments.{key}", key=key)

    def raw_entries(self) -> dict[str, Any]:
        """Unvalidated entries (used to carry other instruments over when rewriting)."""
        return dict(self._raw)


def entry_to_cached(raw: Any, *, where: str, key: str) -> CachedSpec:
    """Validate one cache entry into a :class:`CachedSpec`; errors name ``where`` and the field."""
    if not isinstance(raw, dict):
        raise CacheError(f"{where}: expected an object, got {type(raw).__name__}")
    values: dict[str, Any] = {}
    for name in _TEXT_FIELDS:
        value = raw.get(name)
        if not isinstance(value, str) or not value:
            raise CacheError(f"{where}.{name}: missing or not a non-empty string")
        values[name] = value
    for name in _DECIMAL_FIELDS:
        values[name] = _decimal_field(raw.get(name), f"{where}.{name}")
    if f"{values['venue']}:{values['symbol']}" != key:
        raise CacheError(f"{where}: entry is for {values['venue']}:{values['symbol']}, not {key}")
    try:
        values["kind"] = InstrumentKind(values["kind"])
    except ValueError:
        allowed = ", ".join(kind.value for kind in InstrumentKind)
        raise CacheError(f"{where}.kind: {values['kind']!r} is not one of {allowed}") from None
    try:
        spec = InstrumentSpec(**values)
    except ValueError as exc:
        raise CacheError(f"{where}: {exc}") from None
    fetched_at = raw.get("fetched_at")
    source = raw.get("source")
    return CachedSpec(
        spec=spec,
        fetched_at=fetched_at if isinstance(fetched_at, str) else None,
        source=source if isinstance(source, str) else None,
    )


def _decimal_field(value: Any, where: str) -> Decimal:
    # JSON numbers are read with parse_float=Decimal, so a hand-edited 5 or 0.01 is still exact.
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int) and not isinstance(value, bool):
        number = Decimal(value)
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise CacheError(f"{where}: {value!r} is not a decimal number") from None
    else:
        raise CacheError(f'{where}: expected a decimal string such as "0.01", got {value!r}')
    if not number.is_finite():
        raise CacheError(f"{where}: {value!r} is not a finite number")
    return number


def decimal_text(value: Decimal) -> str:
    """Plain decimal notation without exponent or trailing zeros: ``1E+2`` -> ``"100"``."""
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"


def spec_to_entry(spec: InstrumentSpec, *, fetched_at: str | None, source: str | None) -> dict[str, Any]:
    """The JSON object stored for ``spec`` (all numbers as exact decimal strings)."""
    entry: dict[str, Any] = {name: getattr(spec, name) for name in _TEXT_FIELDS}
    entry["kind"] = spec.kind.value
    for name in _DECIMAL_FIELDS:
        entry[name] = decimal_text(getattr(spec, name))
    entry["fetched_at"] = fetched_at
    entry["source"] = source
    return entry


def write_cache_atomic(path: Path, entries: dict[str, Any], *, written_at: str) -> None:
    """Write ``entries`` to ``path`` via a temp file in the same directory + ``os.replace``.

    A reader (or a crash) sees either the old file or the complete new one, never a
    partial write. Raises ``OSError`` on failure (the caller decides how loud to be).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "format": CACHE_FORMAT,
        "written_at": written_at,
        "instruments": {key: entries[key] for key in sorted(entries)},
    }
    payload = json.dumps(document, indent=2, sort_keys=False) + "\n"
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(payload)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable (best effort: not every platform allows opening a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
