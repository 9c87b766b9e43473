"""Bitget REST as the adapter needs it: instrument metadata via ccxt (no REST book
snapshot -- Bitget sends the snapshot in the websocket stream).

``bitget_spot`` / ``bitget_usdtm`` map to ccxt ``bitget`` limited to one market type
(``options.fetchMarkets.types`` = ``["spot"]`` / ``["swap"]``). ccxt then asks
``GET /api/v2/spot/public/symbols`` (+ ``/api/v2/margin/currencies`` for margin flags)
or ``GET /api/v2/mix/market/contracts?productType=..`` once per product type
(USDT-FUTURES and the five others: ccxt 4.5.90 always asks all six). ccxt's
``fetchCurrencies`` (a large coin list, unused here) is switched off. Specs come from
the raw instrument fields as exact decimal strings (Bitget v2 "Get Symbol Info" and
"Get All Symbols - Contracts"):

- spot: tick_size = ``10**-pricePrecision``; lot_size = qty_step =
  ``10**-quantityPrecision``; min_qty = ``minTradeAmount``; min_notional =
  ``minTradeUSDT`` (USDT-quoted symbols);
- USDT-M: tick_size = ``priceEndStep * 10**-pricePlace`` (as ccxt computes it);
  lot_size = ``10**-volumePlace`` (the finest size books and trades carry); qty_step =
  ``sizeMultiplier``; min_qty = ``minTradeNum``; min_notional = ``minTradeUSDT``;
  contract size 1 (sizes are in the base coin). Only ``symbolType: perpetual``
  contracts settled in USDT are accepted (delivery contracts are dated; coin-margined
  ones are inverse);
- fees: ccxt's market maker / taker, i.e. the symbol's ``makerFeeRate`` /
  ``takerFeeRate``. Bitget's symbol list is not your account's rate: ccxt's stored
  snapshot of it shows 0.002 / 0.002 for spot BTCUSDT while the fee page's regular
  (VIP 0) spot rate is 0.1 % / 0.1 % (https://www.bitget.com/fee; USDT-M 0.02 % /
  0.06 %) -- set ``maker_fee`` / ``taker_fee`` in ``[venues.bitget_spot]`` /
  ``[venues.bitget_usdtm]`` for your account.

The book texts the sync rule rebuilds for the checksum use the same decimals as tick
and lot here (``pricePrecision`` / ``pricePlace``, ``quantityPrecision`` /
``volumePlace``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt_async

from bot.core.instrument import InstrumentKind, InstrumentSpec
from bot.venues.ccxt_markets import MarketDataError, VenueFetch, exact_decimal, fetch_markets

CCXT_TYPE = {"bitget_spot": "spot", "bitget_usdtm": "swap"}
LISTING_PATH = {
    "bitget_spot": "/api/v2/spot/public/symbols",
    "bitget_usdtm": "/api/v2/mix/market/contracts?productType=USDT-FUTURES",
}


def make_exchange(venue: str, *, timeout_s: float, rest_url: str | None = None) -> Any:
    exchange = ccxt_async.bitget(
        {
            "timeout": max(1, int(timeout_s * 1000)),
            "enableRateLimit": True,
            "options": {"fetchMarkets": {"types": [CCXT_TYPE[venue]]}},
        }
    )
    exchange.has = {**exchange.has, "fetchCurrencies": False}
    if rest_url:
        base = rest_url.rstrip("/")
        for name, url in list(exchange.urls["api"].items()):
            if isinstance(url, str):
                exchange.urls["api"][name] = base
    return exchange


def listing_url(exchange: Any, venue: str) -> str:
    base = exchange.implode_hostname(exchange.urls["api"]["spot" if venue == "bitget_spot" else "mix"])
    return f"{base}{LISTING_PATH[venue]}"


def _power(places: Any, what: str) -> Decimal:
    """``10**-places`` from a decimal-places field (``"2"`` -> ``0.01``)."""
    count = exact_decimal(places, what)
    if count != count.to_integral_value() or count < 0 or count > 18:
        raise MarketDataError(f"{what} = {places!r} is not a number of decimal places")
    return Decimal(1).scaleb(-int(count))


def spec_from_market(venue: str, market: Mapping[str, Any]) -> InstrumentSpec:
    info = market.get("info")
    if not isinstance(info, Mapping):
        raise MarketDataError("market has no raw 'info' object")
    symbol = str(info.get("symbol") or market.get("id") or "?")
    spot = venue == "bitget_spot"
    if spot:
        tick = _power(info.get("pricePrecision"), f"{symbol} pricePrecision")
        lot = step = _power(info.get("quantityPrecision"), f"{symbol} quantityPrecision")
        min_qty = exact_decimal(info.get("minTradeAmount") or "0", f"{symbol} minTradeAmount")
    else:
        place = _power(info.get("pricePlace"), f"{symbol} pricePlace")
        tick = exact_decimal(info.get("priceEndStep"), f"{symbol} priceEndStep") * place
        lot = _power(info.get("volumePlace"), f"{symbol} volumePlace")
        step = exact_decimal(info.get("sizeMultiplier"), f"{symbol} sizeMultiplier")
        min_qty = exact_decimal(info.get("minTradeNum") or "0", f"{symbol} minTradeNum")
    if tick <= 0 or lot <= 0 or step <= 0:
        raise MarketDataError(f"{symbol}: tick {tick} / lot {lot} / step {step} must be positive")
    if step % lot:
        raise MarketDataError(f"{symbol}: sizeMultiplier {step} is finer than volumePlace ({lot})")
    base = info.get("baseCoin") or market.get("base")
    quote = info.get("quoteCoin") or market.get("quote")
    if not isinstance(base, str) or not isinstance(quote, str):
        raise MarketDataError(f"{symbol}: base/quote coin missing")
    notional = info.get("minTradeUSDT") if quote == "USDT" else None
    return InstrumentSpec(
        venue=venue,
        symbol=symbol,
        kind=InstrumentKind.SPOT if spot else InstrumentKind.PERP,
        base=base,
        quote=quote,
        tick_size=exact_decimal(tick, f"{symbol} tick"),
        lot_size=exact_decimal(lot, f"{symbol} lot"),
        qty_step=exact_decimal(step, f"{symbol} step"),
        min_qty=min_qty,
        min_notional=exact_decimal(notional or "0", f"{symbol} minTradeUSDT"),
        maker_fee=exact_decimal(market.get("maker"), f"{symbol} maker fee"),
        taker_fee=exact_decimal(market.get("taker"), f"{symbol} taker fee"),
        contract_size=Decimal(1),
    )


def refuse(venue: str, market: Mapping[str, Any]) -> str | None:
    info = market.get("info") or {}
    if venue == "bitget_spot":
        return None if market.get("spot") in (None, True) else "not a spot market"
    if info.get("symbolType") != "perpetual":
        return f"a {info.get('symbolType')} contract, not a perpetual (mmbot hedges with perpetuals)"
    if market.get("inverse") or market.get("settle") != "USDT":
        return "not a USDT-margined linear contract; bitget_usdtm serves USDT-FUTURES only"
    return None


async def fetch_venue(
    venue: str, symbols: Sequence[str], timeout_s: float, rest_url: str | None
) -> VenueFetch:
    exchange = make_exchange(venue, timeout_s=timeout_s, rest_url=rest_url)
    return await fetch_markets(
        venue, symbols, timeout_s, exchange, listing_url(exchange, venue), spec_from_market, refuse
    )
