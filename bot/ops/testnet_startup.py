"""Start-up reconciliation with a testnet, before the first quote of a run.

For each quoted instrument, against what the journal says (the paper exchange restored
from it) and what the testnet says (through ccxt):

- **adopt** an open testnet order of an earlier run (client id ``mm<tag>_<paper id>``,
  any run's tag) whose paper order is still open with the same side, size and price:
  from then on it is this run's mirror of that paper order (cancelled, followed and
  compared like any other);
- **cancel** the other open orders of earlier runs (orphans: their paper order is
  closed or differs) -- or, with ``testnet.cancel_on_start = false``, leave them open and
  report them;
- **mark** the rest: orders mmbot did not place (never touched, reported as foreign)
  and paper orders open in the journal that the testnet does not have (tracked as not
  sent: compared, and reported as a difference, when they close);
- **balances**: the account's balances of the instrument's assets, compared with the
  ones journaled at the end of the previous run (a change means the account moved while
  the bot was down).

The result is one ``testnet_startup`` journal event (and a log line, and ``/status``).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from decimal import Decimal
from functools import partial
from typing import Any, Protocol

import structlog

from bot.core.instrument import InstrumentSpec
from bot.engine.loop import Engine
from bot.engine.mirror import MirrorVenue, PaperOrder
from bot.engine.reconcile import TestnetOrder, TestnetState
from bot.venues.testnet import Failure, RemoteOrder, TestnetClient

log = structlog.get_logger("bot.testnet")


class Binding(Protocol):
    """What this needs of a :class:`bot.ops.testnet.Binding` (one instrument of one engine)."""

    engine: Engine
    instrument: str
    spec: InstrumentSpec
    mirror: MirrorVenue
    record: Callable[[str, dict[str, Any], int], None] | None
    testnet: dict[str, TestnetOrder]
    paper_open: Callable[[], dict[str, PaperOrder]] | None
    last_balances: dict[str, dict[str, str]] | None
    startup: dict[str, Any] | None

    @property
    def venue(self) -> str: ...


Call = Callable[[str, Callable[[], Awaitable[Any]]], Awaitable[Any]]
"""The executor's throttled, error-counting call: ``call(venue, partial(client.x, ...))``."""

_OURS = re.compile(r"^mm[0-9a-z]{4}_(.+)$")


def paper_id_of(testnet_id: str) -> str | None:
    """The paper client id inside a testnet id mmbot made (any run's tag); None if not ours."""
    match = _OURS.match(testnet_id)
    return match.group(1) if match else None


async def reconcile_at_start(
    binding: Binding, client: TestnetClient, call: Call, *, tag: str, cancel_orphans: bool
) -> dict[str, Any]:
    """Reconcile one instrument (see the module doc); returns the journaled payload."""
    venue, instrument = binding.venue, binding.instrument
    remote = await call(venue, partial(client.open_orders, instrument))
    paper = binding.paper_open() if binding.paper_open is not None else {}
    adopted, cancelled, left_open, foreign, failed = [], [], [], [], []
    for testnet_id, order in sorted(remote.items()):
        paper_id = paper_id_of(testnet_id)
        if paper_id is None:
            foreign.append(testnet_id)  # not mmbot's: never touched
            continue
        mine = paper.get(paper_id)
        if mine is not None and same_order(mine, order):
            _adopt(binding, mine, testnet_id, order)
            adopted.append({"client_id": paper_id, "testnet_id": testnet_id})
            continue
        if not cancel_orphans:
            left_open.append(testnet_id)
            continue
        try:
            await call(venue, partial(client.cancel, instrument, testnet_id))
            cancelled.append(testnet_id)
        except Failure as exc:
            failed.append({"testnet_id": testnet_id, "error": str(exc)})
    taken = {item["client_id"] for item in adopted}
    missing = sorted(cid for cid in paper if cid not in taken)
    for client_id in missing:  # open on paper, not on the testnet: compared when they close
        mine = paper[client_id]
        binding.mirror.orders[client_id] = mine
        binding.testnet[client_id] = TestnetOrder(
            client_id,
            "",
            instrument,
            mine.side,
            mine.size,
            TestnetState.NOT_SENT,
            reason="not open on the testnet at start",
        )
    assets = list(dict.fromkeys([binding.spec.base, binding.spec.quote]))
    balances = await call(venue, partial(client.balances, assets))
    changes = balance_changes(binding.last_balances, balances)
    payload: dict[str, Any] = {
        "venue": venue,
        "instrument": instrument,
        "endpoint": client.endpoint,
        "tag": tag,
        "open_on_testnet": len(remote),
        "adopted": adopted,
        "cancelled": cancelled,
        "cancel_failed": failed,
        "left_open": left_open,
        "foreign": foreign,
        "missing_on_testnet": missing,
        "balances": balances,
        "previous_balances": binding.last_balances,
        "balance_changes": changes,
    }
    binding.startup = payload
    binding.last_balances = balances
    if binding.record is not None:
        try:
            binding.record("testnet_startup", payload, binding.engine.clock.now)
        except Exception as exc:  # a failed journal must not stop the executor
            log.warning("start-up reconciliation not journaled", error=str(exc))
    log.info(
        "testnet start-up reconciliation",
        engine=binding.engine.name,
        instrument=instrument,
        open_on_testnet=len(remote),
        adopted=len(adopted),
        cancelled=len(cancelled),
        cancel_failed=len(failed),
        left_open=len(left_open),
        foreign=len(foreign),
        missing_on_testnet=len(missing),
        balance_changes=changes or None,
    )
    return payload


def _adopt(binding: Binding, mine: PaperOrder, testnet_id: str, remote: RemoteOrder) -> None:
    """Follow an earlier run's testnet order as this run's mirror of paper order ``mine``."""
    order = TestnetOrder(
        mine.client_id,
        testnet_id,
        binding.instrument,
        mine.side,
        mine.size,
        TestnetState.OPEN,
        filled=remote.filled,
        exchange_id=remote.exchange_id,
        reason="adopted at start",
    )
    binding.testnet[mine.client_id] = order
    binding.mirror.orders[mine.client_id] = mine


def same_order(paper: PaperOrder, remote: RemoteOrder) -> bool:
    """An earlier run's testnet order is the mirror of ``paper`` (side, size, price agree)."""
    if remote.state != TestnetState.OPEN:
        return False
    if remote.side and remote.side != int(paper.side):
        return False
    if remote.size and remote.size != paper.size:
        return False
    return remote.price is None or paper.price is None or remote.price == paper.price


def balance_changes(
    before: dict[str, dict[str, str]] | None, after: dict[str, dict[str, str]]
) -> dict[str, str]:
    """Total (free + locked) change per asset since the balances journaled last run."""
    if not before:
        return {}
    changes = {}
    for asset, now in after.items():
        then = before.get(asset)
        if then is None:
            continue
        total_now = Decimal(now["free"]) + Decimal(now["locked"])
        total_then = Decimal(then.get("free", "0")) + Decimal(then.get("locked", "0"))
        if total_now != total_then:
            changes[asset] = format((total_now - total_then).normalize(), "f")
    return changes
