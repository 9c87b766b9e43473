"""Binance endpoints, stream names and REST weights, resolved from config.

Defaults are the real public endpoints (no API keys needed):

============  =========  ==============================================  ================================
venue         network    websocket                                       REST
============  =========  ==============================================  ================================
spot          mainnet    wss://stream.binance.com:9443                   https://api.binance.com
spot          testnet    wss://stream.testnet.binance.vision             https://testnet.binance.vision
USD-M         mainnet    public  wss://fstream.binance.com/public        https://fapi.binance.com
                         market  wss://fstream.binance.com/market
USD-M         testnet    wss://fstream.binancefuture.com (no split)      https://testnet.binancefuture.com
============  =========  ==============================================  ================================

Since the 2026 USD-M websocket split, high-frequency streams (diff depth,
bookTicker; and ``@trade``, which this project treats as public) live on the
``/public`` route and regular market data (``@aggTrade``, ``@markPrice``) on
``/market``; a stream requested on the wrong route gets no data. Spot has no routes.

Config overrides (``BinanceVenueSettings``): ``ws_url`` replaces the websocket base
(USD-M: the public route), ``ws_market_url`` the USD-M market route (when only
``ws_url`` is overridden, the market route defaults to that same base, i.e. an
unsplit server), ``rest_url`` the REST base. Combined-stream URLs are
``{base}/stream?streams=a/b/c``; messages come wrapped as ``{"stream":..,"data":..}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.venues.binance.weights import depth_weight
from bot.venues.settings import BinanceVenueSettings

__all__ = ["depth_weight"]  # re-exported: the weights live in bot.venues.binance.weights

Route = Literal["public", "market"]
StreamKind = Literal["depth", "trade", "aggTrade", "bookTicker", "markPrice"]

VENUES = ("binance_spot", "binance_usdm")

_DEFAULTS: dict[tuple[str, str], tuple[str, str, str]] = {
    # (venue, network): (ws public, ws market, rest)
    ("binance_spot", "mainnet"): (
        "wss://stream.binance.com:9443",
        "wss://stream.binance.com:9443",
        "https://api.binance.com",
    ),
    ("binance_spot", "testnet"): (
        "wss://stream.testnet.binance.vision",
        "wss://stream.testnet.binance.vision",
        "https://testnet.binance.vision",
    ),
    ("binance_usdm", "mainnet"): (
        "wss://fstream.binance.com/public",
        "wss://fstream.binance.com/market",
        "https://fapi.binance.com",
    ),
    ("binance_usdm", "testnet"): (
        "wss://fstream.binancefuture.com",
        "wss://fstream.binancefuture.com",
        "https://testnet.binancefuture.com",
    ),
}

STREAM_ROUTES: dict[str, Route] = {
    "depth": "public",
    "bookTicker": "public",
    "trade": "public",
    "aggTrade": "market",
    "markPrice": "market",
}
"""USD-M route of each stream kind (spot ignores routes)."""

MAX_STREAMS_PER_CONNECTION = {"binance_spot": 1024, "binance_usdm": 200}

DEPTH_PATH = {"binance_spot": "/api/v3/depth", "binance_usdm": "/fapi/v1/depth"}
EXCHANGE_INFO_PATH = {"binance_spot": "/api/v3/exchangeInfo", "binance_usdm": "/fapi/v1/exchangeInfo"}

USDM_SNAPSHOT_LIMITS = (5, 10, 20, 50, 100, 500, 1000)


@dataclass(frozen=True, slots=True)
class BinanceEndpoints:
    """Resolved base URLs of one Binance market."""

    venue: str
    ws_public: str
    ws_market: str
    rest: str

    def ws_base(self, route: Route) -> str:
        return self.ws_public if route == "public" else self.ws_market

    @property
    def split_routes(self) -> bool:
        return self.ws_public != self.ws_market

    def depth_url(self) -> str:
        return self.rest + DEPTH_PATH[self.venue]

    def exchange_info_url(self, symbol: str | None = None) -> str:
        """``exchangeInfo`` (spot: of one symbol, a small answer; USD-M has no such filter)."""
        url = self.rest + EXCHANGE_INFO_PATH[self.venue]
        return f"{url}?symbol={symbol}" if symbol and self.venue == "binance_spot" else url


def resolve_endpoints(venue: str, settings: BinanceVenueSettings) -> BinanceEndpoints:
    """The endpoints ``settings`` select for ``venue`` (defaults + overrides)."""
    try:
        ws_public, ws_market, rest = _DEFAULTS[(venue, settings.network)]
    except KeyError:
        raise ValueError(f"unknown Binance venue/network {venue!r}/{settings.network!r}") from None
    if settings.ws_url is not None:
        ws_public = settings.ws_url.rstrip("/")
        ws_market = ws_public
    if settings.ws_market_url is not None:
        ws_market = settings.ws_market_url.rstrip("/")
    if settings.rest_url is not None:
        rest = settings.rest_url.rstrip("/")
    if venue == "binance_spot":
        ws_market = ws_public
    return BinanceEndpoints(venue=venue, ws_public=ws_public, ws_market=ws_market, rest=rest)


def stream_route(venue: str, kind: str) -> Route:
    """Websocket route serving stream ``kind`` (always "public" on spot)."""
    if venue == "binance_spot":
        return "public"
    return STREAM_ROUTES[kind]


def depth_stream_suffix(venue: str, speed_ms: int) -> str:
    """Diff-depth stream suffix for a configured speed.

    Spot: 100 ms = ``@depth@100ms``, 1000 ms = ``@depth``. USD-M: 250 ms (the
    default speed) = ``@depth``, 0/100/500 ms = ``@depth@0ms`` (every update, real
    time) / ``@depth@100ms`` / ``@depth@500ms``.
    """
    default = 1000 if venue == "binance_spot" else 250
    if speed_ms == default:
        return "@depth"
    allowed = (100,) if venue == "binance_spot" else (0, 100, 500)
    if speed_ms not in allowed:
        raise ValueError(f"{venue}: unsupported diff-depth speed {speed_ms} ms")
    return f"@depth@{speed_ms}ms"


def stream_name(venue: str, symbol: str, kind: str, *, depth_speed_ms: int = 100) -> str:
    """Full stream name, e.g. ``btcusdt@depth@100ms`` or ``btcusdt@markPrice@1s``."""
    base = symbol.lower()
    if kind == "depth":
        return base + depth_stream_suffix(venue, depth_speed_ms)
    if kind == "markPrice":
        if venue != "binance_usdm":
            raise ValueError("markPrice streams exist on binance_usdm only")
        return base + "@markPrice@1s"
    if kind in ("trade", "aggTrade", "bookTicker"):
        return f"{base}@{kind}"
    raise ValueError(f"unknown stream kind {kind!r}")


def combined_stream_url(base: str, streams: list[str]) -> str:
    """``{base}/stream?streams=a/b/c``."""
    if not streams:
        raise ValueError("no streams")
    return f"{base.rstrip('/')}/stream?streams={'/'.join(streams)}"
