"""Bybit v5 endpoints and topic names, resolved from config.

Defaults are Bybit's public endpoints (no API keys needed), per Bybit's v5
"Connect" page:

============  =========  ==============================================  ==============================
venue         network    websocket                                       REST
============  =========  ==============================================  ==============================
spot          mainnet    wss://stream.bybit.com/v5/public/spot           https://api.bybit.com
spot          testnet    wss://stream-testnet.bybit.com/v5/public/spot   https://api-testnet.bybit.com
linear        mainnet    wss://stream.bybit.com/v5/public/linear         https://api.bybit.com
linear        testnet    wss://stream-testnet.bybit.com/v5/public/linear https://api-testnet.bybit.com
============  =========  ==============================================  ==============================

Topics: ``orderbook.{depth}.{SYMBOL}``, ``publicTrade.{SYMBOL}``, ``tickers.{SYMBOL}``.
Subscribe with ``{"op":"subscribe","args":[topics],"req_id":..}``; Bybit accepts at
most 10 args per spot request, so requests are chunked by 10 on every venue.
Config overrides (``BybitVenueSettings``): ``ws_url`` replaces the whole websocket
URL, ``rest_url`` the REST base.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

VENUES = ("bybit_spot", "bybit_linear")
CATEGORY = {"bybit_spot": "spot", "bybit_linear": "linear"}

_WS = {
    "mainnet": "wss://stream.bybit.com/v5/public/",
    "testnet": "wss://stream-testnet.bybit.com/v5/public/",
}
_REST = {"mainnet": "https://api.bybit.com", "testnet": "https://api-testnet.bybit.com"}

ARGS_PER_REQUEST = 10
PING = '{"op":"ping"}'
"""Bybit's application heartbeat; the docs recommend one every 20 s."""


@dataclass(frozen=True, slots=True)
class BybitEndpoints:
    venue: str
    ws: str
    rest: str


def resolve_endpoints(venue: str, settings: Any) -> BybitEndpoints:
    """The endpoints ``settings`` (a ``BybitVenueSettings``) select for ``venue``."""
    if venue not in CATEGORY:
        raise ValueError(f"unknown Bybit venue {venue!r}; expected one of {VENUES}")
    network = settings.network
    if network not in _WS:
        raise ValueError(f"unknown Bybit network {network!r}")
    ws = settings.ws_url.rstrip("/") if settings.ws_url else _WS[network] + CATEGORY[venue]
    rest = settings.rest_url.rstrip("/") if settings.rest_url else _REST[network]
    return BybitEndpoints(venue=venue, ws=ws, rest=rest)


def book_topic(depth: int, symbol: str) -> str:
    return f"orderbook.{depth}.{symbol}"


def trade_topic(symbol: str) -> str:
    return f"publicTrade.{symbol}"


def ticker_topic(symbol: str) -> str:
    return f"tickers.{symbol}"


def subscribe_request(op: str, topics: list[str], req_id: str) -> str:
    """``{"op":"subscribe","args":[...],"req_id":".."}`` (``op`` may be ``unsubscribe``)."""
    return json.dumps({"op": op, "args": topics, "req_id": req_id}, separators=(",", ":"))


def chunks(topics: list[str], size: int = ARGS_PER_REQUEST) -> list[list[str]]:
    return [topics[i : i + size] for i in range(0, len(topics), size)]
