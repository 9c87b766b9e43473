"""Bitget v2 endpoints and channel names, resolved from config.

Defaults are Bitget's public endpoints (no API keys needed for public channels), per
Bitget's "Websocket API" page and ccxt 4.5.90 (``ccxt/pro/bitget.py`` ``urls``):

=========  ============================================  ========================
network    websocket (spot and futures)                  REST
=========  ============================================  ========================
mainnet    wss://ws.bitget.com/v2/ws/public              https://api.bitget.com
demo       wss://wspap.bitget.com/v2/ws/public           https://api.bitget.com
=========  ============================================  ========================

(Bitget demo trading uses the production REST host with a ``paptrading: 1`` header for
private calls; public metadata is the same.) One endpoint serves every product line:
each channel arg names it, ``{"instType": "SPOT" | "USDT-FUTURES", "channel": ..,
"instId": ..}`` -- the venue name selects the ``instType``.

Channels: the book channel from config (``books`` = every level, a snapshot then
updates with ``seq`` and a checksum; ``books1`` / ``books5`` / ``books15`` = the top
1 / 5 / 15 levels as a full book each push), ``trade``, and for USDT-M perpetuals
``ticker`` (mark price, index price, funding rate, next funding time).

Connection rules from the docs: the text ``ping`` every 30 s, answered ``pong`` (Bitget
closes a connection that has sent no ``ping`` for 2 minutes, whatever the traffic);
at most 10 messages per second per connection (pings and subscribe requests count);
240 subscribe requests per hour per connection; at most 1000 channels per connection,
fewer than 50 recommended; connections are closed every 24 hours.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

VENUES = ("bitget_spot", "bitget_usdtm")
INST_TYPE = {"bitget_spot": "SPOT", "bitget_usdtm": "USDT-FUTURES"}
VENUE_OF_INST_TYPE = {value: key for key, value in INST_TYPE.items()}

_WS = {
    "mainnet": "wss://ws.bitget.com/v2/ws/public",
    "demo": "wss://wspap.bitget.com/v2/ws/public",
}
_REST = {"mainnet": "https://api.bitget.com", "demo": "https://api.bitget.com"}

ARGS_PER_REQUEST = 20
"""Channel args per subscribe request (Bitget documents no limit; cryptofeed's 2022 Bitget
recording shows one request with 32 args accepted)."""
PING = "ping"
PONG = "pong"
BOOK_CHANNELS = ("books", "books1", "books5", "books15")
INCREMENTAL_BOOK = "books"
"""The only book channel with updates, ``seq`` and a meaningful checksum."""

Arg = dict[str, str]


@dataclass(frozen=True, slots=True)
class BitgetEndpoints:
    venue: str
    ws: str
    rest: str


def resolve_endpoints(venue: str, settings: Any) -> BitgetEndpoints:
    """The endpoints ``settings`` (a ``BitgetVenueSettings``) select for ``venue``."""
    if venue not in INST_TYPE:
        raise ValueError(f"unknown Bitget venue {venue!r}; expected one of {VENUES}")
    network = settings.network
    if network not in _WS:
        raise ValueError(f"unknown Bitget network {network!r}")
    ws = settings.ws_url.rstrip("/") if settings.ws_url else _WS[network]
    rest = settings.rest_url.rstrip("/") if settings.rest_url else _REST[network]
    return BitgetEndpoints(venue=venue, ws=ws, rest=rest)


def channel_arg(venue: str, channel: str, inst_id: str) -> Arg:
    return {"instType": INST_TYPE[venue], "channel": channel, "instId": inst_id}


def request(op: str, args: list[Arg]) -> str:
    """``{"op":"subscribe","args":[...]}`` (``op`` may be ``unsubscribe``)."""
    return json.dumps({"op": op, "args": args}, separators=(",", ":"))


def chunks(args: list[Arg], size: int = ARGS_PER_REQUEST) -> list[list[Arg]]:
    return [args[i : i + size] for i in range(0, len(args), size)]
