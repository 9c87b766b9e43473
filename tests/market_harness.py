"""Test glue for the Binance adapter: adapter -> engine -> snapshot requests, plus probes.

The production driver wires the same way (DESIGN: the engine's book sync asks for
snapshots, the adapter fetches them). The harness also records what the tests assert:
book validity transitions, bookTicker checkpoints (the venue's own best bid/ask at a
given update id compared with our book at that id), and the events by type.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import json
import random
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.config import BinanceSpotSettings, BinanceUsdmSettings, BinanceVenueSettings
from bot.core.events import BookDelta, BookSnapshot, Event, FeedStatus, MarketEvent, Timer, TopOfBook
from bot.core.instrument import InstrumentKind, InstrumentSpec
from bot.emulator.replay import ReplaySource
from bot.engine.loop import Engine
from bot.venues.binance.adapter import BinanceMarketData

SPOT_BTC = InstrumentSpec(
    venue="binance_spot",
    symbol="BTCUSDT",
    kind=InstrumentKind.SPOT,
    base="BTC",
    quote="USDT",
    tick_size=Decimal("0.01"),
    lot_size=Decimal("0.00000001"),
    qty_step=Decimal("0.00001"),
    min_notional=Decimal("5"),
)
USDM_BTC = InstrumentSpec(
    venue="binance_usdm",
    symbol="BTCUSDT",
    kind=InstrumentKind.PERP,
    base="BTC",
    quote="USDT",
    tick_size=Decimal("0.1"),
    lot_size=Decimal("0.001"),
    qty_step=Decimal("0.001"),
    min_notional=Decimal("100"),
)

SPEC = {"binance_spot": SPOT_BTC, "binance_usdm": USDM_BTC}
REPO = Path(__file__).resolve().parent.parent
BUNDLED = REPO / "bot" / "emulator" / "data"
TEST_DATA = Path(__file__).resolve().parent / "data"


@functools.cache
def spot_source_30s() -> ReplaySource:
    """The first 30 s of the bundled spot BTCUSDT recording (loaded once per session)."""
    files = [BUNDLED / "binance_spot_btcusdt_20240808.gz", BUNDLED / "binance_spot_btcusdt_20240809.gz"]
    return ReplaySource.from_files(files).truncated(30.0)


def settings_for(venue: str, overrides: dict[str, str], **fields: Any) -> BinanceVenueSettings:
    cls = BinanceSpotSettings if venue == "binance_spot" else BinanceUsdmSettings
    values: dict[str, Any] = {"depth_speed_ms": 100, "reconnect_min_s": 0.02, "reconnect_max_s": 0.2}
    values.update(overrides)
    values.update(fields)
    return cls(**values)


class Harness:
    """One adapter feeding one engine, with recorders for the tests."""

    def __init__(
        self,
        venue: str,
        settings: BinanceVenueSettings,
        *,
        spec: InstrumentSpec | None = None,
        engine_stale_s: float = 3600.0,
        timer_interval_s: float | None = None,
        probes: dict[int, tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]] | None = None,
        sink_hook: Callable[[MarketEvent], None] | None = None,
    ) -> None:
        self.spec = spec or SPEC[venue]
        self.key = self.spec.key
        self.engine = Engine("test", [self.spec], stale_after_s=engine_stale_s)
        self.adapter = BinanceMarketData(venue, settings, [self.spec], self.sink, rng=random.Random(7))
        self.sync = self.engine.instruments[self.key].sync
        self.book = self.engine.book(self.key)
        self.timer_interval_s = timer_interval_s
        self.transitions: list[tuple[bool, str]] = []
        self.transition_times: list[float] = []
        """Monotonic (event-loop) time of each transition."""
        self.events: list[MarketEvent] = []
        self.event_times: list[float] = []
        """Monotonic (event-loop) time at which each event reached the sink."""
        self.tickers: dict[int, TopOfBook] = {}
        self.checks = 0
        self.mismatches: list[str] = []
        self.probes = probes or {}
        self.probe_hits = 0
        self.probe_mismatches: list[int] = []
        self.sink_hook = sink_hook
        self._valid = False
        self._tasks: list[asyncio.Task[None]] = []
        self.engine.add_handler(self._after_engine)

    # ---- glue -------------------------------------------------------------------------

    def sink(self, event: MarketEvent) -> None:
        if self.sink_hook is not None:
            self.sink_hook(event)
        self.events.append(event)
        self.event_times.append(asyncio.get_running_loop().time())
        self.engine.on_event(event)
        for action in self.engine.drain_actions():
            self.adapter.request_snapshot(action.instrument, action.reason, action.attempt)

    def _after_engine(self, event: Event) -> None:
        valid = self.sync.valid
        if valid != self._valid:
            self._valid = valid
            self.transitions.append((valid, "" if valid else self.sync.invalid_reason))
            self.transition_times.append(asyncio.get_running_loop().time())
        if isinstance(event, TopOfBook):
            if valid and self.book.update_id == event.update_id:
                self._check(event)
            elif event.update_id > self.book.update_id:
                self.tickers[event.update_id] = event
        elif isinstance(event, BookDelta | BookSnapshot) and valid:
            uid = self.book.update_id
            ticker = self.tickers.pop(uid, None)
            if ticker is not None:
                self._check(ticker)
            if len(self.tickers) > 5000:
                self.tickers = {u: t for u, t in self.tickers.items() if u > uid}
            probe = self.probes.get(uid)
            if probe is not None:
                self.probe_hits += 1
                if self.decimal_book() != probe:
                    self.probe_mismatches.append(uid)

    def _check(self, ticker: TopOfBook) -> None:
        book = self.book
        self.checks += 1
        ours = (book.best_bid, book.best_bid_size, book.best_ask, book.best_ask_size)
        theirs = (ticker.bid_price, ticker.bid_size, ticker.ask_price, ticker.ask_size)
        if ours != theirs:
            self.mismatches.append(f"u={ticker.update_id}: book {ours} != bookTicker {theirs}")

    def decimal_book(self) -> tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]:
        tick, lot = self.spec.tick_size, self.spec.lot_size
        bids = {tick * p: lot * q for p, q in self.book.bids.items()}
        asks = {tick * p: lot * q for p, q in self.book.asks.items()}
        return bids, asks

    def of_type(self, cls: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, cls)]

    def counters(self) -> dict[str, int]:
        """Engine sync counters and adapter stats in one dict (adapter keys prefixed)."""
        values = self.sync.counters.as_dict()
        values.update({f"adapter.{k}": v for k, v in self.adapter.stats.as_dict().items()})
        return values

    def feed_states(self) -> list[tuple[str, str]]:
        return [(e.state.value, e.reason) for e in self.events if isinstance(e, FeedStatus)]

    # ---- lifecycle --------------------------------------------------------------------

    async def __aenter__(self) -> Harness:
        self._tasks.append(asyncio.create_task(self.adapter.run()))
        if self.timer_interval_s:
            self._tasks.append(asyncio.create_task(self._timers()))
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks[1:]:
            task.cancel()
        await self.adapter.close()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _timers(self) -> None:
        assert self.timer_interval_s
        while True:
            await asyncio.sleep(self.timer_interval_s)
            self.engine.on_event(Timer(local_ts=time.time_ns()))
            for action in self.engine.drain_actions():
                self.adapter.request_snapshot(action.instrument, action.reason, action.attempt)


async def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.005)


# ---- the independent reconstruction ------------------------------------------------------


class NaiveReplay:
    """The documented Binance procedure on the raw recording, with json + Decimal only.

    Snapshot, then drop diffs the snapshot covers, check the first kept diff straddles
    it, chain (spot ``U == prev u + 1``, USD-M ``pu == prev u``), apply absolute sizes.
    Records the checkpoints: every bookTicker whose ``u`` equals a diff's ``u``.
    """

    def __init__(self, files: list[Path], *, probe_every: int = 0) -> None:
        lines: list[tuple[int, dict[str, Any]]] = []
        for path in files:
            with gzip.open(path, "rt") as handle:
                for line in handle:
                    stamp, _, payload = line.partition(" ")
                    lines.append((int(stamp), json.loads(payload)))
        snapshot_index = next(i for i, (_, msg) in enumerate(lines) if "lastUpdateId" in msg)
        snapshot = lines[snapshot_index][1]
        self.usdm = "E" in snapshot
        self.bids = {Decimal(p): Decimal(q) for p, q in snapshot["bids"] if Decimal(q)}
        self.asks = {Decimal(p): Decimal(q) for p, q in snapshot["asks"] if Decimal(q)}
        last = snapshot["lastUpdateId"]
        started = False
        self.diffs = 0
        self.probes: dict[int, tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]] = {}
        diff_ids: set[int] = set()
        tickers: list[dict[str, Any]] = []
        self.marks: list[dict[str, Any]] = []
        self.trades: list[dict[str, Any]] = []
        for _, msg in lines:
            stream = msg.get("stream", "")
            data = msg.get("data", {})
            if "@bookTicker" in stream:
                tickers.append(data)
            elif "@markPrice" in stream:
                self.marks.append(data)
            elif stream.endswith("@trade"):
                self.trades.append(data)
            if "@depth" not in stream:
                continue
            first, final = data["U"], data["u"]
            if not started:
                if (final < last) if self.usdm else (final <= last):
                    continue
                ok = first <= last <= final if self.usdm else first <= last + 1 <= final
                assert ok, "recording does not straddle its snapshot"
                started = True
            else:
                chained = data["pu"] == last if self.usdm else first == last + 1
                assert chained, f"recording has a gap after {last}"
            for side, levels in ((self.bids, data["b"]), (self.asks, data["a"])):
                for price, qty in levels:
                    size = Decimal(qty)
                    if size:
                        side[Decimal(price)] = size
                    else:
                        side.pop(Decimal(price), None)
            last = final
            diff_ids.add(final)
            self.diffs += 1
            if probe_every and self.diffs % probe_every == 0:
                assert max(self.bids) < min(self.asks), "naive book crossed"
                self.probes[final] = (dict(self.bids), dict(self.asks))
        self.last_id = last
        self.checkpoints = sum(1 for t in tickers if t["u"] in diff_ids)
