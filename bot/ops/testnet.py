"""The testnet executor: drains the order mirrors, sends to the testnet, reconciles (async edge).

One supervised task (``runner.spawn("testnet", executor.run)``) per process:

1. **Start** (before the first quote: each quoting pipeline holds -- HALTED -- until this
   is done): load each testnet's markets, then reconcile each instrument's open orders
   and balances with the journal (:mod:`bot.ops.testnet_startup`: adopt, cancel orphans,
   mark the rest; journaled as ``testnet_startup``); then the holds are released and
   quoting re-enters through CRISIS. A start that fails (testnet down) is retried by
   the supervisor; the engine stays HALTED meanwhile.
2. **Send**: commands from every :class:`~bot.engine.mirror.MirrorVenue` are queued in order
   and sent one at a time, throttled to ``testnet.orders_per_second`` per venue. A new
   order cancelled on paper before it was sent is never sent (both are dropped and the
   order counts as ``not_sent``). Client ids are mapped: paper ``btc-17`` becomes
   testnet ``mm<run tag>_btc-17`` (unique across runs, at most 36 characters).
3. **Reconcile** every ``testnet.reconcile_interval_s``: fetch open orders, look up the
   orders that left that list, cancel testnet orders that stay open longer than
   ``testnet.settle_grace_s`` after their paper order closed (the testnet follows the
   paper ledger), and compare closed orders (:class:`~bot.engine.reconcile.Reconciler`).
   Each pass that compared orders is journaled in the engine's journal as a typed
   ``reconciliation`` event (counts, totals, differences); differences are also logged.

The core never waits for any of this: the mirror's outbox is a plain deque. A testnet
failure never stops paper trading: errors are counted, logged and shown in ``/status``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import structlog
from asyncio_throttle import Throttler  # type: ignore[attr-defined]

from bot.core.instrument import InstrumentSpec
from bot.core.orders import CancelOrder, NewOrder
from bot.engine.loop import Engine
from bot.engine.mirror import MirrorVenue, PaperOrder
from bot.engine.reconcile import Difference, Reconciler, TestnetOrder, TestnetState
from bot.engine.trading import QuotingPipeline
from bot.ops.testnet_startup import paper_id_of, reconcile_at_start
from bot.risk.triggers import Trigger
from bot.venues.testnet import CLIENT_ID, Failure, RemoteOrder, TestnetClient
from bot.venues.testnet_settings import TestnetSettings

log = structlog.get_logger("bot.testnet")
T = TypeVar("T")

RecordSink = Callable[[str, dict[str, Any], int], None]
MAX_LOOKUPS_PER_PASS = 20
AUTH_RETRY_S = 60.0
RECENT_DIFFERENCES = 10


def run_tag(now_s: float) -> str:
    """4 base-36 characters from the start time: keeps testnet client ids unique across runs."""
    value = int(now_s) % 36**4
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    for _ in range(4):
        value, rest = divmod(value, 36)
        out = digits[rest] + out
    return out


def testnet_client_id(tag: str, paper_id: str) -> str:
    candidate = f"mm{tag}_{paper_id}"
    if CLIENT_ID.match(candidate):
        return candidate
    digest = hashlib.sha1(paper_id.encode()).hexdigest()[:24]
    return f"mm{tag}_{digest}"


@dataclass
class Binding:
    """One quoted instrument of one engine: its mirror, reconciler and journal."""

    engine: Engine
    instrument: str
    spec: InstrumentSpec
    mirror: MirrorVenue
    record: RecordSink | None
    reconciler: Reconciler = field(init=False)
    testnet: dict[str, TestnetOrder] = field(default_factory=dict)
    paper_closed_seen: dict[str, float] = field(default_factory=dict)
    recent: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=RECENT_DIFFERENCES))
    live_divergence: int = 0
    last_reconcile: float | None = None
    untracked_open: int = 0
    journaled_compared: int = -1
    pipeline: QuotingPipeline | None = None
    """The quoting pipeline held until the start-up reconciliation is done (None: none)."""
    paper_open: Callable[[], dict[str, PaperOrder]] | None = None
    """The paper exchange's open and in-flight orders of the instrument (from the journal)."""
    last_balances: dict[str, dict[str, str]] | None = None
    """Testnet balances journaled at the end of the previous run, if any."""
    startup: dict[str, Any] | None = None
    """The start-up reconciliation's result (journaled; /status)."""

    def __post_init__(self) -> None:
        self.reconciler = Reconciler(self.spec)

    @property
    def venue(self) -> str:
        return self.spec.venue


