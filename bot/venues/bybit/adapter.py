"""Bybit v5 market-data adapter (``bybit_spot``, ``bybit_linear``).

A copy of the venue template (:mod:`bot.venues`) plus Bybit's rules:

- one websocket per ``max_subscriptions_per_connection`` topics on
  ``/v5/public/spot`` or ``/v5/public/linear``; per instrument
  ``orderbook.{depth}.{SYMBOL}``, ``publicTrade.{SYMBOL}`` (``trades``) and, on
  linear, ``tickers.{SYMBOL}`` (``tickers``: mark price and funding);
- subscribe requests (10 topics each) after every handshake; the book's first
  message is its snapshot;
- keep-alive: ``{"op":"ping"}`` every ``ping_interval_s`` (Bybit recommends 20 s); a
  ping with no frame at all for ``ping_timeout_s`` closes the connection;
- resync (the engine's snapshot request after a ``u`` break, a crossed or stale
  book): unsubscribe + subscribe the book topic (:mod:`bot.venues.subscribing`).

Everything else -- reconnect with backoff and jitter, staleness, rollover, FeedStatus,
decode-error counting, sink isolation -- is :class:`~bot.venues.base.StreamingAdapter`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from bot.core.instrument import InstrumentSpec
from bot.venues.base import Sink, check_ws_url
from bot.venues.bybit.endpoints import (
    PING,
    VENUES,
    book_topic,
    chunks,
    resolve_endpoints,
    subscribe_request,
    ticker_topic,
    trade_topic,
)
from bot.venues.bybit.messages import BybitDecoder
from bot.venues.subscribing import SubscribingAdapter

__all__ = ["BybitMarketData"]


class BybitMarketData(SubscribingAdapter):
    """Market data of one Bybit venue (``bybit_spot`` or ``bybit_linear``)."""

    decoder: BybitDecoder

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
            raise ValueError(f"unknown Bybit venue {venue!r}; expected one of {VENUES}")
        super().__init__(venue, settings, specs, sink, rng=rng, clock=clock, logger_name="bot.venues.bybit")
        self.endpoints = resolve_endpoints(venue, settings)
        check_ws_url(venue, self.endpoints.ws)
        self.decoder = BybitDecoder(venue, self.specs)
        self._install_connections(self._plan_connections())

    def _subscriptions(self, spec: InstrumentSpec) -> tuple[str, list[str]]:
        topics = []
        if self.settings.trades:
            topics.append(trade_topic(spec.symbol))
        if self.venue == "bybit_linear" and self.settings.tickers:
            topics.append(ticker_topic(spec.symbol))
        return book_topic(self.settings.depth, spec.symbol), topics

    def _subscribe_frames(self, subscriptions: list[Any]) -> list[str]:
        return [
            subscribe_request("subscribe", chunk, self._next_request_id()) for chunk in chunks(subscriptions)
        ]

    def _unsubscribe_frames(self, subscriptions: list[Any]) -> list[str]:
        return [
            subscribe_request("unsubscribe", chunk, self._next_request_id())
            for chunk in chunks(subscriptions)
        ]
