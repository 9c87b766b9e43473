"""OKX v5 market-data adapter (``okx_spot``, ``okx_swap``, ``okx_futures``).

A copy of the venue template (:mod:`bot.venues`) plus OKX's rules:

- one websocket per ``max_subscriptions_per_connection`` channel args on
  ``/ws/v5/public``; per instrument the configured book channel (``books`` by
  default), ``trades`` (``trades``) and, on swaps, ``funding-rate`` and
  ``mark-price`` (``funding``);
- subscribe requests (20 args each) after every handshake; the book's first message
  is its snapshot;
- keep-alive: the text ``ping`` after ``ping_interval_s`` without any frame (OKX
  closes connections silent for 30 s); no answer within ``ping_timeout_s`` closes
  the connection. OKX does not answer websocket protocol pings, so those are off;
- resync (the engine's snapshot request after a ``seqId`` break, a checksum mismatch,
  a crossed or stale book): unsubscribe + subscribe the book channel
  (:mod:`bot.venues.subscribing`).

Checksums are verified by the core's sync rule (:mod:`bot.market.sync.okx`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from bot.core.instrument import InstrumentSpec
from bot.venues.base import Sink, check_ws_url
from bot.venues.okx.endpoints import PING, VENUES, Arg, channel_arg, chunks, request, resolve_endpoints
from bot.venues.okx.messages import OkxDecoder
from bot.venues.subscribing import SubscribingAdapter

__all__ = ["OkxMarketData"]


class OkxMarketData(SubscribingAdapter):
    """Market data of one OKX venue (``okx_spot``, ``okx_swap`` or ``okx_futures``)."""

    decoder: OkxDecoder

    app_ping = PING
    app_ping_when_idle = True

    def __init__(
        self,
        venue: str,
        settings: Any,
        specs: Sequence[InstrumentSpec],
        sink: Sink,
        *,
        rng: random.Random | None = None,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        if venue not in VENUES:
            raise ValueError(f"unknown OKX venue {venue!r}; expected one of {VENUES}")
        super().__init__(venue, settings, specs, sink, rng=rng, clock=clock, logger_name="bot.venues.okx")
        self.endpoints = resolve_endpoints(venue, settings)
        check_ws_url(venue, self.endpoints.ws)
        self.decoder = OkxDecoder(venue, self.specs)
        self._install_connections(self._plan_connections())

    def _subscriptions(self, spec: InstrumentSpec) -> tuple[Arg, list[Arg]]:
        args = []
        if self.settings.trades:
            args.append(channel_arg("trades", spec.symbol))
        if self.venue == "okx_swap" and self.settings.funding:
            args.append(channel_arg("funding-rate", spec.symbol))
            args.append(channel_arg("mark-price", spec.symbol))
        return channel_arg(self.settings.channel, spec.symbol), args

    def _subscribe_frames(self, subscriptions: list[Any]) -> list[str]:
        return [request("subscribe", chunk) for chunk in chunks(subscriptions)]

    def _unsubscribe_frames(self, subscriptions: list[Any]) -> list[str]:
        return [request("unsubscribe", chunk) for chunk in chunks(subscriptions)]
