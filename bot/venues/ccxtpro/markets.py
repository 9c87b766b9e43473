"""Instrument specs for ccxt venues: exact decimals from ccxt's markets, cached on disk.

:func:`resolve_ccxt_instruments` is the ccxt-venue counterpart of
:func:`bot.venues.metadata.resolve_instruments` and uses the same cache file and
format (``<cache_dir>/markets.json``, :mod:`bot.venues.metadata_cache`):

* online: one ``load_markets`` through the configured exchange (same URLs, sandbox
  and options as the adapter), specs built by :func:`spec_from_ccxt_market`, merged
  into the cache atomically;
* a network failure falls back to the cache (``fallback=False``: an error instead);
* offline: the cache only. A symbol found nowhere is an :class:`InputError`.

Spec rules (:func:`spec_from_ccxt_market`): ccxt's ``precision`` gives the tick and
the order step. In ccxt's TICK_SIZE mode they are the increments themselves (ccxt
floats, converted exactly through their shortest repr); in DECIMAL_PLACES mode they
are digit counts; SIGNIFICANT_DIGITS has no fixed tick and is refused. ``lot_size``
(the finest size published in books and trades) is the configured ``lot_size``, else
Binance's ``quantityPrecision``/``baseAssetPrecision`` for the Binance family (its
spot books carry sizes finer than the order step), else the order step. Minimum
quantity/notional come from ccxt's ``limits``, fees from the market (VIP 0 tables),
or the configured fee overrides.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import structlog

from bot.core.instrument import InstrumentKind, InstrumentSpec
from bot.errors import InputError, MmbotError
from bot.venues.ccxt_markets import MarketDataError, exact_decimal
from bot.venues.ccxtpro.exchange import build_exchange, find_market
from bot.venues.metadata_cache import CACHE_FILENAME, CacheError, CacheFile, spec_to_entry, write_cache_atomic
from bot.venues.settings import CcxtVenueSettings

log = structlog.get_logger("bot.venues.ccxtpro")

TICK_SIZE, DECIMAL_PLACES, SIGNIFICANT_DIGITS = 4, 2, 3  # ccxt precision modes
_BINANCE_SIZE_FIELDS = ("quantityPrecision", "baseAssetPrecision")


def _increment(value: Any, mode: int, what: str) -> Decimal:
    if mode == DECIMAL_PLACES:
        digits = exact_decimal(value, what)
        if digits != digits.to_integral_value():
            raise MarketDataError(f"{what} = {value!r} is not a digit count")
        return Decimal(1).scaleb(-int(digits))
    if mode == SIGNIFICANT_DIGITS:
        raise MarketDataError(f"{what}: the exchange uses significant-digit precision (no fixed tick)")
    number = exact_decimal(value, what)
    if number <= 0:
        raise MarketDataError(f"{what} = {value!r} is not positive")
    return number


def _optional(value: Any, what: str) -> Decimal:
    return Decimal(0) if value is None else exact_decimal(value, what)


def spec_from_ccxt_market(
    venue: str,
    symbol: str,
    market: Mapping[str, Any],
    *,
    exchange_id: str,
    precision_mode: int,
    lot_size: Decimal | None = None,
) -> InstrumentSpec:
    """An exact spec for one ccxt market (see module doc). MarketDataError if unusable."""
    name = str(market.get("symbol"))
    precision = market.get("precision") or {}
    tick = _increment(precision.get("price"), precision_mode, f"{name} precision.price")
    step = _increment(precision.get("amount"), precision_mode, f"{name} precision.amount")
    lot = lot_size
    info = market.get("info")
    if lot is None and exchange_id.startswith("binance") and isinstance(info, Mapping):
        for field in _BINANCE_SIZE_FIELDS:
            if field in info:
                try:
                    digits = int(str(info[field]))
                except ValueError:
                    raise MarketDataError(
                        f"{name} info.{field} = {info[field]!r} is not an integer"
                    ) from None
                lot = min(step, Decimal(1).scaleb(-digits))
                break
    lot = lot if lot is not None else step
    if step % lot:
        raise MarketDataError(f"{name}: order step {step} is not a multiple of lot_size {lot}")
    limits = market.get("limits") or {}
    base, quote = market.get("base"), market.get("quote")
    if not isinstance(base, str) or not isinstance(quote, str):
        raise MarketDataError(f"{name}: base/quote missing")
    maker, taker = market.get("maker"), market.get("taker")
    contract = market.get("contractSize")
    return InstrumentSpec(
        venue=venue,
        symbol=symbol,
        kind=InstrumentKind.SPOT if market.get("spot") else InstrumentKind.PERP,
        base=base,
        quote=quote,
        tick_size=tick,
        lot_size=lot,
        qty_step=step,
        min_qty=_optional((limits.get("amount") or {}).get("min"), f"{name} limits.amount.min"),
        min_notional=_optional((limits.get("cost") or {}).get("min"), f"{name} limits.cost.min"),
        maker_fee=exact_decimal(maker, f"{name} maker fee") if maker is not None else Decimal("0.001"),
        taker_fee=exact_decimal(taker, f"{name} taker fee") if taker is not None else Decimal("0.001"),
        contract_size=Decimal(1) if contract is None else exact_decimal(contract, f"{name} contractSize"),
    )


def specs_from_markets(
    venue: str, settings: CcxtVenueSettings, exchange: Any, symbols: Iterable[str]
) -> dict[str, InstrumentSpec]:
    """Specs for ``symbols`` from an exchange whose markets are loaded (InputError if not listed)."""
    specs: dict[str, InstrumentSpec] = {}
    for symbol in symbols:
        market = find_market(
            exchange.markets or {},
            symbol,
            market_type=settings.market_type,
            venue=venue,
            exchange_id=settings.exchange,
            overrides=settings.symbols,
        )
        try:
            spec = spec_from_ccxt_market(
                venue,
                symbol,
                market,
                exchange_id=settings.exchange,
                precision_mode=int(exchange.precisionMode),
                lot_size=settings.lot_size,
            )
        except (MarketDataError, ValueError) as exc:
            raise InputError(f"{venue}:{symbol}: unusable market description: {exc}") from None
        if settings.maker_fee is not None and settings.taker_fee is not None:
            spec = msgspec.structs.replace(spec, maker_fee=settings.maker_fee, taker_fee=settings.taker_fee)
        specs[spec.key] = spec
    return specs


async def fetch_ccxt_specs(
    venue: str, settings: CcxtVenueSettings, symbols: Iterable[str]
) -> dict[str, InstrumentSpec]:
    """Load the exchange's markets once and build specs; network errors propagate."""
    try:
        exchange = build_exchange(settings)
    except ValueError as exc:
        raise InputError(f"venues.ccxt.{venue.removeprefix('ccxt_')}: {exc}") from None
    try:
        await asyncio.wait_for(exchange.load_markets(), timeout=settings.timeout_s)
    finally:
        try:
            await exchange.close()
        except Exception as exc:
            log.debug("ccxt_close_failed", venue=venue, error=repr(exc))
    return specs_from_markets(venue, settings, exchange, symbols)


