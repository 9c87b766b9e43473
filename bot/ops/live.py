"""The live driver: async edges around the synchronous engines.

:class:`LiveRunner` routes every event an adapter decodes to the engines that trade
that instrument, carries out the engines' actions (snapshot requests go back to the
adapter of that venue), injects :class:`Timer` events so the core notices silence,
logs book state periodically, and supervises adapter tasks: a task that crashes is
logged and restarted with backoff, never left silently dead.

Wall-clock reads live here (and in the adapters), never in the core.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any, Protocol

import structlog

from bot.core.actions import RequestSnapshot
from bot.core.events import NS_PER_S, BookDelta, BookSnapshot, MarketEvent, Timer
from bot.engine.loop import Engine
from bot.ops.feeds import feed_fields, snapshot_wait

log = structlog.get_logger("bot.live")


class MarketDataAdapter(Protocol):
    """What the runner needs from a venue adapter (see ``bot/venues``)."""

    venue: str

    async def run(self) -> None: ...

    def request_snapshot(self, instrument: str, reason: str, attempt: int = 1) -> None: ...

    def snapshot_wait(self, instrument: str) -> str | None: ...

    async def close(self) -> None: ...


def supervisor_delays(initial_s: float = 1.0, cap_s: float = 60.0) -> Iterator[float]:
    """Restart delays for a crashed task: doubling from ``initial_s`` up to ``cap_s``."""
    delay = initial_s
    while True:
        yield delay
        delay = min(cap_s, delay * 2)


class LiveRunner:
    """Runs adapters and engines in one event loop until stopped."""

    def __init__(
        self,
        engines: Iterable[Engine],
        *,
        timer_interval_s: float = 0.1,
        status_interval_s: float = 10.0,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.engines = list(engines)
        self.routes: dict[str, list[Engine]] = {}
        for engine in self.engines:
            for key in engine.instruments:
                self.routes.setdefault(key, []).append(engine)
        self.adapters: dict[str, MarketDataAdapter] = {}
        self._venue_of: dict[str, str] = {}
        self.timer_interval_s = timer_interval_s
        self.status_interval_s = status_interval_s
        self.clock = clock
        self.task_restarts: dict[str, int] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self._closing = False
        self._running = False
        self._extra: list[tuple[str, Callable[[], Awaitable[None]]]] = []
        self.observe: Callable[[MarketEvent, str, int, int, bool], None] | None = None
        """Optional latency hook (metrics): (event, engine, queue lag ns, handling ns, book event)."""

    # ---- wiring ----------------------------------------------------------------------

    def add_adapter(self, adapter: MarketDataAdapter, instruments: Iterable[str]) -> None:
        self.adapters[adapter.venue] = adapter
        for key in instruments:
            self._venue_of[key] = adapter.venue

    def sink(self, event: MarketEvent) -> None:
        """Adapters call this for every decoded event (synchronously). The queue lag -- from the
        adapter's socket receipt stamp (``local_ts``) to now -- goes to the engines with it."""
        if self._closing:
            return  # our own shutdown (closing connections) is not market information
        lag = max(0, self.clock() - event.local_ts)
        observe = self.observe
        if observe is None:
            for engine in self.routes.get(event.instrument, ()):
                engine.on_event(event, lag)
                if engine.outbox:
                    self._dispatch(engine)
            return
        book_event = type(event) is BookDelta or type(event) is BookSnapshot
        for engine in self.routes.get(event.instrument, ()):
            start = time.perf_counter_ns()
            engine.on_event(event, lag)
            elapsed = time.perf_counter_ns() - start
            if engine.outbox:
                self._dispatch(engine)
            observe(event, engine.name, lag, elapsed, book_event)

    def adapter_of(self, instrument: str) -> MarketDataAdapter | None:
        venue = self._venue_of.get(instrument)
        return self.adapters.get(venue) if venue else None

    def _dispatch(self, engine: Engine) -> None:
        for action in engine.drain_actions():
            if isinstance(action, RequestSnapshot):
                venue = self._venue_of.get(action.instrument)
                adapter = self.adapters.get(venue) if venue else None
                if adapter is None:
                    log.error("no adapter for snapshot request", instrument=action.instrument)
                    continue
                adapter.request_snapshot(action.instrument, action.reason, action.attempt)

    # ---- lifecycle -------------------------------------------------------------------

    def stop(self) -> None:
        self._stopping.set()

    async def run(self, duration_s: float | None = None) -> None:
        """Run until :meth:`stop` is called or ``duration_s`` elapses."""
        self._running = True
        for venue, adapter in self.adapters.items():
            self._spawn(f"adapter:{venue}", adapter.run)
        for name, factory in self._extra:
            self._spawn(name, factory)
        self._spawn("timer", self._timer_loop)
        self._spawn("status", self._status_loop)
        try:
            if duration_s is None:
                await self._stopping.wait()
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=duration_s)
        finally:
            await self.shutdown()

    async def shutdown(self) -> None:
        self._closing = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        for adapter in self.adapters.values():
            with contextlib.suppress(Exception):
                await adapter.close()

    def spawn(self, name: str, factory: Callable[[], Awaitable[None]]) -> None:
        """Run ``factory()`` as a supervised task from :meth:`run` on (or now, if running)."""
        if self._running:
            self._spawn(name, factory)
        else:
            self._extra.append((name, factory))

    def _spawn(self, name: str, factory: Callable[[], Awaitable[None]]) -> None:
        self._tasks.append(asyncio.create_task(self._supervise(name, factory), name=name))

    async def _supervise(self, name: str, factory: Callable[[], Awaitable[None]]) -> None:
        delays = supervisor_delays()
        while not self._stopping.is_set():
            try:
                await factory()
                if self._stopping.is_set():
                    return
                log.warning("task returned unexpectedly; restarting", task=name)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("task crashed; restarting", task=name, error=repr(exc))
            self.task_restarts[name] = self.task_restarts.get(name, 0) + 1
            await asyncio.sleep(next(delays))

    async def _timer_loop(self) -> None:
        while True:
            await asyncio.sleep(self.timer_interval_s)
            tick = Timer(local_ts=self.clock())
            for engine in self.engines:
                engine.on_event(tick)
                if engine.outbox:
                    self._dispatch(engine)

    async def _status_loop(self) -> None:
        while True:
            await asyncio.sleep(self.status_interval_s)
            for line in self.status_lines():
                log.info("book status", **line)

    # ---- reporting -------------------------------------------------------------------

    def status_lines(self) -> list[dict[str, Any]]:
        """One dict per (engine, instrument): validity, tradeability and why not (with what a
        resync waits for), top of book, per-stream ages, lags, counters."""
        lines = []
        now = self.clock()
        for engine in self.engines:
            for key, state in engine.instruments.items():
                book, spec = state.book, state.spec
                bid, ask = book.best_bid, book.best_ask
                age = (now - state.last_event_ts) / NS_PER_S if state.last_event_ts else None
                lines.append(
                    {
                        "engine": engine.name,
                        "instrument": key,
                        "valid": state.sync.valid,
                        "state": state.sync.state.value,
                        "best_bid": str(spec.price(bid)) if bid is not None else None,
                        "bid_size": str(spec.size(book.best_bid_size)),
                        "best_ask": str(spec.price(ask)) if ask is not None else None,
                        "ask_size": str(spec.size(book.best_ask_size)),
                        "levels": len(book),
                        "update_id": state.sync.last_id,
                        "last_event_age_s": round(age, 3) if age is not None else None,
                        **feed_fields(state, now, snapshot_wait(self, key)),
                        **state.sync.counters.as_dict(),
                    }
                )
        return lines
