"""Instrument specs for the configured markets: exchange first, then the on-disk caches.

Owns the function the async edge calls at start-up to get an
:class:`~bot.core.instrument.InstrumentSpec` for every instrument key (``venue:SYMBOL``)::

    specs = await load_instruments_async(["binance_spot:BTCUSDT"], cache_dir=..., offline=False)
    specs = load_instruments([...], cache_dir=..., offline=True)  # blocking variant

Rules:

* Online: each venue's ``exchangeInfo`` is fetched once through ccxt
  (:mod:`bot.venues.binance_markets` builds the exact specs) and the fetched specs are
  merged into ``<cache_dir>/markets.json`` atomically, with a fetch timestamp.
* A network failure or timeout logs a warning and falls back to the caches
  (``fallback=False`` makes it an error instead). A symbol the venue answers without
  is an :class:`~bot.errors.InputError` (the exchange is authoritative).
* Offline: caches only; the network is never touched.
* Cache lookup order: ``<cache_dir>/markets.json``, then the cache shipped with mmbot,
  ``bot/venues/data/markets.json`` (specs matching the bundled 2024 recordings).
* A corrupt cache file is an error naming the file, unless the shipped cache has the
  symbol, in which case a warning names the file and the shipped spec is used.
* A symbol found nowhere is an :class:`~bot.errors.InputError` naming the venue, the
  symbol and every place looked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import msgspec
import structlog

from bot.core.instrument import InstrumentSpec
from bot.errors import InputError, MmbotError
from bot.venues.binance_markets import VENUES as BINANCE_VENUES
from bot.venues.binance_markets import fetch_venue as fetch_binance
from bot.venues.ccxt_markets import VenueFetch
from bot.venues.metadata_cache import (
    CACHE_FILENAME,
    SHIPPED_CACHE,
    CachedSpec,
    CacheError,
    CacheFile,
    spec_to_entry,
    write_cache_atomic,
)

log = structlog.get_logger("bot.venues.metadata")

CACHE_SUBDIR = "cache"
VENUES: tuple[str, ...] = (
    *BINANCE_VENUES,
    "bybit_spot",
    "bybit_linear",
    "okx_spot",
    "okx_swap",
    "okx_futures",
    "bitget_spot",
    "bitget_usdtm",
)
"""Venues whose instrument metadata can be fetched (ccxt) or read from the caches."""


async def fetch_venue(
    venue: str, symbols: Sequence[str], timeout_s: float, rest_url: str | None
) -> VenueFetch:
    """One venue's specs via ccxt (Binance: exchangeInfo; Bybit, OKX, Bitget: their instrument lists)."""
    if venue.startswith("bybit_"):
        from bot.venues.bybit.rest import fetch_venue as fetch_bybit

        return await fetch_bybit(venue, symbols, timeout_s, rest_url)
    if venue.startswith("okx_"):
        from bot.venues.okx.rest import fetch_venue as fetch_okx

        return await fetch_okx(venue, symbols, timeout_s, rest_url)
    if venue.startswith("bitget_"):
        from bot.venues.bitget.rest import fetch_venue as fetch_bitget

        return await fetch_bitget(venue, symbols, timeout_s, rest_url)
    return await fetch_binance(venue, symbols, timeout_s, rest_url)


Origin = Literal["exchange", "cache", "shipped"]
Fees = tuple[Decimal, Decimal]  # (maker, taker); negative = rebate


@dataclass(frozen=True, slots=True)
class ResolvedSpec:
    """A spec plus its provenance, for ``mmbot markets show`` and start-up logs."""

    spec: InstrumentSpec
    origin: Origin
    location: str  # exchangeInfo URL or cache file path
    fetched_at: str | None
    fees_overridden: bool = False


def cache_dir_for(data_dir: Path) -> Path:
    """The cache directory under a data directory (``<data_dir>/cache``)."""
    return data_dir / CACHE_SUBDIR


def parse_key(key: str) -> tuple[str, str]:
    """``"binance_spot:BTCUSDT"`` -> ``("binance_spot", "BTCUSDT")``; bad keys are InputErrors."""
    venue, sep, symbol = key.partition(":")
    if not sep or not venue or not symbol:
        raise InputError(f"instrument {key!r}: expected 'venue:SYMBOL', e.g. 'binance_spot:BTCUSDT'")
    if venue not in VENUES:
        raise InputError(f"instrument {key!r}: unknown venue {venue!r} (known: {', '.join(VENUES)})")
    if not symbol.replace("_", "").replace("-", "").isalnum() or symbol.upper() != symbol:
        raise InputError(
            f"instrument {key!r}: symbol must be upper-case letters and digits, e.g. BTCUSDT (OKX: BTC-USDT)"
        )
    return venue, symbol


# --------------------------------------------------------------------------- resolution


