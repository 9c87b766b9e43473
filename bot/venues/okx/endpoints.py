"""OKX v5 endpoints and channel names, resolved from config.

Defaults are OKX's public endpoints (no API keys needed for public channels):

=========  ===========================================  ======================
network    websocket (all instrument types)             REST
=========  ===========================================  ======================
mainnet    wss://ws.okx.com:8443/ws/v5/public           https://www.okx.com
demo       wss://wspap.okx.com:8443/ws/v5/public        https://www.okx.com
=========  ===========================================  ======================

(OKX demo trading uses the production REST host with an ``x-simulated-trading: 1``
header for private calls; public metadata is the same.) One endpoint serves spot,
swaps and futures: the venue name only selects the instrument type (``SPOT``,
``SWAP``, ``FUTURES``) for metadata and config validation.

Channels (``{"channel": .., "instId": ..}`` args): the book channel from config
(``books`` = 400 levels with snapshot + updates, ``seqId``/``prevSeqId`` and
checksum; ``books5`` = top 5 as a full book each push; ``bbo-tbt`` = top of book
tick by tick), ``trades``, and for swaps ``funding-rate`` + ``mark-price``.
Keep-alive: the text frame ``ping`` (answered ``pong``) when nothing arrived for
``ping_interval_s`` (< 30 s: OKX closes connections silent for 30 s).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

VENUES = ("okx_spot", "okx_swap", "okx_futures")
INST_TYPE = {"okx_spot": "SPOT", "okx_swap": "SWAP", "okx_futures": "FUTURES"}

_WS = {
    "mainnet": "wss://ws.okx.com:8443/ws/v5/public",
    "demo": "wss://wspap.okx.com:8443/ws/v5/public",
}
_REST = {"mainnet": "https://www.okx.com", "demo": "https://www.okx.com"}

ARGS_PER_REQUEST = 20
PING = "ping"
PONG = "pong"
BOOK_CHANNELS = ("books", "books5", "bbo-tbt", "books50-l2-tbt", "books-l2-tbt")
"""Book channels the decoder understands (the ``-l2-tbt`` ones need a login)."""

Arg = dict[str, str]


@dataclass(frozen=True, slots=True)
class OkxEndpoints:
    venue: str
    ws: str
    rest: str


def resolve_endpoints(venue: str, settings: Any) -> OkxEndpoints:
    """The endpoints ``settings`` (an ``OkxVenueSettings``) select for ``venue``."""
    if venue not in INST_TYPE:
        raise ValueError(f"unknown OKX venue {venue!r}; expected one of {VENUES}")
    network = settings.network
    if network not in _WS:
        raise ValueError(f"unknown OKX network {network!r}")
    ws = settings.ws_url.rstrip("/") if settings.ws_url else _WS[network]
    rest = settings.rest_url.rstrip("/") if settings.rest_url else _REST[network]
    return OkxEndpoints(venue=venue, ws=ws, rest=rest)


def channel_arg(channel: str, inst_id: str) -> Arg:
    return {"channel": channel, "instId": inst_id}


def request(op: str, args: list[Arg]) -> str:
    """``{"op":"subscribe","args":[...]}`` (``op`` may be ``unsubscribe``)."""
    return json.dumps({"op": op, "args": args}, separators=(",", ":"))


def chunks(args: list[Arg], size: int = ARGS_PER_REQUEST) -> list[list[Arg]]:
    return [args[i : i + size] for i in range(0, len(args), size)]
