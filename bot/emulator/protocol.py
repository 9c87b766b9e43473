"""The emulator's side of the Binance wire protocol: paths, stream names, frames, errors.

Written independently of the client decoder in ``bot/venues/binance`` on purpose, so
a misunderstanding on one side is not silently shared by the other.

Path layout is Binance mainnet's own, so spot and USD-M share one port:

=====================  =========  ==========================================
path                   venue      streams served
=====================  =========  ==========================================
``/stream``, ``/ws``   spot       depth, trade, aggTrade, bookTicker
``/public/...``        USD-M      depth, bookTicker, trade
``/market/...``        USD-M      aggTrade, markPrice
=====================  =========  ==========================================

A stream requested on a route that does not carry it is accepted and never sends
data -- exactly what the real exchange does since its 2026 route split.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

Route = Literal["spot", "public", "market"]
Kind = Literal["depth", "trade", "aggTrade", "bookTicker", "markPrice"]

ROUTE_VENUE: dict[str, str] = {
    "spot": "binance_spot",
    "public": "binance_usdm",
    "market": "binance_usdm",
    # subscribe-by-message venues (bot/emulator/opvenues.py); OKX and Bitget serve all their types on one path
    "bybit_spot": "bybit_spot",
    "bybit_linear": "bybit_linear",
    "okx": "okx",
    "bitget": "bitget",
}

ROUTE_KINDS: dict[str, frozenset[str]] = {
    "spot": frozenset({"depth", "trade", "aggTrade", "bookTicker"}),
    "public": frozenset({"depth", "bookTicker", "trade"}),
    "market": frozenset({"aggTrade", "markPrice"}),
    "bybit_spot": frozenset(),
    "bybit_linear": frozenset(),
    "okx": frozenset(),
    "bitget": frozenset(),
}

DEPTH_SUFFIXES = frozenset(
    {"depth", "depth@100ms", "depth@250ms", "depth@500ms", "depth@1000ms", "depth@0ms"}
)

SPOT_MAX_LIMIT = 5000
SPOT_DEFAULT_LIMIT = 100
USDM_LIMITS = (5, 10, 20, 50, 100, 500, 1000)
USDM_DEFAULT_LIMIT = 500


def parse_stream(name: str) -> tuple[str, str] | None:
    """``btcusdt@depth@100ms`` -> (``"BTCUSDT"``, ``"depth"``); None if not served."""
    symbol, at, suffix = name.partition("@")
    if not at or not symbol or symbol.lower() != symbol:
        return None
    if suffix in DEPTH_SUFFIXES:
        return symbol.upper(), "depth"
    if suffix in ("trade", "aggTrade", "bookTicker"):
        return symbol.upper(), suffix
    if suffix in ("markPrice", "markPrice@1s"):
        return symbol.upper(), "markPrice"
    return None


def envelope(stream: str, data: str) -> str:
    """Combined-stream frame ``{"stream":..,"data":..}`` around a raw JSON payload."""
    return '{"stream":"' + stream + '","data":' + data + "}"


def binance_error(code: int, msg: str) -> dict[str, object]:
    """Binance REST error body, e.g. ``{"code":-1121,"msg":"Invalid symbol."}``."""
    return {"code": code, "msg": msg}


EMULATED_VENUES = (
    "binance_spot",
    "binance_usdm",
    "bybit_spot",
    "bybit_linear",
    "okx_spot",
    "okx_swap",
    "okx_futures",
    "bitget_spot",
    "bitget_usdtm",
)
"""Venues whose protocol the emulator speaks (:func:`client_overrides` knows them all)."""


def client_overrides(http_base: str, venue: str) -> dict[str, str]:
    """Venue settings overrides that point a client at an emulator (every venue).

    ``http_base`` is the emulator's ``http://host:port``.
    """
    ws_base = "ws://" + http_base.removeprefix("http://").rstrip("/")
    rest = http_base.rstrip("/")
    if venue == "binance_spot":
        return {"ws_url": ws_base, "rest_url": rest}
    if venue == "binance_usdm":
        return {"ws_url": ws_base + "/public", "ws_market_url": ws_base + "/market", "rest_url": rest}
    if venue == "bybit_spot":
        return {"ws_url": ws_base + "/v5/public/spot", "rest_url": rest}
    if venue == "bybit_linear":
        return {"ws_url": ws_base + "/v5/public/linear", "rest_url": rest}
    if venue in ("okx_spot", "okx_swap", "okx_futures"):
        return {"ws_url": ws_base + "/ws/v5/public", "rest_url": rest}
    if venue in ("bitget_spot", "bitget_usdtm"):
        return {"ws_url": ws_base + "/v2/ws/public", "rest_url": rest}
    raise ValueError(f"unknown venue {venue!r}")


def symbol_of(stream: str) -> str | None:
    parsed = parse_stream(stream)
    return parsed[0] if parsed else None


_TRADE_FIELDS = msgspec.json.Decoder(dict[str, Any])


def agg_trade(trade_json: str, *, spot: bool) -> str:
    """A ``trade`` payload as the ``aggTrade`` of that single fill (``a = f = l = t``)."""
    trade = _TRADE_FIELDS.decode(trade_json)
    agg: dict[str, Any] = {
        "e": "aggTrade",
        "E": trade.get("E"),
        "s": trade.get("s"),
        "a": trade.get("t"),
        "p": trade.get("p"),
        "q": trade.get("q"),
        "f": trade.get("t"),
        "l": trade.get("t"),
        "T": trade.get("T"),
        "m": trade.get("m"),
    }
    if spot:
        agg["M"] = True
    return msgspec.json.encode(agg).decode()
