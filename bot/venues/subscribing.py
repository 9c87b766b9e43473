"""Adapters of venues that subscribe by message and resync by resubscribing (Bybit, OKX).

:class:`SubscribingAdapter` extends :class:`~bot.venues.base.StreamingAdapter` with
what those venues share:

- after each handshake it sends the connection's subscribe requests (built by the
  venue: :meth:`SubscribingAdapter._subscribe_frames`) and marks every book on it as
  *awaiting a snapshot* -- the venue answers a book subscription with a snapshot in
  the stream;
- :meth:`request_snapshot` (the engine asks when its book sync is invalid) means
  "resubscribe that book": unsubscribe + subscribe on the same connection, so the
  venue sends a fresh snapshot. Requests are de-duplicated while a subscription is
  awaiting its snapshot (for ``snapshot_timeout_s``; after that a request retries),
  and skipped while the connection is down (the next ``FeedStatus(CONNECTED)`` makes
  the engine ask again, and the reconnect subscribes anyway);
- a book whose snapshot has not arrived ``snapshot_timeout_s`` after its (re)subscription
  is resubscribed by the adapter itself (``snapshot_timeouts``): the engine does not ask
  again for a book that is already waiting.

A venue supplies its frames (:meth:`_subscribe_frames`, :meth:`_unsubscribe_frames`),
the subscriptions of one instrument (:meth:`_subscriptions`: the one carrying its book
and the others), ``endpoints.ws`` and a ``decoder`` whose per-symbol state is reset on
each new connection.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from websockets.asyncio.client import ClientConnection

from bot.core.events import BookSnapshot, MarketEvent
from bot.core.instrument import InstrumentSpec
from bot.venues.base import Connection, FrameDecoder, Sink, StreamingAdapter


class _ResettableDecoder(FrameDecoder, Protocol):
    def reset(self, symbols: Iterable[str]) -> None: ...


class _WsEndpoints(Protocol):
    @property
    def ws(self) -> str: ...


class SubscribingAdapter(StreamingAdapter):
    """Subscribe-by-message venue adapter (see module doc)."""

    ws_pings = False
    decoder: _ResettableDecoder
    endpoints: _WsEndpoints

    def __init__(
        self,
        venue: str,
        settings: Any,
        specs: Sequence[InstrumentSpec],
        sink: Sink,
        *,
        rng: random.Random | None = None,
        clock: Callable[[], int] = time.time_ns,
        logger_name: str = "bot.venues",
    ) -> None:
        super().__init__(venue, settings, specs, sink, rng=rng, clock=clock, logger_name=logger_name)
        self._book_subscription: dict[str, Any] = {}
        """instrument key -> the subscription (topic / channel arg) carrying its book"""
        self._awaiting: dict[str, float] = {}
        """instrument key -> loop time its book (re)subscription was sent"""
        self._control_tasks: set[asyncio.Task[None]] = set()
        self._watches: dict[str, asyncio.Task[None]] = {}
        self._request_ids = 0

    # ---- venue hooks ---------------------------------------------------------------------

    def _subscribe_frames(self, subscriptions: list[Any]) -> list[str]:
        raise NotImplementedError

    def _unsubscribe_frames(self, subscriptions: list[Any]) -> list[str]:
        raise NotImplementedError

    def _subscriptions(self, spec: InstrumentSpec) -> tuple[Any, list[Any]]:
        """(the subscription carrying ``spec``'s book, the instrument's other subscriptions)."""
        raise NotImplementedError

    def _plan_connections(self) -> list[Connection]:
        per_instrument: list[tuple[str, list[Any]]] = []
        for spec in self.specs:
            book, others = self._subscriptions(spec)
            self._book_subscription[spec.key] = book
            per_instrument.append((spec.key, [book, *others]))
        return self._pack_connections(self.endpoints.ws, per_instrument)

    def _on_connected(self, conn: Connection) -> None:
        """After the handshake, before subscribing: a new connection starts every book afresh."""
        self.decoder.reset(key.partition(":")[2] for key in conn.book_instruments)

    def _pack_connections(self, url: str, per_instrument: list[tuple[str, list[Any]]]) -> list[Connection]:
        """Connections on ``url`` carrying ``(instrument key, subscriptions)`` entries, each
        holding at most ``max_subscriptions_per_connection`` (an instrument is never split)."""
        limit = self.settings.max_subscriptions_per_connection
        groups: list[list[tuple[str, list[Any]]]] = []
        for entry in per_instrument:
            if not groups or sum(len(subs) for _, subs in groups[-1]) + len(entry[1]) > limit:
                groups.append([])
            groups[-1].append(entry)
        return [
            Connection(
                name=f"public-{index}",
                url=url,
                subscriptions=[sub for _, subs in group for sub in subs],
                book_instruments=[key for key, _ in group],
            )
            for index, group in enumerate(groups)
        ]

    def _next_request_id(self) -> str:
        self._request_ids += 1
        return str(self._request_ids)

    # ---- StreamingAdapter hooks ------------------------------------------------------------

    async def _on_open(self, conn: Connection, ws: ClientConnection) -> None:
        self._on_connected(conn)
        loop = asyncio.get_running_loop()
        now = loop.time()
        for key in conn.book_instruments:
            self._awaiting[key] = now
        for frame in self._subscribe_frames(conn.subscriptions):
            await ws.send(frame)
        watch = loop.create_task(
            self._watch_snapshots(conn, conn.generation), name=f"{self.venue}-{conn.name}-snapshots"
        )
        self._watches[conn.name] = watch

    def _on_disconnect(self, conn: Connection) -> None:
        for key in conn.book_instruments:
            self._awaiting.pop(key, None)
        watch = self._watches.pop(conn.name, None)
        if watch is not None:
            watch.cancel()

    async def _watch_snapshots(self, conn: Connection, generation: int) -> None:
        """Resubscribe a book whose snapshot has not come within ``snapshot_timeout_s``
        (a lost request, a rejected subscription, a venue hiccup)."""
        timeout = self.settings.snapshot_timeout_s
        loop = asyncio.get_running_loop()
        while conn.connected and conn.generation == generation:
            await asyncio.sleep(timeout / 4)
            now = loop.time()
            for key in conn.book_instruments:
                sent = self._awaiting.get(key)
                if sent is not None and now - sent >= timeout:
                    self.stats.snapshot_timeouts += 1
                    self._resubscribe(conn, key, f"no snapshot within {timeout:g}s")

    def _on_event(self, conn: Connection, event: MarketEvent) -> None:
        if isinstance(event, BookSnapshot):
            self._awaiting.pop(event.instrument, None)

    async def _on_close(self) -> None:
        tasks = list(self._control_tasks) + list(self._watches.values())
        self._watches.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._control_tasks.clear()

    # ---- resync ----------------------------------------------------------------------------

    def request_snapshot(self, instrument: str, reason: str = "", attempt: int = 1) -> None:
        """Resubscribe ``instrument``'s book so the venue sends a fresh snapshot.
        Must be called on the event loop."""
        self.stats.snapshot_requests += 1
        conn = self._book_connection.get(instrument)
        if conn is None:
            self._log.warning("snapshot requested for an unknown instrument", instrument=instrument)
            return
        if not conn.connected:
            self.stats.snapshot_skipped += 1
            return
        now = asyncio.get_running_loop().time()
        sent = self._awaiting.get(instrument)
        if sent is not None and now - sent < self.settings.snapshot_timeout_s:
            self.stats.snapshot_deduped += 1
            return
        self._resubscribe(conn, instrument, reason)

    def snapshot_wait(self, instrument: str) -> str | None:
        """A book (re)subscribed and still waiting for the venue's snapshot, in words."""
        sent = self._awaiting.get(instrument)
        if sent is None:
            return None
        return f"waiting for the book snapshot after subscribing, {asyncio.get_running_loop().time() - sent:.1f} s"

    def _resubscribe(self, conn: Connection, instrument: str, reason: str) -> None:
        self._awaiting[instrument] = asyncio.get_running_loop().time()
        self.stats.resubscribes += 1
        subscription = self._book_subscription[instrument]
        frames = self._unsubscribe_frames([subscription]) + self._subscribe_frames([subscription])
        self._log.info("resubscribing book", instrument=instrument, reason=reason)
        task = asyncio.get_running_loop().create_task(
            self._send_all(conn, conn.generation, frames), name=f"{self.venue}-resubscribe-{instrument}"
        )
        self._control_tasks.add(task)
        task.add_done_callback(self._control_tasks.discard)

    async def _send_all(self, conn: Connection, generation: int, frames: list[str]) -> None:
        for frame in frames:
            if not conn.connected or conn.generation != generation:
                return  # the reconnect subscribes afresh
            await self._send(conn, frame)
