"""Bitget v2 market-data adapter (``bitget_spot``, ``bitget_usdtm``).

A copy of the venue template (:mod:`bot.venues`) plus Bitget's rules:

- one websocket per ``max_subscriptions_per_connection`` channel args on
  ``/v2/ws/public`` (Bitget recommends fewer than 50 channels per connection); per
  instrument the configured book channel (``books`` by default), ``trade``
  (``trades``) and, on USDT-M perpetuals, ``ticker`` (``ticker``: mark price and
  funding);
- subscribe requests (20 args each) after every handshake; the book's first message
  is its snapshot;
- keep-alive: the text ``ping`` every ``ping_interval_s`` *whatever the traffic*
  (Bitget closes a connection that has sent no ``ping`` for 2 minutes, even while it
  streams); no answer within ``ping_timeout_s`` closes the connection. Websocket
  protocol pings are off (the venue's heartbeat is the text one);
- resync (the engine's snapshot request after a ``seq`` / ``pseq`` break, a checksum
  mismatch, a crossed or stale book): unsubscribe + subscribe the book channel
  (:mod:`bot.venues.subscribing`). Each resubscription is two requests of the 240 per
  hour a connection may send; the engine asks once per break and the template
  de-duplicates requests while a snapshot is awaited.

Checksums are verified by the core's sync rule (:mod:`bot.market.sync.bitget`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from bot.core.instrument import InstrumentSpec
from bot.venues.base import Sink, check_ws_url
from bot.venues.bitget.endpoints import PING, VENUES, Arg, channel_arg, chunks, request, resolve_endpoints
from bot.venues.bitget.messages import BitgetDecoder
from bot.venues.subscribing import SubscribingAdapter

__all__ = ["BitgetMarketData"]


class BitgetMarketData(SubscribingAdapter):
    """Market data of one Bitget venue (``bitget_spot`` or ``bitget_usdtm``)."""

    decoder: BitgetDecoder

    app_ping = PING
    app_ping_when_idle = False

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
            raise ValueError(f"unknown Bitget venue {venue!r}; expected one of {VENUES}")
        super().__init__(venue, settings, specs, sink, rng=rng, clock=clock, logger_name="bot.venues.bitget")
        self.endpoints = resolve_endpoints(venue, settings)
        check_ws_url(venue, self.endpoints.ws)
        self.decoder = BitgetDecoder(venue, self.specs)
        self._install_connections(self._plan_connections())

    def _subscriptions(self, spec: InstrumentSpec) -> tuple[Arg, list[Arg]]:
        args = []
        if self.settings.trades:
            args.append(channel_arg(self.venue, "trade", spec.symbol))
        if self.venue == "bitget_usdtm" and self.settings.ticker:
            args.append(channel_arg(self.venue, "ticker", spec.symbol))
        return channel_arg(self.venue, self.settings.channel, spec.symbol), args

    def _subscribe_frames(self, subscriptions: list[Any]) -> list[str]:
        return [request("subscribe", chunk) for chunk in chunks(subscriptions)]

    def _unsubscribe_frames(self, subscriptions: list[Any]) -> list[str]:
        return [request("unsubscribe", chunk) for chunk in chunks(subscriptions)]
