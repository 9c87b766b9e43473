"""Generic ccxt.pro market-data adapter: any exchange ccxt supports, as core events.

:class:`CcxtProMarketData` runs, per instrument, ``watch_order_book`` and (optionally)
``watch_trades`` and, for swaps, ``watch_funding_rate`` or ``watch_mark_price``, and
hands :mod:`bot.core.events` to a synchronous ``sink``. It satisfies the runner's
``MarketDataAdapter`` protocol (``venue``, ``run``, ``request_snapshot``, ``close``).

Books. ccxt keeps the book and does the venue's sync itself; it hands back the whole
book after each update, not the raw diffs. The adapter sends a :class:`BookSnapshot`
(the full image) after every (re)sync and whenever the engine asks
(:meth:`request_snapshot` -> the next image), otherwise a :class:`BookDelta` of the
levels changed since the previous image, with contiguous ids
(:mod:`bot.venues.ccxtpro.images`), checked by the engine's
:class:`~bot.market.sync.image.CcxtImageSync`. Costs, documented rather than hidden:
diffing is O(levels ccxt holds) per update (float images compared; only changed
levels converted to ticks/lots); updates arriving while we are busy are coalesced by
ccxt (one delta may cover several venue updates); ccxt caps depth (``book_depth``;
Binance default 1000 per side, deeper levels are dropped and can be missing after a
large move -- 5000 gives the native adapter's book).

Resync. A ccxt ``ChecksumError`` (Binance: update-id gap; others: checksum mismatch)
is counted, the book invalidated at once (``FeedStatus(DISCONNECTED)``) and
``watch_order_book`` called again, which makes ccxt resubscribe and resync (repeated
failures back off). Network errors back off with jitter (:mod:`bot.venues.backoff`),
restarting after a good image. A book with no image for ``stale_after_s`` is
invalidated and the ccxt connections carrying it are closed, so ccxt reconnects.

Bad data never kills the adapter: frames ccxt cannot decode or handle are counted
(``malformed``, ``message_errors``) and skipped (:mod:`bot.venues.ccxtpro.guard`);
values off the tick/lot grid or unusable (``off_tick``/``invalid``) skip that image,
trade or mark (the next image's diff covers a skipped one); sink exceptions are
logged and counted.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import ccxt  # type: ignore[import-untyped]
import structlog

from bot.core.events import (
    BookSnapshot,
    FeedState,
    FeedStatus,
    MarketEvent,
)
from bot.core.instrument import InstrumentSpec
from bot.errors import InputError
from bot.venues.backoff import backoff_delays
from bot.venues.ccxtpro.convert import BadValue, Converter
from bot.venues.ccxtpro.exchange import build_exchange, find_market
from bot.venues.ccxtpro.guard import guard_clients
from bot.venues.ccxtpro.images import BookImages
from bot.venues.ccxtpro.records import mark_event, trade_event
from bot.venues.ccxtpro.stats import CcxtStats
from bot.venues.settings import CcxtVenueSettings, is_ccxt_venue

log = structlog.get_logger("bot.venues.ccxtpro")

Sink = Callable[[MarketEvent], None]

_SEEN_TRADES = 5_000


def _should_log(count: int) -> bool:
    return count <= 5 or count % 1000 == 0


def _short(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    text = f"{type(exc).__name__}: {text}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(eq=False)
class _Instrument:
    """Per-instrument state: the image last handed to the core, feed status, trade ids."""

    spec: InstrumentSpec
    images: BookImages
    symbol: str = ""  # ccxt unified symbol, known after load_markets
    connected: bool = False  # FeedStatus(CONNECTED) sent and not withdrawn since
    book_obj: Any = None  # identity of ccxt's OrderBook: a new one means ccxt resynced
    last_rx: float = 0.0  # event-loop time of the last image (staleness)
    seen_trades: OrderedDict[str, None] = field(default_factory=OrderedDict)

    @property
    def key(self) -> str:
        return self.spec.key


class CcxtProMarketData:
    """Market data of one ccxt venue (``ccxt_<name>``) for ``specs``."""

    def __init__(
        self,
        venue: str,
        settings: CcxtVenueSettings,
        specs: Sequence[InstrumentSpec],
        sink: Sink,
        *,
        rng: random.Random | None = None,
        clock: Callable[[], int] = time.time_ns,
        exchange_factory: Callable[[CcxtVenueSettings], Any] | None = None,
    ) -> None:
        if not is_ccxt_venue(venue):
            raise ValueError(f"{venue!r} is not a ccxt venue (expected 'ccxt_<name>')")
        if not specs:
            raise ValueError(f"{venue}: no instruments to stream")
        for spec in specs:
            if spec.venue != venue:
                raise ValueError(f"{venue}: instrument {spec.key} belongs to another venue")
        self.venue = venue
        self.settings = settings
        self.sink = sink
        self.stats = CcxtStats()
        self._rng = rng or random.Random()
        self._clock = clock
        self._factory = exchange_factory or build_exchange
        try:
            self._factory(settings)  # validate URLs / sandbox now; nothing is opened
        except ValueError as exc:
            raise InputError(f"venues.ccxt.{venue.removeprefix('ccxt_')}: {exc}") from None
        self._instruments = {
            spec.key: _Instrument(spec, BookImages(spec.key, Converter(spec))) for spec in specs
        }
        self.exchange: Any = None
        self._main: asyncio.Task[None] | None = None
        self._running = False
        self._closing = False
        self._log = log.bind(venue=venue, exchange=settings.exchange)

    # ---- public ----------------------------------------------------------------------------

    @property
    def instruments(self) -> list[str]:
        return list(self._instruments)

    def is_connected(self, instrument: str) -> bool:
        inst = self._instruments.get(instrument)
        return bool(inst and inst.connected)

    def ccxt_symbol(self, instrument: str) -> str:
        """The ccxt unified symbol serving ``instrument`` ("" before markets are loaded)."""
        return self._instruments[instrument].symbol

    def snapshot_wait(self, instrument: str) -> str | None:
        """ccxt resyncs by itself; nothing is held back here."""
        return None

    def request_snapshot(self, instrument: str, reason: str = "", attempt: int = 1) -> None:
        """The engine wants a full book: the next ccxt image goes out as a BookSnapshot.

        Not answered from the image we already hold: only fresh data may make a stale
        or invalid book valid again.
        """
        self.stats.snapshot_requests += 1
        inst = self._instruments.get(instrument)
        if inst is None:
            self._log.warning("snapshot requested for an unknown instrument", instrument=instrument)
            return
        inst.images.need_snapshot = True

    async def run(self) -> None:
        """Stream until cancelled or :meth:`close`\\ d. Never raises on bad data."""
        if self._running:
            raise RuntimeError(f"{self.venue}: adapter is already running")
        self._running = True
        self._closing = False
        self._main = asyncio.create_task(self._main_loop(), name=f"{self.venue}-main")
        try:
            await self._main
        except asyncio.CancelledError:
            if not self._closing:
                raise
        finally:
            await self._stop_main()
            await self._close_exchange()
            self._running = False

    async def close(self) -> None:
        """Stop streaming and close ccxt (websockets and its HTTP session)."""
        self._closing = True
        await self._stop_main()
        await self._close_exchange()
        for inst in self._instruments.values():
            self._invalidate(inst, "closed by client")
            inst.book_obj = None  # a later run() starts from a new exchange: not a ccxt resync

    # ---- lifecycle internals ---------------------------------------------------------------

    async def _stop_main(self) -> None:
        main = self._main
        if main is not None and not main.done():
            main.cancel()
            await asyncio.wait([main])

    async def _close_exchange(self) -> None:
        exchange, self.exchange = self.exchange, None
        if exchange is not None:
            try:
                await exchange.close()
            except Exception as exc:  # closing must never raise out of shutdown
                self._log.warning("ccxt close failed", error=_short(exc))

    def _new_backoff(self) -> Iterator[float]:
        return backoff_delays(self.settings.reconnect_min_s, self.settings.reconnect_max_s, rng=self._rng)

    async def _main_loop(self) -> None:
        self.exchange = exchange = self._factory(self.settings)
        guard_clients(exchange, self._on_bad_frame)
        await self._load_markets(exchange)
        for inst in self._instruments.values():
            market = find_market(
                exchange.markets or {},
                inst.spec.symbol,
                market_type=self.settings.market_type,
                venue=self.venue,
                exchange_id=self.settings.exchange,
                overrides=self.settings.symbols,
            )
            inst.symbol = str(market["symbol"])
        self._log.info("streaming", instruments={k: i.symbol for k, i in self._instruments.items()})
        tasks: list[asyncio.Task[None]] = []
        for inst in self._instruments.values():
            tasks.append(asyncio.create_task(self._book_loop(exchange, inst), name=f"{inst.key}-book"))
            if self.settings.trades:
                tasks.append(asyncio.create_task(self._trade_loop(exchange, inst), name=f"{inst.key}-trades"))
            funding = self._funding_watcher(exchange)
            if funding is not None:
                tasks.append(asyncio.create_task(self._mark_loop(inst, funding), name=f"{inst.key}-funding"))
        tasks.append(asyncio.create_task(self._watchdog(exchange), name=f"{self.venue}-watchdog"))
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks)

    async def _load_markets(self, exchange: Any) -> None:
        delays = self._new_backoff()
        while True:
            try:
                await asyncio.wait_for(exchange.load_markets(), timeout=self.settings.timeout_s)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.stats.market_load_errors += 1
                delay = next(delays)
                self._log.warning("load_markets failed", error=_short(exc), retry_in_s=round(delay, 3))
                await asyncio.sleep(delay)

    def _on_bad_frame(self, url: str, message: Any, exc: Exception) -> None:
        stats = self.stats
        if isinstance(exc, json.JSONDecodeError):
            stats.malformed += 1
            count, kind = stats.malformed, "malformed frame skipped"
        else:
            stats.message_errors += 1
            count, kind = stats.message_errors, "ccxt handler raised on a frame; skipped"
        if _should_log(count):
            data = getattr(message, "data", message)
            self._log.warning(kind, url=url, error=_short(exc), frame=str(data)[:200], count=count)

    def _cancelled_by_ccxt(self) -> bool:
        """A ccxt future was cancelled (ccxt closed a client), not this task."""
        task = asyncio.current_task()
        return task is not None and task.cancelling() == 0

    # ---- books -----------------------------------------------------------------------------

    async def _book_loop(self, exchange: Any, inst: _Instrument) -> None:
        loop = asyncio.get_running_loop()
        delays = self._new_backoff()
        failures = 0
        limit = self.settings.book_depth
        inst.last_rx = loop.time()
        blog = self._log.bind(instrument=inst.key, symbol=inst.symbol)
        while True:
            try:
                book = await exchange.watch_order_book(inst.symbol, limit)
            except asyncio.CancelledError:
                if not self._cancelled_by_ccxt():
                    raise
                error: BaseException = ccxt.NetworkError("connection closed")
            except Exception as exc:
                error = exc
            else:
                inst.last_rx = loop.time()
                if failures:
                    failures = 0
                    delays = self._new_backoff()
                self._on_book(inst, book)
                continue
            failures += 1
            if isinstance(error, ccxt.ChecksumError):
                self.stats.checksum_errors += 1
                reason = f"resync: {_short(error, 200)}"
            elif isinstance(error, ccxt.NetworkError):
                self.stats.network_errors += 1
                reason = f"network: {_short(error, 200)}"
            else:
                self.stats.errors += 1
                reason = f"error: {_short(error, 200)}"
            self._invalidate(inst, reason)
            # a first checksum failure resyncs at once; anything else backs off
            delay = 0.0 if failures == 1 and isinstance(error, ccxt.ChecksumError) else next(delays)
            blog.warning(
                "book feed interrupted", reason=reason, retry_in_s=round(delay, 3), failures=failures
            )
            await asyncio.sleep(delay)

    def _on_book(self, inst: _Instrument, book: Mapping[str, Any]) -> None:
        stats = self.stats
        stats.book_updates += 1
        images = inst.images
        if book is not inst.book_obj:
            if inst.book_obj is not None:
                stats.ccxt_resyncs += 1
            inst.book_obj = book
            images.need_snapshot = True
        if not inst.connected:
            inst.connected = True
            self._deliver(FeedStatus(instrument=inst.key, local_ts=self._clock(), state=FeedState.CONNECTED))
        try:
            event = images.next_event(book, self._clock())
        except BadValue as exc:
            self._count_bad(exc, inst.key, "book image skipped")
            return
        if isinstance(event, BookSnapshot):
            stats.snapshots += 1
        else:
            stats.deltas += 1
        self._deliver(event)

    def _invalidate(self, inst: _Instrument, reason: str) -> None:
        inst.images.need_snapshot = True
        if inst.connected:
            inst.connected = False
            self._deliver(
                FeedStatus(
                    instrument=inst.key, local_ts=self._clock(), state=FeedState.DISCONNECTED, reason=reason
                )
            )

    async def _watchdog(self, exchange: Any) -> None:
        loop = asyncio.get_running_loop()
        stale_after = self.settings.stale_after_s
        while True:
            await asyncio.sleep(min(1.0, stale_after / 4))
            now = loop.time()
            for inst in self._instruments.values():
                silent = now - inst.last_rx
                if silent < stale_after:
                    continue
                self.stats.stale_reconnects += 1
                inst.last_rx = now
                reason = f"stale: no book update for {silent:.1f}s"
                self._log.warning(
                    "book feed stale; reconnecting", instrument=inst.key, silent_s=round(silent, 1)
                )
                self._invalidate(inst, reason)
                await self._drop_connections(exchange, inst)

    async def _drop_connections(self, exchange: Any, inst: _Instrument) -> None:
        clients = list((getattr(exchange, "clients", None) or {}).values())
        mine = [c for c in clients if any(inst.symbol in str(h) for h in getattr(c, "subscriptions", {}))]
        for client in mine or clients:
            try:
                await client.close()
            except Exception as exc:
                self._log.debug("closing a ccxt client failed", error=_short(exc))

    # ---- trades and funding -----------------------------------------------------------------

    async def _trade_loop(self, exchange: Any, inst: _Instrument) -> None:
        await self._watch_loop(inst, "trades", lambda: exchange.watch_trades(inst.symbol), self._on_trades)

    async def _mark_loop(self, inst: _Instrument, watch: Callable[[str], Awaitable[Any]]) -> None:
        await self._watch_loop(inst, "funding", lambda: watch(inst.symbol), self._on_mark)

    async def _watch_loop(
        self,
        inst: _Instrument,
        what: str,
        watch: Callable[[], Awaitable[Any]],
        handle: Callable[[_Instrument, Any], None],
    ) -> None:
        delays = self._new_backoff()
        failed = False
        while True:
            try:
                result = await watch()
            except asyncio.CancelledError:
                if not self._cancelled_by_ccxt():
                    raise
                error: BaseException = ccxt.NetworkError("connection closed")
            except Exception as exc:
                error = exc
            else:
                if failed:
                    failed = False
                    delays = self._new_backoff()
                handle(inst, result)
                continue
            failed = True
            if isinstance(error, ccxt.NetworkError):
                self.stats.network_errors += 1
            else:
                self.stats.errors += 1
            delay = next(delays)
            self._log.warning(
                f"{what} feed interrupted",
                instrument=inst.key,
                error=_short(error),
                retry_in_s=round(delay, 3),
            )
            await asyncio.sleep(delay)

    def _on_trades(self, inst: _Instrument, trades: Any) -> None:
        seen = inst.seen_trades
        for trade in trades or ():
            trade_id = trade.get("id") if isinstance(trade, Mapping) else None
            if trade_id is not None:
                trade_id = str(trade_id)
                if trade_id in seen:
                    self.stats.duplicate_trades += 1
                    continue
                seen[trade_id] = None
                if len(seen) > _SEEN_TRADES:
                    seen.popitem(last=False)
            try:
                event = trade_event(inst.key, inst.images.converter, trade, self._clock())
            except BadValue as exc:
                self._count_bad(exc, inst.key, "trade skipped")
                continue
            self.stats.trades += 1
            self._deliver(event)

    def _funding_watcher(self, exchange: Any) -> Callable[[str], Awaitable[Any]] | None:
        if self.settings.market_type != "swap" or not self.settings.funding:
            return None
        has = getattr(exchange, "has", {}) or {}
        if has.get("watchFundingRate"):
            return exchange.watch_funding_rate  # type: ignore[no-any-return]
        if has.get("watchMarkPrice"):
            return exchange.watch_mark_price  # type: ignore[no-any-return]
        self._log.info("no funding/mark price stream in ccxt for this exchange")
        return None

    def _on_mark(self, inst: _Instrument, data: Any) -> None:
        try:
            event = mark_event(inst.key, inst.images.converter, data, self._clock())
        except BadValue as exc:
            self._count_bad(exc, inst.key, "mark price skipped")
            return
        self.stats.marks += 1
        self._deliver(event)

    # ---- delivery ----------------------------------------------------------------------------

    def _count_bad(self, exc: BadValue, instrument: str, what: str) -> None:
        stats = self.stats
        if exc.kind == "off_tick":
            stats.off_tick += 1
            count = stats.off_tick
        else:
            stats.invalid += 1
            count = stats.invalid
        if _should_log(count):
            self._log.warning(what, instrument=instrument, kind=exc.kind, error=str(exc), count=count)

    def _deliver(self, event: MarketEvent) -> None:
        self.stats.events += 1
        try:
            self.sink(event)
        except Exception as exc:
            self.stats.sink_errors += 1
            if _should_log(self.stats.sink_errors):
                self._log.exception(
                    "sink raised",
                    event_type=type(event).__name__,
                    error=repr(exc),
                    count=self.stats.sink_errors,
                )
