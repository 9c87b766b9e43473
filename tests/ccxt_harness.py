"""Test glue for the ccxt.pro adapter: adapter -> engine (image sync rule) -> snapshot requests.

Wires exactly like the production runner (the engine's book sync asks, the adapter
answers) and records what the tests assert: validity transitions with their reasons,
the book's top levels at every update id it reaches, and the events by type. Also a
loop exception-handler probe: ccxt failures that never reach our code (a crashed
receive-loop callback, an unclosed aiohttp session, a destroyed pending task) are
reported through the event loop's exception handler, which the tests check is silent.
"""

from __future__ import annotations

import asyncio
import gc
import random
from typing import Any

import msgspec

from bot.config import CcxtVenueSettings
from bot.core.events import BookDelta, BookSnapshot, Event, FeedStatus, MarketEvent
from bot.core.instrument import InstrumentSpec
from bot.engine.loop import Engine
from bot.market.book import Level
from bot.venues.ccxtpro.adapter import CcxtProMarketData

TOP = 100
"""Levels per side compared at every sampled update id."""


def ccxt_spec(spec: InstrumentSpec, venue: str = "ccxt_binance") -> InstrumentSpec:
    """The same instrument rules under a ccxt venue name."""
    return msgspec.structs.replace(spec, venue=venue)


class CcxtHarness:
    """One ccxt.pro adapter feeding one engine, with recorders."""

    def __init__(
        self,
        settings: CcxtVenueSettings,
        spec: InstrumentSpec,
        *,
        record_top: int = 0,
    ) -> None:
        self.spec = spec
        self.key = spec.key
        self.engine = Engine("ccxt", [spec], stale_after_s=3600.0)
        self.adapter = CcxtProMarketData(spec.venue, settings, [spec], self.sink, rng=random.Random(11))
        self.sync = self.engine.instruments[self.key].sync
        self.book = self.engine.book(self.key)
        self.record_top = record_top
        self.images: dict[int, tuple[list[Level], list[Level]]] = {}
        self.transitions: list[tuple[bool, str]] = []
        self.events: list[MarketEvent] = []
        self._valid = False
        self._task: asyncio.Task[None] | None = None
        self.engine.add_handler(self._after_engine)

    def sink(self, event: MarketEvent) -> None:
        self.events.append(event)
        self.engine.on_event(event)
        for action in self.engine.drain_actions():
            self.adapter.request_snapshot(action.instrument, action.reason, action.attempt)

    def _after_engine(self, event: Event) -> None:
        valid = self.sync.valid
        if valid != self._valid:
            self._valid = valid
            self.transitions.append((valid, "" if valid else self.sync.invalid_reason))
        if self.record_top and valid and isinstance(event, BookDelta | BookSnapshot):
            self.images[self.book.update_id] = self.book.top(self.record_top)

    def of_type(self, cls: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, cls)]

    def feed_states(self) -> list[tuple[str, str]]:
        return [(e.state.value, e.reason) for e in self.events if isinstance(e, FeedStatus)]

    async def __aenter__(self) -> CcxtHarness:
        self._task = asyncio.create_task(self.adapter.run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.adapter.close()
        if self._task is not None:
            await self._task


class LoopProblems:
    """Collects what the event loop's exception handler receives while installed."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def install(self) -> LoopProblems:
        self._loop = asyncio.get_running_loop()
        self._loop.set_exception_handler(self._handler)
        return self

    def _handler(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        self.messages.append(f"{context.get('message')}: {exc!r}" if exc else str(context.get("message")))

    async def settle(self) -> list[str]:
        """Let pending callbacks run, collect garbage (unclosed sessions report on __del__)."""
        for _ in range(3):
            await asyncio.sleep(0.05)
            gc.collect()
        return self.messages
