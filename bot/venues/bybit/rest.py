"""Bybit REST as the adapter needs it: instrument metadata via ccxt (no REST book
snapshot -- Bybit sends the snapshot in the websocket stream).

``bybit_spot`` / ``bybit_linear`` map to ccxt ``bybit`` limited to one market type
(``options.fetchMarkets.types`` = ``["spot"]`` / ``["linear"]``): ``GET
/v5/market/instruments-info?category=spot|linear``. Specs come from the raw
instrument fields as exact decimal strings (Bybit v5 "Get Instruments Info"):

- tick_size = ``priceFilter.tickSize``;
- spot: qty_step = lot_size = ``lotSizeFilter.basePrecision``, min_qty =
  ``minOrderQty``, min_notional = ``minOrderAmt`` (quote);
- linear: qty_step = lot_size = ``lotSizeFilter.qtyStep``, min_qty = ``minOrderQty``,
  min_notional = ``minNotionalValue``; contract size 1 (sizes are in the base coin).
  Only ``LinearPerpetual`` contracts are accepted (``LinearFutures`` are dated);
- fees: ccxt's market maker / taker (its fee table, no account tier).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt_async

from bot.core.instrument import InstrumentKind, InstrumentSpec
from bot.venues.ccxt_markets import MarketDataError, VenueFetch, exact_decimal, fetch_markets, raw

CATEGORY = {"bybit_spot": "spot", "bybit_linear": "linear"}
LISTING_PATH = "/v5/market/instruments-info"


def make_exchange(venue: str, *, timeout_s: float, rest_url: str | None = None) -> Any:
    exchange = ccxt_async.bybit(
        {
            "timeout": max(1, int(timeout_s * 1000)),
            "enableRateLimit": True,
            "options": {"fetchMarkets": {"types": [CATEGORY[venue]]}},
        }
    )
    if rest_url:
        exchange.urls["api"]["public"] = rest_url.rstrip("/")
    return exchange


def listing_url(exchange: Any, venue: str) -> str:
    base = exchange.implode_hostname(exchange.urls["api"]["public"])
    return f"{base}{LISTING_PATH}?category={CATEGORY[venue]}"


def spec_from_market(venue: str, market: Mapping[str, Any]) -> InstrumentSpec:
    info = market.get("info")
    if not isinstance(info, Mapping):
        raise MarketDataError("market has no raw 'info' object")
    symbol = str(info.get("symbol") or market.get("id") or "?")
    tick = exact_decimal(raw(info, "priceFilter", "tickSize"), f"{symbol} priceFilter.tickSize")
    lot_field = "basePrecision" if venue == "bybit_spot" else "qtyStep"
    step = exact_decimal(raw(info, "lotSizeFilter", lot_field), f"{symbol} lotSizeFilter.{lot_field}")
    min_qty = exact_decimal(raw(info, "lotSizeFilter", "minOrderQty") or "0", f"{symbol} minOrderQty")
    notional_field = "minOrderAmt" if venue == "bybit_spot" else "minNotionalValue"
    notional = raw(info, "lotSizeFilter", notional_field) or "0"
    if tick <= 0 or step <= 0:
        raise MarketDataError(f"{symbol}: tick {tick} / step {step} must be positive")
    base = info.get("baseCoin") or market.get("base")
    quote = info.get("quoteCoin") or market.get("quote")
    if not isinstance(base, str) or not isinstance(quote, str):
        raise MarketDataError(f"{symbol}: base/quote coin missing")
    return InstrumentSpec(
        venue=venue,
        symbol=symbol,
        kind=InstrumentKind.SPOT if venue == "bybit_spot" else InstrumentKind.PERP,
        base=base,
        quote=quote,
        tick_size=tick,
        lot_size=step,
        qty_step=step,
        min_qty=min_qty,
        min_notional=exact_decimal(notional, f"{symbol} {notional_field}"),
        maker_fee=exact_decimal(market.get("maker"), f"{symbol} maker fee"),
        taker_fee=exact_decimal(market.get("taker"), f"{symbol} taker fee"),
        contract_size=Decimal(1),
    )


def refuse(venue: str, market: Mapping[str, Any]) -> str | None:
    info = market.get("info") or {}
    if venue == "bybit_linear" and info.get("contractType") != "LinearPerpetual":
        return f"a {info.get('contractType')} contract, not a linear perpetual (mmbot hedges with perpetuals)"
    return None


async def fetch_venue(
    venue: str, symbols: Sequence[str], timeout_s: float, rest_url: str | None
) -> VenueFetch:
    exchange = make_exchange(venue, timeout_s=timeout_s, rest_url=rest_url)
    return await fetch_markets(
        venue, symbols, timeout_s, exchange, listing_url(exchange, venue), spec_from_market, refuse
    )
