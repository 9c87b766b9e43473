"""Binance market descriptions via ccxt: one ``exchangeInfo`` fetch per venue, exact specs.

``binance_spot`` maps to ccxt ``binance`` and ``binance_usdm`` to ccxt ``binanceusdm``.
``load_markets`` is limited to the one market type needed (``options.fetchMarkets.types``
= ``["spot"]`` / ``["linear"]``), so each venue costs exactly one request:
``GET https://api.binance.com/api/v3/exchangeInfo`` or
``GET https://fapi.binance.com/fapi/v1/exchangeInfo`` (ccxt's default ``binance`` would
also fetch the USD-M and COIN-M lists; margin pairs and currencies need API keys and are
switched off).

Specs are built from Binance's *raw* filters as exact ``Decimal`` strings —
``PRICE_FILTER.tickSize``, ``LOT_SIZE.stepSize``/``minQty``, ``NOTIONAL.minNotional``
(spot) or ``MIN_NOTIONAL.notional`` (USD-M) — and cross-checked against ccxt's parsed
precision and limits (a disagreement is logged; the raw filter wins). ``lot_size`` is
the finest size the venue publishes: ``10**-quantityPrecision`` on USD-M,
``10**-baseAssetPrecision`` on spot, where resting levels carry sizes finer than the
order step. Maker/taker fees come from ccxt's market data (its fee table, VIP 0);
ccxt keeps them as floats, converted through their shortest ``repr`` so ``0.0002``
becomes exactly ``Decimal("0.0002")`` and a rebate stays negative.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt_async
import structlog

from bot.core.instrument import InstrumentKind, InstrumentSpec
from bot.venues.ccxt_markets import (
    MarketDataError,
    VenueFetch,
    exact_decimal,
    fetch_markets,
)

log = structlog.get_logger("bot.venues.binance_markets")


@dataclass(frozen=True, slots=True)
class VenueInfo:
    """How one mmbot venue maps onto ccxt."""

    ccxt_id: str
    market_types: tuple[str, ...]  # ccxt options.fetchMarkets.types
    kind: InstrumentKind
    url_key: str  # key in exchange.urls["api"] that serves exchangeInfo
    url_path: str  # path appended to a configured REST base URL for that key


VENUES: dict[str, VenueInfo] = {
    "binance_spot": VenueInfo("binance", ("spot",), InstrumentKind.SPOT, "public", "/api/v3"),
    "binance_usdm": VenueInfo("binanceusdm", ("linear",), InstrumentKind.PERP, "fapiPublic", "/fapi/v1"),
}


# --------------------------------------------------------------------------- spec building


def _fraction_digits(number: Decimal) -> int:
    exponent = number.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


def spec_from_market(venue: str, market: Mapping[str, Any]) -> InstrumentSpec:
    """Build an exact spec from one ccxt market (ccxt-parsed fields + Binance's raw ``info``)."""
    info = market.get("info")
    if not isinstance(info, Mapping):
        raise MarketDataError("market has no raw 'info' object")
    symbol = str(info.get("symbol") or market.get("id") or "?")
    filters: dict[str, Mapping[str, Any]] = {}
    for item in info.get("filters") or []:
        if isinstance(item, Mapping) and isinstance(item.get("filterType"), str):
            filters[item["filterType"]] = item
    for required in ("PRICE_FILTER", "LOT_SIZE"):
        if required not in filters:
            raise MarketDataError(f"{symbol}: exchangeInfo has no {required} filter")
    tick = exact_decimal(filters["PRICE_FILTER"].get("tickSize"), f"{symbol} PRICE_FILTER.tickSize")
    step = exact_decimal(filters["LOT_SIZE"].get("stepSize"), f"{symbol} LOT_SIZE.stepSize")
    min_qty = exact_decimal(filters["LOT_SIZE"].get("minQty", "0"), f"{symbol} LOT_SIZE.minQty")
    if tick <= 0:
        raise MarketDataError(f"{symbol}: PRICE_FILTER.tickSize is {tick} (tick rule disabled)")
    if step <= 0:
        raise MarketDataError(f"{symbol}: LOT_SIZE.stepSize is {step}")
    min_notional = Decimal(0)
    notional_filter = filters.get("NOTIONAL") or filters.get("MIN_NOTIONAL")
    if notional_filter is not None:
        raw = notional_filter.get("minNotional", notional_filter.get("notional"))
        name = str(notional_filter.get("filterType"))
        min_notional = exact_decimal(raw, f"{symbol} {name}.minNotional/notional")
    # Finest published size: USD-M quantityPrecision, spot baseAssetPrecision (as digits).
    precision_field = "quantityPrecision" if "quantityPrecision" in info else "baseAssetPrecision"
    precision = info.get(precision_field)
    try:
        digits = int(str(precision))
    except ValueError:
        raise MarketDataError(f"{symbol}: {precision_field} = {precision!r} is not an integer") from None
    digits = max(digits, _fraction_digits(step), _fraction_digits(min_qty))
    lot = Decimal(1).scaleb(-digits)
    base = market.get("base") or info.get("baseAsset")
    quote = market.get("quote") or info.get("quoteAsset")
    if not isinstance(base, str) or not isinstance(quote, str):
        raise MarketDataError(f"{symbol}: base/quote asset missing")
    contract_size = market.get("contractSize")
    spec = InstrumentSpec(
        venue=venue,
        symbol=symbol,
        kind=VENUES[venue].kind,
        base=base,
        quote=quote,
        tick_size=tick,
        lot_size=lot,
        qty_step=step,
        min_qty=min_qty,
        min_notional=min_notional,
        maker_fee=exact_decimal(market.get("maker"), f"{symbol} maker fee"),
        taker_fee=exact_decimal(market.get("taker"), f"{symbol} taker fee"),
        contract_size=Decimal(1) if contract_size is None else exact_decimal(contract_size, "contractSize"),
    )
    _cross_check(spec, market)
    return spec


def _cross_check(spec: InstrumentSpec, market: Mapping[str, Any]) -> None:
    """Log where ccxt's parsed numbers disagree with the raw filters we used."""
    precision = market.get("precision") or {}
    limits = market.get("limits") or {}
    pairs = (
        ("tick_size", spec.tick_size, precision.get("price")),
        ("qty_step", spec.qty_step, precision.get("amount")),
        ("min_qty", spec.min_qty, (limits.get("amount") or {}).get("min")),
        ("min_notional", spec.min_notional, (limits.get("cost") or {}).get("min")),
    )
    for name, ours, theirs in pairs:
        if theirs is None:
            continue
        try:
            parsed = exact_decimal(theirs, name)
        except MarketDataError:
            parsed = None
        if parsed != ours:
            log.warning(
                "market_metadata_mismatch",
                instrument=spec.key,
                field=name,
                raw_filter=str(ours),
                ccxt_parsed=repr(theirs),
                using="raw_filter",
            )


# --------------------------------------------------------------------------- fetching


def make_exchange(venue: str, *, timeout_s: float, rest_url: str | None = None) -> Any:
    """A ccxt async exchange limited to the one market type ``venue`` needs."""
    info = VENUES[venue]
    options: dict[str, Any] = {
        "fetchMarkets": {"types": list(info.market_types)},
        "fetchMargins": False,  # would need API keys (sapi margin pairs)
        "fetchCurrencies": False,  # would need API keys
    }
    exchange = getattr(ccxt_async, info.ccxt_id)(
        {"timeout": max(1, int(timeout_s * 1000)), "enableRateLimit": True, "options": options}
    )
    if rest_url:
        exchange.urls["api"][info.url_key] = rest_url.rstrip("/") + info.url_path
    return exchange


def exchange_info_url(exchange: Any, venue: str) -> str:
    return str(exchange.urls["api"][VENUES[venue].url_key]) + "/exchangeInfo"


def _refusal(venue: str, market: Mapping[str, Any]) -> str | None:
    """Why mmbot cannot use this Binance market, or None."""
    if VENUES[venue].kind is InstrumentKind.PERP and not market.get("swap"):
        return "a dated delivery future, not a perpetual (mmbot supports perpetuals only)"
    return None


def _spec_checked(venue: str, market: Mapping[str, Any]) -> InstrumentSpec:
    """The spec, with a warning when Binance lists the market as not trading."""
    spec = spec_from_market(venue, market)
    info = market.get("info") or {}
    status = info.get("status") or info.get("contractStatus")
    if status not in (None, "TRADING"):
        log.warning("instrument_not_trading", instrument=spec.key, status=status)
    return spec


async def fetch_venue(
    venue: str, symbols: Sequence[str], timeout_s: float, rest_url: str | None
) -> VenueFetch:
    """Load ``venue``'s markets (one request) and build specs for ``symbols``; never raises
    for network trouble: failures are reported in :attr:`VenueFetch.error`."""
    exchange = make_exchange(venue, timeout_s=timeout_s, rest_url=rest_url)
    url = exchange_info_url(exchange, venue)
    return await fetch_markets(venue, symbols, timeout_s, exchange, url, _spec_checked, _refusal)
