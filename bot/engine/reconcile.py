"""Reconciliation of mirrored orders: the paper exchange's account of each order vs the testnet's.

An order is compared once both sides have closed it (filled, cancelled, rejected, or
never sent to the testnet because the paper order was cancelled first). It *matches*
when both sides agree on whether it ever went live and on the filled size; otherwise
the difference is reported with its kind:

``rejected_on_testnet``
    Live on paper, refused by the testnet (reason attached: filters, balance, post-only...).
``rejected_on_paper``
    Refused on paper, live on the testnet.
``fill_mismatch``
    Both live, different filled sizes (the books differ, queue positions differ, latency...).

Totals accumulate filled size per side on each side, so the position difference the
two ledgers would show is known at any time. Sizes are integer lots of the instrument.

Sans-IO and pure: the executor (``bot/ops/testnet.py``) feeds it both sides' states.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any

from bot.core.events import Side
from bot.core.instrument import InstrumentSpec
from bot.engine.mirror import PaperOrder, PaperState
from bot.venues.testnet_states import TestnetState

__all__ = ["Difference", "Reconciler", "TestnetOrder", "TestnetState", "compare", "quantity"]


@dataclass(slots=True)
class TestnetOrder:
    """One mirrored order as the testnet has it."""

    __test__ = False

    client_id: str
    """The paper client id (the key both sides share)."""
    testnet_id: str
    """The client order id sent to the testnet (``newClientOrderId``)."""
    instrument: str
    side: Side
    size: int
    state: str = TestnetState.QUEUED
    filled: int = 0
    exchange_id: str | None = None
    reason: str = ""
    final_at: float | None = None
    """Monotonic seconds when the executor saw it final (bookkeeping only)."""

    @property
    def final(self) -> bool:
        return self.state in TestnetState.FINAL


def quantity(spec: InstrumentSpec, lots: int) -> str:
    """Lots as the shortest exact decimal text (``0.0015``, not ``0.00150000``)."""
    return format(spec.size(lots).normalize(), "f") if lots else "0"


@dataclass(frozen=True, slots=True)
class Difference:
    client_id: str
    testnet_id: str
    kind: str
    paper_state: str
    paper_filled: int
    testnet_state: str
    testnet_filled: int
    detail: str = ""

    def as_dict(self, spec: InstrumentSpec) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "testnet_id": self.testnet_id,
            "kind": self.kind,
            "paper": {"state": self.paper_state, "filled": quantity(spec, self.paper_filled)},
            "testnet": {"state": self.testnet_state, "filled": quantity(spec, self.testnet_filled)},
            "detail": self.detail,
        }


def compare(paper: PaperOrder, testnet: TestnetOrder) -> Difference | None:
    """The difference between two closed accounts of one order, or None if they agree."""
    paper_live = paper.state != PaperState.REJECTED
    testnet_live = testnet.state not in TestnetState.NEVER_LIVE
    kind = ""
    detail = ""
    if paper_live and not testnet_live and testnet.state == TestnetState.REJECTED:
        kind, detail = "rejected_on_testnet", testnet.reason
    elif not paper_live and testnet_live:
        kind, detail = "rejected_on_paper", paper.reason
    elif paper.filled != testnet.filled:
        kind = "fill_mismatch"
        detail = testnet.reason if testnet.state == TestnetState.NOT_SENT else ""
    if not kind:
        return None
    return Difference(
        paper.client_id,
        testnet.testnet_id,
        kind,
        paper.state,
        paper.filled,
        testnet.state,
        testnet.filled,
        detail,
    )


@dataclass
class Totals:
    compared: int = 0
    matched: int = 0
    differences: int = 0
    not_sent: int = 0
    forgotten: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    paper_bought: int = 0
    paper_sold: int = 0
    testnet_bought: int = 0
    testnet_sold: int = 0

    @property
    def position_diff(self) -> int:
        """Testnet net filled minus paper net filled (lots) over the compared orders."""
        return (self.testnet_bought - self.testnet_sold) - (self.paper_bought - self.paper_sold)

    def as_dict(self, spec: InstrumentSpec) -> dict[str, Any]:
        def size(lots: int) -> str:
            return quantity(spec, lots)

        return {
            "compared": self.compared,
            "matched": self.matched,
            "differences": self.differences,
            "not_sent": self.not_sent,
            "forgotten": self.forgotten,
            "by_kind": dict(self.by_kind),
            "paper_filled": {"buy": size(self.paper_bought), "sell": size(self.paper_sold)},
            "testnet_filled": {"buy": size(self.testnet_bought), "sell": size(self.testnet_sold)},
            "position_diff": size(self.position_diff),
        }


class Reconciler:
    """Compares closed orders of one instrument and keeps the running totals."""

    def __init__(self, spec: InstrumentSpec) -> None:
        self.spec = spec
        self.totals = Totals()

    def settle(
        self, paper: MutableMapping[str, PaperOrder], testnet: MutableMapping[str, TestnetOrder]
    ) -> list[Difference]:
        """Compare every order both sides have closed, forget it, return the new differences.

        A closed paper order the testnet never heard of (the mirror dropped its backlog)
        counts as not sent."""
        differences: list[Difference] = []
        for client_id, order in list(paper.items()):
            if order.instrument != self.spec.key or not order.final:
                continue
            remote = testnet.get(client_id)
            if remote is None:
                remote = TestnetOrder(
                    client_id, "", order.instrument, order.side, order.size, TestnetState.NOT_SENT
                )
                remote.reason = "dropped from the mirror backlog"
            elif not remote.final:
                continue
            difference = self._count(order, remote)
            if difference is not None:
                differences.append(difference)
            del paper[client_id]
            testnet.pop(client_id, None)
        for client_id, remote in list(testnet.items()):
            if client_id not in paper and remote.final:  # the mirror forgot its paper side
                del testnet[client_id]
                self.totals.forgotten += 1
        return differences

    def live_divergence(
        self, paper: MutableMapping[str, PaperOrder], testnet: MutableMapping[str, TestnetOrder]
    ) -> int:
        """Orders not yet closed on both sides whose filled sizes differ right now."""
        return sum(
            1
            for client_id, order in paper.items()
            if (remote := testnet.get(client_id)) is not None and remote.filled != order.filled
        )

    def _count(self, paper: PaperOrder, testnet: TestnetOrder) -> Difference | None:
        totals = self.totals
        totals.compared += 1
        if testnet.state == TestnetState.NOT_SENT:
            totals.not_sent += 1
        if paper.side is Side.BUY:
            totals.paper_bought += paper.filled
            totals.testnet_bought += testnet.filled
        else:
            totals.paper_sold += paper.filled
            totals.testnet_sold += testnet.filled
        difference = compare(paper, testnet)
        if difference is None:
            totals.matched += 1
        else:
            totals.differences += 1
            totals.by_kind[difference.kind] = totals.by_kind.get(difference.kind, 0) + 1
        return difference
