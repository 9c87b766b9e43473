"""OKX REST as the adapter needs it: instrument metadata via ccxt (no REST book
snapshot -- OKX sends the snapshot in the websocket stream).

``okx_spot`` / ``okx_swap`` / ``okx_futures`` map to ccxt ``okx`` limited to one
market type (``options.fetchMarkets.types`` = ``["spot"]`` / ``["swap"]`` /
``["future"]``): ``GET /api/v5/public/instruments?instType=SPOT|SWAP|FUTURES``.
Specs come from the raw instrument fields as exact decimal strings (OKX v5 "Get
instruments"): tick_size = ``tickSz``, lot_size = qty_step = ``lotSz`` (spot: base
currency; swaps and futures: contracts), min_qty = ``minSz``, contract_size =
``ctVal`` (base currency per contract). Inverse (coin-margined, ``ctType:
inverse``) contracts are refused: their ``ctVal`` is in USD and the ledger's linear
notional would be wrong. Fees: ccxt's market maker / taker.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt_async

from bot.core.instrument import InstrumentKind, InstrumentSpec
from bot.venues.ccxt_markets import MarketDataError, VenueFetch, exact_decimal, fetch_markets
from bot.venues.okx.endpoints import INST_TYPE

CCXT_TYPE = {"okx_spot": "spot", "okx_swap": "swap", "okx_futures": "future"}
LISTING_PATH = "/api/v5/public/instruments"


def make_exchange(venue: str, *, timeout_s: float, rest_url: str | None = None) -> Any:
    exchange = ccxt_async.okx(
        {
            "timeout": max(1, int(timeout_s * 1000)),
            "enableRateLimit": True,
            "options": {"fetchMarkets": {"types": [CCXT_TYPE[venue]]}},
        }
    )
    if rest_url:
        exchange.urls["api"]["rest"] = rest_url.rstrip("/")
    return exchange


def listing_url(exchange: Any, venue: str) -> str:
    base = exchange.implode_hostname(exchange.urls["api"]["rest"])
    return f"{base}{LISTING_PATH}?instType={INST_TYPE[venue]}"


def spec_from_market(venue: str, market: Mapping[str, Any]) -> InstrumentSpec:
    info = market.get("info")
    if not isinstance(info, Mapping):
        raise MarketDataError("market has no raw 'info' object")
    inst_id = str(info.get("instId") or market.get("id") or "?")
    tick = exact_decimal(info.get("tickSz"), f"{inst_id} tickSz")
    lot = exact_decimal(info.get("lotSz"), f"{inst_id} lotSz")
    min_qty = exact_decimal(info.get("minSz") or "0", f"{inst_id} minSz")
    if tick <= 0 or lot <= 0:
        raise MarketDataError(f"{inst_id}: tickSz {tick} / lotSz {lot} must be positive")
    spot = venue == "okx_spot"
    contract = Decimal(1) if spot else exact_decimal(info.get("ctVal"), f"{inst_id} ctVal")
    base, quote = market.get("base"), market.get("quote")
    if not isinstance(base, str) or not isinstance(quote, str):
        raise MarketDataError(f"{inst_id}: base/quote missing")
    return InstrumentSpec(
        venue=venue,
        symbol=inst_id,
        kind=InstrumentKind.SPOT if spot else InstrumentKind.PERP,
        base=base,
        quote=quote,
        tick_size=tick,
        lot_size=lot,
        qty_step=lot,
        min_qty=min_qty,
        maker_fee=exact_decimal(market.get("maker"), f"{inst_id} maker fee"),
        taker_fee=exact_decimal(market.get("taker"), f"{inst_id} taker fee"),
        contract_size=contract,
    )


def refuse(venue: str, market: Mapping[str, Any]) -> str | None:
    info = market.get("info") or {}
    if info.get("instType") not in (None, INST_TYPE[venue]):
        return f"an {info.get('instType')} instrument, not {INST_TYPE[venue]}"
    if info.get("ctType") == "inverse":
        return "an inverse (coin-margined) contract; mmbot's ledger needs linear contracts"
    return None


async def fetch_venue(
    venue: str, symbols: Sequence[str], timeout_s: float, rest_url: str | None
) -> VenueFetch:
    exchange = make_exchange(venue, timeout_s=timeout_s, rest_url=rest_url)
    return await fetch_markets(
        venue, symbols, timeout_s, exchange, listing_url(exchange, venue), spec_from_market, refuse
    )
