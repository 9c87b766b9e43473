"""The emulator's REST depth endpoint (``/api/v3/depth``, ``/fapi/v1/depth``) with
Binance's parameter rules and error bodies."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from aiohttp import web

from bot.emulator.book import ExchangeBook
from bot.emulator.protocol import (
    SPOT_DEFAULT_LIMIT,
    SPOT_MAX_LIMIT,
    USDM_DEFAULT_LIMIT,
    USDM_LIMITS,
    binance_error,
)


def depth_response(
    books: Mapping[tuple[str, str], ExchangeBook], venue: str, query: Mapping[str, str]
) -> web.Response:
    """A depth snapshot of the current exchange book, or Binance's error for bad input.

    Spot: ``limit`` 1..5000 (larger values are capped), default 100, no ``E``/``T``.
    USD-M: ``limit`` one of 5, 10, 20, 50, 100, 500, 1000, default 500, with ``E``/``T``.
    ``lastUpdateId`` follows the venue's id rule (:meth:`ExchangeBook.snapshot_id`).
    """
    symbol = query.get("symbol", "")
    if not symbol:
        return error_response(
            400, -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."
        )
    book = books.get((venue, symbol))
    if book is None:
        return error_response(400, -1121, "Invalid symbol.")
    limit = SPOT_DEFAULT_LIMIT if venue == "binance_spot" else USDM_DEFAULT_LIMIT
    raw_limit = query.get("limit")
    if raw_limit is not None:
        if not raw_limit.isdigit():
            return error_response(400, -1100, "Illegal characters found in parameter 'limit'.")
        limit = int(raw_limit)
        if venue == "binance_spot":
            if limit < 1:
                return error_response(400, -1100, "Illegal characters found in parameter 'limit'.")
            limit = min(limit, SPOT_MAX_LIMIT)
        elif limit not in USDM_LIMITS:
            legal = ", ".join(map(str, USDM_LIMITS))
            return error_response(
                400, -1100, f"Illegal characters found in parameter 'limit'; legal values are {legal}."
            )
    bids, asks = book.top(limit)
    body: dict[str, Any] = {"lastUpdateId": book.snapshot_id()}
    if venue == "binance_usdm":
        body["E"] = book.exch_ms
        body["T"] = book.exch_ms
    body["bids"] = bids
    body["asks"] = asks
    return web.Response(body=msgspec.json.encode(body), content_type="application/json")


USED_WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"


def depth_request_weight(venue: str, query: Mapping[str, str]) -> int:
    """Binance's weight of one depth request (counted per minute in ``X-MBX-USED-WEIGHT-1M``):
    spot 5 / 25 / 50 / 250 up to 100 / 500 / 1000 / 5000 levels, USD-M 2 / 5 / 10 / 20 up to
    50 / 100 / 500 / 1000."""
    raw = query.get("limit", "")
    limit = (
        int(raw) if raw.isdigit() else (SPOT_DEFAULT_LIMIT if venue == "binance_spot" else USDM_DEFAULT_LIMIT)
    )
    tiers = ((100, 5), (500, 25), (1000, 50)) if venue == "binance_spot" else ((50, 2), (100, 5), (500, 10))
    for top, weight in tiers:
        if limit <= top:
            return weight
    return 250 if venue == "binance_spot" else 20


def error_response(status: int, code: int, msg: str) -> web.Response:
    return web.Response(
        status=status, body=msgspec.json.encode(binance_error(code, msg)), content_type="application/json"
    )
