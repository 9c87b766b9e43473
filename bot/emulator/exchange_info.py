"""The emulator's market-description endpoints: ``/api/v3/exchangeInfo`` and ``/fapi/v1/exchangeInfo``.

Clients that load market metadata before streaming (ccxt's ``load_markets``, hence
the generic ccxt.pro adapter and ``mmbot markets`` pointed at the emulator) need these.
The body lists every market the emulator serves on that venue, in Binance's documented
shape (``rest-api.md`` "Exchange information", ``filters.md``; USD-M "Exchange
Information"): per symbol ``PRICE_FILTER.tickSize``, ``LOT_SIZE.stepSize/minQty``,
``NOTIONAL.minNotional`` (spot) or ``MIN_NOTIONAL.notional`` (USD-M), and the size
precision (spot ``baseAssetPrecision``, USD-M ``quantityPrecision``) that says how
fine published book sizes are.

The numbers come from the source's own instrument specs where it has them (the
synthetic generator), otherwise from the instrument cache shipped with mmbot
(``bot/venues/data/markets.json``: the rules the bundled recordings were made
under). A served market found in neither is left out and logged.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import structlog
from aiohttp import web

from bot.core.instrument import InstrumentSpec
from bot.venues.metadata_cache import SHIPPED_CACHE, CacheFile, decimal_text

log = structlog.get_logger("bot.emulator")

EXCHANGE_INFO_PATHS = {"binance_spot": "/api/v3/exchangeInfo", "binance_usdm": "/fapi/v1/exchangeInfo"}

_SPOT_ORDER_TYPES = ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"]
_USDM_ORDER_TYPES = ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET"]


@functools.cache
def _shipped() -> CacheFile | None:
    return CacheFile.read(SHIPPED_CACHE)


def spec_for(venue: str, symbol: str, source_specs: Iterable[InstrumentSpec] = ()) -> InstrumentSpec | None:
    """The spec the emulator advertises for (venue, symbol): the source's, else the shipped cache's."""
    for spec in source_specs:
        if spec.venue == venue and spec.symbol == symbol:
            return spec
    shipped = _shipped()
    entry = shipped.get(f"{venue}:{symbol}") if shipped is not None else None
    return entry.spec if entry is not None else None


def _digits(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


def symbol_entry(spec: InstrumentSpec) -> dict[str, Any]:
    """One ``symbols[]`` object of exchangeInfo for ``spec``."""
    tick, step = decimal_text(spec.tick_size), decimal_text(spec.qty_step)
    min_qty = decimal_text(spec.min_qty if spec.min_qty > 0 else spec.qty_step)
    price_filter = {"filterType": "PRICE_FILTER", "minPrice": tick, "maxPrice": "1000000", "tickSize": tick}
    lot_filter = {"filterType": "LOT_SIZE", "minQty": min_qty, "maxQty": "9000", "stepSize": step}
    if spec.venue == "binance_spot":
        precision = _digits(spec.lot_size)
        return {
            "symbol": spec.symbol,
            "status": "TRADING",
            "baseAsset": spec.base,
            "baseAssetPrecision": precision,
            "quoteAsset": spec.quote,
            "quotePrecision": 8,
            "quoteAssetPrecision": 8,
            "baseCommissionPrecision": precision,
            "quoteCommissionPrecision": 8,
            "orderTypes": _SPOT_ORDER_TYPES,
            "icebergAllowed": True,
            "ocoAllowed": True,
            "quoteOrderQtyMarketAllowed": True,
            "allowTrailingStop": True,
            "cancelReplaceAllowed": True,
            "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": False,
            "filters": [
                price_filter,
                lot_filter,
                {
                    "filterType": "NOTIONAL",
                    "minNotional": decimal_text(spec.min_notional),
                    "applyMinToMarket": True,
                },
            ],
            "permissions": [],
            "permissionSets": [["SPOT"]],
        }
    return {
        "symbol": spec.symbol,
        "pair": spec.symbol,
        "contractType": "PERPETUAL",
        "deliveryDate": 4133404800000,
        "onboardDate": 1569398400000,
        "status": "TRADING",
        "baseAsset": spec.base,
        "quoteAsset": spec.quote,
        "marginAsset": spec.quote,
        "pricePrecision": _digits(spec.tick_size),
        "quantityPrecision": _digits(spec.lot_size),
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "filters": [
            price_filter,
            lot_filter,
            {"filterType": "MIN_NOTIONAL", "notional": decimal_text(spec.min_notional)},
        ],
        "orderTypes": _USDM_ORDER_TYPES,
        "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
    }


def exchange_info_body(
    venue: str, symbols: Iterable[str], server_time_ms: int, source_specs: Iterable[InstrumentSpec] = ()
) -> dict[str, Any]:
    """The exchangeInfo body for the served ``symbols`` of ``venue``."""
    specs = list(source_specs)
    entries = []
    for symbol in symbols:
        spec = spec_for(venue, symbol, specs)
        if spec is None:
            log.warning("exchangeInfo: no spec for a served market; left out", venue=venue, symbol=symbol)
            continue
        entries.append(symbol_entry(spec))
    body: dict[str, Any] = {
        "timezone": "UTC",
        "serverTime": server_time_ms,
        # Binance's published limits (spot 6000, USD-M 2400 per minute)
        "rateLimits": [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": 6000 if venue == "binance_spot" else 2400,
            }
        ],
        "exchangeFilters": [],
    }
    if venue == "binance_usdm":
        body["futuresType"] = "U_MARGINED"
        body["assets"] = []
    body["symbols"] = entries
    return body


def add_exchange_info_routes(app: web.Application, server: Any) -> None:
    """Register both exchangeInfo paths on ``app`` for an :class:`EmulatorServer`.

    ``server`` provides ``source`` (``.markets``, optionally ``.specs``), ``sim_ts_ns``
    and the ``rest_requests`` counter.
    """
    for venue, path in EXCHANGE_INFO_PATHS.items():
        app.router.add_get(path, _handler(server, venue))


def _handler(server: Any, venue: str) -> Any:
    async def handler(request: web.Request) -> web.Response:
        server.rest_requests += 1
        symbols = [symbol for v, symbol in server.source.markets() if v == venue]
        wanted = request.query.get("symbol")
        if wanted is not None:
            if wanted not in symbols:
                return web.json_response({"code": -1121, "msg": "Invalid symbol."}, status=400)
            symbols = [wanted]
        body = exchange_info_body(
            venue, symbols, server.sim_ts_ns // 1_000_000, getattr(server.source, "specs", ())
        )
        return web.json_response(body)

    return handler