def _utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _dedupe(keys: Iterable[str]) -> list[tuple[str, str, str]]:
    seen: dict[str, tuple[str, str, str]] = {}
    for key in keys:
        if key not in seen:
            venue, symbol = parse_key(key)
            seen[key] = (key, venue, symbol)
    if not seen:
        raise InputError("no instruments to load")
    return list(seen.values())


class _CacheSource:
    """Lazily opened cache file; remembers why it could not be used."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._file: CacheFile | None = None
        self._error: CacheError | None = None
        self._opened = False

    def lookup(self, key: str) -> tuple[CachedSpec | None, str]:
        """(entry or None, what happened) — the text is used in error messages."""
        if self.path is None:
            return None, "no cache directory"
        if not self._opened:
            self._opened = True
            try:
                self._file = CacheFile.read(self.path)
            except CacheError as exc:
                self._error = exc
        if self._error is not None:
            raise self._error
        if self._file is None:
            return None, f"{self.path} (file does not exist)"
        entry = self._file.get(key)  # may raise CacheError naming the entry and field
        if entry is None:
            return None, f"{self.path} (no entry for {key})"
        return entry, str(self.path)


async def resolve_instruments(
    keys: Sequence[str],
    *,
    cache_dir: Path | None,
    offline: bool,
    timeout_s: float = 10.0,
    rest_urls: Mapping[str, str] | None = None,
    fallback: bool = True,
    fee_overrides: Mapping[str, Fees] | None = None,
    shipped_cache: Path = SHIPPED_CACHE,
) -> dict[str, ResolvedSpec]:
    """Specs for ``keys`` with their provenance. See the module docstring for the rules.

    ``cache_dir=None`` uses only the shipped cache (e.g. to replay the bundled
    recordings with the specs they were recorded under). ``rest_urls`` maps a venue to
    a REST base URL (e.g. ``{"binance_spot": "https://testnet.binance.vision"}``);
    unset venues use ccxt's mainnet defaults. ``fallback=False`` turns a failed fetch
    into an :class:`MmbotError` instead of a cache read (``mmbot markets show
    --refresh``). ``fee_overrides`` maps a venue or an instrument key to
    ``(maker, taker)`` — e.g. a negotiated maker rebate — and is applied last.
    """
    if timeout_s <= 0:
        raise InputError(f"metadata timeout must be positive, got {timeout_s}")
    wanted = _dedupe(keys)
    user_path = cache_dir / CACHE_FILENAME if cache_dir is not None else None
    resolved: dict[str, ResolvedSpec] = {}
    not_fetched: dict[str, str] = {}  # key -> why the exchange did not give us a spec

    if offline:
        for key, _, _ in wanted:
            not_fetched[key] = "exchange not asked (offline)"
    else:
        fetches = await _fetch_all(wanted, timeout_s, rest_urls or {})
        fetched_at = _utc_now()
        new_entries: dict[str, Any] = {}
        problems: list[str] = []
        for fetch in fetches:
            for symbol in fetch.unlisted:
                problems.append(
                    f"{symbol} is not listed on {fetch.venue} "
                    f"(looked in {fetch.url}: {fetch.listed_count} symbols)"
                )
            for symbol, why in fetch.refused.items():
                problems.append(f"{fetch.venue}:{symbol} is {why}")
            for spec in fetch.specs.values():
                resolved[spec.key] = ResolvedSpec(spec, "exchange", fetch.url, fetched_at)
                new_entries[spec.key] = spec_to_entry(spec, fetched_at=fetched_at, source=fetch.url)
            for symbol, why in fetch.bad.items():
                key = f"{fetch.venue}:{symbol}"
                log.warning("market_metadata_unusable", instrument=key, error=why, url=fetch.url)
                not_fetched[key] = f"{fetch.url} answered but the entry is unusable: {why}"
            if fetch.error is not None:
                log.warning(
                    "market_metadata_fetch_failed",
                    venue=fetch.venue,
                    url=fetch.url,
                    error=fetch.error,
                    fallback="cache" if fallback else "none",
                )
                for key, venue, _ in wanted:
                    if venue == fetch.venue:
                        not_fetched[key] = f"{fetch.url} failed: {fetch.error}"
        if new_entries and user_path is not None:
            _merge_into_cache(user_path, new_entries, fetched_at)
        if problems:
            raise InputError("unknown instrument: " + "; ".join(problems))
        if not_fetched and not fallback:
            reasons = "; ".join(f"{key}: {why}" for key, why in not_fetched.items())
            raise MmbotError(f"could not refresh market metadata: {reasons}")

    if not_fetched:
        user = _CacheSource(user_path)
        shipped = _CacheSource(shipped_cache)
        for key in not_fetched:
            resolved[key] = _from_caches(key, not_fetched[key], user, shipped, offline)

    result = {key: resolved[key] for key, _, _ in wanted}
    if fee_overrides:
        result = {key: _apply_fees(item, fee_overrides) for key, item in result.items()}
    return result


async def _fetch_all(
    wanted: list[tuple[str, str, str]], timeout_s: float, rest_urls: Mapping[str, str]
) -> list[VenueFetch]:
    by_venue: dict[str, list[str]] = {}
    for _, venue, symbol in wanted:
        by_venue.setdefault(venue, []).append(symbol)
    return list(
        await asyncio.gather(
            *(
                fetch_venue(venue, symbols, timeout_s, rest_urls.get(venue))
                for venue, symbols in by_venue.items()
            )
        )
    )


def _merge_into_cache(path: Path, new_entries: dict[str, Any], written_at: str) -> None:
    entries: dict[str, Any] = {}
    try:
        existing = CacheFile.read(path)
    except CacheError as exc:
        log.warning("market_cache_replaced", path=str(path), reason=str(exc))
        existing = None
    if existing is not None:
        entries.update(existing.raw_entries())
    entries.update(new_entries)
    try:
        write_cache_atomic(path, entries, written_at=written_at)
    except OSError as exc:
        log.warning("market_cache_write_failed", path=str(path), error=f"{type(exc).__name__}: {exc}")
    else:
        log.info("market_cache_written", path=str(path), updated=sorted(new_entries))


def _from_caches(
    key: str, why_not_fetched: str, user: _CacheSource, shipped: _CacheSource, offline: bool
) -> ResolvedSpec:
    looked = [f"exchange: {why_not_fetched}"]
    user_error: CacheError | None = None
    try:
        entry, note = user.lookup(key)
    except CacheError as exc:
        entry, note, user_error = None, f"{user.path} (unusable: {exc})", exc
    looked.append(note)
    if entry is not None and user.path is not None:
        if not offline:
            log.warning(
                "market_metadata_from_cache", instrument=key, path=str(user.path), fetched_at=entry.fetched_at
            )
        return ResolvedSpec(entry.spec, "cache", str(user.path), entry.fetched_at)
    entry, note = shipped.lookup(key)  # a broken shipped file is a packaging bug: let it raise
    looked.append(note)
    if entry is not None:
        if user_error is not None:
            log.warning(
                "market_cache_corrupt", path=str(user.path), error=str(user_error), using=str(shipped.path)
            )
        elif not offline:
            log.warning("market_metadata_from_shipped_cache", instrument=key, path=str(shipped.path))
        return ResolvedSpec(entry.spec, "shipped", str(shipped.path), entry.fetched_at)
    if user_error is not None:
        raise CacheError(f"{user_error}; and {key} is not in the shipped cache {shipped.path}")
    venue, symbol = key.split(":", 1)
    raise InputError(f"no market metadata for {symbol} on {venue}; looked in: " + "; ".join(looked))


def _apply_fees(item: ResolvedSpec, overrides: Mapping[str, Fees]) -> ResolvedSpec:
    fees = overrides.get(item.spec.key) or overrides.get(item.spec.venue)
    if fees is None:
        return item
    maker, taker = fees
    spec = msgspec.structs.replace(item.spec, maker_fee=Decimal(maker), taker_fee=Decimal(taker))
    return ResolvedSpec(spec, item.origin, item.location, item.fetched_at, fees_overridden=True)


async def load_instruments_async(
    keys: Sequence[str],
    *,
    cache_dir: Path | None,
    offline: bool,
    timeout_s: float = 10.0,
    rest_urls: Mapping[str, str] | None = None,
    fee_overrides: Mapping[str, Fees] | None = None,
) -> dict[str, InstrumentSpec]:
    """``{key: InstrumentSpec}`` for ``keys``; awaitable form for the running event loop."""
    resolved = await resolve_instruments(
        keys,
        cache_dir=cache_dir,
        offline=offline,
        timeout_s=timeout_s,
        rest_urls=rest_urls,
        fee_overrides=fee_overrides,
    )
    return {key: item.spec for key, item in resolved.items()}


def load_instruments(
    keys: Sequence[str],
    *,
    cache_dir: Path | None,
    offline: bool,
    timeout_s: float = 10.0,
    rest_urls: Mapping[str, str] | None = None,
    fee_overrides: Mapping[str, Fees] | None = None,
) -> dict[str, InstrumentSpec]:
    """Blocking form of :func:`load_instruments_async` (runs its own event loop).

    Inside a running event loop use ``await load_instruments_async(...)`` instead.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError(
            "load_instruments() blocks; inside an event loop use `await load_instruments_async()`"
        )
    return asyncio.run(
        load_instruments_async(
            keys,
            cache_dir=cache_dir,
            offline=offline,
            timeout_s=timeout_s,
            rest_urls=rest_urls,
            fee_overrides=fee_overrides,
        )
    )