async def resolve_ccxt_instruments(
    venue: str,
    settings: CcxtVenueSettings,
    symbols: Iterable[str],
    *,
    cache_dir: Path | None,
    offline: bool,
    fallback: bool = True,
) -> dict[str, InstrumentSpec]:
    """``{venue:SYMBOL: spec}`` per the module rules (exchange, then the user cache)."""
    wanted = list(dict.fromkeys(symbols))
    if not wanted:
        raise InputError(f"{venue}: no instruments to load")
    path = cache_dir / CACHE_FILENAME if cache_dir is not None else None
    why = "exchange not asked (offline)"
    if not offline:
        try:
            specs = await fetch_ccxt_specs(venue, settings, wanted)
        except InputError:
            raise
        except Exception as exc:  # network edge: any failure means "use the cache"
            why = f"load_markets failed: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
            if not fallback:
                raise MmbotError(f"could not load {venue} markets: {why}") from None
            log.warning("market_metadata_fetch_failed", venue=venue, error=why, fallback="cache")
        else:
            if path is not None:
                _merge_into_cache(path, specs, f"ccxt {settings.exchange} load_markets")
            return specs
    return {f"{venue}:{symbol}": _from_cache(path, venue, symbol, why) for symbol in wanted}


def _from_cache(path: Path | None, venue: str, symbol: str, why: str) -> InstrumentSpec:
    key = f"{venue}:{symbol}"
    looked = [f"exchange: {why}"]
    if path is None:
        looked.append("no cache directory")
    else:
        cache = CacheFile.read(path)  # CacheError (an InputError) names the file
        entry = cache.get(key) if cache is not None else None
        if entry is not None:
            log.warning(
                "market_metadata_from_cache", instrument=key, path=str(path), fetched_at=entry.fetched_at
            )
            return entry.spec
        looked.append(f"{path} ({'no entry for ' + key if cache is not None else 'file does not exist'})")
    raise InputError(f"no market metadata for {symbol} on {venue}; looked in: " + "; ".join(looked))


def _merge_into_cache(path: Path, specs: Mapping[str, InstrumentSpec], source: str) -> None:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    entries: dict[str, Any] = {}
    try:
        existing = CacheFile.read(path)
    except CacheError as exc:
        log.warning("market_cache_replaced", path=str(path), reason=str(exc))
        existing = None
    if existing is not None:
        entries.update(existing.raw_entries())
    for key, spec in specs.items():
        entries[key] = spec_to_entry(spec, fetched_at=now, source=source)
    try:
        write_cache_atomic(path, entries, written_at=now)
    except OSError as exc:
        log.warning("market_cache_write_failed", path=str(path), error=f"{type(exc).__name__}: {exc}")