@dataclass
class Counters:
    orders_sent: int = 0
    cancels_sent: int = 0
    rejected: int = 0
    errors: int = 0
    not_sent: int = 0
    cleanup_cancels: int = 0
    orphans_cancelled: int = 0
    overflows: int = 0
    reconciliations: int = 0


class TestnetExecutor:
    """Sends mirrored commands to the testnets and reconciles them with the paper ledger."""

    __test__ = False

    def __init__(
        self,
        clients: dict[str, TestnetClient],
        bindings: list[Binding],
        settings: TestnetSettings,
        *,
        tag: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clients = clients
        self.bindings = bindings
        self.routes = {(id(b.mirror), b.instrument): b for b in bindings}
        self.settings = settings
        self.tag = tag or run_tag(time.time())
        self.clock = clock
        period = 1.0 / settings.orders_per_second
        self.throttlers = {venue: Throttler(rate_limit=1, period=period) for venue in clients}
        self.queue: deque[tuple[Binding, NewOrder | CancelOrder | None, TestnetOrder | None]] = deque()
        self.counters = Counters()
        self.started = False
        self.auth_failed: str | None = None
        self.auth_retry_at = 0.0
        """While authentication fails, new orders are not sent (rejected locally) until then."""
        self.last_error: str | None = None
        self.next_reconcile = 0.0
        self.poll_s = 0.05
        self._stopped = False

    # ---- the task --------------------------------------------------------------------

    async def run(self) -> None:
        """Supervised loop: start (once), then send and reconcile until cancelled."""
        if not self.started:
            await self._start()
        self.next_reconcile = self.clock() + self.settings.reconcile_interval_s
        while True:
            self.collect()
            if self.clock() >= self.next_reconcile:
                await self.reconcile()
                self.next_reconcile = self.clock() + self.settings.reconcile_interval_s
            elif self.queue:
                await self.send_next()
            else:
                await asyncio.sleep(self.poll_s)

    async def start(self, timeout_s: float) -> bool:
        """Try the start once, before market data flows (so restored paper orders are still
        open to be matched with the testnet's). On failure the supervised :meth:`run` retries
        it while quoting stays held; returns whether it succeeded."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._start()
        except (Failure, RuntimeError, TimeoutError) as exc:
            log.warning(
                "testnet start failed; retrying in the background, quoting stays held",
                error=str(exc) or type(exc).__name__,
            )
            return False
        return True

    async def _start(self) -> None:
        for venue, client in self.clients.items():
            try:
                await client.start()
            except Failure as exc:
                self._error(exc, venue=venue, during="start")
                raise RuntimeError(f"{venue} testnet start failed: {exc}") from None
            log.info("testnet connected", venue=venue, endpoint=client.endpoint, symbols=client.symbols)
        for binding in self.bindings:
            if binding.startup is None:
                await self._startup_reconcile(binding)  # a Failure: the supervisor retries the start
        self.started = True
        for pipeline in dict.fromkeys(b.pipeline for b in self.bindings if b.pipeline is not None):
            pipeline.release(Trigger.TESTNET_RECONCILE, "testnet reconciled", pipeline.engine.clock.now)

    async def _startup_reconcile(self, binding: Binding) -> None:
        payload = await reconcile_at_start(
            binding,
            self.clients[binding.venue],
            self._call,
            tag=self.tag,
            cancel_orphans=self.settings.cancel_on_start,
        )
        self.counters.orphans_cancelled += len(payload["cancelled"])
        binding.untracked_open = len(payload["foreign"]) + len(payload["left_open"])

    async def _balances(self, binding: Binding) -> dict[str, dict[str, str]]:
        """The testnet account's balances of the instrument's assets."""
        client = self.clients[binding.venue]
        assets = list(dict.fromkeys([binding.spec.base, binding.spec.quote]))
        return await self._call(binding.venue, partial(client.balances, assets))

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Cancel every mmbot order on the testnet (of any run; orders mmbot did not place are
        left alone), journal the totals and the balances, close the clients."""
        if self._stopped:
            return
        self._stopped = True
        try:
            async with asyncio.timeout(timeout_s):
                self.collect()
                if self.started:
                    for binding in self.bindings:
                        client = self.clients[binding.venue]
                        try:
                            await self._cancel_ours(binding, client)
                        except Failure as exc:
                            self._error(exc, venue=binding.venue, during="shutdown cancel")
                    for binding in self.bindings:
                        with contextlib.suppress(Failure):
                            binding.last_balances = await self._balances(binding)
                        self._journal(binding, [], final=True)
        except TimeoutError:
            log.warning("testnet shutdown timed out", timeout_s=timeout_s)
        finally:
            for client in self.clients.values():
                with contextlib.suppress(Exception):
                    await client.close()

    # ---- sending ---------------------------------------------------------------------

    def collect(self) -> None:
        """Move the mirrors' commands into the send queue (coalescing unsent new+cancel pairs)."""
        for binding in self.bindings:
            mirror = binding.mirror
            if mirror.overflowed:
                mirror.overflowed = False
                self._overflow(binding)
            for command in mirror.drain():
                target = self.routes.get((id(mirror), command.instrument))
                if target is None or target.venue not in self.clients:
                    continue  # no testnet for that instrument (not a quoted market)
                if type(command) is NewOrder:
                    order = TestnetOrder(
                        command.client_id,
                        testnet_client_id(self.tag, command.client_id),
                        command.instrument,
                        command.side,
                        command.size,
                    )
                    target.testnet[command.client_id] = order
                    self.queue.append((target, command, order))
                else:
                    known = target.testnet.get(command.client_id)
                    if known is not None and known.state == TestnetState.QUEUED:
                        known.state = TestnetState.NOT_SENT
                        known.reason = "cancelled on paper before it was sent"
                        self.counters.not_sent += 1
                        continue
                    if known is None or known.final:
                        continue  # not mirrored (adopted from an earlier run) or already closed
                    self.queue.append((target, command, known))

    def _overflow(self, binding: Binding) -> None:
        self.counters.overflows += 1
        log.error(
            "testnet mirror backlog overflowed: cancelling every testnet order of the instrument",
            engine=binding.engine.name,
            instrument=binding.instrument,
            dropped=binding.mirror.dropped,
        )
        for order in binding.testnet.values():
            if order.state == TestnetState.QUEUED:
                order.state = TestnetState.NOT_SENT
                order.reason = "dropped from the mirror backlog"
        self.queue.append((binding, None, None))

    async def send_next(self) -> None:
        binding, command, order = self.queue.popleft()
        client = self.clients[binding.venue]
        if command is None:  # cancel all of ours (after an overflow)
            with contextlib.suppress(Failure):
                await self._cancel_ours(binding, client, throttled=True)
            return
        assert order is not None
        if type(command) is NewOrder:
            if order.state != TestnetState.QUEUED:
                return
            if self.auth_failed is not None and self.clock() < self.auth_retry_at:
                order.state = TestnetState.REJECTED
                order.reason = f"not sent: testnet authentication failing ({self.auth_failed})"
                self.counters.rejected += 1
                return
            order.state = TestnetState.SENT
            self.counters.orders_sent += 1
            try:
                remote = await self._call(binding.venue, partial(client.place, command, order.testnet_id))
            except Failure as exc:
                if exc.final:
                    order.state = TestnetState.REJECTED
                    order.reason = str(exc)
                    self.counters.rejected += 1
                    log.info(
                        "testnet rejected an order",
                        engine=binding.engine.name,
                        client_id=order.client_id,
                        reason=str(exc),
                    )
                else:
                    order.reason = str(exc)  # unknown outcome: looked up when reconciling
                return
            self._update(order, remote)
            if order.state == TestnetState.REJECTED:
                self.counters.rejected += 1
        elif not order.final:
            self.counters.cancels_sent += 1
            try:
                remote = await self._call(
                    binding.venue, partial(client.cancel, binding.instrument, order.testnet_id)
                )
            except Failure as exc:
                order.reason = str(exc)  # e.g. already filled: the lookup tells
                return
            self._update(order, remote)

    async def _cancel_ours(self, binding: Binding, client: TestnetClient, *, throttled: bool = False) -> None:
        """Cancel every open testnet order of the instrument that mmbot placed (any run)."""
        venue, instrument = binding.venue, binding.instrument
        if throttled:
            open_orders = await self._call(venue, partial(client.open_orders, instrument))
        else:
            open_orders = await client.open_orders(instrument)
        for testnet_id in open_orders:
            if paper_id_of(testnet_id) is None:
                continue  # not ours
            call = partial(client.cancel, instrument, testnet_id)
            with contextlib.suppress(Failure):  # e.g. filled meanwhile
                await (self._call(venue, call) if throttled else call())

    async def _call(self, venue: str, call: Callable[[], Awaitable[T]]) -> T:
        """One throttled testnet call; failures other than plain rejections are counted and logged."""
        try:
            async with self.throttlers[venue]:
                return await call()
        except Failure as exc:
            if not exc.final or exc.auth:
                self._error(exc, venue=venue)
            raise

    def _error(self, exc: Failure, *, venue: str, during: str = "") -> None:
        self.counters.errors += 1
        self.last_error = str(exc)
        if exc.auth:
            if self.auth_failed is None or self.clock() >= self.auth_retry_at:
                log.error(
                    "testnet authentication failed: orders are not mirrored until it works again",
                    venue=venue,
                    error=str(exc),
                    during=during or None,
                    retry_in_s=AUTH_RETRY_S,
                )
            self.auth_failed = str(exc)
            self.auth_retry_at = self.clock() + AUTH_RETRY_S
        else:
            log.warning("testnet call failed", venue=venue, error=str(exc), during=during or None)

    @staticmethod
    def _update(order: TestnetOrder, remote: RemoteOrder) -> None:
        if remote.exchange_id:
            order.exchange_id = remote.exchange_id
        if remote.state != TestnetState.SENT:
            order.state = remote.state
        order.filled = max(order.filled, remote.filled)
        if remote.reason:
            order.reason = remote.reason

    # ---- reconciliation --------------------------------------------------------------

    async def reconcile(self) -> None:
        """One pass over every binding (see the module doc)."""
        self.counters.reconciliations += 1
        for binding in self.bindings:
            try:
                await self._reconcile(binding)
            except Failure:
                continue  # counted and logged by _call; try again next pass

    async def _reconcile(self, binding: Binding) -> None:
        client = self.clients[binding.venue]
        venue = binding.venue
        open_orders = await self._call(venue, partial(client.open_orders, binding.instrument))
        if self.auth_failed is not None:
            log.info("testnet authentication works again", venue=venue)
            self.auth_failed = None
        ours = {o.testnet_id: o for o in binding.testnet.values()}
        binding.untracked_open = sum(1 for cid in open_orders if cid.startswith("mm") and cid not in ours)
        lookups = 0
        for order in list(binding.testnet.values()):
            if order.final or order.state == TestnetState.QUEUED:
                continue
            remote = open_orders.get(order.testnet_id)
            if remote is None:
                if lookups >= MAX_LOOKUPS_PER_PASS:
                    continue
                lookups += 1
                remote = await self._call(venue, partial(client.fetch, binding.instrument, order.testnet_id))
                if remote is None:
                    if order.state == TestnetState.SENT:
                        order.state = TestnetState.REJECTED
                        order.reason = order.reason or "unknown to the testnet"
                    continue
            self._update(order, remote)
        self._follow_paper(binding)
        differences = binding.reconciler.settle(binding.mirror.orders, binding.testnet)
        for client_id in [c for c in binding.paper_closed_seen if c not in binding.testnet]:
            del binding.paper_closed_seen[client_id]
        binding.live_divergence = binding.reconciler.live_divergence(binding.mirror.orders, binding.testnet)
        binding.last_reconcile = self.clock()
        if differences:
            log.warning(
                "testnet reconciliation differences",
                engine=binding.engine.name,
                instrument=binding.instrument,
                count=len(differences),
                kinds=sorted({d.kind for d in differences}),
            )
        self._journal(binding, differences)

    def _follow_paper(self, binding: Binding) -> None:
        """Cancel testnet orders that stay open well after their paper order closed."""
        now = self.clock()
        for client_id, paper in binding.mirror.orders.items():
            order = binding.testnet.get(client_id)
            if order is None or not paper.final or order.final:
                continue
            seen = binding.paper_closed_seen.setdefault(client_id, now)
            if now - seen >= self.settings.settle_grace_s and order.state == TestnetState.OPEN:
                binding.paper_closed_seen[client_id] = float("inf")  # once
                self.counters.cleanup_cancels += 1
                self.queue.append(
                    (
                        binding,
                        CancelOrder(
                            client_id=client_id, instrument=binding.instrument, ts=paper.closed_ts or 0
                        ),
                        order,
                    )
                )

    def _journal(self, binding: Binding, differences: list[Difference], *, final: bool = False) -> None:
        spec = binding.spec
        listed = [d.as_dict(spec) for d in differences[: self.settings.max_reported_differences]]
        binding.recent.extend(listed)
        totals = binding.reconciler.totals
        if binding.record is None or (not final and totals.compared == binding.journaled_compared):
            return
        binding.journaled_compared = totals.compared
        payload = {
            "venue": binding.venue,
            "instrument": binding.instrument,
            "endpoint": self.clients[binding.venue].endpoint,
            "differences": listed,
            "differences_omitted": max(0, len(differences) - len(listed)),
            "totals": totals.as_dict(spec),
            "tracked": len(binding.testnet),
            "live_divergence": binding.live_divergence,
            "final": final,
        }
        if final and binding.last_balances is not None:
            payload["balances"] = binding.last_balances
        try:
            binding.record("reconciliation", payload, binding.engine.clock.now)
        except Exception as exc:  # a closed or failed journal must not kill the executor
            log.warning("reconciliation not journaled", engine=binding.engine.name, error=str(exc))

    # ---- reporting -------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        now = self.clock()
        return {
            "mode": "testnet",
            "started": self.started,
            "endpoints": {venue: client.endpoint for venue, client in self.clients.items()},
            "queued": len(self.queue) + sum(len(b.mirror.outbox) for b in self.bindings),
            **vars(self.counters),
            "auth_failed": self.auth_failed,
            "last_error": self.last_error,
            "instruments": {
                binding.instrument: {
                    "engine": binding.engine.name,
                    "tracked": len(binding.testnet),
                    "live_divergence": binding.live_divergence,
                    "untracked_open": binding.untracked_open,
                    "last_reconcile_age_s": (
                        round(now - binding.last_reconcile, 3) if binding.last_reconcile is not None else None
                    ),
                    "totals": binding.reconciler.totals.as_dict(binding.spec),
                    "recent_differences": list(binding.recent),
                    "startup": binding.startup,
                }
                for binding in self.bindings
            },
        }
